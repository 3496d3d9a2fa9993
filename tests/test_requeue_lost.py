"""After Redis lost the hub's data, ``requeue_lost`` rebuilds every reminder at once: queued
rows on the stream (or in the retry set while their retry is not due), sending rows on the
stream for the dispatcher to resolve, and nothing Redis still holds twice."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis

from hub.clock import FixedClock
from hub.keys import RedisKeys
from hub.outbox import requeue_lost
from hub.store.db import Database
from hub.store.models import Message
from hub.vocab import MessageStatus
from tests.pipeline import build, notice, setup
from tests.seed import seed_registry


async def test_a_flushed_redis_gets_every_reminder_back_and_none_twice(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    queued, retrying, sending, *_ = (await hub.outbox.submit(notice("all"))).queued_ids
    later = clock.now() + timedelta(minutes=5)
    async with db.write() as session:
        await session.execute(sa.update(Message).where(Message.id == retrying)
                              .values(next_attempt_at=later))  # fmt: skip
        await session.execute(sa.update(Message).where(Message.id == sending)
                              .values(status=MessageStatus.SENDING))  # fmt: skip
    await redis_client.delete(redis_keys.outbound_stream("sandbox"))  # the flush
    await hub.queue.ensure_groups(["sandbox"])

    restored = await requeue_lost(db, hub.queue, clock)
    assert await requeue_lost(db, hub.queue, clock) == 0  # what Redis holds is not doubled

    on_stream = {e.message_id for e in await hub.queue.claim("sandbox", "w", 100)}
    assert queued in on_stream
    assert sending in on_stream
    assert retrying not in on_stream
    retry_set: list[Any] = await redis_client.zrange(
        redis_keys.retry_set("sandbox"), 0, -1, withscores=True
    )
    assert [(int(m), float(s)) for m, s in retry_set] == [(retrying, later.timestamp())]
    assert restored == len(on_stream) + 1
