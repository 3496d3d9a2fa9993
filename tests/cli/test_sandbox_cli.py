"""The sandbox from both sides through the CLI: the inbox, and a reply on the inbound path."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.app.runtime import open_components
from hub.cli import main
from hub.core.clock import SystemClock
from hub.outbound.dispatch import Dispatcher
from tests.seed import seed_registry
from tests.wall_clock import NEVER_QUIET


def _seed_and_send(config: Path) -> None:
    settings = load_settings(config)

    async def seed() -> None:
        async with open_components(settings, clock=SystemClock()) as hub:
            await seed_registry(hub.db)

    async def dispatch() -> int:
        async with open_components(settings) as hub:
            dispatcher = Dispatcher(hub.db, hub.queue, hub.channels, hub.clock,
                                    settings.dispatch, hub.metrics, consumer="t")  # fmt: skip
            return await dispatcher.run_once("sandbox", block_ms=100)

    asyncio.run(seed())
    assert main(["--config", str(config), "send", "notice", "--audience", "tier=key",
                 "--set", "text=请于月底前完成年报公示"]) == 0  # fmt: skip
    assert asyncio.run(dispatch()) == 1


def test_inbox_shows_what_the_contact_received_and_reply_is_stored_once(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(quiet_hours=NEVER_QUIET)
    _seed_and_send(config)
    capsys.readouterr()

    assert main(["--config", str(config), "sandbox", "inbox", "13900000001", "--json"]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert item["body"] == "【主动服务】甲机械：请于月底前完成年报公示"
    assert str(item["at"]).endswith("+08:00")  # the hub's zone, not the channel's UTC
    assert main(["--config", str(config), "sandbox", "inbox", "13900000001"]) == 0
    line = capsys.readouterr().out.strip()
    assert line == f"[{item['at']}] #{item['message_id']} notice: {item['body']}"

    assert main(["--config", str(config), "sandbox", "reply", "+86 139 0000 0001", "5",
                 "--json"]) == 0  # fmt: skip
    stored = json.loads(capsys.readouterr().out)
    assert stored["contact_id"] is not None

    assert main(["--config", str(config), "replies", "list", "--json"]) == 0
    [reply] = json.loads(capsys.readouterr().out)
    assert reply["text"] == "5"
    assert reply["enterprise"] == "甲机械"
    assert reply["in_reply_to"] == item["message_id"]
    assert reply["sender"] == "+86139****0001"  # masked


def test_inbox_of_an_unknown_mobile_is_a_clear_error(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(quiet_hours=NEVER_QUIET)
    assert main(["--config", str(config), "sandbox", "inbox", "13700000000"]) == 1
    assert "没有手机号为" in capsys.readouterr().err
    assert main(["--config", str(config), "sandbox", "reply", "12345", "hi"]) == 2
