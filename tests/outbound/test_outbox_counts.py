"""A send's outcome counts what it did without holding every id: what a campaign of a million
messages needs (the outbox keeps no list of the ids it enqueued; ``on_chunk`` sees them)."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.store.db import Database
from hub.store.models import Enterprise
from tests.pipeline import build, notice, setup, statuses, submit
from tests.seed import seed_registry


async def test_counts_across_chunks_match_the_rows_and_the_ids_enqueued(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    hub.outbox.chunk_size = 2  # several chunks: the recipients are counted chunk by chunk
    listed, ids = await submit(hub.outbox, notice("all", trigger_key="listed"))
    # Other words (the same text again within days would be skipped as a repeat).
    other = replace(notice("all", trigger_key="counted"), variables={"text": "请核对社保缴费基数"})
    counted = await hub.outbox.submit(other)

    rows = await statuses(db)
    queued = [i for i, s in rows.items() if s is MessageStatus.QUEUED]
    assert listed.queued == len(ids) == len(set(ids)) > 0
    assert set(ids) < set(queued)
    assert counted.queued == listed.queued
    assert listed.queued + counted.queued == len(queued)
    assert counted.recipients == listed.recipients
    assert listed.recipients == len(await _enterprises(db))


async def _enterprises(db: Database) -> list[int]:
    async with db.read() as session:
        return list((await session.scalars(sa.select(Enterprise.id))).all())
