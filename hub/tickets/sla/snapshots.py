"""What the SLA pass reads: :class:`~hub.tickets.sla.rules.SlaTicket` snapshots of the tickets a
step may be due for (open, awaiting a rating, or resolved without an SLA result yet), in chunks.

The first resolution comes from the ``resolved`` events (a reopen clears ``resolved_at``), the
SLA result from the first ``sla`` event, and "rated" from the latest rating being after the
latest resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import TicketEventType, TicketState
from hub.store.db import Database
from hub.store.models import Rating, Ticket, TicketEvent
from hub.tickets.sla.rules import OPEN_STATES, SlaTicket

CHUNK = 500


async def load_snapshots(db: Database) -> list[list[SlaTicket]]:
    """The tickets a step may be due for, in chunks: open, awaiting a rating, or resolved
    without an SLA result yet."""
    has_sla = (
        sa.select(TicketEvent.id)
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.type == TicketEventType.SLA)
        .exists()
    )
    async with db.read() as session:
        tickets = (
            await session.scalars(
                sa.select(Ticket)
                .where(
                    sa.or_(
                        Ticket.state.in_([*OPEN_STATES, TicketState.RESOLVED]),
                        sa.and_(Ticket.resolved_at.is_not(None), ~has_sla),
                    )
                )
                .order_by(Ticket.id)
            )
        ).all()
        chunks: list[list[SlaTicket]] = []
        for low in range(0, len(tickets), CHUNK):
            chunk = tickets[low : low + CHUNK]
            chunks.append(await _chunk_snapshots(session, chunk))
    return chunks


async def _chunk_snapshots(session: AsyncSession, tickets: Sequence[Ticket]) -> list[SlaTicket]:
    ids = [t.id for t in tickets]
    first_resolved: dict[int, datetime] = dict(
        (
            await session.execute(
                sa.select(TicketEvent.ticket_id, sa.func.min(TicketEvent.at))
                .where(TicketEvent.ticket_id.in_(ids), TicketEvent.type == TicketEventType.RESOLVED)
                .group_by(TicketEvent.ticket_id)
            )
        ).all()
    )
    sla_results: dict[int, str] = {}
    for ticket_id, data in await session.execute(
        sa.select(TicketEvent.ticket_id, TicketEvent.data)
        .where(TicketEvent.ticket_id.in_(ids), TicketEvent.type == TicketEventType.SLA)
        .order_by(TicketEvent.id)
    ):
        sla_results.setdefault(ticket_id, str((data or {}).get("result", "missed")))
    last_rated: dict[int, datetime] = dict(
        (
            await session.execute(
                sa.select(Rating.ticket_id, sa.func.max(Rating.at))
                .where(Rating.ticket_id.in_(ids))
                .group_by(Rating.ticket_id)
            )
        ).all()
    )
    snapshots = []
    for t in tickets:
        resolved = t.resolved_at
        rated_at = last_rated.get(t.id)
        snapshots.append(
            SlaTicket(
                id=t.id,
                state=t.state,
                deadline_at=t.deadline_at,
                first_resolved_at=first_resolved.get(t.id) or resolved,
                resolved_at=resolved,
                reminded_at=t.reminded_at,
                escalation_level=t.escalation_level,
                sla_result=sla_results.get(t.id),
                rated=resolved is not None and rated_at is not None and rated_at >= resolved,
                rating_reminded=resolved is not None
                and t.rating_reminded_at is not None
                and t.rating_reminded_at >= resolved,
            )
        )
    return snapshots
