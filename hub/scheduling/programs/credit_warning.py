"""credit_warning (信用警示; seed 000 §三(三): "对存在失信或有信用风险的市场主体进行实时跟踪、
及时修复").

Real time: ``hub import credit`` and ``POST /api/v1/credit-events`` hand the events they created or
changed to :func:`run_on_changes` once saved. For each event:

- **active**: a warning to the enterprise naming the event (its type in Chinese, the summary),
  the authority and the decided date, with the repair guidance of its type (consequence, steps,
  where to apply, the earliest repair date where the rules give one), and a notice to its
  liaison officer (if it has one) naming the enterprise, the event and the enterprise's contact
  to call;
- **repaired or removed**, after a warning was sent: a closing notice to the enterprise.

Once per event whatever the number of imports: the warning is item ``credit:<event_id>:warning``
and the closing notice ``credit:<event_id>:closed`` (the outbox's and notify's idempotency keys).
An event that arrives already repaired was never warned about and gets no closing notice.

The schedule ``schedules/credit_warning.yaml`` runs :func:`run` daily as a safety net: every
active event of the audience that has no warning yet gets one (an import that crashed between
saving and sending, events written by another path), every closed one that was warned about
its closing notice; the keys make it send nothing twice.

The repair guidance is data an admin edits without code: ``templates/credit_warning/guidance.yaml``
(beside config.yaml's templates/ if there is one), read and validated at every run, so an edit
applies to the next warning and a broken file stops warnings with the file, key and line named
rather than sending one without guidance. A file rather than a table: the texts are a handful of
paragraphs an admin rewrites when a regulation changes, versioned with the templates they fill,
and need no migration, API or admin page.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa

from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.errors import ConfigError
from hub.core.vocab import MessageKind
from hub.outbound.audience import Audience
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    ProgramSettings,
    notify_officers,
    officer_notice_key,
    program_trigger,
    read_yaml_mapping,
    send_items,
)
from hub.store.models import Campaign, CreditEvent, Enterprise, Message, Officer
from hub.store.record_changes import RecordChanges
from hub.visits.contact import first_contacts

NAME: Final = "credit_warning"
KIND: Final = MessageKind.CREDIT_WARNING
GUIDANCE_FILE: Final = "guidance.yaml"
#: The record kind of credit events in ``RecordChanges`` (hub.importing.data_save.CREDIT_EVENTS;
#: a sibling layer, so named here rather than imported).
CREDIT_RECORDS: Final = "credit_event"
VARIABLES: Final = frozenset(
    {
        "risk_item", "found_on", "authority", "event_id", "consequence", "repair_steps",
        "apply_at", "earliest_repair", "earliest_rule", "closed_state", "closed_on",
        "for_officer", "enterprise_contact_name", "enterprise_contact_mobile",
    }
)  # fmt: skip
_FIELDS: Final = ("consequence", "steps", "apply_at", "earliest_after_months", "earliest_rule")
_TEXTS: Final = ("consequence", "steps", "apply_at")
NO_OFFICER: Final = "企业没有联络员"
_IN_CHUNK: Final = 5_000  # keys per IN (...): well under SQLite's and asyncpg's parameter caps
NEVER_WARNED: Final = "事件录入时已修复或移出（未发过警示）"


@dataclass(frozen=True, slots=True)
class RepairGuidance:
    """How to repair one type of event, as guidance.yaml says."""

    consequence: str
    steps: str
    apply_at: str
    earliest_after_months: int | None = None
    earliest_rule: str = ""

    def earliest(self, decided_on: date) -> date | None:
        """The first day a repair may be applied for, when the rules set a minimum period."""
        if self.earliest_after_months is None:
            return None
        months = decided_on.month - 1 + self.earliest_after_months
        year, month = decided_on.year + months // 12, months % 12 + 1
        return date(year, month, min(decided_on.day, calendar.monthrange(year, month)[1]))


def guidance_path(settings: ProgramSettings) -> Path:
    """Where the repair guidance is read from: the templates folder's credit_warning/."""
    return settings.templates_folder / NAME / GUIDANCE_FILE


def load_guidance(path: Path) -> dict[CreditEventType, RepairGuidance]:
    """Read and validate guidance.yaml: every event type, each with its texts.

    Raises ConfigError naming the file, the key and the line of the first problem (the others
    in ``others``).
    """
    file = str(path)
    data, lines = read_yaml_mapping(path, "信用修复指引")
    problems: list[ConfigError] = []

    def problem(reason: str, *key: str) -> None:
        line = lines.get(key) or lines.get(key[:1])
        problems.append(ConfigError(reason, file=file, key=".".join(key), line=line))

    types = {t.value: t for t in CreditEventType}
    for key in data:
        if str(key) not in types:
            problem(f"未知的事件类型 {key}，可用：{'、'.join(types)}", str(key))
    guidance: dict[CreditEventType, RepairGuidance] = {}
    for value, event_type in types.items():
        entry = data.get(value)
        if not isinstance(entry, dict):
            problem(f"缺少{event_type.label}（{value}）的修复指引，或不是映射", value)
            continue
        found = _entry(entry, value, problem)
        if found is not None:
            guidance[event_type] = found
    if problems:
        first, *rest = problems
        first.others = rest
        raise first
    return guidance


