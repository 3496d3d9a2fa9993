"""``hub answers stats``: the entries that answer most, the questions handed over most, the
ratings of automatic answers and the handovers, as tables (Chinese) or ``--json``; ``--since``
a day in the hub's zone; a malformed day is a usage error (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.cli import main
from hub.store.db import Database
from hub.store.models import Rating
from tests.cli.cli_support import on_database
from tests.queries.answer_rows import add_auto_answer, add_faq, one_ticket

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 on 1 December in Shanghai


async def _seed(db: Database) -> None:
    await add_faq(db, "FAQ-TAX-001", "小规模纳税人增值税怎么申报？", "按季申报……", now=T0)
    ticket = await one_ticket(db, "GD20260001", at=T0)
    await add_auto_answer(db, "增值税怎么报", at=T0, entry_id="FAQ-TAX-001", answered=True,
                          answer="按季申报……", ticket_id=ticket)  # fmt: skip
    await add_auto_answer(db, "小规模增值税申报", at=T0, entry_id="FAQ-TAX-001", answered=True,
                          answer="按季申报……")  # fmt: skip
    async with db.write() as session:  # the enterprise rates the answer 4 an hour later
        session.add(Rating(ticket_id=ticket, score=4, at=T0 + timedelta(hours=1)))
    # 3 December, 00:30 in Shanghai (2 December in UTC): counted from --since 2026-12-03.
    await add_auto_answer(
        db,
        "执照丢了怎么办？",
        at=datetime(2026, 12, 2, 16, 30, tzinfo=UTC),
        entry_id="FAQ-REG-002",
        answered=True,
        answer="补领……",
        handed_over_at=T0 + timedelta(days=2),
        handover_reason="human",
    )


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config()
    on_database(path, _seed)
    return path


def _hub(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), "answers", "stats", *args])
    return code, capsys.readouterr().out


def test_stats_as_json_and_as_tables(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _hub(config, capsys, "--json")
    assert code == 0
    data = json.loads(text)
    assert (data["asked"], data["answered"], data["handed_over"]) == (3, 3, 1)
    assert data["top_entries"] == [
        {"entry_id": "FAQ-TAX-001", "title": "小规模纳税人增值税怎么申报？", "answers": 2,
         "latest_version": 1},
        {"entry_id": "FAQ-REG-002", "title": "", "answers": 1, "latest_version": 1},
    ]  # fmt: skip
    assert data["ratings"]["levels"]["4"] == 1
    assert data["ratings"]["good_rate"] == 1.0
    assert data["handovers"] == {"human": 1, "bad_rating": 0, "follow_up": 0}
    assert data["handed_over_questions"][0]["question"] == "执照丢了怎么办？"

    code, text = _hub(config, capsys)
    assert code == 0
    assert "智能答复统计（全部）：问题 3 个，自动答复 3 个，转人工 1 个" in text
    assert "小规模纳税人增值税怎么申报？" in text
    assert "好评率 100.0%" in text
    assert "回复人工" in text


def test_since_is_a_day_in_the_hubs_zone(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, text = _hub(config, capsys, "--since", "2026-12-03", "--json")
    assert code == 0
    data = json.loads(text)
    assert data["asked"] == 1
    assert data["since"] == "2026-12-03T00:00:00+08:00"
    assert [e["entry_id"] for e in data["top_entries"]] == ["FAQ-REG-002"]
    code, _ = _hub(config, capsys, "--since", "12/03/2026")
    assert code == 2
