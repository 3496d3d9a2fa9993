"""Visit compliance of a hand-built half-year: due, done, on time, late, missed, in progress
and not yet due by tier, officer and region; the key enterprises' monthly contact coverage."""

from __future__ import annotations

from datetime import date
from typing import Any

from hub.reports.visits import VisitCompliance, VisitFigures, visit_compliance
from hub.store.db import Database
from hub.visits.periods import parse_period
from hub.visits.settings import default_tiers
from tests.reports.visit_report_support import TODAY, build_half_year, calendar_2027

COLUMNS = ("due", "on_time", "late", "missed", "in_progress", "not_yet_due")


def figures(rows: list[VisitFigures]) -> dict[str, tuple[int, ...]]:
    return {r.name: tuple(getattr(r, c) for c in COLUMNS) for r in rows}


async def report(db: Database, label: str, today: date = TODAY) -> VisitCompliance:
    async with db.read() as session:
        return await visit_compliance(
            session, parse_period(label), tiers=default_tiers(), calendar=calendar_2027(),
            today=today,
        )  # fmt: skip


async def test_a_half_year_counts_each_quarter_of_a_key_enterprise(any_db: Database) -> None:
    await build_half_year(any_db)
    found = await report(any_db, "2027H1")
    #                          due on_time late missed in_progress not_yet_due
    assert figures(found.by_tier) == {
        "重点": (5, 1, 1, 2, 1, 0),  # 甲 Q1 on time, Q2 open; 乙 Q1 late, Q2 not done; 戊 Q1
        "一般": (1, 0, 0, 0, 1, 0),  # 丙 H1 not made yet; 己's cancelled
        "普通": (1, 0, 0, 0, 1, 0),  # 丁 2027 confirmed; 庚 has no officer
    }
    assert figures(found.by_officer) == {"李明": (4, 1, 0, 1, 2, 0), "张丽娟": (3, 0, 1, 1, 1, 0)}
    assert [f.code for f in found.by_officer] == ["LL001", "LL002"]
    assert figures(found.by_region) == {"建华区": (3, 0, 1, 1, 1, 0), "龙沙区": (4, 1, 0, 1, 2, 0)}
    total = found.total
    assert (total.due, total.done, total.on_time, total.missed) == (7, 2, 1, 2)
    assert (total.done_rate, total.on_time_rate) == (2 / 7, 1 / 7)
    # 11 May – 30 June less the Dragon Boat holiday (9–11 June)
    assert found.workdays_left == 34


async def test_the_year_report_counts_periods_not_begun_as_not_yet_due(db: Database) -> None:
    await build_half_year(db)
    found = await report(db, "2027")
    assert figures(found.by_tier) == {
        "重点": (9, 1, 1, 2, 1, 4),  # Q3 and Q4 of 甲 and 乙 not begun; 戊 exits: none
        "一般": (3, 0, 0, 0, 1, 2),  # H2 of 丙 and 己 (己's H1 was cancelled, H2 not)
        "普通": (1, 0, 0, 0, 1, 0),
    }


async def test_a_quarter_report_after_the_quarter_ended(db: Database) -> None:
    await build_half_year(db)
    found = await report(db, "2027Q2", today=date(2027, 7, 5))
    assert figures(found.by_tier)["重点"] == (2, 0, 0, 2, 0, 0)  # 甲 Q2 never done: missed now
    assert figures(found.by_tier)["一般"] == (1, 0, 0, 1, 0, 0)  # the half-year is over too
    assert found.workdays_left == 0


async def test_monthly_contact_coverage_of_each_month_begun(db: Database) -> None:
    await build_half_year(db)
    found = await report(db, "2027H1")
    months: list[dict[str, Any]] = [m.as_dict() for m in found.contact]
    assert [(m["month"], m["contacted"], m["total"]) for m in months] == [
        ("2027-01", 1, 3),  # 乙's phone call
        ("2027-02", 1, 3),  # 甲's visit
        ("2027-03", 0, 3),
        ("2027-04", 1, 3),  # 乙's late visit
        ("2027-05", 1, 3),  # 戊's reply; June has not begun
    ]
    may = found.contact[-1]
    assert [(o.name, o.contacted, o.total) for o in may.by_officer] == [
        ("李明", 1, 2), ("张丽娟", 0, 1),
    ]  # fmt: skip
    assert months[-1]["not_contacted"] == ["甲重点", "乙重点"]
    assert months[0]["coverage"] == round(1 / 3, 4)