def _entry(entry: Mapping[Any, Any], value: str, problem: Any) -> RepairGuidance | None:
    bad = False
    for key in entry:
        if str(key) not in _FIELDS:
            problem(f"未知的配置项，可用：{'、'.join(_FIELDS)}", value, str(key))
            bad = True
    for key in _TEXTS:
        text = entry.get(key)
        if not isinstance(text, str) or not text.strip():
            problem("缺少此项或不是文本", value, key)
            bad = True
    months = entry.get("earliest_after_months")
    if months is not None and (isinstance(months, bool) or not isinstance(months, int)
                               or not 1 <= months <= 120):  # fmt: skip
        problem("应为 1 到 120 之间的整数（月）", value, "earliest_after_months")
        bad = True
    rule = entry.get("earliest_rule", "")
    if months is not None and (not isinstance(rule, str) or not rule.strip()):
        problem("写了 earliest_after_months 就要写明依据", value, "earliest_rule")
        bad = True
    if bad:
        return None
    return RepairGuidance(
        consequence=entry["consequence"].strip(), steps=entry["steps"].strip(),
        apply_at=entry["apply_at"].strip(), earliest_after_months=months,
        earliest_rule=str(rule).strip() if months is not None else "",
    )  # fmt: skip


# --- the program ------------------------------------------------------------------------------


def warning_key(event_id: str) -> str:
    """The item key of an event's warning (its officer notice shares it)."""
    return f"credit:{event_id}:warning"


def closing_key(event_id: str) -> str:
    """The item key of an event's closing notice."""
    return f"credit:{event_id}:closed"


def cn_date(day: date) -> str:
    """``2027年3月5日``."""
    return f"{day.year}年{day.month}月{day.day}日"


@dataclass(frozen=True, slots=True)
class _Event:
    event: CreditEvent
    uscc: str
    officer: Officer | None


async def run_on_changes(ctx: ProgramContext, changes: RecordChanges) -> ProgramOutcome:
    """An import or API call saved credit events: warn of the new active ones, close the
    repaired or removed ones that were warned about. Other records: nothing."""
    if changes.kind != CREDIT_RECORDS or not changes.changed:
        return ProgramOutcome()
    ids = sorted({change.id for change in changes.changed})
    return await _act(ctx, await _events(ctx, CreditEvent.id.in_(ids)))


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """The daily safety net: every event of the audience's enterprises that lacks its warning
    or its closing notice gets it (nothing twice: the item keys)."""
    return await _act(ctx, await _events(ctx, _of_audience(fire.audience)))


def _of_audience(audience: Audience) -> sa.ColumnElement[bool]:
    return CreditEvent.enterprise_id.in_(sa.select(Enterprise.id).where(audience.where()))


async def _events(ctx: ProgramContext, where: sa.ColumnElement[bool]) -> list[_Event]:
    async with ctx.db.read() as session:
        rows = await session.execute(
            sa.select(CreditEvent, Enterprise.uscc, Officer)
            .join(Enterprise, Enterprise.id == CreditEvent.enterprise_id)
            .outerjoin(Officer, Officer.id == Enterprise.officer_id)
            .where(where)
            .order_by(CreditEvent.id)
        )
        return [_Event(event, uscc, officer) for event, uscc, officer in rows.all()]


async def _act(ctx: ProgramContext, events: list[_Event]) -> ProgramOutcome:
    outcome = ProgramOutcome()
    if not events:
        return outcome
    # Read (and check) the guidance before sending anything: a broken file sends nothing.
    guidance = load_guidance(guidance_path(ctx.settings))
    # What was sent before, in two queries: a re-run (the daily sweep over every active event)
    # then costs no outbox round per event. The outbox's keys still guard every send.
    ids = [e.event.event_id for e in events]
    sent = await _sent_before(ctx, [k for i in ids for k in (warning_key(i), closing_key(i))])
    notified = await _existing_messages(ctx, [
        officer_notice_key(ProgramItem(NAME, KIND, warning_key(e.event.event_id)), e.officer.id)
        for e in events if e.officer is not None
    ])  # fmt: skip
    # Everything still to send goes in two batches (the enterprises' messages, in event order,
    # and the officers' notices): a chunk of enterprises per transaction, not one per event.
    sends: list[tuple[ProgramItem, int, str]] = []
    notices: list[tuple[ProgramItem, Officer, int | None]] = []
    for found in events:
        event = found.event
        closing = closing_key(event.event_id)
        if event.status is CreditEventStatus.ACTIVE:
            _warn(found, guidance[event.type], outcome, sent, notified, sends, notices)
        elif warning_key(event.event_id) not in sent:
            outcome.held_back(NEVER_WARNED)
        elif closing in sent:
            outcome.sent_before(sent[closing])
        else:
            item = ProgramItem(NAME, KIND, closing, _closing_variables(event))
            sends.append((item, event.enterprise_id, found.uscc))
    for result in await send_items(ctx, sends):
        outcome.add(result)
    for result in await notify_officers(ctx, await _with_contacts(ctx, notices)):
        outcome.add(result)
    return outcome


