"""The visit proposal (走访预约): the enterprise is offered 2–3 times and answers with one.

:func:`send_proposals` (run by the ``visit_plan`` program after the plan, daily) takes each
visit whose proposal is due, chooses its slots (:mod:`hub.visits.slots`), marks it
``proposed`` with the slots and ``proposed_at``, and sends a ``visit_proposal`` to each of the
enterprise's contacts — in the same write transaction (a chunk of visits each), so a visit is
proposed exactly when its messages are on record (enqueued after the commit).

**Due.** A visit is due for a proposal when it is ``planned`` with no time set
(``proposed_for``: an answer that named a usable time set one), has an officer and a day, and
its ``due_on`` is at most ``propose_workdays_before`` working days away (or past). That is a
visit never proposed, or one the enterprise asked to move without saying when (the answer puts
it back to ``planned``): it is proposed again, a new *round*, with days other than the ones it
turned down. A visit whose latest answer declined it (不需要走访) is not proposed again: the
officer, told of the answer, decides.

**Sent directly, not through a program's outbox send.** The proposal carries what it asks
beside its text — ``params["choices"]`` a :class:`channels.base.Choices` of kind ``visit`` with
the visit id and the slots as shown (Telegram draws buttons, WeCom a button card, SMS and
WeChat print the numbered slots from the template) — and the status must change with the
message. So the messages are written here with :func:`hub.outbound.notify.notify_many` in the
visit's transaction (routing, quiet hours, a day-off hold and opt-outs as for every notice),
the choices added to each row and its fallbacks before the commit (the dispatcher never sees a
proposal without them). The program only calls this and counts.

**Once per round.** Trigger ``visit_proposal``, key ``visit:<id>:r<round>`` (the round is kept
in ``details["proposal_round"]``): a repeat run finds the visit proposed and does nothing; a
race between two runs meets the message's idempotency key; a re-proposal is a new key.

An enterprise without a reachable contact is still marked proposed (its rows are recorded as
skipped, with the reason): no answer comes, and after ``answer_within_workdays`` the officer is
given the task to phone it, the slots his to offer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import Choices
from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.core.vocab import MessageKind, MessageStatus, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.outbound.notify import (
    Notice,
    NotifyResult,
    Recipient,
    enqueue_notified,
    enterprise_context,
    enterprise_contexts,
    notify_many,
)
from hub.outbound.outbox import Outbox
from hub.outbound.quiet_hours import QuietHold
from hub.store.db import Database
from hub.store.models import Contact, Message, Visit
from hub.visits.periods import parse_period
from hub.visits.settings import VisitsSettings
from hub.visits.slots import choose_slots, officers_busy, parse_slots, slot_label

__all__ = [
    "KIND",
    "ROUND_KEY",
    "TRIGGER",
    "ProposalResult",
    "declined",
    "due_for_proposal",
    "proposal_choices",
    "proposal_key",
    "send_proposals",
    "slot_variables",
]

TRIGGER: Final = "visit_proposal"
KIND: Final = MessageKind.VISIT_PROPOSAL
#: ``Visit.details`` key of the proposal's round (1 for the first, +1 for each re-proposal).
ROUND_KEY: Final = "proposal_round"
NO_FREE_TIME: Final = "联络员近期无空闲时间"
#: Visits per write transaction (their notices in one insert, enqueued after its commit).
CHUNK: Final = 200


@dataclass
class ProposalResult:
    """What one pass did: visits proposed (``no_contact`` of them to an enterprise without
    contacts), their messages counted as notices are, and the visits left planned by reason."""

    proposed: int = 0
    no_contact: int = 0
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    not_proposed: Counter[str] = field(default_factory=Counter)
    visit_ids: list[int] = field(default_factory=list)

    def count(self, results: Sequence[NotifyResult]) -> None:
        """Count one visit's messages."""
        for result in results:
            if not result.created:
                self.duplicates += 1
                continue
            self.created += 1
            if result.status is MessageStatus.SKIPPED:
                self.skipped += 1
                self.skip_reasons[result.reason or ""] += 1


def proposal_key(visit_id: int, round_no: int) -> str:
    """The trigger key of a visit's proposal in one round."""
    return f"visit:{visit_id}:r{round_no}"


