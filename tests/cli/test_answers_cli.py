"""``hub answers ask`` prints what the hub would answer from the library in the database, and
``hub answers eval`` the three figures of an evaluation file (exit 1 when one misses its
target)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock
from hub.store.db import Database
from hub.store.knowledge import FaqEntry

NOW = FixedClock(datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))
THRESHOLDS = {"answers": {"min_score": 0.3, "min_margin": 0.05}}


async def _seed(config: Path) -> None:
    db = Database.open(load_settings(config).database_url)
    at = NOW.now()
    rows = [
        ("FAQ-001", "营业执照丢失了怎么补办", "执照丢了怎么办", "登报声明后到市场监管局补领"),
        ("FAQ-002", "增值税专用发票怎么申领", "专票怎么领", "登录电子税务局申领"),
        ("FAQ-003", "社保缴费基数每年什么时候调整", "社保基数调整时间", "每年7月"),
    ]
    try:
        async with db.write() as session:
            session.add_all(
                FaqEntry(
                    faq_id=faq_id,
                    version=1,
                    question=question,
                    alternates=alternates,
                    answer=answer,
                    source="《办事指南》",
                    created_at=at,
                    updated_at=at,
                )
                for faq_id, question, alternates, answer in rows
            )
    finally:
        await db.aclose()


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config(**THRESHOLDS)
    asyncio.run(_seed(path))
    return path


def hub(config: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *(str(a) for a in args)], clock=NOW)
    return code, capsys.readouterr().out


def test_ask_prints_the_answer_its_source_and_the_candidates(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = hub(config, capsys, "answers", "ask", "您好，营业执照弄丢了怎么补办？")
    assert code == 0
    assert "自动答复：FAQ-001 v1 营业执照丢失了怎么补办" in out
    assert "答复：登报声明后到市场监管局补领" in out
    assert "依据：《办事指南》" in out
    assert "候选条目" in out


def test_ask_json_names_entry_version_score_margin_and_top_three(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = hub(config, capsys, "answers", "ask", "专票怎么领", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["answered"] is True
    assert (data["entry_id"], data["version"]) == ("FAQ-002", 1)
    assert 0 < data["score"] <= 1
    assert data["margin"] > 0
    assert 1 <= len(data["candidates"]) <= 3
    assert data["candidates"][0]["entry_id"] == "FAQ-002"


def test_ask_hands_over_what_the_library_does_not_answer(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = hub(config, capsys, "answers", "ask", "明天园区停电吗", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["answered"] is False
    assert data["answer"] is None
    assert data["handover_reason"]  # why a person must answer, in Chinese


def test_eval_prints_the_three_figures_and_exits_by_the_targets(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(
        "question,expected\n执照丢了咋补办,FAQ-001\n专票怎么申领,FAQ-002\n明天园区停电吗,\n",
        encoding="utf-8",
    )
    code, out = hub(config, capsys, "answers", "eval", good, "--json")
    data = json.loads(out)
    assert code == 0
    assert (data["precision"], data["coverage"], data["false_answer_rate"]) == (1.0, 1.0, 0.0)
    assert (data["in_scope"], data["out_of_scope"]) == (2, 1)

    bad = tmp_path / "bad.csv"
    bad.write_text("question,expected\n专票怎么申领,FAQ-001\n", encoding="utf-8")
    code, out = hub(config, capsys, "answers", "eval", bad)
    assert code == 1
    assert "自动答复准确率" in out
    assert "未达标" in out
    assert "错误的自动答复" in out


def test_eval_refuses_a_file_without_its_columns(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("问题,答案\n专票怎么领,FAQ-002\n", encoding="utf-8")
    code, _ = hub(config, capsys, "answers", "eval", wrong)
    assert code == 2


def test_eval_holdout_prints_the_held_out_means(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "question,expected\n"
        "执照丢了咋补办,FAQ-001\n营业执照丢失怎么补办,FAQ-001\n"
        "专票怎么申领,FAQ-002\n增值税专用发票在哪申领,FAQ-002\n"
        "社保基数什么时候调整,FAQ-003\n社保缴费基数每年几月调整,FAQ-003\n"
        "明天园区停电吗,\n食堂几点开饭,\n",
        encoding="utf-8",
    )
    code, out = hub(config, capsys, "answers", "eval", cases, "--holdout", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["splits"] == 10
    assert data["mean"]["false_answer_rate"] == 0.0
    assert len(data["per_split"]) == 10
    code, out = hub(config, capsys, "answers", "eval", cases, "--holdout")
    assert code == 0
    assert "留出评测结果" in out
    assert "范围外误答率" in out


def test_the_cli_and_the_runtime_start_without_the_engine() -> None:
    # numpy and jieba (~50 MB, a tenth of a second) are loaded by the first index build or
    # `hub answers eval`, not by every `hub` command or every process the runtime starts.
    code = (
        "import sys, hub.cli, hub.app.runtime; "
        "print(sorted(m for m in ('numpy', 'jieba', 'bm25s') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"
