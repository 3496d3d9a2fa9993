"""`hub send` explains itself: a send that reaches nobody (no enterprise matched, every message
skipped, a cancelled campaign) says why by count and exits 1, one that reaches some exits 0 and
still counts the skipped; held messages say when they go; `--help` lists each kind's variables;
`--set` values reach the template with the type meta.yaml declares (``free_apply=false`` is
false).

The CLI runs on a fixed clock (``main(clock=...)``), so the hour the suite runs at is irrelevant.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.app.runtime import open_database
from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import ChannelName, MessageStatus, Tier
from hub.outbound.optouts import record_opt_out
from hub.store.models import Contact, Enterprise, Message

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
    # The table names the counts by status in Chinese (JSON keeps the codes).
    [(status, count)] = dict(campaign["messages"]).items()  # type: ignore[call-overload]
    code, table = _hub(config, capsys, "campaigns", "list")
    assert code == 0
    assert f"{MessageStatus(status).label} {count}" in table
    assert "{'" not in table


def _hub(
    config: Path, capsys: pytest.CaptureFixture[str], *args: str, clock: FixedClock = DAY
) -> tuple[int, str]:
    """Run ``hub --config CONFIG ARGS…``: the exit code and what it printed."""
    capsys.readouterr()
    code = main(["--config", str(config), *args], clock=clock)
    said = capsys.readouterr()
    return code, said.out + said.err


async def _opt_out_every_contact(config: Path, tier: Tier) -> int:
    """Opt out, on the sandbox channel, every contact of the enterprises of ``tier``."""
    async with open_database(load_settings(config)) as db, db.write() as session:
        ids = (await session.scalars(
            sa.select(Contact.id).join(Enterprise).where(Enterprise.tier == tier)
        )).all()  # fmt: skip
        for contact_id in ids:
            await record_opt_out(session, db.dialect, DAY, contact_id, ChannelName.SANDBOX,
                                 source="test")  # fmt: skip
    return len(ids)


NOTICE = ["send", "notice", "--set", "text=请于本月底前完成年报公示"]


def test_every_contact_opted_out_exits_1_with_the_reason_by_count(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opted_out = asyncio.run(_opt_out_every_contact(config, Tier.KEY))
    assert opted_out > 0
    code, said = _hub(config, capsys, *NOTICE, "--audience", "tier=key")
    assert code == 1
    assert "没有发出任何消息" in said
    assert f"{opted_out} 条跳过：联系人已退订" in said
    code, said = _hub(config, capsys, *NOTICE, "--audience", "tier=key", "--json")
    assert code == 1
    report = json.loads(said)
    # The skipped are recorded (each with its reason), none queued.
    assert (report["skipped"], report["created"], report["queued"]) == (opted_out, opted_out, 0)
    assert [(r["status"], r["count"]) for r in report["reasons"]] == [("skipped", opted_out)]


def test_a_send_that_reaches_some_exits_0_and_still_counts_the_skipped(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    opted_out = asyncio.run(_opt_out_every_contact(config, Tier.KEY))
    code, said = _hub(config, capsys, *NOTICE, "--audience", "tier=key|general")
    assert code == 0
    assert f"  跳过 {opted_out} 条：联系人已退订" in said
    assert "没有发出任何消息" not in said


def test_a_frequency_cap_that_skips_everyone_exits_1_naming_the_cap(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(routing={"max_per_contact_per_day": 1})
    assert main(["--config", str(config), "demo", "--enterprises", "40"]) == 0
    send = ["send", "notice", "--audience", "tier=key", "--json"]
    assert _hub(config, capsys, *send, "--set", "text=请完成年报公示")[0] == 0
    code, said = _hub(config, capsys, *send, "--set", "text=请参加安全生产培训")
    assert code == 1
    report = json.loads(said)
    [reason] = report["reasons"]
    assert reason["reason"] == "已达每日上限（每人每天 1 条）"
    assert report["nothing_sent"] == [f"{report['skipped']} 条跳过：已达每日上限（每人每天 1 条）"]


def test_repeating_a_cancelled_campaign_sends_nothing_and_exits_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    send = [*NOTICE, "--audience", "tier=key", "--idempotency-key", "training", "--json"]
    # At night: held until 08:00, so there is something left to cancel.
    code, said = _hub(config, capsys, *send, clock=NIGHT)
    assert code == 0
    campaign = json.loads(said)["campaign_id"]
    assert _hub(config, capsys, "campaigns", "cancel", str(campaign))[0] == 0
    code, said = _hub(config, capsys, *send)
    assert code == 1
    report = json.loads(said)
    assert (report["campaign_id"], report["created"]) == (campaign, 0)
    assert report["nothing_sent"] == [
        f"批次 campaign #{campaign} 已取消，同一 --idempotency-key 不再发送（要重新发送请换一个键）"
    ]


POLICY = ["send", "policy_push", "--audience", "tier=key", "--set", "policy_title=稳岗补贴",
          "--set", "deadline=2026年12月31日"]  # fmt: skip


async def _bodies(config: Path, campaign: int) -> list[str]:
    async with open_database(load_settings(config)) as db, db.read() as session:
        return list((await session.scalars(
            sa.select(Message.body).where(Message.campaign_id == campaign)
        )).all())  # fmt: skip


def test_set_false_reaches_the_template_as_false_not_as_truthy_text(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = _hub(config, capsys, *POLICY, "--set", "free_apply=false", "--json")
    assert code == 0
    report = json.loads(said)
    bodies = asyncio.run(_bodies(config, report["campaign_id"]))
    assert len(bodies) == report["created"] > 0
    for body in bodies:  # {% if free_apply %} … {% elif deadline %}: the false branch
        assert "申报截止：2026年12月31日" in body
        assert "免申即享" not in body
    code, said = _hub(config, capsys, *POLICY, "--set", "free_apply=是", "--dry-run", "--json")
    assert code == 0
    samples = json.loads(said)["samples"]
    assert samples
    assert all("免申即享" in s["body"] for s in samples)


@pytest.mark.parametrize(
    ("args", "exit_code", "reason"),
    [
        pytest.param([*NOTICE, "--audience", "credit=dishonest,credit=good"], 1,
                     "受众 credit=dishonest,credit=good 匹配 0 家企业",
                     id="an-enum-audience-matching-nobody"),
        pytest.param([*POLICY, "--set", "free_apply=不一定"], 2,
                     "变量 free_apply 应为是非（true/false 或 是/否），收到“不一定”",
                     id="a-value-that-does-not-fit-the-declared-type"),
    ],
)  # fmt: skip
def test_a_send_refused_or_reaching_nobody_exits_non_zero_saying_why(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], exit_code: int,
    reason: str,
) -> None:  # fmt: skip
    code, said = _hub(config, capsys, *args)
    assert code == exit_code
    assert reason in said


def test_templates_preview_types_set_values_as_send_does(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, said = _hub(config, capsys, "enterprises", "list", "--json")
    assert code == 0
    uscc = json.loads(said)[0]["uscc"]
    preview = ["templates", "preview", "policy_push", "--channel", "sandbox", "--json"]
    code, said = _hub(config, capsys, *preview, "--enterprise", uscc, "--set", "free_apply=false")
    assert code == 0
    body = json.loads(said)["body"]
    assert "免申即享" not in body
    assert "申报截止" in body


def test_a_send_shows_its_planning_progress_on_stderr_and_none_with_json(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = "text=请于本月底前完成年报公示"
    capsys.readouterr()  # the demo's
    assert main(["--config", str(config), "send", "notice", "-a", "all", "--set", text],
                clock=DAY) == 0  # fmt: skip
    said = capsys.readouterr()
    # Not a terminal: a plain line when planning ends (and every few seconds before).
    done = re.search(r"规划入库 (\d+)/(\d+)（100%）", said.err)
    assert done is not None, said.err
    assert done.group(1) == done.group(2) != "0"
    assert "规划入库" not in said.out
    again = ["--config", str(config), "send", "notice", "-a", "all", "--json",
             "--set", "text=请于下月初前完成统计报表"]  # fmt: skip
    assert main(again, clock=DAY) == 0
    assert "规划入库" not in capsys.readouterr().err
