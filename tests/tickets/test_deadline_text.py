"""One rule for deadlines as people read them: the last day (24时 of it), never the instant
00:00 of the next day, which a reader takes for the next day; the instant only in JSON (due_at).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import SHANGHAI
from hub.reports.monthly import build_monthly_report
from hub.reports.monthly_xlsx import (
    BAD_HEADERS,
    BAD_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    write_workbook,
)
from hub.store.db import Database
from hub.tickets.deadlines.rules import (
    deadline_last_day,
    deadline_moment,
    deadline_phrase,
    deadline_text,
    end_of_day,
)
from tests.reports.test_monthly_report import NOW, seed, sheet_rows
from tests.ticket_support import new_ticket, seed_ticket_world, sh


def test_a_deadline_at_midnight_is_24_00_of_the_day_before() -> None:
    due = end_of_day(date(2026, 12, 11))  # stored as 2026-12-12T00:00+08:00
    assert deadline_last_day(due) == date(2026, 12, 11)
    assert deadline_text(due) == "2026-12-11（周五）24时前"


def test_a_deadline_at_another_time_keeps_its_time() -> None:
    at = datetime(2026, 12, 11, 17, 30, tzinfo=SHANGHAI)
    assert deadline_last_day(at) == date(2026, 12, 11)
    assert deadline_text(at) == "2026-12-11（周五）17:30前"


async def test_the_workbook_gives_deadlines_as_their_last_day(db: Database, tmp_path: Path) -> None:
    import openpyxl

    await seed(db)
    report = await build_monthly_report(db, "2026-11", NOW)
    wb = openpyxl.load_workbook(write_workbook(report, tmp_path / "m.xlsx"))
    ledger = {r[0]: dict(zip(LEDGER_HEADERS, r, strict=True)) for r in sheet_rows(wb[LEDGER_SHEET])}
    # GD202611020001 is due 2026-11-10T00:00+08:00: 24:00 of Monday 9 November
    assert ledger["GD202611020001"]["办理时限"] == "2026-11-09（周一）24时前"
    bad = [dict(zip(BAD_HEADERS, r, strict=True)) for r in sheet_rows(wb[BAD_SHEET])[1:]]
    assert bad
    assert all(str(b["整改期限"]).endswith("24时前") for b in bad), bad


def test_recomputed_deadlines_print_as_their_last_day(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()

    async def seed_one() -> None:
        db = Database.open(load_settings(config).database_url)
        try:
            await new_ticket(db, await seed_ticket_world(db), at=sh(2026, 12, 29, 10))
        finally:
            await db.aclose()

    asyncio.run(seed_one())
    capsys.readouterr()
    args = ["calendar", "set", "2027", "--holiday", "2027-01-01", "--workday", "2027-02-06"]
    assert main(["--config", str(config), *args]) == 0
    said = capsys.readouterr().out
    # due 2027-01-06T00:00 before, 2027-01-07T00:00 after (tests/tickets/test_tickets_calendar.py)
    assert "2027-01-05（周二）24时前" in said
    assert "2027-01-06（周三）24时前" in said
    assert "T00:00:00" not in said


@pytest.mark.parametrize(
    ("at", "phrase", "moment"),
    [
        (end_of_day(date(2026, 12, 11)), "12月11日（周五）24时前", "2026年12月11日24时"),
        (datetime(2026, 12, 11, 17, 30, tzinfo=SHANGHAI), "12月11日（周五）17:30前",
         "2026年12月11日17:30"),
    ],
)  # fmt: skip
def test_message_texts_follow_the_same_rule_as_lists(
    at: datetime, phrase: str, moment: str
) -> None:
    assert deadline_phrase(at) == phrase  # to the enterprise: 办理时限…
    assert deadline_moment(at) == moment  # to staff: 将于…到期, 已超过办理时限…
    assert deadline_text(at).endswith(phrase[phrase.index("（") :])
