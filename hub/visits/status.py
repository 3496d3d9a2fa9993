"""Where a visit stands, as officers and the business office read it, and the listing the CLI
(``hub visits due``) and the API (``GET /api/v1/visits``) share.

A visit's state follows from its status, its period and what was recorded about it:

- ``done``: recorded done (``VisitStatus.DONE``), on time or not;
- ``cancelled``: cancelled (the enterprise left, say); not due, not missed;
- ``missed``: its period ended without it being done, or the officer recorded it not done
  (``details["not_done"]``, hub/visits/outcome.py) and it has not been proposed again;
- ``confirmed`` / ``proposed``: an appointment agreed / offered and not yet answered;
- ``due``: planned, nothing sent yet.

A visit recorded not done goes back to ``planned`` and stays due (outcome.py): listed as
``missed`` until a new proposal goes out, then ``proposed`` and ``confirmed`` as any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import LabelledEnum, Tier, VisitStatus
from hub.queries.scope import Visibility
from hub.store.models import Enterprise, Officer, Visit
from hub.visits.periods import Period, parse_period


class VisitState(LabelledEnum):
    """Where a visit stands (``hub visits due --state``, the API's ``state``)."""

    DUE = "due", "待走访"
    PROPOSED = "proposed", "已预约待确认"
    CONFIRMED = "confirmed", "已确认"
    DONE = "done", "已走访"
    MISSED = "missed", "未按期走访"
    CANCELLED = "cancelled", "已取消"


class VisitLike(Protocol):
    """What the state is read from (a ``Visit`` row)."""

    @property
    def status(self) -> VisitStatus: ...

    @property
    def period(self) -> str: ...

    @property
    def details(self) -> Mapping[str, Any] | None: ...


# The statuses a state can come from: the listing's WHERE, before the state is worked out.
_STATUSES_OF: dict[VisitState, tuple[VisitStatus, ...]] = {
    VisitState.DUE: (VisitStatus.PLANNED,),
    VisitState.PROPOSED: (VisitStatus.PROPOSED,),
    VisitState.CONFIRMED: (VisitStatus.CONFIRMED,),
    VisitState.DONE: (VisitStatus.DONE,),
    VisitState.CANCELLED: (VisitStatus.CANCELLED,),
    VisitState.MISSED: (VisitStatus.PLANNED, VisitStatus.PROPOSED, VisitStatus.CONFIRMED),
}


def visit_state(visit: VisitLike, today: date) -> VisitState:
    """The visit's state on ``today`` (see the module docstring)."""
    if visit.status == VisitStatus.DONE:
        return VisitState.DONE
    if visit.status == VisitStatus.CANCELLED:
        return VisitState.CANCELLED
    if _period_ended(visit.period, today):
        return VisitState.MISSED
    if visit.status == VisitStatus.CONFIRMED:
        return VisitState.CONFIRMED
    if visit.status == VisitStatus.PROPOSED:
        return VisitState.PROPOSED
    if (visit.details or {}).get("not_done"):
        return VisitState.MISSED
    return VisitState.DUE


def _period_ended(label: str, today: date) -> bool:
    try:
        return parse_period(label).last < today
    except UsageError:  # a label the plan never writes: no period to end
        return False


@dataclass(frozen=True, slots=True)
class VisitRow:
    """One visit as the listing shows it."""

    visit_id: int
    enterprise_id: int
    enterprise_name: str
    uscc: str
    tier: Tier
    region: str
    officer_code: str | None
    officer_name: str | None
    period: str
    due_on: date | None
    state: VisitState
    proposed_for: datetime | None
    visited_at: datetime | None
    #: The times offered in the proposal (ISO 8601, in the order the enterprise answers them).
    slots: tuple[str, ...] = ()


async def list_visits(
    session: AsyncSession,
    *,
    period: Period | None,
    officer_code: str | None,
    state: VisitState | None,
    today: date,
    visibility: Visibility | None = None,
    limit: int | None = None,
    enterprise_id: int | None = None,
) -> list[VisitRow]:
    """Visits by due day (then enterprise name), filtered.

    ``period``: the visits of that period or due within it (``2027Q1`` lists the key
    enterprises' ``2027Q1`` visits and the half-yearly and yearly ones due in the quarter);
    ``officer_code``: one officer's (an unknown code is a ``NotFoundError`` naming it); ``state``:
    as :func:`visit_state` gives it on ``today``; ``visibility``: the reader's enterprises
    (default: all); ``limit``: at most this many rows; ``enterprise_id``: one enterprise's.
    """
    stmt = (
        sa.select(Visit, Enterprise.name, Enterprise.uscc, Enterprise.tier, Enterprise.region)
        .add_columns(Officer.code, Officer.name)
        .join(Enterprise, Visit.enterprise_id == Enterprise.id)
        .outerjoin(Officer, Visit.officer_id == Officer.id)
        .order_by(Visit.due_on, Enterprise.name, Visit.id)
    )
    if period is not None:
        stmt = stmt.where(
            sa.or_(Visit.period == period.label, Visit.due_on.between(period.first, period.last))
        )
    if officer_code is not None:
        officer_id = await _officer_id(session, officer_code)
        stmt = stmt.where(Visit.officer_id == officer_id)
    if state is not None:
        stmt = stmt.where(Visit.status.in_(_STATUSES_OF[state]))
    if state is VisitState.MISSED:
        # Only the visits that may be missed (their period over, or recorded not done) are
        # read; visit_state decides below. A city's list would read every open visit else.
        labels = (await session.scalars(sa.select(Visit.period).distinct())).all()
        ended = sorted(label for label in labels if _period_ended(label, today))
        not_done = Visit.details["not_done"].as_string().is_not(None)
        stmt = stmt.where(sa.or_(Visit.period.in_(ended), not_done))
    if enterprise_id is not None:
        stmt = stmt.where(Visit.enterprise_id == enterprise_id)
    clause = (visibility or Visibility.everything()).enterprise_filter(Visit.enterprise_id)
    if clause is not None:
        stmt = stmt.where(clause)
    rows: list[VisitRow] = []
    offset, size = 0, limit
    # Read by pages (a city has tens of thousands of visits), each twice the last: a state
    # decided here (due, missed …) drops rows of a page, and the next pages fill the list.
    while True:
        page = stmt if size is None else stmt.limit(size).offset(offset)
        found = (await session.execute(page)).all()
        for visit, name, uscc, tier, region, code, officer_name in found:
            current = visit_state(visit, today)
            if state is not None and current != state:
                continue
            rows.append(
                VisitRow(
                    visit.id,
                    visit.enterprise_id,
                    name,
                    uscc,
                    tier,
                    region,
                    code,
                    officer_name,
                    visit.period,
                    visit.due_on,
                    current,
                    visit.proposed_for,
                    visit.visited_at,
                    tuple(visit.slots or ()),
                )
            )
            if limit is not None and len(rows) >= limit:
                return rows
        if size is None or len(found) < size:
            return rows
        offset, size = offset + size, size * 2


async def _officer_id(session: AsyncSession, code: str) -> int:
    wanted = code.strip().upper()
    found = await session.scalar(sa.select(Officer.id).where(sa.func.upper(Officer.code) == wanted))
    if found is None:
        raise NotFoundError(f"没有编码为“{code.strip()}”的联络员")
    return found
