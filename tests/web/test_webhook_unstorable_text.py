"""A provider's reply holding NUL, or a 5,000-digit sender, is answered 200 on both databases.

PostgreSQL refused both (NUL in text, a value longer than VARCHAR(128)): the webhook answered
500 and the provider redelivered the reply for days. The accept boundary
(``hub.inbound.accept.accept_reply``) now cleans and fits them; this drives it through a real
webhook.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.identifiers import mask_mobile
from hub.core.keys import RedisKeys
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.web.webhooks import sms_tencent
from hub.web.webhooks.context import WebhookContext
from tests.seed import seed_registry
from tests.web.test_webhook_tencent import OK, a_reply, stored_replies, tencent_settings, url


@pytest.mark.parametrize(
    ("text", "number", "stored_text"),
    [
        ("好\x00的\x07\n谢谢", "+8613900000012", "好的\n谢谢"),
        ("5", "+86" + "9" * 5000, "5"),
    ],
    ids=["nul-in-text", "five-thousand-digit-sender"],
)
async def test_the_reply_is_stored_and_the_provider_answered_200(
    write_config: Callable[..., Path],
    any_db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    text: str,
    number: str,
    stored_text: str,
) -> None:
    await seed_registry(any_db)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    ctx = WebhookContext(
        tencent_settings(write_config), any_db, redis_client, redis_keys, queue, clock
    )
    app = FastAPI()
    app.include_router(sms_tencent.router(ctx))
    body = json.dumps(a_reply(clock, text, number=number)).encode()  # NUL as \u0000

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        answer = await client.post(url("reply"), content=body)
        again = await client.post(url("reply"), content=body)  # redelivered: the same reply

    assert (answer.status_code, answer.json()) == (200, OK)
    assert again.status_code == 200
    [stored] = await stored_replies(any_db)
    assert stored.text == stored_text
    assert len(stored.sender) <= 128
    assert len(mask_mobile(stored.sender)) <= 14  # and it is listed masked