def slot_variables(slots: Sequence[datetime], tz: ZoneInfo = SHANGHAI) -> dict[str, Any]:
    """The template's slot variables: ``slot_labels`` (the times as shown, in order) and
    ``slot_text`` (numbered on one line, for SMS: ``1.3月9日（周二）上午9:30；2.…``)."""
    labels = [slot_label(at, tz) for at in slots]
    text = "；".join(f"{n}.{label}" for n, label in enumerate(labels, start=1))
    return {"slot_labels": labels, "slot_text": text}


def proposal_choices(
    visit_id: int, round_no: int, labels: Sequence[str], *, enterprise: str, officer: str,
    contact_id: int | None,
) -> Choices:  # fmt: skip
    """What a proposal asks, drawn by each channel: one choice per slot for ``visit_id``.

    The ask id (a WeCom card's task id, unique per app) names the visit, the round and the
    contact, since each contact's message is a card of its own.
    """
    who = officer or "联络员"
    return Choices(
        "visit", visit_id=visit_id, slots=tuple(labels),
        ask_id=f"visit_{visit_id}_r{round_no}_c{contact_id or 0}",
        title="走访预约：请选择时间",
        detail=f"{who}拟到{enterprise}走访，请选择方便的时间；另约时间或不需要走访请直接回复"[:100],
    )  # fmt: skip


async def due_for_proposal(
    session: AsyncSession, *, today: date, settings: VisitsSettings, calendar: WorkdayCalendar
) -> list[int]:
    """Ids of the visits whose proposal is due (see the module docstring), by day then id."""
    horizon = calendar.add_workdays(today, settings.propose_workdays_before)[0]
    stmt = (
        sa.select(Visit.id, Visit.details)
        .where(
            Visit.status == VisitStatus.PLANNED,
            Visit.proposed_for.is_(None),
            Visit.officer_id.is_not(None),
            Visit.due_on.is_not(None),
            Visit.due_on <= horizon,
        )
        .order_by(Visit.due_on, Visit.id)
    )
    return [visit_id for visit_id, details in (await session.execute(stmt)).all()
            if not declined(details)]  # fmt: skip


def declined(details: Mapping[str, Any] | None) -> bool:
    """True when the enterprise's latest answer (``details["answers"]``, as
    :mod:`hub.visits.answers` appends them) declined the visit: it is not proposed again; the
    officer, told of the answer, decides what to do."""
    answers = (details or {}).get("answers")
    if not isinstance(answers, list) or not answers or not isinstance(answers[-1], Mapping):
        return False
    return answers[-1].get("action") == "decline"


async def send_proposals(
    db: Database,
    outbox: Outbox,
    *,
    settings: VisitsSettings,
    calendar: WorkdayCalendar,
    now: datetime,
    tz: ZoneInfo = SHANGHAI,
    hold: QuietHold | None = None,
) -> ProposalResult:
    """Propose every visit whose proposal is due: slots, status, messages (module docstring).

    ``hold``: a day-off hold (the program's fire on a day off); the lead time then counts from
    the day the messages go out. :data:`CHUNK` visits per write transaction, enqueued after it.
    """
    reaches = (hold.release_at if hold is not None else now).astimezone(tz)
    async with db.read() as session:
        visit_ids = await due_for_proposal(
            session, today=reaches.date(), settings=settings, calendar=calendar
        )
    result = ProposalResult()
    rules = _Round(settings, calendar, now, reaches, tz)
    for start in range(0, len(visit_ids), CHUNK):
        async with db.write() as session:
            notices, asks = await _propose_chunk(session, visit_ids[start : start + CHUNK],
                                                 rules, result)  # fmt: skip
            sent = await notify_many(
                session, notices, now=now, renderer=outbox.planner.renderer,
                policy=outbox.planner.policy, hold=hold,
            )  # fmt: skip
            await _add_choices(session, sent, asks)
        await enqueue_notified(outbox.queue, sent)
        result.count(sent)
    return result


@dataclass(frozen=True, slots=True)
class _Round:
    """What choosing slots in one pass reads: the rules, the calendar, and its two moments
    (``now``, and ``reaches``: when the messages go out)."""

    settings: VisitsSettings
    calendar: WorkdayCalendar
    now: datetime
    reaches: datetime
    tz: ZoneInfo


