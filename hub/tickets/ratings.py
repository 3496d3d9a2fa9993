"""Satisfaction ratings (好差评) and what they do to a ticket.

- A rating of 3 or more (基本满意 or better) closes the ticket (好评办结).
- A rating of 2 or less reopens it (差评重办; an automatic answer's ticket goes to a person,
  :mod:`hub.tickets.auto_answers`): the department head is alerted, a callback is
  due within ``tickets.bad_rating_callback_workdays`` working days (差评回访) and the
  rectification within ``tickets.rectify_workdays`` (整改), both counted like deadlines from
  the day of the rating. A second bad rating on the same ticket (not flagged malicious)
  escalates to the business-environment office (营商办): ``escalated`` event, level 2.
- Every rating is its own row; the latest counts. A reviewer can flag one as malicious
  (恶意差评) with a reason: the flag is recorded, the row is never deleted, and flagged
  ratings are left out of 好评率 and of the "second bad rating" count.
- A rating that comes before the ticket's answer and rating request (``ticket_feedback``) or
  the SLA pass's rating reminder (``rating_reminder``) went out — held by quiet hours, or still
  queued — cancels that message: it is ``skipped`` with the reason, so the enterprise is not
  asked at 08:00 to rate what it rated at 22:30.

All in the caller's write transaction. Alert messages are written only when a
:class:`RatingNotifier` is given; the caller enqueues ``outcome.notified`` after the commit
(:func:`hub.outbound.notify.enqueue_notified`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import NotFoundError, TransitionError, UsageError
from hub.core.vocab import RATING_LABELS, MessageKind, MessageStatus, TicketEventType, TicketState
from hub.outbound.notify import NotifyResult, Recipient, enterprise_context, notify_one
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.models import Department, Message, Rating, Staff, Ticket, TicketEvent
from hub.tickets.auto_answers import mark_handed_over
from hub.tickets.deadlines.rules import deadline_moment, end_of_day
from hub.tickets.lifecycle import close, record, reopen
from hub.tickets.policy import TicketPolicy
from hub.tickets.recipients import business_office_heads, department_heads

GOOD_FROM = 3
BAD_UP_TO = 2
#: Where a rating came from, and how the pages name it.
RATING_SOURCES: Final[Mapping[str, str]] = {
    "reply": "回复", "button": "按钮", "web": "评价页面", "phone": "电话回访",
}  # fmt: skip
ALREADY_RATED_REASON = "已评价，无需再发评价请求"
#: Why an unsent rating request or reminder was skipped once the ticket was rated.
ALREADY_RATED_REASONS = {
    MessageKind.TICKET_FEEDBACK: ALREADY_RATED_REASON,
    MessageKind.RATING_REMINDER: "已评价，无需再发评价提醒",
}


@dataclass(frozen=True, slots=True)
class RatingNotifier:
    """What writing the head / 营商办 alert needs (templates and routing)."""

    renderer: TemplateRenderer
    policy: PlanningPolicy


@dataclass(slots=True)
class RatingOutcome:
    """What a rating did: ``closed`` (好评办结) or ``reopened`` (差评重办), maybe ``escalated``."""

    rating: Rating
    ticket_id: int
    closed: bool = False
    reopened: bool = False
    escalated: bool = False
    callback_due_at: datetime | None = None
    rectify_due_at: datetime | None = None
    notified: list[NotifyResult] = field(default_factory=list)
    #: Rating requests and reminders not yet sent that the rating made pointless (now
    #: ``skipped``).
    cancelled_requests: int = 0

    @property
    def rating_id(self) -> int:
        return self.rating.id


def _due(policy: TicketPolicy, now: datetime, workdays: int) -> datetime:
    today = now.astimezone(policy.tz).date()
    if workdays == 0:
        return end_of_day(policy.calendar.workday_on_or_after(today), policy.tz)
    day, _ = policy.calendar.add_workdays(today, workdays)
    return end_of_day(day, policy.tz)


async def bad_ratings_count(session: AsyncSession, ticket_id: int) -> int:
    """Bad ratings (≤2) of a ticket that are not flagged malicious."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Rating)
        .where(
            Rating.ticket_id == ticket_id,
            Rating.score <= BAD_UP_TO,
            Rating.malicious.is_(False),
        )
    )
    return int(count or 0)


