"""The visit proposal (走访预约): the enterprise is offered 2–3 times and answers with one.

:func:`send_proposals` (run by the ``visit_plan`` program after the plan, daily) takes each
visit whose proposal is due, chooses its slots (:mod:`hub.visits.slots`), marks it
``proposed`` with the slots and ``proposed_at``, and sends a ``visit_proposal`` to each of the
enterprise's contacts — in one write transaction per visit, so a visit is proposed exactly when
its messages are on record (enqueued after the commit).

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
from collections.abc import Mapping, Sequence
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
    notify_many,
)
from hub.outbound.outbox import Outbox
from hub.outbound.quiet_hours import QuietHold
from hub.store.db import Database
from hub.store.models import Contact, Message, Visit
from hub.visits.periods import parse_period
from hub.visits.settings import VisitsSettings
from hub.visits.slots import choose_slots, officer_busy, parse_slots, slot_label

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
    the day the messages go out.
    """
    reaches = (hold.release_at if hold is not None else now).astimezone(tz)
    async with db.read() as session:
        visit_ids = await due_for_proposal(
            session, today=reaches.date(), settings=settings, calendar=calendar
        )
    result = ProposalResult()
    planner = outbox.planner
    for visit_id in visit_ids:
        async with db.write() as session:
            visit = await session.get(Visit, visit_id)
            # Answered, handed over or moved since the list was read: not due any more.
            if (
                visit is None or visit.status is not VisitStatus.PLANNED
                or visit.proposed_for is not None or visit.officer_id is None
                or visit.due_on is None
            ):  # fmt: skip
                continue
            previous = parse_slots(visit.slots)
            busy = await officer_busy(session, visit.officer_id, since=now, leaving_out=visit.id)
            slots = choose_slots(
                due_on=visit.due_on, now=reaches, settings=settings, calendar=calendar,
                busy=busy, last_day=_last_day(visit.period),
                avoid_days={at.astimezone(tz).date() for at in previous}, tz=tz,
            )  # fmt: skip
            if not slots:
                result.not_proposed[NO_FREE_TIME] += 1
                continue
            contacts = await _contacts(session, visit.enterprise_id)
            if not contacts:
                result.no_contact += 1  # proposed all the same: the officer will phone
            round_no = int((visit.details or {}).get(ROUND_KEY, 0)) + 1
            context = await enterprise_context(session, visit.enterprise_id)
            variables = slot_variables(slots, tz)
            notices = [
                Notice(KIND, Recipient.for_contact(contact), {**context, **variables}, TRIGGER,
                       proposal_key(visit.id, round_no))
                for contact in contacts
            ]  # fmt: skip
            results = await notify_many(
                session, notices, now=now, renderer=planner.renderer, policy=planner.policy,
                hold=hold,
            )  # fmt: skip
            for contact, sent in zip(contacts, results, strict=True):
                if sent.created and sent.message_id is not None:
                    choices = proposal_choices(
                        visit.id, round_no, variables["slot_labels"],
                        enterprise=context["enterprise"]["name"],
                        officer=context["officer_name"], contact_id=contact.id,
                    )  # fmt: skip
                    await _add_choices(session, sent.message_id, choices)
            visit.status = VisitStatus.PROPOSED
            visit.slots = [at.isoformat() for at in slots]
            visit.proposed_at = now
            visit.details = {**(visit.details or {}), ROUND_KEY: round_no}
            visit.updated_at = now
        await enqueue_notified(outbox.queue, results)
        result.proposed += 1
        result.visit_ids.append(visit_id)
        result.count(results)
    return result


def _last_day(period: str) -> date | None:
    """The last day of the visit's period (a label the plan wrote; None if it is not one)."""
    try:
        return parse_period(period).last
    except UsageError:
        return None


async def _contacts(session: AsyncSession, enterprise_id: int) -> list[Contact]:
    """The enterprise's contacts the proposal goes to (not anonymised), in id order."""
    stmt = (
        sa.select(Contact)
        .where(Contact.enterprise_id == enterprise_id, Contact.anonymised_at.is_(None))
        .order_by(Contact.id)
    )
    return list((await session.scalars(stmt)).all())


async def _add_choices(session: AsyncSession, message_id: int, choices: Choices) -> None:
    """The choices on the message and on each fallback channel's copy (same transaction)."""
    message = await session.get(Message, message_id)
    if message is None:
        return
    asked: Mapping[str, Any] = {"choices": choices.to_params()}
    params: dict[str, Any] = {**(message.params or {}), **asked}
    fallbacks = params.get("fallbacks")
    if isinstance(fallbacks, list):
        params["fallbacks"] = [
            {**f, "params": {**(f.get("params") or {}), **asked}} for f in fallbacks
        ]
    message.params = params
