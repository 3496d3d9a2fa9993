"""Tickets (诉求工单): opening, appending, and every step of the closed loop.

收集→转办→办理→反馈→回访→销号. States and the steps between them::

    new ──assign──> assigned ──start──> in_progress ──resolve──> resolved ──close──> closed
     ^  (transfer / return / extend from any open state)            │  (rating ≥3 or none)
     └──────────── return (退单) ────────────┘      reopened <──reopen (差评 ≤2, or a clerk)

Every function works inside the caller's write transaction and never commits; each step
writes one :class:`TicketEvent` (actor, time, reason, data) and refuses an illegal step with
:class:`~hub.core.errors.TransitionError` naming the state in Chinese. Nothing is deleted: a
transfer keeps the old department in the event, an append keeps the earlier text.

Deadlines (hub.tickets.deadlines.rules): computed at receipt from the urgency class; a transfer or a
return never moves them; only :func:`extend` does. Ratings are in :mod:`hub.tickets.ratings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.errors import TransitionError, UsageError
from hub.core.vocab import ChannelName, TicketCategory, TicketEventType, TicketState, Urgency
from hub.store.models import Department, InboundReply, Staff, Ticket, TicketEvent
from hub.tickets.deadlines.rules import Deadline
from hub.tickets.deadlines.rules import extend as extend_deadline
from hub.tickets.lookup import (
    OPEN_STATES,
    awaiting_rating,
    events_of,
    find_appendable_ticket,
    ticket_by_number,
)
from hub.tickets.numbers import next_ticket_number
from hub.tickets.policy import TicketPolicy, load_ticket_policy
from hub.tickets.routing import (
    RoutingCache,
    enterprise_facts,
    guess_category,
    next_handler,
    route_department,
)
from hub.tickets.settings import TicketsConfig

CLOSE_REASONS = {"rated": "好评办结", "no_rating": "未评价销号"}
_SUBJECT_CHARS = 60

__all__ = [
    "CLOSE_REASONS", "OPEN_STATES", "append_to_ticket", "assign", "awaiting_rating", "close",
    "current_deadline", "events_of", "extend", "find_appendable_ticket", "open_ticket", "record",
    "reopen", "resolve", "return_to_dispatcher", "start", "ticket_by_number", "transfer",
]  # fmt: skip


def _refuse(ticket: Ticket, step: str, allowed: Sequence[TicketState] = ()) -> TransitionError:
    hint = "（仅限：" + "、".join(s.label for s in allowed) + "）" if allowed else ""
    return TransitionError(
        f"工单 {ticket.number} 当前状态为“{ticket.state.label}”，不能{step}{hint}",
        state=ticket.state.value,
    )


def _require(ticket: Ticket, step: str, allowed: Sequence[TicketState]) -> None:
    if ticket.state not in allowed:
        raise _refuse(ticket, step, allowed)


def _reason(reason: str | None, step: str) -> str:
    cleaned = (reason or "").strip()
    if not cleaned:
        raise UsageError(f"{step}必须填写原因 (--reason)")
    return cleaned


def record(
    session: AsyncSession,
    ticket: Ticket,
    kind: TicketEventType,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    **data: Any,
) -> TicketEvent:
    """Add one event and mark the ticket active (for modules that add their own steps). A
    ticket not flushed yet is fine: the event gets its id when both are flushed."""
    event = TicketEvent(
        ticket_id=ticket.id,
        ticket=ticket,
        type=kind,
        actor=actor,
        at=now,
        reason=reason,
        data=data,
    )
    session.add(event)
    ticket.updated_at = now
    ticket.last_activity_at = now
    return event


def current_deadline(ticket: Ticket, policy: TicketPolicy) -> Deadline:
    """The ticket's deadline as :mod:`hub.tickets.deadlines.rules` sees it (to extend or recompute
    it)."""
    due_date = (ticket.deadline_at.astimezone(policy.tz) - timedelta(days=1)).date()
    working_days = ticket.deadline_workdays
    if working_days is None:  # a row from before 0002: the class as configured now
        working_days = policy.deadlines.working_days(ticket.urgency.value)
    return Deadline(
        urgency=ticket.urgency.value,
        received_at=ticket.received_at,
        working_days=working_days,
        due_date=due_date,
        due_at=ticket.deadline_at,
        provisional=ticket.deadline_provisional,
        extensions=tuple(ticket.deadline_extensions or ()),
        tz=policy.tz,
    )


async def _policy(
    session: AsyncSession, policy: TicketPolicy | None, settings: TicketsConfig | None
) -> TicketPolicy:
    if policy is not None:
        return policy
    if settings is None:
        raise UsageError("open_ticket needs policy= or settings=")
    return await load_ticket_policy(session, settings)


def _subject(body: str) -> str:
    first = next((line.strip() for line in body.splitlines() if line.strip()), "")
    return first[:_SUBJECT_CHARS] or "（无内容）"


async def open_ticket(
    session: AsyncSession,
    *,
    now: datetime,
    policy: TicketPolicy | None = None,
    settings: TicketsConfig | None = None,
    body: str,
    channel: ChannelName | None = None,
    enterprise_id: int | None = None,
    contact_id: int | None = None,
    source_reply_id: int | None = None,
    category: TicketCategory | None = None,
    urgency: Urgency | str | None = None,
    subject: str | None = None,
    received_at: datetime | None = None,
    actor: str = "system",
    department: Department | None = None,
    routed_by: str = "named",
    routing: RoutingCache | None = None,
    link_reply: bool = True,
    flush: bool = True,
) -> Ticket:
    """Number, route, time and record a new ticket (events ``created`` and maybe ``assigned``).

    ``received_at`` (default ``now``) starts the deadline clock: pass the reply's receipt
    time when the ticket is opened from a stored reply. Give ``policy`` (built once) or
    ``settings`` (the calendar is then loaded from config and the database on each call).
    ``department``: the one someone named (a problem found on a visit; the department that
    owns an automatic answer's entry: ``routed_by="answer"``), instead of routing.
    ``routing``: departments and handlers read once for the transaction's many tickets.
    ``link_reply=False``: the caller records the ticket on the source reply itself (the inbound
    worker, with the reply's classification: one ``UPDATE``). ``flush=False``: the ticket and
    its events stay pending for the session's next flush, and ``ticket.id`` is None until
    then (the inbound worker: one flush inserts a chunk's tickets, events and automatic-answer
    records, a statement per table, where a flush per ticket cost a statement per row; the
    events refer to the ticket by relationship). The next query's autoflush sees them, so
    nothing reads around them.
    """
    policy = await _policy(session, policy, settings)
    received = received_at or now
    category = category or guess_category(body)
    urgency_name = str(urgency or Urgency.GENERAL)
    deadline = policy.deadlines.deadline(received, urgency_name, policy.calendar)
    facts = await enterprise_facts(session, enterprise_id, body, category)
    if department is None:
        department, routed_by = await route_department(
            session, policy.tickets.rules, facts, policy.tickets.default_department,
            departments=routing.departments if routing is not None else None,
        )  # fmt: skip
    handler = None
    if department is not None:
        handler = await (
            routing.next_handler(session, department.id, now)
            if routing is not None
            else next_handler(session, department.id, now)
        )
    ticket = Ticket(
        number=await next_ticket_number(session, received, policy.tz),
        enterprise_id=enterprise_id,
        contact_id=contact_id,
        department_id=department.id if department else None,
        source_reply_id=source_reply_id,
        subject=(subject or _subject(body))[:256],
        body=body,
        urgency=Urgency(deadline.urgency),
        state=TicketState.NEW,
        category=category,
        channel=channel,
        received_at=received,
        deadline_at=deadline.due_at,
        deadline_provisional=deadline.provisional,
        deadline_workdays=deadline.working_days,
        deadline_extensions=[],
        reopen_count=0,
        escalation_level=0,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    # The handler is on the row as it is inserted (no UPDATE after); the events say so in order.
    previous = _give(ticket, handler) if handler is not None else None
    session.add(ticket)
    if flush or link_reply:
        await session.flush()
    record(
        session, ticket, TicketEventType.CREATED, actor=actor, now=now,
        channel=channel.value if channel else None, source_reply_id=source_reply_id,
        category=category.value, urgency=deadline.urgency, routed_by=routed_by,
        department=department.code if department else None,
        deadline_at=deadline.due_at.isoformat(), provisional=deadline.provisional,
    )  # fmt: skip
    if source_reply_id is not None and link_reply:
        await _link_reply(session, source_reply_id, ticket.id)
    if handler is not None:
        _record_assigned(session, ticket, handler, previous, actor=actor, now=now,
                         how="round_robin")  # fmt: skip
    if flush:
        await session.flush()
    return ticket


async def _link_reply(session: AsyncSession, reply_id: int, ticket_id: int) -> None:
    await session.execute(
        sa.update(InboundReply).where(InboundReply.id == reply_id).values(ticket_id=ticket_id)
    )


async def append_to_ticket(
    session: AsyncSession,
    ticket: Ticket,
    *,
    body: str,
    source_reply_id: int | None,
    now: datetime,
    actor: str = "system",
    link_reply: bool = True,
) -> TicketEvent:
    """Add the enterprise's further message (补充) to an open ticket; the deadline stays.
    ``link_reply`` as for :func:`open_ticket`."""
    _require(ticket, "补充内容", sorted(OPEN_STATES, key=list(TicketState).index))
    stamp = now.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    ticket.body = f"{ticket.body}\n\n【补充 {stamp}】{body}"
    event = record(
        session, ticket, TicketEventType.APPENDED, actor=actor, now=now,
        body=body, source_reply_id=source_reply_id,
    )  # fmt: skip
    if source_reply_id is not None and link_reply:
        await _link_reply(session, source_reply_id, ticket.id)
    await session.flush()
    return event


def _assign(
    session: AsyncSession,
    ticket: Ticket,
    handler: Staff,
    *,
    actor: str,
    now: datetime,
    how: str,
    reason: str | None = None,
) -> None:
    previous = _give(ticket, handler)
    _record_assigned(session, ticket, handler, previous, actor=actor, now=now, how=how,
                     reason=reason)  # fmt: skip


def _give(ticket: Ticket, handler: Staff) -> int | None:
    """Put the ticket in the handler's hands (and department); the previous handler."""
    previous = ticket.handler_id
    ticket.handler_id = handler.id
    if handler.department_id is not None:
        ticket.department_id = handler.department_id
    if ticket.state is not TicketState.REOPENED:
        ticket.state = TicketState.ASSIGNED
    return previous


def _record_assigned(
    session: AsyncSession, ticket: Ticket, handler: Staff, previous: int | None, *, actor: str,
    now: datetime, how: str, reason: str | None = None,
) -> None:  # fmt: skip
    record(
        session, ticket, TicketEventType.ASSIGNED, actor=actor, now=now, reason=reason,
        handler=handler.username, handler_id=handler.id, previous_handler_id=previous, how=how,
    )  # fmt: skip


async def assign(
    session: AsyncSession,
    ticket: Ticket,
    handler: Staff,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> Ticket:
    """Give the ticket to a handler (分派); a handler of another department moves it there."""
    _require(ticket, "分派", sorted(OPEN_STATES, key=list(TicketState).index))
    if handler.role != "handler":
        raise UsageError(f"{handler.username} 的角色是 {handler.role}，只能分派给经办人 (handler)")
    if handler.absent:
        raise UsageError(f"{handler.username} 已标记为不在岗，不能分派")
    _assign(session, ticket, handler, actor=actor, now=now, how="manual", reason=reason)
    await session.flush()
    return ticket


async def start(session: AsyncSession, ticket: Ticket, *, actor: str, now: datetime) -> Ticket:
    """The handler starts work (开始办理)."""
    _require(ticket, "开始办理", (TicketState.ASSIGNED, TicketState.REOPENED))
    if ticket.handler_id is None:
        raise _refuse(ticket, "开始办理（尚未分派经办人）")
    ticket.state = TicketState.IN_PROGRESS
    record(session, ticket, TicketEventType.STARTED, actor=actor, now=now)
    await session.flush()
    return ticket


async def transfer(
    session: AsyncSession,
    ticket: Ticket,
    department: Department,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Ticket:
    """Send the ticket to another department (转办); the deadline is not reset."""
    _require(ticket, "转办", sorted(OPEN_STATES, key=list(TicketState).index))
    why = _reason(reason, "转办")
    if department.id == ticket.department_id:
        raise TransitionError(f"工单 {ticket.number} 已在 {department.name}，无需转办",
                              state=ticket.state.value)  # fmt: skip
    old_department, old_handler = ticket.department_id, ticket.handler_id
    ticket.department_id = department.id
    ticket.handler_id = None
    if ticket.state is not TicketState.REOPENED:
        ticket.state = TicketState.NEW
    record(
        session, ticket, TicketEventType.TRANSFERRED, actor=actor, now=now, reason=why,
        from_department_id=old_department, to_department=department.code,
        to_department_id=department.id, previous_handler_id=old_handler,
    )  # fmt: skip
    handler = await next_handler(session, department.id, now)
    if handler is not None:
        _assign(session, ticket, handler, actor=actor, now=now, how="round_robin")
    await session.flush()
    return ticket


async def return_to_dispatcher(
    session: AsyncSession, ticket: Ticket, *, reason: str, actor: str, now: datetime
) -> Ticket:
    """The department hands the ticket back (退单): no department, no handler, state new."""
    _require(ticket, "退单", (TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.REOPENED))
    why = _reason(reason, "退单")
    record(
        session, ticket, TicketEventType.RETURNED, actor=actor, now=now, reason=why,
        from_department_id=ticket.department_id, previous_handler_id=ticket.handler_id,
    )  # fmt: skip
    ticket.department_id = None
    ticket.handler_id = None
    ticket.state = TicketState.NEW
    await session.flush()
    return ticket


async def extend(
    session: AsyncSession,
    ticket: Ticket,
    *,
    policy: TicketPolicy,
    working_days: int,
    reason: str,
    actor: str,
    now: datetime,
) -> Deadline:
    """Approve an extension (延期) of ``working_days``; the caller tells the enterprise."""
    _require(ticket, "延期", sorted(OPEN_STATES, key=list(TicketState).index))
    why = _reason(reason, "延期")
    before = current_deadline(ticket, policy)
    after = extend_deadline(before, working_days, policy.calendar)
    ticket.deadline_at = after.due_at
    ticket.deadline_provisional = after.provisional
    ticket.deadline_extensions = list(after.extensions)
    ticket.reminded_at = None  # the handler is reminded again before the new deadline
    record(
        session, ticket, TicketEventType.EXTENDED, actor=actor, now=now, reason=why,
        working_days=working_days, from_deadline_at=before.due_at.isoformat(),
        deadline_at=after.due_at.isoformat(), due_date=after.due_date.isoformat(),
        provisional=after.provisional,
    )  # fmt: skip
    await session.flush()
    return after


async def resolve(
    session: AsyncSession,
    ticket: Ticket,
    *,
    answer: str,
    actor: str,
    now: datetime,
    automatic: bool = False,
) -> Ticket:
    """The handler's answer (办结); the caller sends it with the rating request
    (hub.tickets.feedback). ``automatic``: the assistant's answer from the knowledge base, which
    resolves the ticket it has just opened, before anyone was assigned (hub.inbound.assistant)."""
    allowed = (TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.REOPENED)
    _require(ticket, "办结", (TicketState.NEW, *allowed) if automatic else allowed)
    text = answer.strip()
    if not text:
        raise UsageError("办结必须填写答复内容 (--answer)")
    ticket.state = TicketState.RESOLVED
    ticket.resolved_at = now
    ticket.rating_requested_at = None
    ticket.rating_reminded_at = None
    record(
        session, ticket, TicketEventType.RESOLVED, actor=actor, now=now,
        answer=text, on_time=now < ticket.deadline_at, round=ticket.reopen_count + 1,
    )  # fmt: skip
    await session.flush()
    return ticket


async def reopen(
    session: AsyncSession,
    ticket: Ticket,
    *,
    reason: str,
    actor: str,
    now: datetime,
    **data: Any,
) -> Ticket:
    """Open a resolved or closed ticket again (重办), with the same department and handler."""
    _require(ticket, "重办", (TicketState.RESOLVED, TicketState.CLOSED))
    why = _reason(reason, "重办")
    ticket.state = TicketState.REOPENED
    ticket.reopen_count += 1
    ticket.resolved_at = None
    ticket.closed_at = None
    ticket.close_reason = None
    ticket.rating_requested_at = None
    ticket.rating_reminded_at = None
    record(
        session, ticket, TicketEventType.REOPENED, actor=actor, now=now, reason=why,
        reopen_count=ticket.reopen_count, **data,
    )  # fmt: skip
    await session.flush()
    return ticket


async def close(
    session: AsyncSession,
    ticket: Ticket,
    *,
    reason: str,
    actor: str,
    now: datetime,
    note: str | None = None,
    **data: Any,
) -> Ticket:
    """Close (销号) a resolved ticket: ``rated`` (好评办结) or ``no_rating`` (未评价销号)."""
    if reason not in CLOSE_REASONS:
        raise UsageError(f"销号原因应为 rated 或 no_rating，而不是 {reason!r}")
    _require(ticket, "销号", (TicketState.RESOLVED,))
    ticket.state = TicketState.CLOSED
    ticket.closed_at = now
    ticket.close_reason = reason
    record(
        session, ticket, TicketEventType.CLOSED, actor=actor, now=now,
        reason=note or CLOSE_REASONS[reason], close_reason=reason, **data,
    )  # fmt: skip
    await session.flush()
    return ticket