async def apply_rating(
    session: AsyncSession,
    ticket: Ticket,
    *,
    policy: TicketPolicy,
    score: int,
    contact_id: int | None,
    now: datetime,
    source_reply_id: int | None = None,
    comment: str | None = None,
    actor: str = "system",
    source: str = "reply",
    notifier: RatingNotifier | None = None,
) -> RatingOutcome:
    """Store the rating and close or reopen the ticket (see the module docstring)."""
    if not 1 <= score <= 5:
        raise UsageError(f"评价应为 1 至 5 分，收到 {score}")
    if source not in RATING_SOURCES:
        raise UsageError(f"未知的评价来源 {source!r}")
    if ticket.state is not TicketState.RESOLVED:
        raise TransitionError(
            f"工单 {ticket.number} 当前状态为“{ticket.state.label}”，不在待评价状态，不能评价",
            state=ticket.state.value,
        )
    earlier_bad = await bad_ratings_count(session, ticket.id)
    rating = Rating(
        ticket_id=ticket.id, contact_id=contact_id, score=score, comment=comment, at=now,
        source_reply_id=source_reply_id, malicious=False, source=source,
    )  # fmt: skip
    session.add(rating)
    await session.flush()
    label = RATING_LABELS[score]
    record(
        session, ticket, TicketEventType.RATED, actor=actor, now=now, reason=label,
        rating_id=rating.id, score=score, source=source, comment=comment,
    )  # fmt: skip
    outcome = RatingOutcome(rating=rating, ticket_id=ticket.id)
    outcome.cancelled_requests = await cancel_unsent_requests(session, ticket.id, now)
    if score >= GOOD_FROM:
        await close(session, ticket, reason="rated", actor=actor, now=now,
                    rating_id=rating.id, score=score)  # fmt: skip
        outcome.closed = True
        return outcome
    settings = policy.tickets
    callback_due = _due(policy, now, settings.bad_rating_callback_workdays)
    rectify_due = _due(policy, now, settings.rectify_workdays)
    await reopen(
        session, ticket, reason=f"差评重办（{label}）", actor=actor, now=now,
        rating_id=rating.id, score=score, callback_due_at=callback_due.isoformat(),
        rectify_due_at=rectify_due.isoformat(),
    )  # fmt: skip
    # An automatic answer rated badly goes to a person: the department works it as any ticket.
    await mark_handed_over(session, ticket.id, "bad_rating", now)
    ticket.callback_due_at = callback_due
    ticket.callback_done_at = None
    ticket.rectify_due_at = rectify_due
    record(
        session, ticket, TicketEventType.CALLBACK_DUE, actor=actor, now=now,
        reason="差评回访", due_at=callback_due.isoformat(), rating_id=rating.id,
    )  # fmt: skip
    outcome.reopened = True
    outcome.callback_due_at, outcome.rectify_due_at = callback_due, rectify_due
    outcome.escalated = earlier_bad >= 1
    level = 2 if outcome.escalated else 1
    ticket.escalation_level = max(ticket.escalation_level, level)
    results = (
        await _alert(session, ticket, outcome, policy, notifier, now, label)
        if notifier is not None
        else []
    )
    outcome.notified = results
    reason = (
        "同一工单第二次差评，升级督办至营商办" if outcome.escalated else "差评重办，提醒部门负责人"
    )
    record(
        session, ticket, TicketEventType.ESCALATED, actor=actor, now=now, reason=reason,
        level=level, to="business_office" if outcome.escalated else "head",
        cause="second_bad_rating" if outcome.escalated else "bad_rating",
        rating_id=rating.id, bad_ratings=earlier_bad + 1,
        message_ids=[r.message_id for r in results],
    )  # fmt: skip
    await session.flush()
    return outcome


