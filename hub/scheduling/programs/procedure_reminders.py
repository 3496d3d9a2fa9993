"""``procedure_reminders`` (办事提醒), run daily: licences about to expire, and the annual report.

**Licences.** A licence (证照) expiring in 60, 30 and 7 days (the offsets are the schedule's
variable ``licence_days``, ``"60,30,7"`` by default) gets one reminder per offset naming its
kind, number and expiry date. A run sends the *latest step whose day has come* while the
licence is still valid (``today < expires_on``): on a day-by-day walk that is each offset on
its own day, and a step whose day passed while the hub was down (or fell on a day the schedule
did not run) still goes out once at the next run, with the days actually left. A step that
was overtaken by a later one is not sent any more: two reminders of one licence at once are
noise. A licence first imported inside the window gets the step it is in.

A licence counts as renewed, and gets nothing more, once its ``renewed_on`` is set. A renewal
that updated the row to the new licence's expiry (same kind and number, the natural key) starts
a new cycle: its steps are keyed by the new expiry, and a ``renewed_on`` more than a year before
the expiry on record belongs to the earlier cycle, so it does not silence the new one. A licence
with another number is another licence.

**Annual report (年报).** Enterprises report the previous year (年度 = last year) between
1 January and 30 June (企业信息公示暂行条例). Enterprises of the schedule's audience with no
filing on record for that year are reminded once in January, once in May and once in each
week of June (days 1-7, 8-14, 15-21, 22-28, 29-30): the first run within each window sends
it, but not on 30 June itself (it would say 还有0天). The filing's import stops them from the
next run on.

A fire on a day off (``workdays_only``) is held to the next working morning: the days left are
counted from that day, and a licence expiring before it gets nothing.

**Once per step.** Each message is sent under trigger ``program:procedure_reminders`` and a key
naming the item and the step: ``licence:<id>:<expires_on>:60d`` (the expiry in the key makes a
renewed row's next cycle a new item), ``annual:<year>:jan``, ``annual:<year>:may``,
``annual:<year>:june-w2``. Running a day twice, a restart or a catch-up creates nothing new:
what an earlier run sent is left out before planning (counted as 此步已发送), and the outbox's
idempotency key guards two runs at once. The annual reminder, the same text for everyone, goes
to the enterprises in sends of 500 (an audience ``uscc=A|B|…``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date, timedelta
from typing import Final

import sqlalchemy as sa

from hub.core.errors import ConfigError
from hub.core.vocab import MessageKind
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    Scalar,
    program_trigger,
    send_item,
)
from hub.store.enterprise_data import AnnualReport, Licence
from hub.store.messaging import Campaign, Message
from hub.store.registry import Enterprise

__all__ = [
    "ANNUAL_PLACE",
    "DEFAULT_LICENCE_DAYS",
    "KIND",
    "NAME",
    "PROGRAM",
    "VARIABLES",
    "annual_step",
    "licence_days",
    "licence_step",
    "run",
]

NAME: Final = "procedure_reminders"
KIND: Final = MessageKind.PROCEDURE_REMINDER
#: The template variables every message of this program gets (templates/procedure_reminder).
VARIABLES: Final = frozenset({"item_type", "item", "number", "due_date", "days_left", "where"})
#: The schedule variable holding the licence offsets, days before expiry, comma-separated.
LICENCE_DAYS_VARIABLE: Final = "licence_days"
DEFAULT_LICENCE_DAYS: Final = (60, 30, 7)
#: A renewal date this long before the expiry on record renewed an earlier cycle of the row.
RENEWAL_COVERS: Final = timedelta(days=366)
#: The annual report's filing deadline (month, day) of the year after the one reported.
ANNUAL_DEADLINE: Final = (6, 30)
ANNUAL_PLACE: Final = "国家企业信用信息公示系统"
LICENCE_PLACE: Final = "政务服务网或政务服务大厅"
#: Enterprises per outbox send of one item (the annual reminder goes to many at once), and
#: keys per look-up of what was sent.
_CHUNK: Final = 500
ALREADY_SENT: Final = "此步已发送"


#: One reminder: the enterprise (id and USCC) and the item.
_Reminder = tuple[int, str, ProgramItem]


def licence_days(variables: Mapping[str, Scalar]) -> tuple[int, ...]:
    """The offsets (days before expiry) from the schedule's ``licence_days``, largest first.

    ``"60,30,7"`` or a single number; ConfigError names the variable when it is not a list of
    positive whole numbers.
    """
    raw = variables.get(LICENCE_DAYS_VARIABLE)
    if raw is None:
        return DEFAULT_LICENCE_DAYS
    parts = [p.strip() for p in str(raw).replace("，", ",").split(",")]
    if isinstance(raw, bool) or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise ConfigError(
            f'应为到期前的天数，用逗号分隔的正整数，例如 "60,30,7"，实际“{raw}”',
            file=f"program:{NAME}",
            key=f"variables.{LICENCE_DAYS_VARIABLE}",
        )
    return tuple(sorted({int(p) for p in parts}, reverse=True))


def licence_step(expires_on: date, today: date, offsets: Sequence[int]) -> int | None:
    """The offset due today: the smallest one whose day (``expires_on - offset``) has come,
    while the licence is still valid; None before the first step's day and from expiry on."""
    days_left = (expires_on - today).days
    if days_left <= 0:
        return None
    due = [offset for offset in offsets if offset >= days_left]
    return min(due) if due else None


def annual_step(today: date) -> str | None:
    """The annual-report step whose window holds ``today``: ``jan``, ``may``, ``june-w1`` to
    ``june-w5``; None outside them."""
    if today.month == 1:
        return "jan"
    if today.month == 5:
        return "may"
    if today.month == 6:
        return f"june-w{(today.day - 1) // 7 + 1}"
    return None


