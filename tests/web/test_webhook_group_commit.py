"""Concurrent webhook requests share commits (the group commit of hub.inbound.accept_batch), and
every reply is still stored once, queued once and answered only after it is stored."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.fakes.tencent_sms_push import reply_event
from hub.app.config import load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import InboundReply as StoredReply
from hub.web.webhooks import sms_aliyun, sms_tencent
from hub.web.webhooks.context import WebhookContext
from tests.seed import seed_registry

PATH_SECRET = "path-secret-group-commit"
MOBILES = ("+8613900000001", "+8613900000002", "+8613900000003", "+8613900000012")


@pytest.fixture
async def ctx(
    write_config: Callable[..., Path], any_db: Database, redis_client: Redis,
    redis_keys: RedisKeys, clock: FixedClock,
) -> WebhookContext:  # fmt: skip
    """Both SMS providers on, the registry seeded, the inbound stream's group made."""
    await seed_registry(any_db)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])

    def secret(name: str, default: str) -> str:  # secrets only from the environment
        return f"${{HUB_TEST_GROUP_COMMIT_{name}:-{default}}}"

    sms = {
        "tencent": {"enabled": True, "sdk_app_id": "1400000000", "sign_name": "主动服务",
                    "secret_id": secret("TENCENT_ID", "AKIDtest"),
                    "secret_key": secret("TENCENT_KEY", "k"),
                    "path_secret": secret("PATH", PATH_SECRET)},
        "aliyun": {"enabled": True, "access_key_id": secret("ALIYUN_ID", "LTAI-test"),
                   "access_key_secret": secret("ALIYUN_KEY", "s"), "sign_name": "主动服务",
                   "path_secret": secret("PATH", PATH_SECRET)},
    }  # fmt: skip
    settings = load_settings(write_config(channels={"sms": sms}))
    return WebhookContext(settings, any_db, redis_client, redis_keys, queue, clock)


def client_of(ctx: WebhookContext) -> httpx.AsyncClient:
    app = FastAPI()
    app.include_router(sms_tencent.router(ctx))
    app.include_router(sms_aliyun.router(ctx))
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://hub")


async def stored_ids(db: Database) -> list[int]:
    async with db.read() as session:
        return list((await session.scalars(sa.select(StoredReply.id))).all())


async def test_concurrent_reply_callbacks_are_each_stored_once_and_queued_once(
    ctx: WebhookContext, clock: FixedClock
) -> None:
    at = clock.now() - timedelta(minutes=1)
    events = [
        reply_event(
            MOBILES[n % len(MOBILES)], f"第{n}条回复", at=at, sign="主动服务", extend=str(n)
        )
        for n in range(40)
    ]
    # Tencent redelivers a quarter of them while the first deliveries are still in flight.
    requests = [*events, *events[::4]]

    async with client_of(ctx) as client:
        answers = await asyncio.gather(*(
            client.post(f"/webhooks/sms/tencent/{PATH_SECRET}/reply", json=event)
            for event in requests
        ))  # fmt: skip

    assert [(a.status_code, a.json()["result"]) for a in answers] == [(200, 0)] * len(requests)
    stored = await stored_ids(ctx.db)
    assert len(stored) == len(events)
    queued = [e.reply_id for e in await ctx.queue.claim_inbound("w", 1000, None)]
    assert sorted(queued) == sorted(stored)  # each once
    assert ctx.accepter.stats.replies == len(requests)
    assert ctx.accepter.stats.batches < len(requests)  # they shared commits


async def test_an_aliyun_push_of_many_replies_is_stored_once_each_with_its_repeats_skipped(
    ctx: WebhookContext, clock: FixedClock
) -> None:
    items: list[dict[str, Any]] = [
        {"phone_number": MOBILES[n % len(MOBILES)][3:], "send_time": "2026-11-23 10:00:00",
         "content": f"回复{n}", "sign_name": "主动服务", "dest_code": "", "sequence_id": 1000 + n}
        for n in range(100)
    ]  # fmt: skip
    push = json.dumps([*items, *items[:10]], ensure_ascii=False)  # a push repeating ten items

    async with client_of(ctx) as client:
        answer = await client.post(
            f"/webhooks/sms/aliyun/{PATH_SECRET}/up", content=push,
            headers={"content-type": "application/json"},
        )  # fmt: skip

    assert (answer.status_code, answer.json()) == (200, sms_aliyun.ANSWER)
    stored = await stored_ids(ctx.db)
    assert len(stored) == 100
    queued = [e.reply_id for e in await ctx.queue.claim_inbound("w", 1000, None)]
    assert sorted(queued) == sorted(stored)
    assert ctx.accepter.stats.batches == 2  # 110 replies, at most 64 a transaction
