"""Tickets as staff see them (``hub tickets list|show``, ``/api/v1/tickets``), scoped by role.

Who sees which tickets (:class:`TicketScope`):

- ``admin`` and ``dispatcher``: every ticket (dispatchers route them);
- staff of the business-environment office (营商办): every ticket (it oversees them all);
- ``handler``, ``head`` and a ``viewer`` with a department: the tickets now with that
  department (a transfer hands the ticket over, so it leaves the old department's list);
- a ``viewer`` with a district only: the tickets of enterprises in that district
  (:meth:`Visibility.enterprise_filter`); with neither, every ticket;
- an ``officer``: the tickets of the enterprises of the liaison officer the account is
  linked to (none when it is not linked), whatever its department.

What they may do is in :mod:`hub.tickets.desk`. Contact numbers are masked by role like
everywhere else (:class:`~hub.queries.scope.Visibility`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI, local_iso
from hub.core.vocab import RATING_LABELS, ChannelName, TicketCategory, TicketState
from hub.queries.answer_views import ticket_suggestions
from hub.queries.scope import Visibility
from hub.store.models import Contact, Department, Enterprise, Rating, Staff, Ticket, TicketEvent
from hub.tickets.deadlines.rules import deadline_last_day, deadline_text
from hub.tickets.lifecycle import OPEN_STATES
from hub.tickets.staff import StaffRole

_ALL_TICKETS = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER})
# Roles whose tickets are those of the enterprises they may see, not a department's.
_BY_ENTERPRISE = frozenset({StaffRole.VIEWER, StaffRole.OFFICER})
_FULL = Visibility.everything(full_addresses=True)


@dataclass(frozen=True, slots=True)
class TicketScope:
    """Which tickets a reader sees; ``role`` None is the operator at the console (all)."""

    role: StaffRole | None = None
    department_id: int | None = None
    sees_all_departments: bool = True
    visibility: Visibility = field(
        default_factory=lambda: Visibility.everything(full_addresses=True)
    )
    username: str | None = None

    @classmethod
    def operator(cls) -> TicketScope:
        return cls()

    @classmethod
    def for_staff(
        cls,
        *,
        role: StaffRole,
        username: str,
        department_id: int | None,
        business_office: bool,
        visibility: Visibility,
    ) -> TicketScope:
        everything = (
            role in _ALL_TICKETS or business_office or department_id is None
            or role is StaffRole.OFFICER
        )  # fmt: skip
        return cls(role, department_id, everything, visibility, username)

    def clause(self) -> sa.ColumnElement[bool] | None:
        """WHERE clause on ``ticket``; None when every ticket is visible."""
        if not self.sees_all_departments:
            return Ticket.department_id == self.department_id
        if self.role in _BY_ENTERPRISE:
            return self.visibility.enterprise_filter(Ticket.enterprise_id)
        return None

    async def sees(self, session: AsyncSession, ticket: Ticket) -> bool:
        """The same rule for one loaded ticket (the clause above, asked of that ticket)."""
        clause = self.clause()
        if clause is None:
            return True
        found = await session.scalar(sa.select(Ticket.id).where(Ticket.id == ticket.id, clause))
        return found is not None


@dataclass(frozen=True, slots=True)
class TicketFilter:
    """Which tickets to list; ``before`` is a ticket id (the next page, newest first)."""

    state: TicketState | None = None
    open_only: bool = False
    department_code: str | None = None
    handler_username: str | None = None
    category: TicketCategory | None = None
    overdue_at: datetime | None = None  # only open tickets past their deadline at this time
    search: str | None = None  # a ticket number, or part of an enterprise's name, or its USCC
    before: int | None = None
    limit: int = 50


def _select() -> sa.Select[Ticket]:
    return sa.select(Ticket).order_by(Ticket.id.desc())


def search_clause(text: str) -> sa.ColumnElement[bool]:
    """Tickets whose number is ``text``, or whose enterprise's name holds it or USCC is it."""
    cleaned = text.strip()
    enterprises = sa.select(Enterprise.id).where(
        sa.or_(Enterprise.name.contains(cleaned, autoescape=True),
               Enterprise.uscc == cleaned.upper())
    )  # fmt: skip
    return sa.or_(Ticket.number == cleaned.upper(), Ticket.enterprise_id.in_(enterprises))


async def list_tickets(
    session: AsyncSession, wanted: TicketFilter, scope: TicketScope
) -> list[Ticket]:
    stmt = _select()
    clause = scope.clause()
    if clause is not None:
        stmt = stmt.where(clause)
    if wanted.state is not None:
        stmt = stmt.where(Ticket.state == wanted.state)
    if wanted.open_only or wanted.overdue_at is not None:
        stmt = stmt.where(Ticket.state.in_(OPEN_STATES))
    if wanted.overdue_at is not None:
        stmt = stmt.where(Ticket.deadline_at <= wanted.overdue_at)
    if wanted.department_code is not None:
        stmt = stmt.where(
            Ticket.department_id.in_(
                sa.select(Department.id).where(Department.code == wanted.department_code)
            )
        )
    if wanted.handler_username is not None:
        stmt = stmt.where(
            Ticket.handler_id.in_(
                sa.select(Staff.id).where(Staff.username == wanted.handler_username)
            )
        )
    if wanted.category is not None:
        stmt = stmt.where(Ticket.category == wanted.category)
    if wanted.search:
        stmt = stmt.where(search_clause(wanted.search))
    if wanted.before is not None:
        stmt = stmt.where(Ticket.id < wanted.before)
    return list((await session.scalars(stmt.limit(wanted.limit))).all())


