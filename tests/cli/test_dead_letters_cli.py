"""`hub messages dead` lists the messages given up after their last attempt, with the reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.app.runtime import open_database
from hub.cli import main
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.store.models import Message
from tests.seed import T0


async def _store(config: Path) -> None:
    async with open_database(load_settings(config)) as db, db.write() as session:
        for key, status, reason in (
            ("a", MessageStatus.DEAD, "已发送 5 次均失败，转入死信：timeout"),
            ("b", MessageStatus.SENT, None),
        ):
            session.add(Message(
                idempotency_key=key, kind=MessageKind.NOTICE, channel=ChannelName.SMS,
                address="+8613900000001", status=status, status_reason=reason, body="x",
                params={}, attempts=5, created_at=T0, updated_at=T0,
            ))  # fmt: skip


def test_dead_letters_are_listed_with_their_reason(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    asyncio.run(_store(config))
    assert main(["--config", str(config), "messages", "dead", "--json"]) == 0
    [dead] = json.loads(capsys.readouterr().out)
    assert dead["status"] == "dead"
    assert dead["reason"] == "已发送 5 次均失败，转入死信：timeout"
