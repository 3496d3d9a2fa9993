"""A visit's state (due, proposed, confirmed, done, missed, cancelled) and the listing the CLI
and the API share: filters by period, officer and state, ordered by the planned day."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.errors import NotFoundError
from hub.core.vocab import Tier, VisitStatus
from hub.store.db import Database
from hub.store.models import Visit
from hub.visits.periods import parse_period
from hub.visits.plan import plan_visits
from hub.visits.settings import default_tiers
from hub.visits.status import VisitState, list_visits, visit_state
from tests.visits.plan_support import add_enterprises, add_officers, calendar_2027


def _visit(status: VisitStatus, period: str = "2027Q1", **details: Any) -> Visit:
    return Visit(status=status, period=period, details=details)


@pytest.mark.parametrize(
    ("visit", "today", "state"),
    [
        (_visit(VisitStatus.PLANNED), date(2027, 2, 1), VisitState.DUE),
        (_visit(VisitStatus.PROPOSED), date(2027, 2, 1), VisitState.PROPOSED),
        (_visit(VisitStatus.CONFIRMED), date(2027, 3, 31), VisitState.CONFIRMED),
        (_visit(VisitStatus.DONE), date(2027, 5, 1), VisitState.DONE),
        (_visit(VisitStatus.CANCELLED), date(2027, 5, 1), VisitState.CANCELLED),
        # the period ended without the visit done
        (_visit(VisitStatus.PLANNED), date(2027, 4, 1), VisitState.MISSED),
        (_visit(VisitStatus.CONFIRMED), date(2027, 4, 1), VisitState.MISSED),
        (_visit(VisitStatus.PLANNED, "2027H1"), date(2027, 4, 1), VisitState.DUE),
        # recorded not done: missed until proposed again
        (
            _visit(VisitStatus.PLANNED, not_done=[{"reason": "企业停产"}]),
            date(2027, 2, 1),
            VisitState.MISSED,
        ),
        (
            _visit(VisitStatus.PROPOSED, not_done=[{"reason": "企业停产"}]),
            date(2027, 2, 1),
            VisitState.PROPOSED,
        ),
    ],
)
def test_a_visits_state_follows_its_status_period_and_outcome(
    visit: Visit, today: date, state: VisitState
) -> None:
    assert visit_state(visit, today) is state


async def _registry(db: Database) -> dict[str, int]:
    officers = await add_officers(db, ["LL001", "LL002"])
    await add_enterprises(db, officers["LL001"], Tier.KEY, 3)
    await add_enterprises(db, officers["LL002"], Tier.GENERAL, 2, region="建华区")
    async with db.write() as session:
        await plan_visits(
            session, tiers=default_tiers(), calendar=calendar_2027(), today=date(2027, 1, 4)
        )
    return officers


async def _set_status(db: Database, visit_id: int, status: VisitStatus) -> None:
    async with db.write() as session:
        visit = await session.get_one(Visit, visit_id)
        visit.status = status
        if status == VisitStatus.DONE:
            visit.visited_at = datetime(2027, 1, 20, 2, 0, tzinfo=UTC)


async def test_the_listing_filters_by_period_officer_and_state(db: Database) -> None:
    await _registry(db)
    today = date(2027, 2, 1)
    async with db.read() as session:
        key = await list_visits(session, period=None, officer_code="LL001", state=None, today=today)
    await _set_status(db, key[0].visit_id, VisitStatus.DONE)
    await _set_status(db, key[1].visit_id, VisitStatus.CONFIRMED)

    async with db.read() as session:

        async def listed(**wanted: Any) -> list[Any]:
            given: dict[str, Any] = {"period": None, "officer_code": None, "state": None}
            return await list_visits(session, **{**given, "today": today, **wanted})

        everything = await listed()
        first_quarter = await listed(period=parse_period("2027Q1"))
        half_year = await listed(period=parse_period("2027H1"))
        second_officer = await listed(officer_code="ll002")
        done = await listed(state=VisitState.DONE)
        due = await listed(state=VisitState.DUE)
        missed_later = await listed(
            officer_code="LL001", state=VisitState.MISSED, today=date(2027, 4, 1)
        )
        with pytest.raises(NotFoundError, match="LL404"):
            await listed(officer_code="LL404")

    assert len(everything) == 5
    assert [r.due_on for r in everything] == sorted(r.due_on for r in everything)
    # the quarter: the key enterprises' visits, and the half-yearly ones due in it
    assert {r.period for r in first_quarter} <= {"2027Q1", "2027H1"}
    assert all(r.due_on is not None and r.due_on <= date(2027, 3, 31) for r in first_quarter)
    assert len(half_year) == 5  # each visit of the half-year is due within it
    assert {(r.officer_code, r.tier, r.region) for r in second_officer} == {
        ("LL002", Tier.GENERAL, "建华区")
    }
    assert [(r.visit_id, r.state) for r in done] == [(key[0].visit_id, VisitState.DONE)]
    assert done[0].visited_at == datetime(2027, 1, 20, 2, 0, tzinfo=UTC)
    assert len(due) == 3  # LL001's third and LL002's two
    assert {r.state for r in due} == {VisitState.DUE}
    # after the quarter, LL001's key visits not done are missed (the confirmed one too)
    assert {r.visit_id for r in missed_later} == {key[1].visit_id, key[2].visit_id}
    assert {r.state for r in missed_later} == {VisitState.MISSED}


async def test_the_listing_has_the_enterprise_and_officer(db: Database) -> None:
    await _registry(db)
    async with db.read() as session:
        [row, *_] = await list_visits(
            session, period=None, officer_code="LL001", state=None, today=date(2027, 1, 4)
        )
        enterprise_count = await session.scalar(sa.select(sa.func.count()).select_from(Visit))
    assert enterprise_count == 5
    assert row.enterprise_name.startswith("企业")
    assert len(row.uscc) == 18
    assert (row.officer_code, row.officer_name, row.tier, row.period) == (
        "LL001", "联络员LL001", Tier.KEY, "2027Q1",
    )  # fmt: skip
    assert row.state is VisitState.DUE
