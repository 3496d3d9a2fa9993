"""hub.infra.queue against real Redis 6.2 (embedded), Redis 7 (server7) and a Redis 7 Cluster of
three masters (cluster): one contract, every server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.core.clock import FixedClock
from hub.core.errors import QueueError
from hub.core.keys import RedisKeys
from hub.infra.queue import Backlog, DeadLetter, InboundEntry, Queue, StreamEntry, _entries
from hub.infra.redis_server import RedisClient

SMS = "sms"
GROUP = RedisKeys.OUTBOUND_GROUP
T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([SMS, "wechat"])
    return queue


async def pending_count(redis: Redis, keys: RedisKeys, channel: str = SMS) -> int:
    summary = await redis.xpending(keys.outbound_stream(channel), GROUP)
    return int(summary["pending"])


# --- keys ---------------------------------------------------------------------------------


def test_a_channels_stream_retry_set_and_dead_letters_share_one_cluster_slot() -> None:
    keys = RedisKeys("hub")
    assert keys.outbound_stream("sms") == "hub:{out:sms}:stream"
    assert keys.retry_set("sms") == "hub:{out:sms}:retry"
    assert keys.dead_letters("sms") == "hub:{out:sms}:dead"
    tags = {
        k.split("{")[1].split("}")[0]
        for k in (keys.outbound_stream("sms"), keys.retry_set("sms"), keys.dead_letters("sms"))
    }
    assert tags == {"out:sms"}
    assert keys.inbound_stream() == "hub:{in}:stream"
    assert keys.sandbox_inbox(42) == "hub:sandbox:{42}:inbox"
    assert keys.lock("scheduler") == "hub:lock:{scheduler}"
    assert keys.token_bucket("tencent") == "hub:bucket:{tencent}"


@pytest.mark.parametrize("bad", ["", "a b", "a:b", "{x}", "短信"])
def test_names_that_would_break_the_key_layout_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="may only contain"):
        RedisKeys("hub").outbound_stream(bad)
    with pytest.raises(ValueError, match="may only contain"):
        RedisKeys(bad)


# --- enqueue, claim, ack --------------------------------------------------------------------


async def test_enqueued_ids_are_claimed_once_and_acked(queue: Queue) -> None:
    entry_ids = await queue.enqueue(SMS, [11, 12, 13])
    assert len(entry_ids) == 3

    claimed = await queue.claim(SMS, "worker-1", 10)
    assert [e.message_id for e in claimed] == [11, 12, 13]
    assert [e.entry_id for e in claimed] == entry_ids
    assert await queue.claim(SMS, "worker-2", 10) == []  # nobody gets them twice

    assert await queue.ack(SMS, [e.entry_id for e in claimed]) == 3
    assert await queue.backlog(SMS) == Backlog(waiting=0, pending=0, retrying=0, dead=0)


async def test_claim_respects_count_and_channels_are_separate(queue: Queue) -> None:
    await queue.enqueue(SMS, list(range(1, 8)))
    await queue.enqueue("wechat", [100])
    first = await queue.claim(SMS, "w", 5)
    second = await queue.claim(SMS, "w", 5)
    assert [e.message_id for e in first + second] == list(range(1, 8))
    assert [e.message_id for e in await queue.claim("wechat", "w", 5)] == [100]


async def test_a_blocking_claim_wakes_when_an_id_is_enqueued(queue: Queue) -> None:
    waiting = asyncio.create_task(queue.claim(SMS, "w", 10, block_ms=5_000))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await queue.enqueue(SMS, [7])
    async with asyncio.timeout(2):
        assert [e.message_id for e in await waiting] == [7]


async def test_a_blocking_claim_returns_empty_when_nothing_arrives(queue: Queue) -> None:
    assert await queue.claim(SMS, "w", 10, block_ms=20) == []


async def test_ids_enqueued_before_any_group_exists_are_delivered(
    redis_client: Redis, redis_keys: RedisKeys
) -> None:
    queue = Queue(redis_client, redis_keys)  # no ensure_groups: claim creates the group
    await queue.enqueue("telegram", [1, 2])
    assert [e.message_id for e in await queue.claim("telegram", "w", 10)] == [1, 2]
    await queue.ensure_groups(["telegram"])  # idempotent, even after the fact
    await queue.ensure_groups(["telegram"])


async def test_enqueue_by_channel_puts_each_id_on_its_channels_stream(queue: Queue) -> None:
    queued = await queue.enqueue_by_channel([(5, "wechat"), (1, SMS), (6, "wechat"), (2, SMS)])
    assert queued == [5, 6, 1, 2]  # channel by channel, in the order they first appear
    assert [e.message_id for e in await queue.claim(SMS, "w", 10)] == [1, 2]
    assert [e.message_id for e in await queue.claim("wechat", "w", 10)] == [5, 6]
    assert await queue.enqueue_by_channel([]) == []


async def test_enqueue_and_ack_of_nothing_make_no_call(queue: Queue) -> None:
    assert await queue.enqueue(SMS, []) == []
    assert await queue.ack(SMS, []) == 0


# --- a crashed consumer ----------------------------------------------------------------------


def _another_client(client: RedisClient) -> RedisClient:
    """A client of the same server (or cluster) with connections of its own."""
    if isinstance(client, RedisCluster):
        node = client.get_default_node()
        return RedisCluster(host=node.host, port=node.port, decode_responses=True)
    pool = client.connection_pool
    return Redis.from_pool(
        ConnectionPool(connection_class=pool.connection_class, **pool.connection_kwargs)
    )


async def test_a_crashed_consumers_entries_are_reclaimed_by_another(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue
) -> None:
    await queue.enqueue(SMS, [1, 2, 3])
    # The doomed worker has its own connection, claims and dies without acking.
    doomed_client = _another_client(redis_client)
    doomed = Queue(doomed_client, redis_keys)
    assert len(await doomed.claim(SMS, "doomed", 10)) == 3
    await doomed_client.aclose()

    survivor = "survivor"
    assert await queue.reclaim_stale(SMS, survivor, 60_000, 10) == []  # not idle long enough
    await asyncio.sleep(0.05)
    reclaimed = await queue.reclaim_stale(SMS, survivor, 20, 10)
    assert [e.message_id for e in reclaimed] == [1, 2, 3]
    assert all(isinstance(e, StreamEntry) for e in reclaimed)

    detail = await redis_client.xpending_range(redis_keys.outbound_stream(SMS), GROUP, "-", "+", 10)
    assert {d["consumer"] for d in detail} == {survivor}
    assert await queue.ack(SMS, [e.entry_id for e in reclaimed]) == 3
    assert await pending_count(redis_client, redis_keys) == 0


async def test_reclaim_skips_and_clears_entries_deleted_while_pending(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue
) -> None:
    # Redis 7 reports such entries in a third reply item; Redis 6.2 returns nil entries.
    await queue.enqueue(SMS, [1, 2, 3])
    claimed = await queue.claim(SMS, "doomed", 10)
    await redis_client.xdel(redis_keys.outbound_stream(SMS), claimed[1].entry_id)
    await asyncio.sleep(0.05)

    reclaimed = await queue.reclaim_stale(SMS, "survivor", 20, 10)
    assert [e.message_id for e in reclaimed] == [1, 3]
    assert await pending_count(redis_client, redis_keys) == 2  # the deleted one is gone
    await queue.ack(SMS, [e.entry_id for e in reclaimed])
    assert await pending_count(redis_client, redis_keys) == 0


async def test_reclaim_on_a_channel_without_a_group_is_empty(queue: Queue) -> None:
    assert await queue.reclaim_stale("telegram", "w", 0, 10) == []


# --- retries --------------------------------------------------------------------------------


async def test_only_due_retries_are_promoted(queue: Queue) -> None:
    await queue.schedule_retry(SMS, 1, 100.0)
    await queue.schedule_retry(SMS, 2, 200.0)
    await queue.schedule_retry(SMS, 3, 300.0)
    await queue.schedule_retry(SMS, 3, 150.0)  # rescheduling moves the due time

    assert sorted(await queue.promote_due(SMS, 160.0)) == [1, 3]
    assert await queue.promote_due(SMS, 160.0) == []
    assert [e.message_id for e in await queue.claim(SMS, "w", 10)] in ([1, 3], [3, 1])
    assert (await queue.backlog(SMS)).retrying == 1
    assert await queue.promote_due(SMS, 200.0) == [2]


async def test_promotion_moves_each_id_once_under_concurrent_callers(queue: Queue) -> None:
    ids = list(range(1, 401))
    for start in range(0, len(ids), 100):
        await asyncio.gather(
            *(queue.schedule_retry(SMS, i, 50.0) for i in ids[start : start + 100])
        )

    async def promoter() -> list[int]:
        moved: list[int] = []
        while batch := await queue.promote_due(SMS, 1_000.0, limit=7):
            moved.extend(batch)
        return moved

    results = await asyncio.gather(*(promoter() for _ in range(12)))
    everything = [i for moved in results for i in moved]
    assert sorted(everything) == ids  # every id once: none lost, none doubled
    assert sum(1 for moved in results if moved) > 1  # the callers really did overlap
    backlog = await queue.backlog(SMS)
    assert (backlog.waiting, backlog.retrying) == (400, 0)


async def test_a_retry_can_ack_its_entry_in_the_same_transaction(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue
) -> None:
    await queue.enqueue(SMS, [5])
    [entry] = await queue.claim(SMS, "w", 1)
    await queue.schedule_retry(SMS, 5, 10.0, entry_id=entry.entry_id)
    assert await pending_count(redis_client, redis_keys) == 0
    assert await queue.promote_due(SMS, 10.0) == [5]


# --- dead letters ---------------------------------------------------------------------------


async def test_dead_letters_are_listed_oldest_first_and_leave_the_retry_set(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue, clock: FixedClock
) -> None:
    await queue.schedule_retry(SMS, 8, 10.0)
    await queue.enqueue(SMS, [9])
    [entry] = await queue.claim(SMS, "w", 1)

    await queue.dead_letter(SMS, 8, "号码不存在 (invalid number)")
    clock.advance(timedelta(minutes=5))
    await queue.dead_letter(SMS, 9, "5 attempts failed", entry_id=entry.entry_id)

    assert await queue.list_dead(SMS) == [
        DeadLetter(8, "号码不存在 (invalid number)", T0),
        DeadLetter(9, "5 attempts failed", T0 + timedelta(minutes=5)),
    ]
    assert await queue.promote_due(SMS, 1_000.0) == []  # a dead message is not retried
    assert await pending_count(redis_client, redis_keys) == 0
    assert await queue.list_dead("wechat") == []
    assert await queue.forget_dead(SMS, [8]) == 1
    assert [d.message_id for d in await queue.list_dead(SMS)] == [9]


# --- inbound --------------------------------------------------------------------------------


async def test_inbound_replies_are_pushed_claimed_acked_and_reclaimed(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue
) -> None:
    await queue.push_inbound([501, 502])
    claimed = await queue.claim_inbound("inbound-1", 10)
    assert claimed == [
        InboundEntry(claimed[0].entry_id, 501),
        InboundEntry(claimed[1].entry_id, 502),
    ]
    assert await queue.ack_inbound([claimed[0].entry_id]) == 1
    await asyncio.sleep(0.05)
    [stale] = await queue.reclaim_stale_inbound("inbound-2", 20, 10)
    assert stale.reply_id == 502
    assert await queue.ack_inbound([stale.entry_id]) == 1
    assert await redis_client.xlen(redis_keys.inbound_stream()) == 0


# --- failures -------------------------------------------------------------------------------


async def test_an_entry_without_an_id_is_a_queue_error(
    redis_client: Redis, redis_keys: RedisKeys, queue: Queue
) -> None:
    await redis_client.xadd(redis_keys.outbound_stream(SMS), {"other": "x"})
    with pytest.raises(QueueError, match="no integer id"):
        await queue.claim(SMS, "w", 10)


async def test_redis_errors_become_queue_errors() -> None:
    nowhere = Redis(
        unix_socket_path="/nonexistent/redis.sock",
        decode_responses=True,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        with pytest.raises(QueueError, match="enqueueing on sms") as caught:
            await Queue(nowhere, RedisKeys()).enqueue(SMS, [1])
        assert isinstance(caught.value.__cause__, RedisError)
    finally:
        await nowhere.aclose()


@pytest.mark.parametrize(
    "reply",
    [
        [["s", [("1-0", {"id": "1"}), ("2-0", {"id": "2"})]]],  # RESP2 / legacy RESP3
        {"s": [("1-0", {"id": "1"}), ("2-0", {"id": "2"})]},  # unified RESP3
        {"s": [[("1-0", {"id": "1"}), ("2-0", {"id": "2"})]]},  # RESP3, one level deeper
    ],
)
def test_every_xreadgroup_reply_shape_gives_the_same_entries(reply: object) -> None:
    assert _entries(reply) == [("1-0", {"id": "1"}), ("2-0", {"id": "2"})]
    assert _entries([]) == _entries({}) == _entries(None) == []
