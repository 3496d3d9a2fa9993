"""What every seed program shares: its context, its outcome, and the two ways it sends.

A *program* is what a schedule's fire (``program: <name>`` in ``schedules/*.yaml``) or an
import does beyond ``campaign``'s "one template to an audience": it reads the enterprises' data
and sends each enterprise only what is true and specific to it. To plug one in:

1. Write ``hub/scheduling/programs/<name>.py`` with ``async def run(ctx: ProgramContext,
   fire: ProgramFire) -> ProgramOutcome``. It decides, per enterprise and item (an event, a
   policy, a licence), what to say, and sends each :class:`ProgramItem` with :func:`send_item`
   (to the enterprise's contacts) or :func:`notify_officer` (to its liaison officer), or many
   at once with :func:`send_items` / :func:`notify_officers` (a transaction per chunk). An
   enterprise with nothing to say gets nothing: count it with :meth:`ProgramOutcome.held_back`.
2. Add one entry to ``PROGRAMS`` in ``hub/scheduling/programs/__init__.py`` (the table lives
   there, not here, because it imports every program and every program imports this module):
   ``"<name>": Program(run=<name>.run, kinds=(...), variables=frozenset({...}))``.
   ``hub.scheduling.schedules`` accepts ``program: <name>`` from then on, and the scheduler runs
   it on each fire.

**Once per item.** Both helpers send under trigger ``program:<name>`` and a ``trigger_key`` that
names the item (and the step, where an item is sent more than once by design: a licence at
60/30/7 days). The outbox's idempotency key over (trigger, trigger_key, enterprise, contact,
kind) then makes a repeat, a restart or a catch-up send nothing twice.

**Days off.** A schedule with ``workdays_only: true`` (the default for programs) that fires on a
day off of the working-day calendar still runs its program at the fire time, but the scheduler
sets :attr:`ProgramContext.hold`: every message the helpers create is held and goes out on the
next working day's morning (released like quiet hours by the dispatcher). Nothing is sent on
the day off, nothing is lost, and a daily program's fires on Saturday and Sunday add nothing
the outbox would not collapse by key on Monday.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import yaml

from hub.core.clock import SHANGHAI, Clock
from hub.core.errors import ConfigError
from hub.core.vocab import ChannelName, MessageKind
from hub.core.workdays import WorkdayCalendar
from hub.core.yaml_aliases import alias_problem
from hub.outbound.audience import Audience, parse_audience
from hub.outbound.batch_send import BatchSend, submit_batch
from hub.outbound.notify import (
    Notice,
    NotifyResult,
    enqueue_notified,
    enterprise_context,
    enterprise_contexts,
    notify_many,
    officer_key,
    officer_recipient,
)
from hub.outbound.outbox import Outbox, SendOutcome, SendRequest, idempotency_key
from hub.outbound.quiet_hours import QuietHold
from hub.reports.settings import ReportsSettings
from hub.store.db import Database
from hub.store.models import Officer
from hub.visits.settings import TierSettings, VisitsSettings, default_tiers

#: What a schedule's variables may hold (as hub.scheduling.schedules keeps them).
Scalar = str | int | float | bool
_SHIPPED_TEMPLATES: Final = Path(__file__).resolve().parents[3] / "templates"
#: Why a held message waits, as the message list shows it.
DAY_OFF_REASON = "休息日不发送，将于 {at:%m-%d %H:%M} 发送"
#: Officer notices per write transaction and enqueue in :func:`notify_officers`.
NOTICE_CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class ProgramSettings:
    """What programs read from config.yaml (the app builds it; tests take the defaults)."""

    tz: ZoneInfo = SHANGHAI
    calendar: WorkdayCalendar = field(default_factory=WorkdayCalendar)
    #: Where links in messages point (``web.public_base_url``).
    public_base_url: str = "http://127.0.0.1:8000"
    #: When messages moved off a day off go out, on the next working day (local time).
    morning: time = time(9, 0)
    #: The templates folder in force (beside config.yaml, else the shipped one): programs
    #: read their admin-edited data files there (credit_warning/guidance.yaml).
    templates_folder: Path = _SHIPPED_TEMPLATES
    #: ``reports:``, where produced reports are written (data_dir/reports) and the business
    #: office they are delivered to (``tickets.business_office_department``; None: by role).
    reports: ReportsSettings = field(default_factory=ReportsSettings)
    reports_dir: Path = Path("var") / "reports"
    business_office: str | None = None
    #: ``tiers:`` and ``visits:``: the visit cycle's cadence and appointment rules.
    tiers: Mapping[str, TierSettings] = field(default_factory=default_tiers)
    visits: VisitsSettings = field(default_factory=VisitsSettings)


@dataclass(frozen=True, slots=True)
class ProgramContext:
    """What a program runs with: the database, the outbox, the clock, its settings.

    ``hold`` is set by the scheduler for a ``workdays_only`` schedule that fires on a day off
    (see the module docstring); programs pass the context on to the helpers and need not look.
    """

    db: Database
    outbox: Outbox
    clock: Clock
    settings: ProgramSettings = field(default_factory=ProgramSettings)
    hold: QuietHold | None = None


@dataclass(frozen=True, slots=True)
class ProgramFire:
    """One fire of a schedule as a program sees it (no dependency on the schedule's spec)."""

    schedule: str
    fire_time: datetime
    audience: Audience = field(default_factory=lambda: parse_audience("all"))
    variables: Mapping[str, Scalar] = field(default_factory=dict)
    channel: ChannelName | None = None


@dataclass(slots=True)
class ProgramOutcome:
    """What a program's run did, counted as the outbox counts a send.

    ``created``/``duplicates``/``skipped`` and ``reasons`` ((status, reason) -> count) add up the
    outbox's :class:`~hub.outbound.outbox.SendOutcome` of every send; ``not_sent`` counts what the
    program itself chose not to send, by reason (an enterprise with nothing to say).
    """

    items: int = 0
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    not_sent: Counter[str] = field(default_factory=Counter)

    def add(self, sent: SendOutcome) -> None:
        """Count one send of an item."""
        self.items += 1
        self.created += sent.created
        self.duplicates += sent.duplicates
        self.skipped += sent.skipped
        self.reasons.update(sent.reasons)

    def sent_before(self, messages: int) -> None:
        """Count an item found sent already, without sending it again: its messages are
        duplicates (a program that can tell in one query saves the outbox a round per item)."""
        self.items += 1
        self.duplicates += messages

    def held_back(self, reason: str, count: int = 1) -> None:
        """Count items the program decided not to send, and why."""
        self.not_sent[reason] += count

    def merge(self, other: ProgramOutcome) -> None:
        """Add another outcome's counts (a program made of several passes)."""
        self.items += other.items
        self.created += other.created
        self.duplicates += other.duplicates
        self.skipped += other.skipped
        self.reasons.update(other.reasons)
        self.not_sent.update(other.not_sent)

    def detail(self) -> str:
        """The run row's detail: what it did, in Chinese, as the campaign path writes it."""
        text = (
            f"事项 {self.items} 项，新建 {self.created} 条，"
            f"重复忽略 {self.duplicates} 条，不发送 {self.skipped} 条"
        )
        if self.not_sent:
            text += "；未发：" + "，".join(f"{r} {n}" for r, n in self.not_sent.most_common())
        return text


ProgramRun = Callable[[ProgramContext, ProgramFire], Awaitable[ProgramOutcome]]


@dataclass(frozen=True, slots=True)
class Program:
    """An entry of the ``PROGRAMS`` table: how a fire runs it and what its templates get.

    ``label``: its name on the admin pages (信用预警);
    ``kinds``: the message kinds it sends (the first is a schedule's default ``kind``);
    ``variables``: the template variables it supplies (a schedule need not set them);
    ``workdays_only``: a schedule's default for the key of that name;
    ``check_variables``: validates a schedule's ``variables:`` for this program (raises
    ConfigError whose key is ``variables.<name>``). ``hub schedules sync``, ``hub templates
    check`` and the reading of a stored version call it, so a bad value is refused when the
    schedule is written, not found when it fires.
    """

    run: ProgramRun
    label: str
    kinds: tuple[MessageKind, ...]
    variables: frozenset[str] = frozenset()
    workdays_only: bool = True
    check_variables: Callable[[Mapping[str, Scalar]], object] | None = None


def program_trigger(program: str) -> str:
    """The outbox trigger of a program's messages."""
    return f"program:{program}"


@dataclass(frozen=True, slots=True)
class ProgramItem:
    """One thing a program says: which program, the message kind, the item's key, the text's
    variables. ``key`` names the item (``credit:EV-1:warning``) and the step, when the item is
    sent more than once by design (``licence:7:60d``); it becomes the outbox's trigger_key."""

    program: str
    kind: MessageKind
    key: str
    variables: Mapping[str, Any] = field(default_factory=dict)


async def send_item(
    ctx: ProgramContext, item: ProgramItem, *, uscc: str, channel: ChannelName | None = None
) -> SendOutcome:
    """Send one item to one enterprise's contacts through the outbox, once per item: a second
    call with the same item key creates nothing (counted as duplicates)."""
    return await ctx.outbox.submit(_request(ctx, item, uscc, channel))


def _request(
    ctx: ProgramContext, item: ProgramItem, uscc: str, channel: ChannelName | None = None
) -> SendRequest:
    """The outbox request of ``item`` to the enterprise(s) ``uscc`` names, under its key."""
    trigger = program_trigger(item.program)
    return SendRequest(
        kind=item.kind, audience=parse_audience(f"uscc={uscc}"), trigger=trigger,
        trigger_key=item.key, channel=channel, variables=item.variables, created_by=trigger,
        hold=ctx.hold,
    )  # fmt: skip


def officer_notice_key(item: ProgramItem, officer_id: int) -> str:
    """The message key :func:`notify_officer` stores ``item`` under for this officer (as
    :func:`~hub.outbound.notify.notify_one` derives it), to find notices sent before."""
    trigger_key = f"{item.key}|{officer_key(officer_id)}"
    return idempotency_key(program_trigger(item.program), trigger_key, 0, None, item.kind.value)


async def notify_officer(
    ctx: ProgramContext, item: ProgramItem, *, officer: Officer, enterprise_id: int | None = None
) -> SendOutcome:
    """Send one item to a liaison officer (WeCom, Telegram or SMS), once per item and officer.

    The template also gets the enterprise's variables (``enterprise``, ``officer_name``, ...)
    when ``enterprise_id`` is given. Counted like a send: created, duplicate, or skipped (an
    officer with no address is recorded as skipped with the reason).
    """
    (outcome,) = await notify_officers(ctx, [(item, officer, enterprise_id)])
    return outcome


async def send_items(
    ctx: ProgramContext, items: Sequence[tuple[ProgramItem, int, str]]
) -> list[SendOutcome]:
    """:func:`send_item` for many ``(item, enterprise id, uscc)`` at once, in the order given
    (:func:`hub.outbound.batch_send.submit_batch`: a chunk of enterprises per transaction):
    the same keys, campaigns, holds, caps and opt-outs. Their outcomes, in order."""
    sends = [
        BatchSend(enterprise_id, _request(ctx, item, uscc)) for item, enterprise_id, uscc in items
    ]
    return await submit_batch(ctx.outbox, sends)


async def notify_officers(
    ctx: ProgramContext, notices: Sequence[tuple[ProgramItem, Officer, int | None]]
) -> list[SendOutcome]:
    """:func:`notify_officer` for many ``(item, officer, enterprise id)`` at once: a write
    transaction and an enqueue per :data:`NOTICE_CHUNK` notices. Their outcomes, in order."""
    planner = ctx.outbox.planner
    now = ctx.clock.now()
    outcomes: list[SendOutcome] = []
    for start in range(0, len(notices), NOTICE_CHUNK):
        chunk = notices[start : start + NOTICE_CHUNK]
        async with ctx.db.write() as session:
            contexts = await enterprise_contexts(session, [e for _, _, e in chunk if e is not None])
            nobody = await enterprise_context(session, None)  # the blanks, read nothing
            batch = [
                Notice(item.kind, officer_recipient(officer),
                       {**contexts.get(enterprise_id or 0, nobody), **item.variables},
                       program_trigger(item.program), item.key)
                for item, officer, enterprise_id in chunk
            ]  # fmt: skip
            results = await notify_many(
                session, batch, now=now, renderer=planner.renderer, policy=planner.policy,
                hold=ctx.hold,
            )  # fmt: skip
        await enqueue_notified(ctx.outbox.queue, results)
        outcomes.extend(notice_outcome(r) for r in results)
    return outcomes


def notice_outcome(result: NotifyResult) -> SendOutcome:
    """One notice counted like a send: created, duplicate, or skipped with the reason."""
    outcome = SendOutcome(campaign_id=None, recipients=1)
    if not result.created:
        outcome.duplicates = 1
    elif result.status is not None and result.status.value == "skipped":
        outcome.created = 1
        outcome.skipped = 1
        outcome.reasons[("skipped", result.reason or "")] += 1
    else:
        outcome.created = 1
    return outcome


def day_off_hold(settings: ProgramSettings, fire_time: datetime) -> QuietHold | None:
    """The hold for a fire on a day off: until the next working day's morning; None on a
    working day."""
    day = fire_time.astimezone(settings.tz).date()
    if not settings.calendar.is_day_off(day):
        return None
    morning = datetime.combine(settings.calendar.next_workday(day), settings.morning,
                               tzinfo=settings.tz)  # fmt: skip
    return QuietHold(morning.astimezone(UTC), DAY_OFF_REASON.format(at=morning))


# --- the admin-edited YAML files (schedules, program data) ------------------------------------


def read_yaml_mapping(path: Path, what: str) -> tuple[dict[Any, Any], dict[tuple[str, ...], int]]:
    """Read a YAML file whose top is a mapping: its data, and key path -> 1-based line (two
    levels deep) for error messages. ConfigError naming the file (and line) when it cannot be
    read, is not YAML, expands an alias bomb, or is not a mapping; ``what`` names the file in
    Chinese (计划文件, 信用修复指引)."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if (bomb := alias_problem(node)) is not None:
            raise ConfigError(bomb.reason, file=file, key=bomb.key, line=bomb.line)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"YAML 语法错误：{exc}", file=file, line=line) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"无法读取{what}：{exc}", file=file) from exc
    if not isinstance(data, dict):
        raise ConfigError("顶层必须是映射 (mapping)", file=file, line=1)
    return data, _line_index(node)


def _line_index(node: yaml.Node | None) -> dict[tuple[str, ...], int]:
    index: dict[tuple[str, ...], int] = {}
    if not isinstance(node, yaml.MappingNode):
        return index
    for key_node, value_node in node.value:
        key = str(key_node.value)
        index[(key,)] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                index[(key, str(sub_key.value))] = sub_key.start_mark.line + 1
        elif isinstance(value_node, yaml.SequenceNode):
            for i, item in enumerate(value_node.value):
                index[(key, str(i))] = item.start_mark.line + 1
    return index
