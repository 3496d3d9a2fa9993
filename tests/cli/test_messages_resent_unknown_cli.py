"""`hub messages list` says how many matching messages were resent while their outcome was
unknown (a worker died during the call on a channel with no status query)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.app.runtime import open_database
from hub.cli import main
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.unknown_sends import RESENT_UNKNOWN, TAKEN
from hub.store.models import DeliveryAttempt, Message
from tests.seed import T0


async def _store(config: Path) -> None:
    async with open_database(load_settings(config)) as db, db.write() as session:
        for key, code in (("resent", RESENT_UNKNOWN), ("resolved", TAKEN), ("plain", None)):
            message = Message(
                idempotency_key=key, kind=MessageKind.NOTICE, channel=ChannelName.SANDBOX,
                address="+8613900000001", status=MessageStatus.SENT, body="x", params={},
                attempts=2, created_at=T0, updated_at=T0,
            )  # fmt: skip
            session.add(message)
            await session.flush()
            if code is not None:
                session.add(DeliveryAttempt(
                    message_id=message.id, attempt_no=1, channel=ChannelName.SANDBOX,
                    provider="sandbox", started_at=T0, finished_at=T0, outcome="retry",
                    error_code=code,
                ))  # fmt: skip


def test_the_list_counts_messages_resent_while_unknown(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    asyncio.run(_store(config))
    assert main(["--config", str(config), "messages", "list", "--status", "sent"]) == 0
    out = capsys.readouterr().out
    assert "发送结果未知时重发（可能重复）resent while unknown：1 条" in out
    assert main(["--config", str(config), "messages", "list", "--status", "queued"]) == 0
    assert "resent while unknown：0 条" in capsys.readouterr().out
