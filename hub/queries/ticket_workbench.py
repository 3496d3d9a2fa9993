"""What the tickets workbench (``/admin/tickets``) reads beyond the API's ticket views.

The list and the ticket themselves come from :mod:`hub.queries.tickets` (the API's own read
functions, scoped by :class:`~hub.queries.tickets.TicketScope`); this module adds the counts of
the state tabs, where a ticket came from (a reply, or a problem found on a visit), its callback
survey records, the choices the step forms offer (handlers, departments) and the names of the
staff who acted on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import CallbackMethod, CallbackStatus, ChannelName, TicketState, VisitStatus
from hub.queries.tickets import TicketScope, search_clause
from hub.store.models import (
    CallbackSurvey,
    Department,
    Enterprise,
    InboundReply,
    Officer,
    Staff,
    Ticket,
    Visit,
)


async def state_counts(
    session: AsyncSession, scope: TicketScope, search: str | None = None
) -> dict[TicketState, int]:
    """How many tickets the reader sees in each state (the tabs), with the list's search."""
    stmt = sa.select(Ticket.state, sa.func.count()).group_by(Ticket.state)
    clause = scope.clause()
    if clause is not None:
        stmt = stmt.where(clause)
    if search:
        stmt = stmt.where(search_clause(search))
    counts = {state: 0 for state in TicketState}
    for state, count in (await session.execute(stmt)).all():
        counts[TicketState(state)] = count
    return counts


async def load_references(session: AsyncSession, tickets: Sequence[Ticket]) -> list[object]:
    """Load the enterprises, departments and handlers of ``tickets`` in three queries.

    :class:`~hub.queries.tickets.TicketViews` looks each one up with ``session.get``, which
    answers from the session's identity map once the row is loaded: a page of fifty tickets
    then costs three queries instead of up to a hundred and fifty round trips. The map holds
    rows weakly: keep the returned list while the views are built.
    """
    loaded: list[object] = []
    wanted = (
        (Enterprise, {t.enterprise_id for t in tickets}),
        (Department, {t.department_id for t in tickets}),
        (Staff, {t.handler_id for t in tickets}),
    )
    for model, ids in wanted:
        known = sorted(i for i in ids if i is not None)
        if known:
            loaded.extend(
                (await session.scalars(sa.select(model).where(model.id.in_(known)))).all()
            )
    return loaded


@dataclass(frozen=True, slots=True)
class ReplyOrigin:
    """The enterprise's reply the ticket was opened from."""

    id: int
    channel: ChannelName
    text: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class VisitOrigin:
    """The liaison visit on which the problem was found."""

    id: int
    enterprise_id: int
    period: str
    status: VisitStatus
    officer_name: str | None
    visited_at: datetime | None


@dataclass(frozen=True, slots=True)
class SurveyRecord:
    """One callback survey (回访) of the ticket."""

    month: str
    method: CallbackMethod
    status: CallbackStatus
    score: int | None
    answer: str | None
    recorded_by: str | None
    recorded_at: datetime | None


@dataclass(frozen=True, slots=True)
class TicketOrigin:
    """Where a ticket came from and its callback records (read after the scope check)."""

    ticket_id: int
    enterprise_id: int | None
    reply: ReplyOrigin | None
    visit: VisitOrigin | None
    surveys: tuple[SurveyRecord, ...]


async def ticket_origin(session: AsyncSession, number: str) -> TicketOrigin | None:
    """The source and callback records of the ticket numbered ``number`` (None: no such ticket).

    No scope here: the caller has shown the ticket through the desk, which checked it.
    """
    ticket = await session.scalar(sa.select(Ticket).where(Ticket.number == number.strip().upper()))
    if ticket is None:
        return None
    reply = None
    if ticket.source_reply_id is not None:
        row = await session.get(InboundReply, ticket.source_reply_id)
        if row is not None:
            reply = ReplyOrigin(row.id, row.channel, row.text, row.received_at)
    visit = None
    if ticket.source_visit_id is not None:
        found = (
            await session.execute(
                sa.select(Visit, Officer.name)
                .outerjoin(Officer, Visit.officer_id == Officer.id)
                .where(Visit.id == ticket.source_visit_id)
            )
        ).first()
        if found is not None:
            v, officer = found
            visit = VisitOrigin(v.id, v.enterprise_id, v.period, v.status, officer, v.visited_at)
    surveys = (
        await session.scalars(
            sa.select(CallbackSurvey)
            .where(CallbackSurvey.ticket_id == ticket.id)
            .order_by(CallbackSurvey.id)
        )
    ).all()
    records = tuple(
        SurveyRecord(s.month, s.method, s.status, s.score, s.answer, s.recorded_by, s.recorded_at)
        for s in surveys
    )
    return TicketOrigin(ticket.id, ticket.enterprise_id, reply, visit, records)


@dataclass(frozen=True, slots=True)
class Choice:
    """One option of a form's select: the value sent and the text shown."""

    value: str
    label: str


async def assignable_handlers(session: AsyncSession, scope: TicketScope) -> list[Choice]:
    """The handlers at work a reader may assign to (lifecycle.assign refuses the others):
    their own department's, or every department's for a reader who sees them all."""
    stmt = (
        sa.select(Staff.username, Staff.name, Department.name)
        .join(Department, Staff.department_id == Department.id)
        .where(Staff.role == "handler", Staff.absent.is_(False))
        .order_by(Department.code, Staff.username)
    )
    if not scope.sees_all_departments:
        stmt = stmt.where(Staff.department_id == scope.department_id)
    return [
        Choice(username, f"{name}（{department}）")
        for username, name, department in (await session.execute(stmt)).all()
    ]


async def departments(session: AsyncSession) -> list[Choice]:
    """Every department a ticket may be transferred to, by code."""
    rows = await session.execute(
        sa.select(Department.code, Department.name).order_by(Department.code)
    )
    return [Choice(code, f"{name}（{code}）") for code, name in rows.all()]


async def staff_names(session: AsyncSession, usernames: Iterable[str]) -> dict[str, str]:
    """Username -> name, for the staff among ``usernames`` (the actors of a ticket's page)."""
    wanted = sorted({u for u in usernames if u})
    if not wanted:
        return {}
    rows = await session.execute(
        sa.select(Staff.username, Staff.name).where(Staff.username.in_(wanted))
    )
    return {username: name for username, name in rows.all()}
