"""The visit plan: one visit per enterprise per period of its tier's cadence, spread evenly
over each officer's working days, never on a day off, idempotent."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import sqlalchemy as sa

from hub.core.vocab import Stage, Tier, VisitStatus
from hub.store.db import Database
from hub.store.models import Enterprise, Visit
from hub.visits.periods import period_of
from hub.visits.plan import PlanResult, plan_visits
from hub.visits.settings import TierSettings, default_tiers
from tests.visits.plan_support import add_enterprises, add_officers, calendar_2027

CALENDAR = calendar_2027()
TIERS = default_tiers()


async def _plan(
    db: Database, today: date, tiers: dict[str, TierSettings] | None = None
) -> PlanResult:
    async with db.write() as session:
        return await plan_visits(session, tiers=tiers or TIERS, calendar=CALENDAR, today=today)


async def _visits(db: Database) -> list[Visit]:
    async with db.read() as session:
        return list((await session.scalars(sa.select(Visit).order_by(Visit.id))).all())


def _working_days(first: date, last: date) -> list[date]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [d for d in days if CALENDAR.is_workday(d)]


async def test_each_officers_visits_are_spread_evenly_over_the_periods_working_days(
    db: Database,
) -> None:
    officers = await add_officers(db, ["LL001", "LL002"])
    await add_enterprises(db, officers["LL001"], Tier.KEY, 130)  # more than the quarter's days
    await add_enterprises(db, officers["LL002"], Tier.KEY, 17)  # fewer
    today = date(2027, 1, 4)

    result = await _plan(db, today)

    assert result.created == 147
    quarter = _working_days(today, date(2027, 3, 31))
    visits = await _visits(db)
    for officer_id, expected in ((officers["LL001"], 130), (officers["LL002"], 17)):
        per_day = Counter(v.due_on for v in visits if v.officer_id == officer_id)
        assert sum(per_day.values()) == expected
        counts = [per_day.get(day, 0) for day in quarter]
        assert max(counts) - min(counts) <= 1, counts
    # the 17 are spread over the quarter, not crowded into its first weeks
    few = sorted(v.due_on for v in visits if v.officer_id == officers["LL002"] and v.due_on)
    assert few[0] == quarter[0]
    assert few[-1] >= date(2027, 3, 15)


async def test_no_visit_falls_on_a_day_off_or_before_today(db: Database) -> None:
    officers = await add_officers(db, ["LL001"])
    await add_enterprises(db, officers["LL001"], Tier.KEY, 80)
    await add_enterprises(db, officers["LL001"], Tier.GENERAL, 40)
    await add_enterprises(db, officers["LL001"], Tier.ORDINARY, 40)
    today = date(2027, 10, 2)  # in the National Day holiday; 9 Oct is a make-up Saturday

    await _plan(db, today)

    visits = await _visits(db)
    assert len(visits) == 160
    days = [v.due_on for v in visits]
    assert all(d is not None and CALENDAR.is_workday(d) for d in days)
    assert min(d for d in days if d is not None) == date(2027, 10, 8)
    assert not any(date(2027, 10, 1) <= d <= date(2027, 10, 7) for d in days if d is not None)


async def test_one_visit_per_enterprise_per_period_and_a_second_run_creates_none(
    any_db: Database,
) -> None:
    db = any_db  # SQLite and PostgreSQL: the insert-ignore and the reads of both
    officers = await add_officers(db, ["LL001", "LL002"])
    key = await add_enterprises(db, officers["LL001"], Tier.KEY, 5)
    general = await add_enterprises(db, officers["LL002"], Tier.GENERAL, 4)
    ordinary = await add_enterprises(db, officers["LL002"], Tier.ORDINARY, 3)
    await add_enterprises(db, None, Tier.KEY, 2)  # no officer: nothing to plan

    first = await _plan(db, date(2027, 2, 1))
    again = await _plan(db, date(2027, 2, 2))

    assert (first.created, first.already_planned) == (12, 0)
    assert {t: (p.period, p.created) for t, p in first.by_tier.items()} == {
        "key": ("2027Q1", 5),
        "general": ("2027H1", 4),
        "ordinary": ("2027", 3),
    }
    assert (again.created, again.already_planned, again.reassigned) == (0, 12, 0)
    visits = await _visits(db)
    assert sorted(v.enterprise_id for v in visits) == sorted(key + general + ordinary)
    assert {v.status for v in visits} == {VisitStatus.PLANNED}
    assert {(v.enterprise_id, v.period) for v in visits} == {
        *((e, "2027Q1") for e in key),
        *((e, "2027H1") for e in general),
        *((e, "2027") for e in ordinary),
    }


async def test_a_year_of_quarter_runs_follows_each_tiers_cadence(db: Database) -> None:
    officers = await add_officers(db, ["LL001"])
    key = await add_enterprises(db, officers["LL001"], Tier.KEY, 3)
    general = await add_enterprises(db, officers["LL001"], Tier.GENERAL, 3)
    ordinary = await add_enterprises(db, officers["LL001"], Tier.ORDINARY, 3)

    for today in (date(2027, 1, 4), date(2027, 4, 1), date(2027, 7, 1), date(2027, 10, 8)):
        await _plan(db, today)
        await _plan(db, today + timedelta(days=20))  # a later run in the quarter adds nothing

    per_enterprise = Counter(v.enterprise_id for v in await _visits(db))
    assert [per_enterprise[e] for e in key] == [4, 4, 4]
    assert [per_enterprise[e] for e in general] == [2, 2, 2]
    assert [per_enterprise[e] for e in ordinary] == [1, 1, 1]
    for visit in await _visits(db):
        assert visit.due_on is not None
        assert CALENDAR.is_workday(visit.due_on)
        months = TIERS[_tier(visit, key, general)].visit_every_months
        assert period_of(visit.due_on, months).label == visit.period


def _tier(visit: Visit, key: list[int], general: list[int]) -> str:
    if visit.enterprise_id in key:
        return "key"
    return "general" if visit.enterprise_id in general else "ordinary"


async def test_exiting_enterprises_and_tiers_without_a_cadence_get_no_visit(db: Database) -> None:
    officers = await add_officers(db, ["LL001"])
    await add_enterprises(db, officers["LL001"], Tier.KEY, 2, stage=Stage.EXITING)
    await add_enterprises(db, officers["LL001"], Tier.KEY, 1)
    await add_enterprises(db, officers["LL001"], Tier.ORDINARY, 3)
    only_key = {"key": TIERS["key"]}

    result = await _plan(db, date(2027, 1, 4), only_key)

    assert (result.created, result.skipped_exiting, result.skipped_no_cadence) == (1, 2, 3)
    assert len(await _visits(db)) == 1


async def test_an_open_visit_follows_the_enterprises_new_officer(any_db: Database) -> None:
    db = any_db  # the bulk UPDATE by primary key on both databases
    officers = await add_officers(db, ["LL001", "LL002"])
    planned, confirmed, done = await add_enterprises(db, officers["LL001"], Tier.KEY, 3)
    await add_enterprises(db, officers["LL002"], Tier.KEY, 2)
    await _plan(db, date(2027, 1, 4))
    async with db.write() as session:
        visits = {v.enterprise_id: v for v in await session.scalars(sa.select(Visit))}
        visits[confirmed].status = VisitStatus.CONFIRMED
        visits[done].status = VisitStatus.DONE
        await session.execute(
            sa.update(Enterprise)
            .where(Enterprise.id.in_([planned, confirmed, done]))
            .values(officer_id=officers["LL002"])
        )
    before = {v.enterprise_id: v.due_on for v in await _visits(db)}

    result = await _plan(db, date(2027, 1, 20))

    assert (result.created, result.reassigned) == (0, 2)
    after = {v.enterprise_id: v for v in await _visits(db)}
    assert after[planned].officer_id == officers["LL002"]
    assert after[planned].due_on is not None
    assert after[planned].due_on >= date(2027, 1, 20)
    assert after[confirmed].officer_id == officers["LL002"]
    assert after[confirmed].due_on == before[confirmed]  # the agreed day is kept
    assert after[done].officer_id == officers["LL001"]  # history keeps who made it


async def test_a_period_with_no_working_day_left_dates_its_visit_on_the_last_one(
    db: Database,
) -> None:
    officers = await add_officers(db, ["LL001"])
    await add_enterprises(db, officers["LL001"], Tier.KEY, 2)
    monthly = {"key": TierSettings(visit_every_months=1)}

    result = await _plan(db, date(2027, 1, 31), monthly)  # a Sunday, the month's last day

    assert result.by_tier["key"].period == "2027-01"
    assert [v.due_on for v in await _visits(db)] == [date(2027, 1, 29)] * 2  # that Friday
