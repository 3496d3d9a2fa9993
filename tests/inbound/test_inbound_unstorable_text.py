"""A reply with NUL, control characters or a lone surrogate is stored cleaned, on both databases.

PostgreSQL refuses NUL in text (SQLite takes it), so before the accept boundary cleaned
replies such a reply failed the webhook with a 5xx on PostgreSQL, and the provider retried it
forever.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import InboundReply as StoredReply
from tests.seed import seed_registry


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    return queue


async def stored(db: Database, reply_id: int) -> StoredReply:
    async with db.read() as session:
        reply = await session.get(StoredReply, reply_id)
    assert reply is not None
    return reply


async def test_nul_and_control_characters_are_removed_from_a_reply_on_every_database(
    any_db: Database, queue: Queue, clock: FixedClock
) -> None:
    await seed_registry(any_db)
    reply = InboundReply(
        provider="tencent", provider_msg_id="r\x00-1", sender="+8613900000001\x00",
        text="好\x00的\x07，\n谢谢\t", raw={"text": "好\x00的", "k\x00": ["\x00"]},
    )  # fmt: skip

    accepted = await accept_reply(any_db, queue, clock, ChannelName.SMS, reply)

    row = await stored(any_db, accepted.reply_id)
    assert row.text == "好的，\n谢谢\t"  # newline and tab are the reply's layout: kept
    assert (row.provider_msg_id, row.sender) == ("r-1", "+8613900000001")
    assert row.raw == {"text": "好的", "k": [""]}
    assert accepted.contact_id is not None  # the cleaned sender still finds its contact
    # a provider's redelivery of the same reply is recognised as the same one
    again = await accept_reply(any_db, queue, clock, ChannelName.SMS, reply)
    assert again.duplicate
    assert again.reply_id == accepted.reply_id


async def test_a_lone_surrogate_in_a_reply_becomes_a_replacement_character(
    any_db: Database, queue: Queue, clock: FixedClock
) -> None:
    # what json.loads makes of "\ud83d" without its pair (a cut emoji)
    reply = InboundReply(provider="wechat_mp", provider_msg_id="s1", sender="oOpenid",
                         text="好评\ud83d", raw={"Content": "好评\ud83d"})  # fmt: skip

    accepted = await accept_reply(any_db, queue, clock, ChannelName.WECHAT, reply)

    row = await stored(any_db, accepted.reply_id)
    assert row.text == "好评\ufffd"
    assert row.raw == {"Content": "好评\ufffd"}


async def test_a_sender_or_id_longer_than_its_column_is_stored_and_still_deduplicated(
    any_db: Database, queue: Queue, clock: FixedClock
) -> None:
    # PostgreSQL refuses a value longer than VARCHAR(128); SQLite stored the 5,000 digits
    sender, provider_id = "8" * 5000, "m" * 300
    reply = InboundReply(provider="tencent", provider_msg_id=provider_id, sender=sender,
                         text="好", raw={"mobile": sender})  # fmt: skip

    accepted = await accept_reply(any_db, queue, clock, ChannelName.SMS, reply)

    row = await stored(any_db, accepted.reply_id)
    assert len(row.sender) == len(row.provider_msg_id) == 128
    assert row.sender.startswith("8" * 100)
    assert row.raw == {"mobile": sender}  # the whole value is kept where no column limits it
    assert accepted.contact_id is None
    again = await accept_reply(any_db, queue, clock, ChannelName.SMS, reply)
    assert again.duplicate
    assert again.reply_id == accepted.reply_id
    other = InboundReply(provider="tencent", provider_msg_id=provider_id[:-1] + "n",
                         sender=sender, text="好")  # fmt: skip
    assert not (await accept_reply(any_db, queue, clock, ChannelName.SMS, other)).duplicate