async def _propose_chunk(
    session: AsyncSession, visit_ids: Sequence[int], rules: _Round, result: ProposalResult
) -> tuple[list[Notice], list[Choices]]:
    """Propose the chunk's visits still due: each gets its slots and status; its notices (one
    per contact) and what each asks, in the same order, are returned for one insert."""
    stmt = sa.select(Visit).where(Visit.id.in_(visit_ids)).order_by(Visit.due_on, Visit.id)
    # Answered, handed over or moved since the list was read: not due any more.
    visits = [v for v in (await session.scalars(stmt)).all() if _still_due(v)]
    contexts = await enterprise_contexts(session, {v.enterprise_id for v in visits})
    blank = await enterprise_context(session, None)
    contacts = await _contacts(session, {v.enterprise_id for v in visits})
    busy = await officers_busy(session, {v.officer_id for v in visits if v.officer_id},
                               since=rules.now)  # fmt: skip
    notices: list[Notice] = []
    asks: list[Choices] = []
    for visit in visits:
        if visit.officer_id is None or visit.due_on is None:
            continue  # not planned yet (the query leaves these out; the row may have changed)
        turned_down = {at.astimezone(rules.tz).date() for at in parse_slots(visit.slots)}
        slots = choose_slots(
            due_on=visit.due_on, now=rules.reaches, settings=rules.settings,
            calendar=rules.calendar, busy=busy[visit.officer_id],
            last_day=_last_day(visit.period), avoid_days=turned_down, tz=rules.tz,
        )  # fmt: skip
        if not slots:
            result.not_proposed[NO_FREE_TIME] += 1
            continue
        busy[visit.officer_id].extend(slots)  # the next visit of the officer's in the chunk
        round_no = int((visit.details or {}).get(ROUND_KEY, 0)) + 1
        context = {**contexts.get(visit.enterprise_id, blank), **slot_variables(slots, rules.tz)}
        recipients = contacts.get(visit.enterprise_id, [])
        if not recipients:
            result.no_contact += 1  # proposed all the same: the officer will phone
        for contact in recipients:
            notices.append(Notice(KIND, Recipient.for_contact(contact), context, TRIGGER,
                                  proposal_key(visit.id, round_no)))  # fmt: skip
            asks.append(proposal_choices(
                visit.id, round_no, context["slot_labels"], contact_id=contact.id,
                enterprise=context["enterprise"]["name"], officer=context["officer_name"],
            ))  # fmt: skip
        visit.status = VisitStatus.PROPOSED
        visit.slots = [at.isoformat() for at in slots]
        visit.proposed_at = rules.now
        visit.details = {**(visit.details or {}), ROUND_KEY: round_no}
        visit.updated_at = rules.now
        result.proposed += 1
        result.visit_ids.append(visit.id)
    return notices, asks


def _still_due(visit: Visit) -> bool:
    return (
        visit.status is VisitStatus.PLANNED
        and visit.proposed_for is None
        and not declined(visit.details)
    )


def _last_day(period: str) -> date | None:
    """The last day of the visit's period (a label the plan wrote; None if it is not one)."""
    try:
        return parse_period(period).last
    except UsageError:
        return None


async def _contacts(
    session: AsyncSession, enterprise_ids: Collection[int]
) -> dict[int, list[Contact]]:
    """The enterprises' contacts the proposal goes to (not anonymised), in id order."""
    stmt = (
        sa.select(Contact)
        .where(Contact.enterprise_id.in_(sorted(enterprise_ids)), Contact.anonymised_at.is_(None))
        .order_by(Contact.id)
    )
    found: dict[int, list[Contact]] = {}
    for contact in (await session.scalars(stmt)).all():
        found.setdefault(contact.enterprise_id, []).append(contact)
    return found


async def _add_choices(
    session: AsyncSession, sent: Sequence[NotifyResult], asks: Sequence[Choices]
) -> None:
    """Each new message's choices, on it and on each fallback channel's copy (same
    transaction, before the commit: the dispatcher never sees a proposal without them)."""
    new = {r.message_id: ask for r, ask in zip(sent, asks, strict=True)
           if r.created and r.message_id is not None}  # fmt: skip
    if not new:
        return
    rows = await session.scalars(sa.select(Message).where(Message.id.in_(sorted(new))))
    for message in rows.all():
        asked: Mapping[str, Any] = {"choices": new[message.id].to_params()}
        params: dict[str, Any] = {**(message.params or {}), **asked}
        fallbacks = params.get("fallbacks")
        if isinstance(fallbacks, list):
            params["fallbacks"] = [
                {**f, "params": {**(f.get("params") or {}), **asked}} for f in fallbacks
            ]
        message.params = params
