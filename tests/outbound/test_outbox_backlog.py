"""A send plans no further ahead than ``dispatch.max_backlog`` messages waiting on a stream."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

from hub.app.config import load_settings
from hub.app.runtime import open_components
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.store.db import Database
from tests.pipeline import Hub, build, notice, setup, statuses
from tests.seed import seed_registry


async def _consume(hub: Hub, done: asyncio.Event) -> int:
    """A slow worker: one entry at a time, acknowledged, until the send is done and the
    stream is empty; how many it took."""
    taken = 0
    while True:
        entries = await hub.queue.claim("sandbox", "slow", 1, None)
        if not entries and done.is_set():
            return taken
        if entries:
            await hub.queue.ack("sandbox", [e.entry_id for e in entries])
            taken += len(entries)
        await asyncio.sleep(0.01)


async def test_a_send_waits_while_the_stream_holds_more_than_the_bound(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    hub.outbox.chunk_size = 1  # one enterprise (one or two contacts) per chunk
    hub.outbox.max_backlog = 1
    lengths: list[int] = []

    async def after_chunk(_ids: Sequence[int], _committed_at: datetime) -> None:
        lengths.append(await hub.queue.waiting("sandbox"))

    done = asyncio.Event()
    consumer = asyncio.create_task(_consume(hub, done))
    outcome = await hub.outbox.submit(notice("all"), on_chunk=after_chunk)
    done.set()
    taken = await consumer

    queued = [i for i, s in (await statuses(db)).items() if s is MessageStatus.QUEUED]
    assert outcome.queued == len(queued) == taken > 2 * hub.outbox.max_backlog
    assert len(lengths) == outcome.recipients
    assert max(lengths) <= hub.outbox.max_backlog  # every chunk waited for the worker


async def test_with_nothing_reading_the_stream_the_send_still_goes_on(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    hub.outbox.max_backlog = 1
    hub.outbox.backlog_stall_s = 0.2  # no worker: the stream never shrinks
    hub.outbox.chunk_size = 2

    outcome = await hub.outbox.submit(notice("all"))

    queued = [i for i, s in (await statuses(db)).items() if s is MessageStatus.QUEUED]
    assert outcome.queued == len(queued) > 2 * hub.outbox.max_backlog
    assert await hub.queue.waiting("sandbox") == len(queued)  # every row enqueued, once


async def test_the_bound_comes_from_the_dispatch_section_of_the_config(
    write_config: Any, clock: FixedClock
) -> None:
    config: Path = write_config(dispatch={"max_backlog": 500})
    async with open_components(load_settings(config), clock=clock) as hub:
        assert hub.outbox.max_backlog == 500
    async with open_components(load_settings(write_config(dispatch={})), clock=clock) as hub:
        assert hub.outbox.max_backlog == 100_000  # the default, as config.yaml documents