async def _with_contacts(
    ctx: ProgramContext, notices: list[tuple[ProgramItem, Officer, int | None]]
) -> list[tuple[ProgramItem, Officer, int | None]]:
    """The officers' notices with the person the officer is to call: the enterprise's first
    named contact, one with a mobile first (the templates fall back when there is none)."""
    ids = [e for _, _, e in notices if e is not None]
    if not ids:
        return notices
    async with ctx.db.read() as session:
        people = await first_contacts(session, ids)
    contacts = {
        enterprise_id: {"enterprise_contact_name": name, "enterprise_contact_mobile": mobile}
        for enterprise_id, (name, mobile) in people.items()
    }
    return [
        (ProgramItem(item.program, item.kind, item.key,
                     {**item.variables, **contacts.get(enterprise_id or 0, {})}),
         officer, enterprise_id)
        for item, officer, enterprise_id in notices
    ]  # fmt: skip


def _warn(
    found: _Event, guidance: RepairGuidance, outcome: ProgramOutcome, sent: Mapping[str, int],
    notified: set[str], sends: list[tuple[ProgramItem, int, str]],
    notices: list[tuple[ProgramItem, Officer, int | None]],
) -> None:  # fmt: skip
    """An active event's warning and officer notice, unless sent before: added to the
    batches."""
    event = found.event
    variables = warning_variables(event, guidance)
    item = ProgramItem(NAME, KIND, warning_key(event.event_id), variables)
    if item.key in sent:
        outcome.sent_before(sent[item.key])
    else:
        sends.append((item, event.enterprise_id, found.uscc))
    if found.officer is None:
        outcome.held_back(NO_OFFICER)
        return
    officer_item = ProgramItem(NAME, KIND, item.key, {**variables, "for_officer": True})
    if officer_notice_key(officer_item, found.officer.id) in notified:
        outcome.sent_before(1)
        return
    notices.append((officer_item, found.officer, event.enterprise_id))


def _risk_item(event: CreditEvent) -> str:
    """The event as the text names it: its type in Chinese, and the summary when there is one."""
    return f"{event.type.label}：{event.summary}" if event.summary else event.type.label


def warning_variables(event: CreditEvent, guidance: RepairGuidance) -> dict[str, Any]:
    """The credit_warning template's variables for an active event."""
    earliest = guidance.earliest(event.decided_on)
    return {
        "risk_item": _risk_item(event), "found_on": cn_date(event.decided_on),
        "authority": event.authority, "event_id": event.event_id,
        "consequence": guidance.consequence, "repair_steps": guidance.steps,
        "apply_at": guidance.apply_at,
        "earliest_repair": cn_date(earliest) if earliest is not None else "",
        "earliest_rule": guidance.earliest_rule,
    }  # fmt: skip


def _closing_variables(event: CreditEvent) -> dict[str, Any]:
    return {
        "risk_item": _risk_item(event), "found_on": cn_date(event.decided_on),
        "authority": event.authority, "event_id": event.event_id,
        "closed_state": event.status.label,
        "closed_on": cn_date(event.repaired_on) if event.repaired_on is not None else "",
    }  # fmt: skip


async def _sent_before(ctx: ProgramContext, keys: list[str]) -> dict[str, int]:
    """Item key -> its messages, for the items among ``keys`` sent already (their campaign
    holds messages: a campaign left empty by a crash before its messages is not sent)."""
    found: dict[str, int] = {}
    async with ctx.db.read() as session:
        for start in range(0, len(keys), _IN_CHUNK):
            rows = await session.execute(
                sa.select(Campaign.trigger_key, sa.func.count(Message.id))
                .join(Message, Message.campaign_id == Campaign.id)
                .where(
                    Campaign.trigger == program_trigger(NAME),
                    Campaign.kind == KIND,
                    Campaign.trigger_key.in_(keys[start : start + _IN_CHUNK]),
                )
                .group_by(Campaign.trigger_key)
            )
            found.update({key: int(count) for key, count in rows.all()})
    return found


async def _existing_messages(ctx: ProgramContext, keys: list[str]) -> set[str]:
    """The message idempotency keys among ``keys`` on record."""
    found: set[str] = set()
    async with ctx.db.read() as session:
        for start in range(0, len(keys), _IN_CHUNK):
            chunk = keys[start : start + _IN_CHUNK]
            found.update(
                await session.scalars(
                    sa.select(Message.idempotency_key).where(Message.idempotency_key.in_(chunk))
                )
            )
    return found


PROGRAM: Final = Program(label="信用预警", run=run, kinds=(KIND,), variables=VARIABLES)
