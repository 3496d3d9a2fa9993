"""``hub sla run`` and ``hub callbacks run|list|record`` in-process against a config's database.

The CLI reads the wall clock, so the SLA data is placed relative to now; the callback month
is given explicitly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.cli import main
from hub.core.clock import SHANGHAI
from hub.core.vocab import TicketState
from hub.store.db import Database
from tests.cli.cli_support import on_database
from tests.ticket_factory import make_org, make_ticket


def hub(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def test_sla_run_then_callbacks_run_list_record(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    now = datetime.now(UTC)

    async def seed(db: Database) -> None:
        org = await make_org(db, now)
        # Overdue for a month: both escalation levels are due at once.
        await make_ticket(
            db,
            org,
            number="GD000000000001",
            received_at=now - timedelta(days=40),
            deadline_at=now - timedelta(days=30),
        )
        for i in range(1, 4):
            resolved = datetime(2026, 9, 10 + i, 15, tzinfo=SHANGHAI)
            await make_ticket(
                db,
                org,
                number=f"GD20260910000{i}",
                received_at=resolved,
                deadline_at=resolved + timedelta(days=5),
                state=TicketState.CLOSED,
                resolutions=[resolved],
                closed=(resolved + timedelta(days=1), "rated"),
            )

    on_database(config, seed)
    capsys.readouterr()
    assert hub(config, "sla", "run", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"]["escalate_1"] == 1
    assert report["steps"]["escalate_2"] == 1
    assert report["steps"]["sla_hit"] == 3
    assert report["messages_created"] == 2
    assert hub(config, "sla", "run", "--json") == 0
    assert json.loads(capsys.readouterr().out)["steps"] == {}

    assert hub(config, "callbacks", "run", "--month", "2026-10", "--json") == 0
    outcome = json.loads(capsys.readouterr().out)
    assert (outcome["month"], outcome["population"], outcome["added"]) == ("2026-09", 3, 3)
    assert hub(config, "callbacks", "list", "--resolved-month", "2026-09", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [s["ticket_number"] for s in listed] == [f"GD20260910000{i}" for i in range(1, 4)]
    first = listed[0]["id"]
    assert (
        hub(
            config,
            "callbacks",
            "record",
            str(first),
            "--score",
            "5",
            "--answer",
            "很好",
            "--by",
            "zhang",
            "--json",
        )
        == 0
    )
    recorded = json.loads(capsys.readouterr().out)
    assert (recorded["status"], recorded["score"], recorded["answer"]) == ("answered", 5, "很好")
    assert hub(config, "callbacks", "list", "--status", "answered", "--json") == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [first]
    assert hub(config, "callbacks", "record", str(first), "--by", "zhang") == 2  # no score
    capsys.readouterr()
    assert hub(config, "sla", "run") == 0
    assert "没有到期的督办事项" in capsys.readouterr().out
    assert hub(config, "callbacks", "list") == 0
    assert "已发送" in capsys.readouterr().out  # the table (narrow: numbers may wrap)
    assert hub(config, "callbacks", "run", "--month", "2026-10") == 0
    assert "2026-09 办结 3 件，已回访 3 件（100%），本次新增 0 件" in capsys.readouterr().out
    assert hub(config, "callbacks", "run", "--month", "2026-13") == 2