class TicketViews:
    """Turns tickets into the dicts the CLI prints and the API answers (names looked up once)."""

    def __init__(self, session: AsyncSession, scope: TicketScope, tz: ZoneInfo = SHANGHAI) -> None:
        self.session = session
        self.scope = scope
        self.tz = tz
        self._departments: dict[int, Department] = {}
        self._staff: dict[int, Staff] = {}
        self._enterprises: dict[int, Enterprise] = {}

    async def _get(self, cache: dict[int, Any], model: type[Any], key: int | None) -> Any:
        if key is None:
            return None
        if key not in cache:
            cache[key] = await self.session.get(model, key)
        return cache[key]

    async def summary(self, ticket: Ticket, now: datetime) -> dict[str, Any]:
        department = await self._get(self._departments, Department, ticket.department_id)
        handler = await self._get(self._staff, Staff, ticket.handler_id)
        enterprise = await self._get(self._enterprises, Enterprise, ticket.enterprise_id)
        return {
            "number": ticket.number,
            "state": ticket.state.value,
            "state_label": ticket.state.label,
            "category": ticket.category.value,
            "category_label": ticket.category.label,
            "urgency": ticket.urgency.value,
            "urgency_label": ticket.urgency.label,
            "channel": ticket.channel.value if ticket.channel else None,
            "subject": ticket.subject,
            "enterprise": (
                {"name": enterprise.name, "uscc": enterprise.uscc} if enterprise else None
            ),
            "department": (
                {"code": department.code, "name": department.name} if department else None
            ),
            "handler": {"username": handler.username, "name": handler.name} if handler else None,
            "received_at": local_iso(ticket.received_at, self.tz),
            # One rule for deadlines: shown as the last day (``deadline``, ``due_date``); the
            # instant (00:00 of the next day) only as ``due_at`` (``deadline_at``: the same
            # instant, kept for the API's readers).
            "deadline": deadline_text(ticket.deadline_at, self.tz),
            "due_date": deadline_last_day(ticket.deadline_at, self.tz).isoformat(),
            "due_at": local_iso(ticket.deadline_at, self.tz),
            "deadline_at": local_iso(ticket.deadline_at, self.tz),
            "deadline_provisional": ticket.deadline_provisional,
            "overdue": ticket.state in OPEN_STATES and now >= ticket.deadline_at,
            "resolved_at": local_iso(ticket.resolved_at, self.tz),
            "closed_at": local_iso(ticket.closed_at, self.tz),
            "close_reason": ticket.close_reason,
            "reopen_count": ticket.reopen_count,
            "escalation_level": ticket.escalation_level,
        }

    async def detail(self, ticket: Ticket, now: datetime) -> dict[str, Any]:
        view = await self.summary(ticket, now)
        contact = await self.session.get(Contact, ticket.contact_id) if ticket.contact_id else None
        events = (
            await self.session.scalars(
                sa.select(TicketEvent)
                .where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.at, TicketEvent.id)
            )
        ).all()
        ratings = (
            await self.session.scalars(
                sa.select(Rating).where(Rating.ticket_id == ticket.id).order_by(Rating.id)
            )
        ).all()
        view.update(
            body=ticket.body,
            contact=self._contact(contact),
            deadline_workdays=ticket.deadline_workdays,
            deadline_extensions=list(ticket.deadline_extensions or ()),
            callback_due_at=local_iso(ticket.callback_due_at, self.tz),
            rectify_due_at=local_iso(ticket.rectify_due_at, self.tz),
            events=[self._event(e) for e in events],
            ratings=[self._rating(r) for r in ratings],
            # The assistant's top entries for the question (smart answers), for the handler.
            suggestions=await ticket_suggestions(self.session, ticket.id),
        )
        return view

    def _contact(self, contact: Contact | None) -> dict[str, Any] | None:
        if contact is None:
            return None
        mobile = contact.mobile
        return {
            "name": contact.name,
            "mobile": self.scope.visibility.address(ChannelName.SMS, mobile) if mobile else None,
        }

    def _event(self, event: TicketEvent) -> dict[str, Any]:
        return {
            "type": event.type.value,
            "type_label": event.type.label,
            "actor": event.actor,
            "at": local_iso(event.at, self.tz),
            "reason": event.reason,
            "data": event.data,
        }

    def _rating(self, rating: Rating) -> dict[str, Any]:
        return {
            "id": rating.id,
            "score": rating.score,
            "label": RATING_LABELS[rating.score],
            "comment": rating.comment,
            "at": local_iso(rating.at, self.tz),
            "source": rating.source,
            "malicious": rating.malicious,
            "malicious_reason": rating.malicious_reason,
            "flagged_by": rating.flagged_by,
        }
