"""Consumer liveness (hub.infra.consumers) against Redis 6.2 (embedded) and 7: a dead consumer's
entries are taken over at once, a live one's never; a flush shows as a new epoch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.consumers import HEARTBEAT_TTL_S, Liveness
from hub.infra.queue import Queue

SMS = "sms"
GROUP = RedisKeys.OUTBOUND_GROUP
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([SMS])
    return queue


async def _consumers(redis: Redis, keys: RedisKeys) -> dict[str, int]:
    found = await redis.xinfo_consumers(keys.outbound_stream(SMS), GROUP)
    return {str(c["name"]): int(c["pending"]) for c in found}


async def test_a_dead_consumers_entries_are_taken_over_at_once(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue, clock: FixedClock
) -> None:
    liveness = Liveness(redis_client, redis_keys, clock)
    assert (await liveness.beat("survivor")).new_epoch
    await queue.enqueue(SMS, [1, 2, 3, 4])
    dead = await queue.claim(SMS, "dead", 3)  # claims, never beats, dies
    await redis_client.xdel(redis_keys.outbound_stream(SMS), dead[1].entry_id)
    await liveness.beat("busy")
    await queue.claim(SMS, "busy", 10)  # alive: its entry stays its own
    stream = redis_keys.outbound_stream(SMS)

    # Within a heartbeat's lifetime of a new epoch everyone counts as alive (a flush took
    # their heartbeats too).
    assert await liveness.take_over_dead(stream, GROUP, "survivor", limit=100) == []
    clock.advance(timedelta(seconds=HEARTBEAT_TTL_S + 1))
    taken = Queue.entries(stream, await liveness.take_over_dead(stream, GROUP, "survivor",
                                                                limit=100))  # fmt: skip

    # No idle time waited: the entries were claimed a moment ago.
    assert [e.message_id for e in taken] == [1, 3]  # the deleted entry is acked, not returned
    assert await _consumers(redis_client, redis_keys) == {"busy": 1, "survivor": 2}
    assert await liveness.take_over_dead(stream, GROUP, "survivor", limit=100) == []


async def test_take_over_pages_through_every_entry(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue, clock: FixedClock
) -> None:
    liveness = Liveness(redis_client, redis_keys, clock)
    await liveness.beat("survivor")
    clock.advance(timedelta(seconds=HEARTBEAT_TTL_S + 1))
    await queue.enqueue(SMS, list(range(1, 251)))
    await queue.claim(SMS, "dead", 250)
    stream = redis_keys.outbound_stream(SMS)
    first = await liveness.take_over_dead(stream, GROUP, "survivor", limit=200)
    second = await liveness.take_over_dead(stream, GROUP, "survivor", limit=200)
    assert (len(first), len(second)) == (200, 50)
    assert await _consumers(redis_client, redis_keys) == {"survivor": 250}


async def test_a_flush_shows_as_a_new_epoch_on_the_next_beat(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    liveness = Liveness(redis_client, redis_keys, clock)
    assert (await liveness.beat("w")).new_epoch
    assert not (await liveness.beat("w")).new_epoch
    await redis_client.delete(redis_keys.redis_epoch(), redis_keys.consumer_alive("w"))
    assert (await liveness.beat("w")).new_epoch


async def test_a_beat_without_the_epoch_leaves_the_flush_for_the_next_beat_to_see(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    # Only the beat that sets the epoch hears of the flush (and rebuilds): a beat that leaves
    # the epoch alone must not swallow the news.
    liveness = Liveness(redis_client, redis_keys, clock)
    assert not (await liveness.beat("w", epoch=False)).new_epoch
    assert await redis_client.exists(redis_keys.consumer_alive("w"))
    assert (await liveness.beat("w")).new_epoch
