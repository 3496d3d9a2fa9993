"""Replies are stored once per provider id, linked to their contact and message, and queued."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import InboundReply as StoredReply
from tests.pipeline import build, notice, queued_ids, setup
from tests.seed import seed_registry


@pytest.fixture
def db(any_db: Database) -> Database:
    return any_db


def sms(provider_id: str, sender: str = "+8613900000001", text: str = "5") -> InboundReply:
    return InboundReply(provider="tencent", provider_msg_id=provider_id, sender=sender,
                        text=text, raw={"id": provider_id})  # fmt: skip


async def test_a_reply_is_linked_to_its_contact_and_the_message_it_answers(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    ids = await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key"))
    await hub.dispatcher.run_once("sandbox")

    accepted = await accept_reply(db, hub.queue, clock, ChannelName.SMS, sms("r1"))

    assert not accepted.duplicate
    async with db.read() as session:
        stored = await session.get(StoredReply, accepted.reply_id)
    assert stored is not None
    assert stored.enterprise_id == ids["甲机械"]
    assert stored.in_reply_to == message_id
    assert [e.reply_id for e in await hub.queue.claim_inbound("w", 10, None)] == [accepted.reply_id]


async def test_the_same_provider_id_twice_stores_and_queues_one_reply(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    results = await asyncio.gather(
        *(accept_reply(db, queue, clock, ChannelName.SMS, sms("dup")) for _ in range(5))
    )
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.reply_id for r in results}) == 1
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(StoredReply)) == 1
    assert len(await queue.claim_inbound("w", 10, None)) == 1


async def test_a_reply_from_an_unknown_sender_is_still_kept(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    accepted = await accept_reply(db, queue, clock, ChannelName.SMS,
                                  sms("x", sender="+8613700000000"))  # fmt: skip
    assert accepted.contact_id is None
    async with db.read() as session:
        stored = await session.get(StoredReply, accepted.reply_id)
    assert stored is not None
    assert stored.text == "5"