async def cancel_unsent_requests(session: AsyncSession, ticket_id: int, now: datetime) -> int:
    """Skip the ticket's rating requests (``ticket_feedback``) and rating reminders
    (``rating_reminder``) still held or queued; a queued one on the stream is then not claimed
    by the dispatcher (it claims only queued rows)."""
    events = await session.execute(
        sa.select(TicketEvent.type, TicketEvent.data).where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.type.in_(tuple(_ASKED_BY)),
        )
    )
    ids: dict[MessageKind, list[int]] = {}
    for type_, data in events:
        kind = _ASKED_BY[type_]
        ids.setdefault(kind, []).extend(_message_ids(data))
    cancelled = 0
    for kind, message_ids in ids.items():
        if not message_ids:
            continue
        result = await session.execute(
            sa.update(Message)
            .where(
                Message.id.in_(message_ids),
                Message.kind == kind,
                Message.status.in_((MessageStatus.HELD, MessageStatus.QUEUED)),
            )
            .values(status=MessageStatus.SKIPPED, status_reason=ALREADY_RATED_REASONS[kind],
                    next_attempt_at=None, updated_at=now)
        )  # fmt: skip
        cancelled += int(getattr(result, "rowcount", 0) or 0)
    return cancelled


#: The ticket events that record a message asking the enterprise to rate, and its kind.
_ASKED_BY = {
    TicketEventType.RATING_REQUESTED: MessageKind.TICKET_FEEDBACK,
    TicketEventType.RATING_REMINDED: MessageKind.RATING_REMINDER,
}


def _message_ids(data: dict[str, Any] | None) -> list[int]:
    """The message ids an event recorded: ``message_id`` (a request), ``message_ids`` (a
    reminder)."""
    if not data:
        return []
    found = [data.get("message_id"), *(data.get("message_ids") or ())]
    return [i for i in found if isinstance(i, int)]


async def _alert(
    session: AsyncSession,
    ticket: Ticket,
    outcome: RatingOutcome,
    policy: TicketPolicy,
    notifier: RatingNotifier,
    now: datetime,
    label: str,
) -> list[NotifyResult]:
    """The escalation message to the department head (and 营商办 on a second bad rating)."""
    recipients: list[tuple[Recipient, str]] = [
        (r, "部门负责人") for r in await department_heads(session, ticket.department_id)
    ]
    if outcome.escalated:
        office = await business_office_heads(session, policy.tickets.business_office_department)
        recipients += [(r, "营商办") for r in office]
    department = (
        await session.get(Department, ticket.department_id) if ticket.department_id else None
    )
    handler = await session.get(Staff, ticket.handler_id) if ticket.handler_id else None
    due = outcome.rectify_due_at
    rectify_by = deadline_moment(due, policy.tz) if due is not None else ""
    base = {
        **await enterprise_context(session, ticket.enterprise_id),
        "ticket_number": ticket.number,
        "subject": ticket.subject,
        "deadline": rectify_by,
        "department": department.name if department else "未分派部门",
        "handler_name": handler.name if handler else "未分派",
        "overdue_workdays": 0,
        "cause": f"企业评价“{label}”，差评重办",
    }
    results = []
    for recipient, level_label in recipients:
        results.append(
            await notify_one(
                session,
                kind=MessageKind.ESCALATION,
                recipient=recipient,
                context={**base, "level_label": level_label},
                trigger="rating:bad",
                trigger_key=f"{ticket.id}:{outcome.rating_id}",
                now=now,
                renderer=notifier.renderer,
                policy=notifier.policy,
            )
        )
    return results


async def flag_malicious(
    session: AsyncSession, rating_id: int, *, reason: str, actor: str, now: datetime
) -> Rating:
    """Flag a rating as malicious (恶意差评) with a reason; the row stays."""
    why = (reason or "").strip()
    if not why:
        raise UsageError("标记恶意差评必须填写原因 (--reason)")
    rating = await session.get(Rating, rating_id)
    if rating is None:
        raise NotFoundError(f"评价 {rating_id} 不存在")
    if rating.malicious:
        raise TransitionError(f"评价 {rating_id} 已于此前标记为恶意差评", state="malicious")
    rating.malicious = True
    rating.malicious_reason = why
    rating.flagged_by = actor
    rating.flagged_at = now
    ticket = await session.get(Ticket, rating.ticket_id)
    assert ticket is not None
    record(
        session, ticket, TicketEventType.RATING_FLAGGED, actor=actor, now=now, reason=why,
        rating_id=rating.id, score=rating.score,
    )  # fmt: skip
    await session.flush()
    return rating
