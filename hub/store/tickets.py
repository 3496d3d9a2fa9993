"""Tickets (诉求工单) with their events and ratings; calendars; the audit log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.vocab import (
    CallbackMethod,
    CallbackStatus,
    ChannelName,
    TicketCategory,
    TicketEventType,
    TicketState,
    Urgency,
)
from hub.store.base import Base, Timestamps
from hub.store.types import BigId, enum_column


class Ticket(Timestamps, Base):
    """A request from an enterprise, routed to a department, closed within a deadline."""

    __tablename__ = "ticket"
    __table_args__ = (
        sa.Index("ix_ticket_state_deadline", "state", "deadline_at"),
        # An enterprise's / a contact's tickets in given states (the inbound worker's reads
        # per chunk): without the state beside the id, SQLite's planner takes the state index
        # and reads every open or resolved ticket of the city.
        sa.Index("ix_ticket_enterprise_state", "enterprise_id", "state"),
        sa.Index("ix_ticket_contact_state", "contact_id", "state"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(24), unique=True)
    enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"))
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"), index=True)
    handler_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"), index=True)
    source_reply_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_reply.id"))
    # a problem a liaison officer found on a visit (0007)
    source_visit_id: Mapped[int | None] = mapped_column(sa.ForeignKey("visit.id"), index=True)
    subject: Mapped[str] = mapped_column(sa.String(256))
    body: Mapped[str] = mapped_column(sa.Text)
    urgency: Mapped[Urgency] = mapped_column(enum_column(Urgency))
    state: Mapped[TicketState] = mapped_column(enum_column(TicketState))
    received_at: Mapped[datetime] = mapped_column()
    deadline_at: Mapped[datetime] = mapped_column()
    deadline_provisional: Mapped[bool] = mapped_column(default=False)
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    close_reason: Mapped[str | None] = mapped_column(sa.String(32))  # rated | no_rating
    # closed loop (0002)
    category: Mapped[TicketCategory] = mapped_column(
        enum_column(TicketCategory), default=TicketCategory.REQUEST
    )
    channel: Mapped[ChannelName | None] = mapped_column(enum_column(ChannelName))
    # The class's N at receipt and the approved extensions: enough to rebuild the Deadline
    # (hub.tickets.deadlines.rules) for extend/recompute without re-reading the class table.
    deadline_workdays: Mapped[int | None] = mapped_column()
    deadline_extensions: Mapped[list[int]] = mapped_column(sa.JSON, default=list)
    reopen_count: Mapped[int] = mapped_column(default=0)
    callback_due_at: Mapped[datetime | None] = mapped_column()
    callback_done_at: Mapped[datetime | None] = mapped_column()
    rectify_due_at: Mapped[datetime | None] = mapped_column()
    rating_requested_at: Mapped[datetime | None] = mapped_column()
    rating_reminded_at: Mapped[datetime | None] = mapped_column()
    reminded_at: Mapped[datetime | None] = mapped_column()  # handler's deadline reminder
    escalation_level: Mapped[int] = mapped_column(default=0)  # 0 none, 1 head, 2 营商办
    last_activity_at: Mapped[datetime | None] = mapped_column(index=True)


class TicketEvent(Base):
    """One step of a ticket's closed loop; never updated or deleted."""

    __tablename__ = "ticket_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    type: Mapped[TicketEventType] = mapped_column(enum_column(TicketEventType))
    actor: Mapped[str] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column()
    reason: Mapped[str | None] = mapped_column(sa.Text)
    data: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    #: The ticket, for the flush: an event of a ticket not inserted yet gets its id there, and
    #: one flush inserts the tickets first (hub.tickets.lifecycle.open_ticket ``flush=False``).
    ticket: Mapped[Ticket] = relationship(lazy="raise_on_sql")


class Rating(Base):
    """A satisfaction rating (好差评), 1–5; flagged malicious with a reason, never deleted."""

    __tablename__ = "rating"
    __table_args__ = (sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"))
    score: Mapped[int] = mapped_column()
    comment: Mapped[str | None] = mapped_column(sa.Text)
    at: Mapped[datetime] = mapped_column()
    source_reply_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_reply.id"))
    malicious: Mapped[bool] = mapped_column(default=False)
    malicious_reason: Mapped[str | None] = mapped_column(sa.Text)
    flagged_by: Mapped[str | None] = mapped_column(sa.String(64))
    flagged_at: Mapped[datetime | None] = mapped_column()
    source: Mapped[str | None] = mapped_column(sa.String(16))  # reply | button | web | phone


class TicketNumberSeq(Base):
    """The last ticket number handed out per receipt day (GD+yyyymmdd+NNNN).

    Bumped with one upsert in the ticket's own write transaction, so two writers never get
    the same number on either database.
    """

    __tablename__ = "ticket_number_seq"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    last: Mapped[int] = mapped_column()


class RoutingCursor(Base):
    """Round-robin position per department: the handler who got the last ticket."""

    __tablename__ = "routing_cursor"

    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"), primary_key=True)
    last_handler_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    updated_at: Mapped[datetime] = mapped_column()


class RatingLink(Base):
    """A one-ticket rating page link (short link in the rating request); used once."""

    __tablename__ = "rating_link"

    token: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"))
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    rating_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rating.id"))


class CallbackSurvey(Base):
    """A monthly callback survey (回访) of one resolved ticket, by message or by phone."""

    __tablename__ = "callback_survey"
    __table_args__ = (sa.UniqueConstraint("month", "ticket_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    month: Mapped[str] = mapped_column(sa.String(7))  # YYYY-MM the ticket was resolved in
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    method: Mapped[CallbackMethod] = mapped_column(enum_column(CallbackMethod))
    status: Mapped[CallbackStatus] = mapped_column(enum_column(CallbackStatus))
    message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("message.id"))
    score: Mapped[int | None] = mapped_column()
    answer: Mapped[str | None] = mapped_column(sa.Text)
    recorded_by: Mapped[str | None] = mapped_column(sa.String(64))
    recorded_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()


class WorkdayOverride(Base):
    """An admin-entered day for years chinese-calendar lacks: a holiday or a make-up workday."""

    __tablename__ = "workday_override"

    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column()
    note: Mapped[str | None] = mapped_column(sa.String(128))
    entered_by: Mapped[str] = mapped_column(sa.String(64))
    entered_at: Mapped[datetime] = mapped_column()


class AuditLog(Base):
    """Who did what to which record, including lawful anonymisation of personal data."""

    __tablename__ = "audit_log"
    # The admin's audit page: one staff member's or one action's entries, newest first (0008).
    __table_args__ = (
        sa.Index("ix_audit_log_actor_id", "actor", "id"),
        sa.Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64))
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)


class PolicyVersion(Base):
    """An admin-edited part of the ticket policy, one immutable row per version.

    ``kind`` is ``ticket_rules`` (the routing rules and default departments) or
    ``deadline_classes`` (urgency class → working days); the highest version is in force. The
    config sections are the seed: without a row, config applies (hub/tickets/policy_store.py).
    """

    __tablename__ = "policy_version"
    __table_args__ = (sa.UniqueConstraint("kind", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    version: Mapped[int] = mapped_column()
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    note: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(sa.String(64))
