"""Aliyun SMS ``up``: the opt-out follows the reply as stored, on SQLite and PostgreSQL.

``accept_reply`` stores a reply without control characters, so ``T\\x00D`` is stored as ``TD``;
the webhook decided on the raw text and recorded no opt-out for what the reply list shows as
TD. The sender needs no cleaning here: a phone number that is not 5–15 ASCII digits (a NUL in
it, or 5,000 digits) is refused with 400 before anything is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.fakes.aliyun_sms import AliyunSmsFake
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import Contact, ContactOptOut, InboundReply
from tests.seed import seed_registry
from tests.web.test_webhook_aliyun import (
    ANSWER,
    KEY_ID,
    KEY_SECRET,
    SIGN,
    aliyun_settings,
    count,
    make_app,
    post,
    url,
)


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    return queue


@pytest.fixture
def fake(clock: FixedClock) -> AliyunSmsFake:
    return AliyunSmsFake(KEY_ID, KEY_SECRET, sign_name=SIGN, clock=lambda: clock.now().timestamp())


@pytest.mark.parametrize("text", ["T\x00D", "\x07退订\x00"], ids=["nul", "bell-and-nul"])
async def test_an_unsubscribe_word_with_control_characters_records_the_opt_out(
    write_config: Callable[..., Path], any_db: Database, redis_client: Redis,
    redis_keys: RedisKeys, queue: Queue, clock: FixedClock, fake: AliyunSmsFake, text: str,
) -> None:  # fmt: skip
    app = make_app(aliyun_settings(write_config, []), any_db, redis_client, redis_keys, queue,
                   clock)  # fmt: skip
    await seed_registry(any_db)

    assert (await post(app, url("up"), [fake.up("13900000003", text)])).json() == ANSWER

    async with any_db.read() as session:
        [stored] = (await session.scalars(sa.select(InboundReply))).all()
        opt_outs = (
            await session.execute(sa.select(ContactOptOut.source, Contact.mobile).join(Contact))
        ).all()
    assert stored.text in ("TD", "退订")
    assert [tuple(row) for row in opt_outs] == [("aliyun_up", "+8613900000003")]


@pytest.mark.parametrize("number", ["1390000000\x003", "1" * 5000], ids=["nul", "5000-digits"])
async def test_a_phone_number_with_nul_or_too_many_digits_is_400_and_stores_nothing(
    write_config: Callable[..., Path], any_db: Database, redis_client: Redis,
    redis_keys: RedisKeys, queue: Queue, clock: FixedClock, fake: AliyunSmsFake, number: str,
) -> None:  # fmt: skip
    app = make_app(aliyun_settings(write_config, []), any_db, redis_client, redis_keys, queue,
                   clock)  # fmt: skip
    await seed_registry(any_db)
    item = {**fake.up("13900000003", "TD"), "phone_number": number}

    response = await post(app, url("up"), [item])

    assert response.status_code == 400
    assert "(phone_number)" in response.json()["detail"]
    assert await count(any_db, InboundReply) == 0
    assert await count(any_db, ContactOptOut) == 0
