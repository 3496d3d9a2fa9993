"""The monthly report carries the visit figures: the month's visits done, the quarter's
compliance to date and the key enterprises' contact coverage of the month (JSON and sheets)."""

from __future__ import annotations

from datetime import date, datetime, time
from pathlib import Path

import openpyxl

from hub.core.clock import SHANGHAI
from hub.reports.monthly import build_monthly_report
from hub.reports.monthly_xlsx import write_workbook
from hub.reports.visits_xlsx import (
    CONTACT_HEADERS,
    MONTH_CONTACT_SHEET,
    MONTH_VISITS_HEADERS,
    MONTH_VISITS_SHEET,
)
from hub.store.db import Database
from tests.reports.visit_report_support import build_half_year, calendar_2027

NOW = datetime.combine(date(2027, 5, 10), time(9), tzinfo=SHANGHAI)


async def test_the_monthly_report_has_the_visits_of_the_month(db: Database, tmp_path: Path) -> None:
    await build_half_year(db)
    report = await build_monthly_report(db, "2027-04", NOW, calendar=calendar_2027())
    visits = report.as_dict()["visits"]
    assert isinstance(visits, dict)
    assert (visits["month"], visits["done"]) == ("2027-04", 1)  # 乙's late Q1 visit, 2 April
    assert visits["done_by_tier"] == {"key": 1}
    assert visits["done_by_officer"] == {"LL002": 1}
    quarter = visits["quarter"]
    assert (quarter["period"], quarter["today"]) == ("2027Q2", "2027-04-30")  # to the month's end
    assert {t["name"]: (t["due"], t["missed"], t["in_progress"]) for t in quarter["by_tier"]} == {
        "重点": (2, 1, 1),  # 甲 Q2 open, 乙 Q2 recorded not done
        "一般": (1, 0, 1),
        "普通": (1, 0, 1),
    }
    contact = visits["contact"]
    assert (contact["month"], contact["contacted"], contact["total"]) == ("2027-04", 1, 3)
    assert contact["not_contacted"] == ["甲重点", "戊重点"]

    wb = openpyxl.load_workbook(write_workbook(report, tmp_path / "2027-04.xlsx"))
    rows = [list(r) for r in wb[MONTH_VISITS_SHEET].iter_rows(values_only=True)]
    assert rows[0] == list(MONTH_VISITS_HEADERS)
    by_name = {(r[0], r[1]): r[2:] for r in rows[1:]}
    # done in April; due, done, on time, late, missed, in progress
    assert by_name[("类别", "重点")][:7] == [1, 2, 0, 0, 0, 1, 1]
    assert by_name[("联络员", "张丽娟")][:2] == [1, 2]  # 乙's April visit; 乙 Q2 and 丁 2027
    assert by_name[("合计", "合计")][:3] == [1, 4, 0]
    contact_rows = [list(r) for r in wb[MONTH_CONTACT_SHEET].iter_rows(values_only=True)]
    assert contact_rows[0] == list(CONTACT_HEADERS)
    assert [r[1:5] + r[6:] for r in contact_rows[1:]] == [
        ["李明", 2, 0, 2, "甲重点、戊重点"],
        ["张丽娟", 1, 1, 0, None],  # an empty cell reads back as None
        ["合计", 3, 1, 2, None],
    ]
    assert wb[MONTH_CONTACT_SHEET]["F4"].value == 1 / 3
    assert wb[MONTH_CONTACT_SHEET]["F4"].number_format == "0.0%"
