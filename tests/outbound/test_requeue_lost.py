"""After Redis lost the hub's data, ``requeue_lost`` rebuilds every reminder at once: queued
rows on the stream (or in the retry set while their retry is not due), sending rows on the
stream for the dispatcher to resolve, and nothing Redis still holds twice;
``requeue_unclassified`` does the same for stored replies. The beat that finds Redis empty
puts both back (as the app wires it, :func:`hub.app.runtime.flush_requeues`) and warns only when
something was missing from it (a first start is no alarm)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.app import runtime
from hub.core.clock import FixedClock
from hub.core.errors import QueueError
from hub.core.keys import RedisKeys
from hub.core.logs import configure_logging
from hub.core.vocab import ChannelName, MessageStatus
from hub.inbound.accept import accept_reply, requeue_unclassified
from hub.outbound import recovery
from hub.outbound.outbox import requeue_lost
from hub.store.db import Database
from hub.store.models import InboundReply as StoredReply
from hub.store.models import Message
from tests.pipeline import Hub, build, notice, queued_ids, setup
from tests.seed import seed_registry

QUESTION = "营业执照变更需要什么材料？"


async def test_a_flushed_redis_gets_every_reminder_back_and_none_twice(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    queued, retrying, sending, *_ = await queued_ids(hub.outbox, notice("all"))
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


async def test_stored_replies_not_yet_classified_go_back_on_the_inbound_stream_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    waiting, lost, done = [await _accept(hub, n) for n in range(3)]
    async with db.write() as session:
        await session.execute(sa.update(StoredReply).where(StoredReply.id == done)
                              .values(classified_at=clock.now()))  # fmt: skip
    # The flush took the entries; one reply came in after it and is on the stream again.
    await redis_client.delete(redis_keys.inbound_stream())
    await hub.queue.push_inbound([waiting])

    assert await requeue_unclassified(db, hub.queue) == 1
    assert await requeue_unclassified(db, hub.queue) == 0  # what Redis holds is not doubled
    on_stream = [e.reply_id for e in await hub.queue.claim_inbound("w", 100)]
    assert sorted(on_stream) == [waiting, lost]


@pytest.fixture
def log_output(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[], str]]:
    """The hub's log lines (as `hub run` prints them) written since the last call.

    hub.outbound.recovery's module logger caches the configuration it first logged with
    (``cache_logger_on_first_use``): an earlier test in this process may have used it with
    console output, so the test takes a new one, bound to the JSON configuration.
    """
    configure_logging("INFO", json_output=True)
    monkeypatch.setattr(recovery, "log", structlog.get_logger(recovery.__name__))
    yield lambda: capsys.readouterr().err
    structlog.reset_defaults()


def _lines(output: str, event: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if event in line["event"]]


async def test_a_first_start_on_an_empty_redis_is_no_warning(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    log_output: Callable[[], str],
) -> None:  # fmt: skip
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await hub.dispatcher.recovery.beat()  # the first beat of a fresh machine's first `hub run`

    output = log_output()
    assert [line["level"] for line in _lines(output, "redis")] == ["info"], output
    assert "redis initialised" in output


async def test_a_flush_that_lost_queued_work_warns_with_what_was_put_back(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    log_output: Callable[[], str],
) -> None:  # fmt: skip
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    queued = await queued_ids(hub.outbox, notice("all"))
    await _accept(hub, 0)
    await hub.dispatcher.recovery.beat()  # the epoch begins: Redis held everything
    await _flush(redis_client, redis_keys)
    log_output()

    await hub.dispatcher.recovery.beat()

    [line] = _lines(log_output(), "redis")
    assert line["level"] == "warning"
    assert (line["outbox"], line["replies"]) == (len(queued), 1)


async def _accept(hub: Hub, n: int) -> int:
    reply = InboundReply(provider="sandbox", provider_msg_id=f"lost-{n}",
                         sender=f"+861370000{n:04d}", text=QUESTION)  # fmt: skip
    accepted = await accept_reply(hub.db, hub.queue, hub.clock, ChannelName.SANDBOX, reply)
    return accepted.reply_id


async def _flush(redis: Redis, keys: RedisKeys) -> None:
    """What a FLUSHALL does to the hub (the shared test server keeps other tests' keys)."""
    doomed = [key async for key in redis.scan_iter(match=keys.pattern(), count=1000)]
    await redis.delete(*doomed)


async def test_a_rebuild_that_fails_is_tried_again_on_the_next_beat(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    queued = await queued_ids(hub.outbox, notice("all"))
    await _flush(redis_client, redis_keys)
    calls = 0

    async def fails_once(*args: Any) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise QueueError("Redis: enqueueing on sandbox: ConnectionError")
        return await requeue_lost(*args)

    monkeypatch.setattr(runtime, "requeue_lost", fails_once)
    with pytest.raises(QueueError):
        await hub.dispatcher.recovery.beat()  # the epoch set, then the rebuild failed
    await hub.dispatcher.recovery.beat()  # the next beat sees a new epoch again

    assert calls == 2
    on_stream = {e.message_id for e in await hub.queue.claim("sandbox", "w", 100)}
    assert on_stream == set(queued)
