"""``hub visits due``: the visits with their state in a Chinese table or ``--json``, filtered
by officer, period and state; a bad ``--period`` or ``--state`` is a usage error (exit 2)
naming the value, never a traceback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import Tier
from hub.store.db import Database
from hub.visits.plan import plan_visits
from hub.visits.settings import default_tiers
from tests.visits.plan_support import add_enterprises, add_officers, calendar_2027

NOW = FixedClock(datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))


async def _seed(db: Database) -> None:
    officers = await add_officers(db, ["LL001", "LL002"])
    await add_enterprises(db, officers["LL001"], Tier.KEY, 2)
    await add_enterprises(db, officers["LL002"], Tier.ORDINARY, 1, region="建华区")
    async with db.write() as session:
        await plan_visits(
            session, tiers=default_tiers(), calendar=calendar_2027(), today=date(2027, 1, 4)
        )


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config()

    async def seed() -> None:
        db = Database.open(load_settings(path).database_url)
        try:
            await _seed(db)
        finally:
            await db.aclose()

    asyncio.run(seed())
    return path


def hub(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *args], clock=NOW)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_due_lists_the_visits_in_a_chinese_table(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = hub(config, capsys, "visits", "due")

    assert code == 0
    assert "走访（3 条）" in out
    for heading in ("企业", "联络员", "期间", "计划日期", "状态"):
        assert heading in out
    assert out.count("待走访") == 3
    assert "联络员LL001" in out
    assert "重点" in out
    assert "2027Q1" in out


def test_due_filters_by_officer_period_and_state_in_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, by_officer, _ = hub(config, capsys, "visits", "due", "--officer", "LL002", "--json")
    _, by_period, _ = hub(config, capsys, "visits", "due", "--period", "2027Q1", "--json")
    _, by_state, _ = hub(config, capsys, "visits", "due", "--state", "已走访", "--json")
    _, due, _ = hub(config, capsys, "visits", "due", "--state", "due", "--json")

    [ordinary] = json.loads(by_officer)
    assert ordinary["officer"] == {"code": "LL002", "name": "联络员LL002"}
    assert (ordinary["tier"], ordinary["region"], ordinary["period"]) == (
        "ordinary",
        "建华区",
        "2027",
    )
    assert ordinary["state"] == "due"
    assert ordinary["state_label"] == "待走访"
    assert date.fromisoformat(ordinary["due_on"]) >= date(2027, 1, 4)
    quarter = json.loads(by_period)
    assert all(date.fromisoformat(v["due_on"]) <= date(2027, 3, 31) for v in quarter)
    assert {v["period"] for v in quarter} >= {"2027Q1"}
    assert json.loads(by_state) == []
    assert len(json.loads(due)) == 3


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("--period", "2027Q5"), "2027Q5"),
        (("--period", "下季度"), "下季度"),
        (("--state", "late"), "late"),
        (("--period", "0000Q1"), "0000Q1"),
    ],
)
def test_a_bad_filter_is_a_chinese_usage_error_naming_the_value(
    config: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], named: str
) -> None:
    code, out, err = hub(config, capsys, "visits", "due", *args)

    assert code == 2
    assert named in err
    assert "用法错误" in err
    assert "Traceback" not in err + out


def test_an_unknown_officer_is_named(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = hub(config, capsys, "visits", "due", "--officer", "LL404")

    assert code == 1
    assert "没有编码为“LL404”的联络员" in err
    assert "Traceback" not in err + out
