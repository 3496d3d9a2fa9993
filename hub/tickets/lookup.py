"""Finding tickets: by number, awaiting a contact's rating, appendable, their events.

Re-exported by :mod:`hub.tickets.lifecycle` (the module path other parts code against).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import TicketState
from hub.store.models import Ticket, TicketEvent
from hub.tickets.policy import TicketPolicy
from hub.tickets.settings import TicketsConfig, TicketsSettings

OPEN_STATES = frozenset(
    {TicketState.NEW, TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.REOPENED}
)


async def find_appendable_ticket(
    session: AsyncSession,
    *,
    enterprise_id: int | None,
    contact_id: int | None,
    now: datetime,
    policy: TicketPolicy | None = None,
    settings: TicketsConfig | None = None,
) -> Ticket | None:
    """The enterprise's (else the contact's) open ticket active within the append window."""
    if enterprise_id is not None:
        owner = Ticket.enterprise_id == enterprise_id
    elif contact_id is not None:
        owner = Ticket.contact_id == contact_id
    else:
        return None
    tickets = policy.tickets if policy else settings.tickets if settings else TicketsSettings()
    since = now - timedelta(hours=tickets.append_window_hours)
    return await session.scalar(
        sa.select(Ticket)
        .where(owner, Ticket.state.in_(OPEN_STATES), Ticket.last_activity_at >= since)
        .order_by(Ticket.last_activity_at.desc(), Ticket.id.desc())
        .limit(1)
    )


async def awaiting_rating(session: AsyncSession, contact_id: int) -> list[Ticket]:
    """The contact's resolved tickets not closed yet, oldest resolution first."""
    rows = await session.scalars(
        sa.select(Ticket)
        .where(Ticket.contact_id == contact_id, Ticket.state == TicketState.RESOLVED)
        .order_by(Ticket.resolved_at, Ticket.id)
    )
    return list(rows.all())


async def ticket_by_number(session: AsyncSession, number: str) -> Ticket | None:
    """The ticket with that number (case and surrounding spaces ignored)."""
    return await session.scalar(sa.select(Ticket).where(Ticket.number == number.strip().upper()))


async def events_of(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    """The ticket's events in the order they happened."""
    rows = await session.scalars(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket_id)
        .order_by(TicketEvent.at, TicketEvent.id)
    )
    return list(rows.all())
