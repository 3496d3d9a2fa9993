"""`hub send` explains itself: a send that reaches nobody says why by count and exits 1; held
messages say when they go; `--help` lists each kind's variables.

The CLI runs on a fixed clock (``main(clock=...)``), so the hour the suite runs at is irrelevant.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock

NIGHT = FixedClock(datetime(2026, 12, 6, 22, 6, tzinfo=SHANGHAI))
DAY = FixedClock(datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config()
    assert main(["--config", str(path), "demo", "--enterprises", "40"]) == 0
    return path


def test_an_audience_with_a_typo_matches_nobody_exits_1_and_suggests_the_known_value(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["--config", str(config), "send", "notice", "--audience", "tier=key,industry=制造夜",
            "--set", "text=请于本月底前完成年报公示"]  # fmt: skip
    assert main(args, clock=DAY) == 1
    said = capsys.readouterr().out
    assert "没有发出任何消息" in said
    assert "受众 tier=key,industry=制造夜 匹配 0 家企业" in said
    assert "industry（行业） 没有“制造夜”，您是不是要找：制造业" in said


def test_a_missing_variable_skips_everyone_exits_1_and_names_the_set_option(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["--config", str(config), "send", "notice", "--audience", "all", "--json"]
    assert main(args, clock=DAY) == 1
    report = json.loads(capsys.readouterr().out)
    [reason] = report["reasons"]
    assert reason["status"] == "skipped"
    assert reason["count"] == report["skipped"] > 0
    assert reason["reason"].endswith("缺少变量 text（通知正文）（用 --set text=…）")
    assert report["nothing_sent"] == [f"{reason['count']} 条跳过：{reason['reason']}"]


def test_a_dry_run_at_night_says_what_would_be_held_and_when(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    args = ["--config", str(config), "send", "notice", "--audience", "tier=key",
            "--set", "text=请于本月底前完成年报公示", "--dry-run"]  # fmt: skip
    assert main(args, clock=NIGHT) == 0
    said = capsys.readouterr().out
    assert "预演 (dry run)，不发送" in said
    assert "免打扰时段（21:00–08:00），将于 12-07 08:00 发送" in said
    assert main([*args, "--json"], clock=DAY) == 0
    assert json.loads(capsys.readouterr().out)["held"] == 0


def test_send_help_lists_each_kinds_variables(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "--help"]) == 0
    said = capsys.readouterr().out
    assert "notice: text（通知正文）" in said
    assert "extension_notice:" in said


def test_the_final_summary_names_what_held_messages_wait_for() -> None:
    from hub.cli.send_report import final_summary

    quiet = [{"reason": "免打扰时段（21:00–08:00），将于 12-07 08:00 发送",
              "note": "将于 12-07 08:00 发送"}]  # fmt: skip
    assert final_summary({"held": 3, "pending": 0}, quiet) == (
        "最终：已发送 0，免打扰暂缓 3（将于 12-07 08:00 发送），排队 0"
    )
    paused = [{"reason": "批次已暂停", "note": "批次已暂停"}]
    assert final_summary({"sent": 1, "held": 2, "failed": 1, "pending": 0}, paused) == (
        "最终：已发送 1，暂缓 2（批次已暂停），排队 0，失败 1"
    )


def test_a_send_that_reaches_nobody_leaves_no_empty_campaign_and_its_key_still_works(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def campaigns() -> list[dict[str, object]]:
        capsys.readouterr()
        assert main(["--config", str(config), "campaigns", "list", "--json"]) == 0
        return list(json.loads(capsys.readouterr().out))

    before = campaigns()
    send = ["--config", str(config), "send", "notice", "--idempotency-key", "annual-report",
            "--set", "text=请于本月底前完成年报公示"]  # fmt: skip
    assert main([*send, "--audience", "tier=key,industry=制造夜"], clock=DAY) == 1
    said = capsys.readouterr().out
    assert "未建批次" in said
    assert "#None" not in said
    assert campaigns() == before
    # the same key with the audience corrected: the campaign now, and a re-run doubles nothing
    first = [*send, "--audience", "tier=key,industry=制造业", "--json"]
    assert main(first, clock=DAY) == 0
    created = json.loads(capsys.readouterr().out)
    assert created["campaign_id"] is not None
    assert created["created"] > 0
    assert main(first, clock=DAY) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["campaign_id"], again["created"]) == (created["campaign_id"], 0)
    assert again["duplicates"] == created["created"]
    [campaign] = [c for c in campaigns() if c not in before]
    assert (campaign["id"], campaign["trigger_key"]) == (created["campaign_id"], "annual-report")
