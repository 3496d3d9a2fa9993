"""A claimed group's fallbacks move to the next channel together, and each is sent once.

Watched on the wire: Redis MONITOR shows the commands the hub sends, so the test counts the
calls that put the group's fallbacks on the next channel's stream, on Redis 6.2 and 7.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import ClassVar

import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import PermanentError
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.outbound.settings import RoutingSettings
from hub.store.db import Database
from hub.store.models import DeliveryAttempt
from tests.pipeline import ScriptedChannel, build, notice, queued_ids, setup, statuses
from tests.seed import seed_registry


class _WholeGroupChannel(ScriptedChannel):
    """The scripted SMS channel, answering a whole claimed group in one provider call."""

    max_batch: ClassVar[int] = 16


@contextlib.asynccontextmanager
async def _redis_commands(redis: Redis) -> AsyncIterator[list[tuple[str, str]]]:
    """``(client type, command)`` of every command Redis runs inside the block (MONITOR);
    the list is filled when the block ends. Commands a Lua script runs have type ``lua``."""
    seen: list[tuple[str, str]] = []
    async with redis.monitor() as monitor:
        yield seen
        marker = f"end-of-block-{uuid.uuid4().hex}"
        await redis.echo(marker)
        while marker not in (command := await monitor.next_command())["command"]:
            seen.append((command["client_type"], command["command"]))


async def test_a_groups_fallbacks_reach_the_next_channel_in_one_call_and_are_sent_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    sms = _WholeGroupChannel([PermanentError, PermanentError, PermanentError])
    routing = RoutingSettings(chains={"default": ("sms", "sandbox")})
    hub = build(db, redis_client, redis_keys, clock, sms, routing=routing)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=general"))
    assert len(ids) == 3

    async with _redis_commands(redis_client) as commands:
        assert await hub.dispatcher.run_once("sms") == 3  # one group, all three refused

    stream = redis_keys.outbound_stream("sandbox")
    calls = [c for client, c in commands if client != "lua" and stream in c]
    assert len(calls) == 1, calls
    assert calls[0].split()[-3:] == [str(i) for i in sorted(ids)]  # the script's arguments
    appended = [c for client, c in commands if client == "lua" and stream in c]
    assert [c.split()[0].upper() for c in appended] == ["XADD"] * 3

    # Nothing lost, nothing doubled: the sandbox sends each once.
    assert await hub.dispatcher.run_once("sandbox") == 3
    assert await hub.dispatcher.run_once("sandbox") == 0
    assert set((await statuses(db)).values()) == {MessageStatus.SENT}
    async with db.read() as session:
        attempts = (
            await session.execute(
                sa.select(DeliveryAttempt.channel, DeliveryAttempt.outcome, sa.func.count())
                .group_by(DeliveryAttempt.channel, DeliveryAttempt.outcome)
                .order_by(DeliveryAttempt.channel)
            )
        ).all()
    assert [tuple(a) for a in attempts] == [("sandbox", "sent", 3), ("sms", "fallback", 3)]
