"""The webhooks' group commit: replies of concurrent requests share a transaction, and each
request is still told what happened to its own reply."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import cast

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import InboundReply
from hub.core.clock import FixedClock
from hub.core.errors import QueueError, StorageError
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.inbound.accept import Accepted, accept_reply, requeue_unclassified
from hub.inbound.accept_batch import ReplyAccepter
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import Contact, Message
from hub.store.models import InboundReply as StoredReply
from tests.seed import seed_registry

UNKNOWN = "+8613700000000"


@pytest.fixture
def db(any_db: Database) -> Database:
    return any_db


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    return queue


def sms(provider_id: str, sender: str = "+8613900000001", **raw: object) -> InboundReply:
    return InboundReply(provider="tencent", provider_msg_id=provider_id, sender=sender,
                        text=f"回复{provider_id}", raw={"id": provider_id, **raw})  # fmt: skip


async def at_once(
    accepter: ReplyAccepter, replies: Sequence[InboundReply]
) -> list[Accepted | BaseException]:
    """Every reply from its own concurrent request, as the webhooks receive them."""
    return await asyncio.gather(
        *(accepter.accept(ChannelName.SMS, r) for r in replies), return_exceptions=True
    )


def outcomes(results: Sequence[Accepted | BaseException]) -> list[tuple[int, str] | str]:
    """Each request's answer: (reply id, new or duplicate), or the error's class."""
    return [
        (r.reply_id, "duplicate" if r.duplicate else "new")
        if isinstance(r, Accepted)
        else type(r).__name__
        for r in results
    ]


async def stored(db: Database) -> dict[str, StoredReply]:
    async with db.read() as session:
        rows = (await session.scalars(sa.select(StoredReply))).all()
    return {row.provider_msg_id: row for row in rows}


async def queued(queue: Queue) -> list[int]:
    return [entry.reply_id for entry in await queue.claim_inbound("w", 1000, None)]


async def sent(
    db: Database, clock: FixedClock, *messages: tuple[str, timedelta, MessageStatus]
) -> list[int]:
    """Messages to contacts by mobile, each (mobile, how long ago, status); their ids."""
    now = clock.now()
    async with db.write() as session:
        found = (await session.scalars(sa.select(Contact))).all()
        contacts = {c.mobile: c for c in found}
        rows = [
            Message(idempotency_key=f"m{n}", kind=MessageKind.NOTICE, channel=ChannelName.SMS,
                    address=mobile, status=status, body="请于月底前完成年报公示", params={},
                    attempts=1, sent_at=now - ago, contact_id=contacts[mobile].id,
                    enterprise_id=contacts[mobile].enterprise_id, created_at=now - ago,
                    updated_at=now - ago)
            for n, (mobile, ago, status) in enumerate(messages)
        ]  # fmt: skip
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def test_concurrent_replies_share_one_transaction_each_linked_stored_and_queued(
    db: Database, queue: Queue, clock: FixedClock
) -> None:
    ids = await seed_registry(db)
    _, latest, _, _, own = await sent(
        db, clock,
        ("+8613900000001", timedelta(days=2), MessageStatus.DELIVERED),
        ("+8613900000001", timedelta(hours=1), MessageStatus.SENT),  # the one answered
        ("+8613900000001", timedelta(minutes=1), MessageStatus.FAILED),
        ("+8613900000003", timedelta(days=40), MessageStatus.SENT),
        ("+8613900000012", timedelta(days=1), MessageStatus.DELIVERED),
    )  # fmt: skip
    accepter = ReplyAccepter(db, queue, clock)

    replies = [sms("a"), sms("b", "+8613900000003"), sms("c", UNKNOWN), sms("d", "+8613900000012")]
    results = await at_once(accepter, replies)

    assert (accepter.stats.batches, accepter.stats.largest) == (1, 4)
    rows = await stored(db)
    assert outcomes(results) == [(rows[key].id, "new") for key in "abcd"]
    async with db.read() as session:
        contact_ids = dict((await session.execute(sa.select(Contact.mobile, Contact.id))).all())
    linked = {key: (r.contact_id, r.enterprise_id, r.in_reply_to) for key, r in rows.items()}
    assert linked == {
        "a": (contact_ids["+8613900000001"], ids["甲机械"], latest),
        "b": (contact_ids["+8613900000003"], ids["丙软件"], None),  # 40 days: out of the window
        "c": (None, None, None),
        "d": (contact_ids["+8613900000012"], ids["乙商贸"], own),
    }
    assert [r.contact_id for r in results if isinstance(r, Accepted)] == [
        linked[key][0] for key in "abcd"
    ]
    assert sorted(await queued(queue)) == sorted(row.id for row in rows.values())


async def test_the_same_reply_twice_in_one_batch_is_stored_and_queued_once(
    db: Database, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(db)
    accepter = ReplyAccepter(db, queue, clock)

    results = await at_once(accepter, [sms("x"), sms("y"), sms("x"), sms("x")])

    assert accepter.stats.batches == 1
    rows = await stored(db)
    x, y = rows["x"].id, rows["y"].id
    assert outcomes(results) == [(x, "new"), (y, "new"), (x, "duplicate"), (x, "duplicate")]
    assert set(rows) == {"x", "y"}
    assert sorted(await queued(queue)) == sorted([x, y])


async def test_a_reply_stored_before_is_a_duplicate_of_that_row_and_not_queued_again(
    db: Database, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(db)
    before = await accept_reply(db, queue, clock, ChannelName.SMS, sms("old"))
    await queued(queue)
    accepter = ReplyAccepter(db, queue, clock)

    old, new = await at_once(accepter, [sms("old"), sms("new")])

    assert old == Accepted(before.reply_id, duplicate=True, contact_id=None)
    new_id = (await stored(db))["new"].id
    assert outcomes([new]) == [(new_id, "new")]
    assert await queued(queue) == [new_id]


async def test_a_bad_reply_fails_its_own_request_and_the_others_of_its_batch_are_stored(
    db: Database, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(db)
    accepter = ReplyAccepter(db, queue, clock)
    # A value JSON cannot hold in ``raw`` fails the INSERT of the whole batch.
    bad = sms("bad", unserialisable=object())

    results = await at_once(accepter, [sms("g1"), bad, sms("g2"), sms("g1")])

    rows = await stored(db)
    g1, g2 = rows["g1"].id, rows["g2"].id
    assert outcomes(results) == [(g1, "new"), "StorageError", (g2, "new"), (g1, "duplicate")]
    assert accepter.stats.retried_alone == 4
    assert set(rows) == {"g1", "g2"}
    assert sorted(await queued(queue)) == sorted([g1, g2])
    # The provider retries the bad one alone; it still fails, nothing else is touched.
    with pytest.raises(StorageError):
        await accepter.accept(ChannelName.SMS, bad)


class _RedisAway(Queue):
    """A queue whose pushes fail, as when Redis is away for a moment."""

    async def push_inbound(self, reply_ids: Sequence[int]) -> list[str]:
        raise QueueError("Redis: pushing replies: ConnectionError")


async def test_a_failed_push_fails_the_requests_but_the_replies_stay_stored_for_the_reconciler(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(db)
    accepter = ReplyAccepter(db, _RedisAway(redis_client, redis_keys, clock=clock), clock)

    results = await at_once(accepter, [sms("p1"), sms("p2")])

    assert outcomes(results) == ["QueueError", "QueueError"]
    rows = await stored(db)
    assert set(rows) == {"p1", "p2"}
    # The provider's retry finds them stored (a duplicate is answered 200, pushes nothing) ...
    retried = await ReplyAccepter(db, queue, clock).accept(ChannelName.SMS, sms("p1"))
    assert retried.duplicate
    # ... and the reconciler queues what Redis never got.
    assert await requeue_unclassified(db, queue) == 2
    assert sorted(await queued(queue)) == sorted(row.id for row in rows.values())


async def test_many_requests_over_several_batches_each_get_their_own_reply_id(
    db: Database, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(db)
    accepter = ReplyAccepter(db, queue, clock, max_batch=8)
    replies = [sms(f"m{n}", f"+86139000000{n % 4:02d}") for n in range(30)]

    first = await at_once(accepter, replies)
    second = await at_once(accepter, replies)  # every one redelivered

    assert accepter.stats.largest == 8
    assert accepter.stats.batches == 8  # 30 in batches of 8, twice
    rows = await stored(db)
    assert outcomes(first) == [(rows[f"m{n}"].id, "new") for n in range(30)]
    assert outcomes(second) == [(rows[f"m{n}"].id, "duplicate") for n in range(30)]
    assert sorted(await queued(queue)) == sorted(row.id for row in rows.values())


class _LockedElsewhere:
    """The database with its write lock held elsewhere (the worker's chunk) until ``free``."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.asked = asyncio.Event()
        self.free = asyncio.Event()

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        self.asked.set()
        async with self.db.write() as session:
            await self.free.wait()  # as BEGIN IMMEDIATE waits for the lock
            yield session


async def test_replies_that_come_while_a_batch_waits_for_the_lock_share_its_commit(
    db: Database, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(db)
    locked = _LockedElsewhere(db)
    accepter = ReplyAccepter(cast(Database, locked), queue, clock)

    first = asyncio.create_task(accepter.accept(ChannelName.SMS, sms("w1")))
    await locked.asked.wait()  # its batch waits for the lock
    later = [asyncio.create_task(accepter.accept(ChannelName.SMS, sms(f"w{n}"))) for n in (2, 3)]
    await asyncio.sleep(0.01)
    locked.free.set()
    results = await asyncio.gather(first, *later)

    # One commit for all three, not the first alone and then the others after it.
    assert (accepter.stats.batches, accepter.stats.largest) == (1, 3)
    rows = await stored(db)
    assert outcomes(results) == [(rows[f"w{n}"].id, "new") for n in (1, 2, 3)]
    assert sorted(await queued(queue)) == sorted(row.id for row in rows.values())
