"""Monthly contact with key enterprises (重点企业每月联系; seed 002: 重点企业每月至少联系一次):
an officer whose key enterprises have no contact this month by the ``visits.contact_by_day``-th
gets one ``officer_task`` listing them.

``schedules/key_contact.yaml`` fires every working-day morning. From the first working day on or
after the ``contact_by_day``-th of the month (the 20th by default; a 20th on a Saturday waits for
Monday), each run reads the month's contact (:func:`hub.visits.contact.monthly_contact`: a visit
done, a contact the officer recorded, a reply from the enterprise) and sends each officer with
uncontacted key enterprises ONE task naming every one of them, with the person to call, the
number and the last contact. An officer whose key enterprises were all contacted gets nothing.

**Once per officer per month.** The item key is ``key-contact:<month>`` (one notice per officer
under it: :func:`~hub.scheduling.programs.base.notify_officers`), so later runs that month, a
restart or a catch-up send nothing twice; a run after a downtime that passed the day sends the
task late rather than never.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub.core.vocab import MessageKind
from hub.core.workdays import WorkdayCalendar
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    notify_officers,
)
from hub.store.models import Officer
from hub.visits.contact import ContactCoverage, first_contacts, monthly_contact
from hub.visits.periods import Period, period_of

__all__ = ["NAME", "PROGRAM", "contact_day", "run", "task_lines", "task_variables"]

NAME: Final = "key_contact"
KIND: Final = MessageKind.OFFICER_TASK
#: The template variables every task of this program gets (templates/officer_task).
VARIABLES: Final = frozenset(
    {"task", "reason", "lines", "enterprises", "how_to_record", "record_hint"}
)
TASK: Final = "请联系本月尚未联系的重点企业"
HOW_TO_RECORD: Final = (
    "联系后请在企业微信回复“联系 统一社会信用代码 电话 内容”（或会面、线上），"
    "或运行 hub visits contact 统一社会信用代码 --via phone；走访和企业的回复会自动计入。"
)
RECORD_HINT: Final = "联系后发“联系+信用代码+方式”"
#: Why a run sent nothing, as the run's detail counts it.
BEFORE_DAY: Final = "未到本月联系提醒日"
ALL_CONTACTED: Final = "重点企业本月均已联系"
NO_OFFICER: Final = "企业未分配联络员"
#: An SMS variable holds at most 35 characters: the names in ``enterprises`` are cut before.
_NAMES_MAX: Final = 24


def contact_day(month: Period, by_day: int, calendar: WorkdayCalendar) -> date:
    """The day of ``month`` the tasks go: the first working day on or after the ``by_day``-th."""
    return calendar.workday_on_or_after(date(month.first.year, month.first.month, by_day))


def _cn_day(day: date) -> str:
    return f"{day.month}月{day.day}日"


def task_lines(
    uncontacted: Sequence[ContactCoverage],
    people: Mapping[int, tuple[str, str]],
    today: date,
    tz: ZoneInfo,
) -> str:
    """The list in the task: one line per enterprise, with the person to call and the number
    (the officer is to call it: never logged) and the last contact, local day."""
    lines = [f"截至{_cn_day(today)}本月尚未联系的重点企业（{len(uncontacted)}家）："]
    for n, c in enumerate(uncontacted, start=1):
        name, mobile = people.get(c.enterprise_id, ("", ""))
        who = f"{name} {mobile.replace('+86', '')}".strip() if name else "未登记"
        last = "无联系记录"
        if c.last_contact_at is not None:
            last = f"{_cn_day(c.last_contact_at.astimezone(tz).date())}{c.last_contact_how}"
        region = f"，{c.region}" if c.region else ""
        lines.append(f"{n}. {c.enterprise}（{c.uscc}{region}）联系人：{who}；最近联系：{last}")
    return "\n".join(lines)


def task_variables(
    month: Period,
    by_day: int,
    uncontacted: Sequence[ContactCoverage],
    people: Mapping[int, tuple[str, str]],
    today: date,
    tz: ZoneInfo,
) -> dict[str, str]:
    """The officer_task variables of one officer's task."""
    names = "、".join(c.enterprise for c in uncontacted)
    if len(names) > _NAMES_MAX:
        names = names[: _NAMES_MAX - 1] + "…"
    return {
        "task": TASK,
        "reason": f"本月（{month.first.month}月）尚无联系记录，已过每月{by_day}日",
        "lines": task_lines(uncontacted, people, today, tz),
        "enterprises": f"{names}等{len(uncontacted)}家重点企业",
        "how_to_record": HOW_TO_RECORD,
        "record_hint": RECORD_HINT,
    }


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """One fire: the tasks of this month, once its contact day has come (see the module doc)."""
    settings = ctx.settings
    outcome = ProgramOutcome()
    now = ctx.clock.now()
    today = now.astimezone(settings.tz).date()
    month = period_of(today, 1)
    by_day = settings.visits.contact_by_day
    if today < contact_day(month, by_day, settings.calendar):
        outcome.held_back(BEFORE_DAY)
        return outcome
    async with ctx.db.read() as session:
        coverage = await monthly_contact(
            session, month, tiers=settings.tiers, until=now, tz=settings.tz
        )
        by_officer: dict[int, list[ContactCoverage]] = defaultdict(list)
        for c in coverage:
            if c.contacted:
                continue
            if c.officer_id is None:
                outcome.held_back(NO_OFFICER)
            else:
                by_officer[c.officer_id].append(c)
        if not by_officer:
            outcome.held_back(ALL_CONTACTED)
            return outcome
        officers = (
            await session.scalars(sa.select(Officer).where(Officer.id.in_(sorted(by_officer))))
        ).all()
        people = await first_contacts(
            session, [c.enterprise_id for cs in by_officer.values() for c in cs]
        )
    notices = [
        (
            ProgramItem(NAME, KIND, f"key-contact:{month.label}",
                        task_variables(month, by_day, by_officer[o.id], people, today,
                                       settings.tz)),
            o,
            None,
        )
        for o in sorted(officers, key=lambda o: o.code)
    ]  # fmt: skip
    for sent in await notify_officers(ctx, notices):
        outcome.add(sent)
    return outcome


PROGRAM: Final = Program(label="重点企业月度联系", run=run, kinds=(KIND,), variables=VARIABLES)
"""The ``PROGRAMS`` table's entry (``program: key_contact`` in a schedule)."""
