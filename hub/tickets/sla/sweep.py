"""The SLA pass: apply what :mod:`hub.tickets.sla.rules` says is due, once, with every step on
record.

Run every few minutes by the scheduler's leader (``tickets.sla_every_minutes``) and by
``hub sla run``. Each ticket's steps are applied in one short write transaction; each step
first claims its column with a conditional UPDATE (``reminded_at IS NULL``,
``escalation_level < L``, ``rating_reminded_at`` older than the resolution), so two passes at
once (the leader and a clerk's ``hub sla run``) do it once. The messages are outbox rows written
in the same transaction (:mod:`hub.outbound.notify`, idempotent on ticket, step and deadline) and
enqueued after the commit.

Steps and their records (actor ``sla``):

- reminder → ``reminded`` event, a ``deadline_reminder`` to the handler (the department head
  when no handler is assigned);
- escalation level 1/2 → ``escalated`` event ``{"level", "to"}`` and an ``sla`` event
  ``{"result": "missed", "level"}``, an ``escalation`` to the department head / 营商办;
- first resolution → ``sla`` event ``{"result": "hit"|"missed", "level": 0}`` (unless an
  escalation recorded ``missed`` already);
- unrated → ``rating_reminded`` event and a ``rating_reminder`` to the ticket's contact, or
  closed as ``no_rating`` by the ticket service's ``close``.

Then, from the first working day of a month on, the month's callback survey sample
(:func:`hub.tickets.callback_survey.run_monthly_callbacks`, idempotent).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock, local_iso
from hub.core.errors import HubError
from hub.core.vocab import MessageKind, TicketEventType, TicketState
from hub.core.workdays import WorkdayCalendar
from hub.infra.queue import Queue
from hub.outbound.notify import (
    NotifyResult,
    Recipient,
    enqueue_notified,
    enterprise_context,
    notify_one,
)
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Contact, Department, Staff, Ticket, TicketEvent
from hub.tickets.callback_survey import run_monthly_callbacks
from hub.tickets.deadlines.rules import deadline_moment
from hub.tickets.lifecycle import close
from hub.tickets.policy import load_calendar
from hub.tickets.recipients import business_office_heads, department_heads, handler_or_heads
from hub.tickets.settings import TicketsConfig
from hub.tickets.sla.rules import (
    LEVEL_HEAD,
    OPEN_STATES,
    SlaAction,
    SlaPolicy,
    SlaStep,
    SlaTicket,
    due_actions,
    due_date,
)
from hub.tickets.sla.snapshots import load_snapshots

log = structlog.get_logger(__name__)

ACTOR = "sla"
LEVEL_TARGETS = {1: ("head", "部门负责人"), 2: ("business_office", "营商办")}


def sla_policy(settings: TicketsConfig) -> SlaPolicy:
    """The SLA times from config ``tickets``."""
    t = settings.tickets
    return SlaPolicy(
        remind_before=timedelta(hours=t.remind_before_hours),
        escalate_after_workdays=t.escalate_after_workdays,
        rating_reminder_after_workdays=t.rating_reminder_after_workdays,
        no_rating_close_after_workdays=t.no_rating_close_after_workdays,
        tz=settings.hub.tz,
    )


@dataclass(slots=True)
class SlaPassReport:
    """What one pass did: steps applied per kind, messages created, callback sample."""

    at: datetime
    steps: Counter[str] = field(default_factory=Counter)
    messages_created: int = 0
    enqueued: int = 0
    callbacks_added: int = 0
    failed: list[int] = field(default_factory=list)  # ticket ids whose steps raised

    def as_dict(self) -> dict[str, object]:
        return {
            "at": local_iso(self.at),
            "steps": dict(sorted(self.steps.items())),
            "messages_created": self.messages_created,
            "enqueued": self.enqueued,
            "callbacks_added": self.callbacks_added,
            "failed": self.failed,
        }


@dataclass(frozen=True, slots=True)
class SlaContext:
    """What applying the steps needs besides the database."""

    settings: TicketsConfig
    renderer: TemplateRenderer
    policy: PlanningPolicy
    queue: Queue
    calendar: WorkdayCalendar


async def run_sla_pass(
    db: Database,
    clock: Clock,
    settings: TicketsConfig,
    *,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
    queue: Queue,
    calendar: WorkdayCalendar | None = None,
    callbacks: bool = True,
) -> SlaPassReport:
    """One pass over the tickets that may have a step due now; safe to run at any time."""
    now = clock.now()
    if calendar is None:
        async with db.read() as session:
            calendar = await load_calendar(session, settings)
    cal = calendar
    ctx = SlaContext(settings, renderer, policy, queue, cal)
    rules = sla_policy(settings)
    report = SlaPassReport(at=now)
    for snapshots in await load_snapshots(db):
        for snap in snapshots:
            actions = due_actions(snap, now, rules, cal)
            if not actions:
                continue
            try:
                async with db.write() as session:
                    results = await _apply(session, ctx, snap, actions, now, report)
            except HubError:
                # One ticket's problem (a template that cannot render, a refused transition)
                # must not hold up every other ticket; its steps are retried next pass.
                log.exception("sla steps failed", ticket_id=snap.id)
                report.failed.append(snap.id)
                continue
            report.messages_created += sum(r.created for r in results)
            report.enqueued += len(await enqueue_notified(queue, results))
    if callbacks:
        outcome = await run_monthly_callbacks(
            db,
            clock,
            settings,
            renderer=renderer,
            policy=policy,
            queue=queue,
            calendar=cal,
            only_from_first_workday=True,
        )
        report.callbacks_added = outcome.added
    if report.steps:
        log.info("sla pass", **report.as_dict())
    return report


async def _apply(
    session: AsyncSession,
    ctx: SlaContext,
    snap: SlaTicket,
    actions: Sequence[SlaAction],
    now: datetime,
    report: SlaPassReport,
) -> list[NotifyResult]:
    results: list[NotifyResult] = []
    for action in actions:
        ticket = await session.get(Ticket, snap.id, populate_existing=True)
        assert ticket is not None
        done: list[NotifyResult] | None
        match action.step:
            case SlaStep.REMIND:
                done = await _remind(session, ctx, ticket, now)
            case SlaStep.ESCALATE:
                done = await _escalate(session, ctx, ticket, action.level, now)
            case SlaStep.SLA_HIT | SlaStep.SLA_MISSED:
                done = await _sla_result(session, ticket, action, now)
            case SlaStep.RATING_REMINDER:
                done = await _rating_reminder(session, ctx, ticket, now)
            case SlaStep.CLOSE_NO_RATING:
                done = await _close_unrated(session, ticket, now)
        if done is not None:  # None: another pass claimed the step first
            report.steps[
                action.step.value
                if action.step is not SlaStep.ESCALATE
                else f"escalate_{action.level}"
            ] += 1
            results.extend(done)
    return results


async def _claim(
    session: AsyncSession, ticket_id: int, *where: sa.ColumnElement[bool], **values: object
) -> bool:
    """Set columns of the ticket only if ``where`` still holds: True when this call did it."""
    result = await session.execute(
        sa.update(Ticket).where(Ticket.id == ticket_id, *where).values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


def _event(
    ticket: Ticket, type_: TicketEventType, now: datetime, reason: str, **data: object
) -> TicketEvent:
    return TicketEvent(
        ticket_id=ticket.id, type=type_, actor=ACTOR, at=now, reason=reason, data=data
    )


async def _ticket_context(
    session: AsyncSession, ctx: SlaContext, ticket: Ticket
) -> dict[str, object]:
    department = (
        await session.get(Department, ticket.department_id) if ticket.department_id else None
    )
    handler = await session.get(Staff, ticket.handler_id) if ticket.handler_id else None
    return {
        **await enterprise_context(session, ticket.enterprise_id),
        "ticket_number": ticket.number,
        "subject": ticket.subject or ticket.body[:30],
        "deadline": deadline_moment(ticket.deadline_at, ctx.settings.hub.tz),
        "department": department.name if department else "未分派部门",
        "handler_name": handler.name if handler else "未分派",
    }


async def _send(
    session: AsyncSession,
    ctx: SlaContext,
    kind: MessageKind,
    recipients: Sequence[Recipient],
    values: dict[str, object],
    trigger_key: str,
    now: datetime,
) -> list[NotifyResult]:
    return [
        await notify_one(
            session,
            kind=kind,
            recipient=r,
            context=values,
            trigger=f"sla:{kind}",
            trigger_key=trigger_key,
            now=now,
            renderer=ctx.renderer,
            policy=ctx.policy,
        )
        for r in recipients
    ]


async def _remind(
    session: AsyncSession, ctx: SlaContext, ticket: Ticket, now: datetime
) -> list[NotifyResult] | None:
    open_now = Ticket.state.in_(OPEN_STATES)  # not answered since the snapshot was read
    if not await _claim(
        session, ticket.id, open_now, Ticket.reminded_at.is_(None), reminded_at=now
    ):
        return None
    recipients = await handler_or_heads(session, ticket.handler_id, ticket.department_id)
    values = await _ticket_context(session, ctx, ticket)
    results = await _send(
        session,
        ctx,
        MessageKind.DEADLINE_REMINDER,
        recipients,
        values,
        f"{ticket.id}:{ticket.deadline_at.isoformat()}",
        now,
    )
    session.add(
        _event(
            ticket,
            TicketEventType.REMINDED,
            now,
            f"临近办理时限 {values['deadline']}",
            deadline_at=local_iso(ticket.deadline_at),
            message_ids=[r.message_id for r in results],
            recipients=[r.key for r in recipients],
        )
    )
    return results


async def _escalate(
    session: AsyncSession, ctx: SlaContext, ticket: Ticket, level: int, now: datetime
) -> list[NotifyResult] | None:
    if not await _claim(
        session,
        ticket.id,
        Ticket.state.in_(OPEN_STATES),
        Ticket.escalation_level < level,
        escalation_level=level,
    ):
        return None
    target, label = LEVEL_TARGETS[level]
    if level == LEVEL_HEAD:
        recipients = await department_heads(session, ticket.department_id)
    else:
        recipients = await business_office_heads(
            session, ctx.settings.tickets.business_office_department
        )
    today = now.astimezone(ctx.settings.hub.tz).date()
    # Whole working days overdue: today has not passed yet.
    last = due_date(ticket.deadline_at, ctx.settings.hub.tz)
    overdue = max(ctx.calendar.workdays_between(last, today - timedelta(days=1)), 0)
    values = {
        **await _ticket_context(session, ctx, ticket),
        "level_label": label,
        "overdue_workdays": overdue,
    }
    results = await _send(
        session,
        ctx,
        MessageKind.ESCALATION,
        recipients,
        values,
        f"{ticket.id}:{level}:{ticket.deadline_at.isoformat()}",
        now,
    )
    reason = f"超过办理时限（{values['deadline']}），升级督办至{label}"
    data = {
        "level": level,
        "to": target,
        "deadline_at": local_iso(ticket.deadline_at),
        "message_ids": [r.message_id for r in results],
        "recipients": [r.key for r in recipients],
    }
    if not recipients:
        data["unreachable"] = True
    session.add(_event(ticket, TicketEventType.ESCALATED, now, reason, **data))
    session.add(
        _event(
            ticket,
            TicketEventType.SLA,
            now,
            "超期",
            result="missed",
            level=level,
            deadline_at=local_iso(ticket.deadline_at),
        )
    )
    return results


async def _sla_result(
    session: AsyncSession, ticket: Ticket, action: SlaAction, now: datetime
) -> list[NotifyResult] | None:
    recorded = await session.scalar(
        sa.select(sa.func.count()).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.type == TicketEventType.SLA
        )
    )
    if recorded:
        return None
    hit = action.step is SlaStep.SLA_HIT
    session.add(
        _event(
            ticket,
            TicketEventType.SLA,
            now,
            "按时办结" if hit else "超期办结",
            result="hit" if hit else "missed",
            level=0,
            deadline_at=local_iso(ticket.deadline_at),
            resolved_at=local_iso(action.due_at),
        )
    )
    return []


async def _rating_reminder(
    session: AsyncSession, ctx: SlaContext, ticket: Ticket, now: datetime
) -> list[NotifyResult] | None:
    resolved = ticket.resolved_at
    assert resolved is not None
    claimed = await _claim(
        session,
        ticket.id,
        Ticket.state == TicketState.RESOLVED,
        sa.or_(Ticket.rating_reminded_at.is_(None), Ticket.rating_reminded_at < resolved),
        rating_reminded_at=now,
    )
    if not claimed:
        return None
    recipients: list[Recipient] = []
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    if contact is not None and contact.anonymised_at is None:
        recipients.append(Recipient.for_contact(contact))
    values = {
        **await enterprise_context(session, ticket.enterprise_id),
        "tickets": ticket.number,
        "first_ticket": ticket.number,
    }
    results = await _send(
        session,
        ctx,
        MessageKind.RATING_REMINDER,
        recipients,
        values,
        f"{ticket.id}:{resolved.isoformat()}",
        now,
    )
    session.add(
        _event(
            ticket,
            TicketEventType.RATING_REMINDED,
            now,
            "办结后未评价，提醒评价",
            message_ids=[r.message_id for r in results],
        )
    )
    return results


async def _close_unrated(
    session: AsyncSession, ticket: Ticket, now: datetime
) -> list[NotifyResult] | None:
    if ticket.state is not TicketState.RESOLVED:
        return None
    await close(session, ticket, reason="no_rating", actor=ACTOR, now=now)
    return []
