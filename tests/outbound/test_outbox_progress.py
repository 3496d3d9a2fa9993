"""The outbox's progress hook: one call per stored chunk, with the plan's size known up front."""

from __future__ import annotations

from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from tests.pipeline import build, notice, setup, statuses
from tests.seed import seed_registry


async def test_progress_is_reported_per_chunk_up_to_the_plans_size(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    hub.outbox.chunk_size = 1  # one enterprise per chunk
    calls: list[tuple[int, int | None]] = []
    outcome = await hub.outbox.submit(
        notice("all"), progress=lambda planned, total: calls.append((planned, total))
    )
    messages = len(await statuses(db))
    assert outcome.created == messages
    assert calls[-1] == (messages, messages)
    assert [planned for planned, _total in calls] == sorted({p for p, _t in calls})
    assert len(calls) == outcome.recipients  # every enterprise of the sample is its own chunk


async def test_a_dry_run_reports_progress_too_and_writes_nothing(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    calls: list[tuple[int, int | None]] = []
    outcome = await hub.outbox.submit(
        notice("tier=ordinary"), dry_run=True, progress=lambda p, t: calls.append((p, t))
    )
    planned = sum(outcome.by_channel.values()) + outcome.skipped
    assert calls == [(planned, planned)]
    assert await statuses(db) == {}
