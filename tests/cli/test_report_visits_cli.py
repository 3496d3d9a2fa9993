"""``hub report visits --period P``: the compliance figures as JSON, as Chinese tables, and as
a workbook read back with openpyxl; the day it counts to from --today or the clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime, time
from pathlib import Path

import openpyxl
import pytest

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock
from hub.reports.visits_xlsx import (
    CONTACT_HEADERS,
    CONTACT_SHEET,
    FIGURE_HEADERS,
    NOTES_SHEET,
    OFFICER_SHEET,
    REGION_SHEET,
    TIER_SHEET,
)
from hub.store.db import Database
from tests.reports.visit_report_support import TODAY, build_half_year


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config()

    async def seed() -> None:
        db = Database.open(load_settings(path).database_url)
        try:
            await build_half_year(db)
        finally:
            await db.aclose()

    asyncio.run(seed())
    return path


def test_json_and_the_workbook(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "visits.xlsx"
    args = ["--config", str(config), "report", "visits", "--period", "2027H1"]
    capsys.readouterr()
    assert main([*args, "--today", TODAY.isoformat(), "--json", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["period"], data["today"], data["out"]) == ("2027H1", "2027-05-10", str(out))
    tiers = {t["name"]: (t["due"], t["done"], t["on_time"], t["missed"]) for t in data["by_tier"]}
    assert tiers == {"重点": (5, 2, 1, 2), "一般": (1, 0, 0, 0), "普通": (1, 0, 0, 0)}
    assert [(o["code"], o["due"]) for o in data["by_officer"]] == [("LL001", 4), ("LL002", 3)]
    assert [(r["name"], r["due"]) for r in data["by_region"]] == [("建华区", 3), ("龙沙区", 4)]
    assert [(m["month"], m["contacted"]) for m in data["contact"]] == [
        ("2027-01", 1), ("2027-02", 1), ("2027-03", 0), ("2027-04", 1), ("2027-05", 1),
    ]  # fmt: skip

    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == [TIER_SHEET, OFFICER_SHEET, REGION_SHEET, CONTACT_SHEET, NOTES_SHEET]
    tier_rows = [list(r) for r in wb[TIER_SHEET].iter_rows(values_only=True)]
    assert tier_rows[0] == ["类别", *FIGURE_HEADERS]
    assert [r[:8] for r in tier_rows[1:]] == [
        ["重点", 5, 2, 1, 1, 2, 1, 0],
        ["一般", 1, 0, 0, 0, 0, 1, 0],
        ["普通", 1, 0, 0, 0, 0, 1, 0],
        ["合计", 7, 2, 1, 1, 2, 3, 0],
    ]
    assert wb[TIER_SHEET]["I2"].value == pytest.approx(2 / 5)
    assert wb[TIER_SHEET]["I2"].number_format == "0.0%"
    officer_rows = [list(r) for r in wb[OFFICER_SHEET].iter_rows(values_only=True)]
    assert [r[:3] for r in officer_rows[1:]] == [["李明", 4, 1], ["张丽娟", 3, 1], ["合计", 7, 2]]
    contact_rows = [list(r) for r in wb[CONTACT_SHEET].iter_rows(values_only=True)]
    assert contact_rows[0] == list(CONTACT_HEADERS)
    may = [r for r in contact_rows[1:] if r[0] == "2027-05"]
    assert [(r[1], r[2], r[3], r[6]) for r in may] == [
        ("李明", 2, 1, "甲重点"), ("张丽娟", 1, 0, "乙重点"), ("合计", 3, 1, None),
    ]  # fmt: skip


def test_tables_in_chinese_counted_to_the_clock_s_day(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FixedClock(datetime.combine(TODAY, time(9), tzinfo=SHANGHAI))
    capsys.readouterr()
    args = ["--config", str(config), "report", "visits", "--period", "2027Q2"]
    assert main(args, clock=clock) == 0
    text = capsys.readouterr().out
    assert "2027Q2 走访完成情况（截至 2027-05-10） 按类别" in text
    for words in ("按联络员", "按区域", "重点企业月度联系", "应走访", "按时完成", "李明", "龙沙区"):
        assert words in text
    assert "2027-05" in text
    assert "2027-06" not in text  # June has not begun


def test_a_bad_period_date_or_file_is_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--config", str(config), "report", "visits"]
    assert main([*args, "--period", "2027Q5", "--json"]) == 2
    assert main([*args, "--period", "2027Q1", "--today", "5月10日"]) == 2
    assert main([*args, "--period", "2027Q1", "--out", str(tmp_path / "a.csv")]) == 2
    assert "无法识别的期间" in capsys.readouterr().err


def test_the_monthly_report_prints_the_month_s_visits(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = FixedClock(datetime.combine(TODAY, time(9), tzinfo=SHANGHAI))
    out = tmp_path / "2027-04.xlsx"
    capsys.readouterr()
    args = ["--config", str(config), "report", "monthly", "--month", "2027-04", "--out", str(out)]
    assert main(args, clock=clock) == 0
    assert (
        "本月完成走访 1 次；2027Q2 截至 2027-04-30 应走访 4，已完成 0；重点企业本月已联系 1/3"
        in (capsys.readouterr().out)
    )
    assert "走访情况" in openpyxl.load_workbook(out).sheetnames