def is_renewed(licence: Licence) -> bool:
    """Renewed for the expiry on record (see the module docstring)."""
    renewed = licence.renewed_on
    return renewed is not None and renewed > licence.expires_on - RENEWAL_COVERS


def chinese_date(day: date) -> str:
    """``2027年3月31日``, as the messages write dates."""
    return f"{day.year}年{day.month}月{day.day}日"


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """One daily run: the licence steps and the annual-report step due on the fire's day."""
    offsets = licence_days(fire.variables)
    today = fire.fire_time.astimezone(ctx.settings.tz).date()
    # The day the reader gets it: a fire on a day off is held to the next working morning.
    read_on = ctx.hold.release_at.astimezone(ctx.settings.tz).date() if ctx.hold else today
    items = await _licence_items(ctx, fire, today, read_on, offsets)
    items += await _annual_items(ctx, fire, today, read_on)
    outcome = ProgramOutcome()
    # What an earlier run sent is left out before planning: a daily run otherwise re-plans
    # every due step (all of January's annual reminders, each day of January) to find it all
    # duplicates. The outbox's idempotency key still guards a race between two runs.
    reached = await _reached(ctx, {item.key for _, _, item in items})
    by_key: dict[str, tuple[ProgramItem, list[str]]] = {}
    for enterprise_id, uscc, item in items:
        if (item.key, enterprise_id) in reached:
            outcome.held_back(ALREADY_SENT)
        else:
            by_key.setdefault(item.key, (item, []))[1].append(uscc)
    for item, usccs in by_key.values():
        for start in range(0, len(usccs), _CHUNK):
            # One send per chunk of enterprises: an audience "uscc=A|B|…", same item.
            chunk = "|".join(usccs[start : start + _CHUNK])
            outcome.add(await send_item(ctx, item, uscc=chunk, channel=fire.channel))
    return outcome


async def _reached(ctx: ProgramContext, keys: Collection[str]) -> set[tuple[str, int]]:
    """(item key, enterprise id) of this program's messages under ``keys``, skipped included."""
    ordered = sorted(keys)
    reached: set[tuple[str, int]] = set()
    async with ctx.db.read() as session:
        for start in range(0, len(ordered), _CHUNK):
            stmt = (
                sa.select(Campaign.trigger_key, Message.enterprise_id)
                .join(Message, Message.campaign_id == Campaign.id)
                .where(
                    Campaign.trigger == program_trigger(NAME),
                    Campaign.kind == KIND,
                    Campaign.trigger_key.in_(ordered[start : start + _CHUNK]),
                )
                .distinct()
            )
            rows = (await session.execute(stmt)).all()
            reached.update((key, eid) for key, eid in rows if eid is not None)
    return reached


async def _licence_items(
    ctx: ProgramContext, fire: ProgramFire, today: date, read_on: date, offsets: Sequence[int]
) -> list[_Reminder]:
    """The licences of the audience with a step due today, not renewed."""
    if not offsets:
        return []
    stmt = (
        sa.select(Licence, Enterprise.uscc)
        .join(Enterprise, Licence.enterprise_id == Enterprise.id)
        .where(
            fire.audience.where(),
            Licence.expires_on > today,
            Licence.expires_on <= today + timedelta(days=max(offsets)),
        )
        .order_by(Licence.expires_on, Licence.id)
    )
    async with ctx.db.read() as session:
        rows = (await session.execute(stmt)).all()
    items: list[_Reminder] = []
    for licence, uscc in rows:
        step = licence_step(licence.expires_on, today, offsets)
        # Held past its expiry (a fire on a day off), the reminder would come too late.
        if step is None or is_renewed(licence) or licence.expires_on <= read_on:
            continue
        where = f"{licence.authority}或{LICENCE_PLACE}" if licence.authority else LICENCE_PLACE
        variables = {
            "item_type": "licence", "item": licence.kind, "number": licence.number,
            "due_date": chinese_date(licence.expires_on),
            "days_left": (licence.expires_on - read_on).days, "where": where,
        }  # fmt: skip
        key = f"licence:{licence.id}:{licence.expires_on.isoformat()}:{step}d"
        items.append((licence.enterprise_id, uscc, ProgramItem(NAME, KIND, key, variables)))
    return items


async def _annual_items(
    ctx: ProgramContext, fire: ProgramFire, today: date, read_on: date
) -> list[_Reminder]:
    """The audience's enterprises with no filing for last year, when a step is due today."""
    step = annual_step(today)
    year = today.year - 1
    deadline = date(today.year, *ANNUAL_DEADLINE)
    if step is None or read_on >= deadline:  # "还有0天" on the last day says nothing useful
        return []
    filed = sa.select(AnnualReport.id).where(
        AnnualReport.enterprise_id == Enterprise.id, AnnualReport.year == year
    )
    stmt = (
        sa.select(Enterprise.id, Enterprise.uscc)
        .where(fire.audience.where(), ~filed.exists())
        .order_by(Enterprise.id)
    )
    async with ctx.db.read() as session:
        enterprises = (await session.execute(stmt)).all()
    variables = {
        "item_type": "annual_report", "item": f"{year}年度报告", "number": "",
        "due_date": chinese_date(deadline), "days_left": (deadline - read_on).days,
        "where": ANNUAL_PLACE,
    }  # fmt: skip
    item = ProgramItem(NAME, KIND, f"annual:{year}:{step}", variables)
    return [(enterprise_id, uscc, item) for enterprise_id, uscc in enterprises]


PROGRAM: Final = Program(
    label="办事提醒", run=run, kinds=(KIND,), variables=VARIABLES, check_variables=licence_days
)
"""The ``PROGRAMS`` table's entry (``program: procedure_reminders`` in a schedule)."""
