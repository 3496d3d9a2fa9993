"""``hub report ledger`` and ``hub report work``: the files the programs deliver, on demand,
read back with openpyxl and python-docx; a wrong suffix or half-year exits 2."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pytest
from docx import Document

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import FixedClock
from hub.reports.monthly_xlsx import LEDGER_SHEET
from hub.store.db import Database
from tests.reports.work_report_support import NOW, seed


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config(calendar={"years": {2027: {"holidays": ["2027-01-01"]}}})

    async def fill() -> None:
        db = Database.open(load_settings(path).database_url)
        try:
            await seed(db)
        finally:
            await db.aclose()

    asyncio.run(fill())
    return path


def test_the_ledger_and_the_work_report_on_demand(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--config", str(config), "report"]
    ledger = tmp_path / "ledger-2027-03.xlsx"
    assert main([*base, "ledger", "--month", "2027-03", "--out", str(ledger)],
                clock=FixedClock(NOW)) == 0  # fmt: skip
    assert "2027-03 台账已写入" in capsys.readouterr().out
    rows = openpyxl.load_workbook(ledger)[LEDGER_SHEET].iter_rows(min_row=2, values_only=True)
    assert [r[0] for r in rows] == ["GD202703010001"]

    work = tmp_path / "work.docx"
    assert main([*base, "work", "--half", "2027H1", "--out", str(work)],
                clock=FixedClock(NOW)) == 0  # fmt: skip
    assert "2027年上半年工作报告已写入" in capsys.readouterr().out
    doc = Document(str(work))
    [tickets] = [t for t in doc.tables if t.rows[0].cells[0].text == "受理"]
    assert [c.text for c in tickets.rows[1].cells[:3]] == ["3", "2", "1"]
    assert len(doc.inline_shapes) == 3


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["ledger", "--month", "2027-03", "--out", "x.docx"], "须以 .xlsx 结尾"),
        (["work", "--half", "2027H1", "--out", "x.xlsx"], "须以 .docx 结尾"),
        (["work", "--half", "2027Q1", "--out", "x.docx"], "按半年编制"),
    ],
)
def test_a_wrong_file_or_period_exits_2(
    config: Path, capsys: pytest.CaptureFixture[str], command: list[str], message: str
) -> None:
    assert main(["--config", str(config), "report", *command], clock=FixedClock(NOW)) == 2
    assert message in capsys.readouterr().err
