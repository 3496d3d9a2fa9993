"""Bodies are limited before they are read: the whole app (``create_app``) through httpx's ASGI
transport, which hands the route the body chunk by chunk as a server does.

A body whose ``Content-Length`` is over its route's limit is 413 before one byte is read; a
chunked body without ``Content-Length`` is cut off with 413 once it passes the limit. Either way
nothing is stored. Real SQLite, real Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.fakes.wechat_push import WechatPush
from channels.telegram.channel import build_bot
from channels.telegram.settings import TelegramSettings
from hub.app.config import load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import InboundReply
from hub.web.app import create_app
from hub.web.body_limit import DEFAULT_MAX_BODY, BodyLimitMiddleware
from hub.web.webhooks import sms_aliyun, sms_tencent, wechat
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.limits import TELEGRAM_MAX_BODY
from tests.web import test_webhook_wechat as wechat_hooks

CHUNK = 16 * 1024
TC_PATH, AL_PATH, TG_SECRET = "tc-path-secret-1", "al-path-secret-1", "tg-secret-0123456789"


@dataclass
class Sent:
    """A request body handed out chunk by chunk, counting what the app took."""

    size: int
    taken: int = 0

    async def chunks(self) -> AsyncIterator[bytes]:
        while self.taken < self.size:
            chunk = b"[" * min(CHUNK, self.size - self.taken)
            self.taken += len(chunk)
            yield chunk


@dataclass
class Hub:
    client: httpx.AsyncClient
    db: Database
    clock: FixedClock

    async def post(self, path: str, sent: Sent, *, declared: bool, **headers: str) -> int:
        """POST ``sent``: with ``Content-Length`` when ``declared``, else chunked."""
        if declared:
            headers["content-length"] = str(sent.size)
        response = await self.client.post(path, content=sent.chunks(), headers=headers)
        if response.status_code == 413:  # the /api/v1 error handler has its own JSON shape
            assert "请求体过大 (request body too large)" in response.json().values()
        return response.status_code

    async def replies(self) -> int:
        async with self.db.read() as session:
            return int(await session.scalar(sa.select(sa.func.count(InboundReply.id))) or 0)


@pytest.fixture
async def hub(
    write_config: Callable[..., Path], db: Database, redis_client: Redis,
    redis_keys: RedisKeys, clock: FixedClock,
) -> AsyncIterator[Hub]:  # fmt: skip
    channels: dict[str, Any] = {
        "wechat": {"apps": {"main": {
            "enabled": True, "kind": "official_account", "app_id": wechat_hooks.OA_APPID,
            "secret": "${OA_SECRET}", "token": "${OA_TOKEN}", "encoding_aes_key": "${OA_KEY}",
        }}},
        "sms": {
            "tencent": {"enabled": True, "secret_id": "${TC_ID}", "secret_key": "${TC_KEY}",
                        "sdk_app_id": "1400000000", "sign_name": "主动服务",
                        "path_secret": "${TC_PATH}"},
            "aliyun": {"enabled": True, "access_key_id": "${AL_ID}",
                       "access_key_secret": "${AL_KEY}", "sign_name": "主动服务",
                       "path_secret": "${AL_PATH}"},
        },
        "telegram": {"enabled": True, "token": "${TG_TOKEN}", "webhook_secret": "${TG_SECRET}"},
    }  # fmt: skip
    env = {**wechat_hooks.SECRETS, "TC_ID": "AKIDtest", "TC_KEY": "k", "TC_PATH": TC_PATH,
           "AL_ID": "LTAI-test", "AL_KEY": "k", "AL_PATH": AL_PATH,
           "TG_TOKEN": "123456789:AAHtest-token", "TG_SECRET": TG_SECRET}  # fmt: skip
    settings = load_settings(write_config(channels=channels), env=env)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    ctx = WebhookContext(settings, db, redis_client, redis_keys, queue, clock)
    # Never called: every request here is refused before the update is read.
    bot = build_bot(TelegramSettings(token=env["TG_TOKEN"], api_base="http://127.0.0.1:9"))
    app = create_app(db, redis_client, metrics=CollectorRegistry(), webhooks=ctx,
                     telegram_bot=bot, clock=clock)  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield Hub(client, db, clock)
    finally:
        await bot.session.close()


WECHAT = "/webhooks/wechat/main?signature=0&timestamp=0&nonce=0"
ROUTES = [  # path, its limit, headers a sender would bring
    pytest.param(WECHAT, wechat.MAX_BODY, {}, id="wechat"),
    pytest.param(f"/webhooks/sms/tencent/{TC_PATH}/reply", sms_tencent.MAX_BODY, {}, id="tencent"),
    pytest.param(f"/webhooks/sms/aliyun/{AL_PATH}/up", sms_aliyun.MAX_BODY, {}, id="aliyun"),
    pytest.param(
        "/webhooks/telegram",
        TELEGRAM_MAX_BODY,
        {"x-telegram-bot-api-secret-token": TG_SECRET},
        id="telegram",
    ),
    pytest.param(
        "/api/v1/tickets/X/resolve",
        DEFAULT_MAX_BODY,
        {"content-type": "application/json"},
        id="api-without-token",
    ),
]


@pytest.mark.parametrize(("path", "limit", "headers"), ROUTES)
async def test_a_declared_body_over_the_limit_is_413_before_it_is_read(
    hub: Hub, path: str, limit: int, headers: dict[str, str]
) -> None:
    sent = Sent(limit + 1)
    assert await hub.post(path, sent, declared=True, **headers) == 413
    assert sent.taken == 0
    assert await hub.replies() == 0


@pytest.mark.parametrize(("path", "limit", "headers"), ROUTES)
async def test_a_chunked_body_over_the_limit_is_cut_off_with_413(
    hub: Hub, path: str, limit: int, headers: dict[str, str]
) -> None:
    sent = Sent(limit + 4 * 1024 * 1024)
    assert await hub.post(path, sent, declared=False, **headers) == 413
    # No more than the limit and the chunk that passed it was read (httpx reads one ahead).
    assert sent.taken <= limit + 2 * CHUNK
    assert await hub.replies() == 0


async def test_a_genuine_callback_under_the_limit_is_stored(hub: Hub) -> None:
    push = WechatPush.official_account(
        token=wechat_hooks.OA_TOKEN, app_id=wechat_hooks.OA_APPID,
        encoding_aes_key=wechat_hooks.OA_KEY, clock=hub.clock,
    )  # fmt: skip
    request = push.text(wechat_hooks.OPENID, "5")
    response = await push.send(request, "/webhooks/wechat/main", client=hub.client)
    assert (response.status_code, response.text) == (200, "success")
    assert await hub.replies() == 1


def test_the_longest_prefix_decides_the_limit() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    limits = BodyLimitMiddleware(app, default=100, routes={"/a/": 10, "/a/b/": 1000})
    assert [limits.limit_for(p) for p in ("/a/x", "/a/b/c", "/other")] == [10, 1000, 100]


@pytest.mark.parametrize("value", [b"12x", b"\xc2\xb2", b"-1", b""])
async def test_a_content_length_that_is_not_a_number_is_400(value: bytes) -> None:
    called = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal called
        called = True

    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> MutableMapping[str, Any]:
        raise AssertionError("the body must not be read")

    scope = {"type": "http", "path": "/api/v1/x", "headers": [(b"content-length", value)]}
    await BodyLimitMiddleware(app)(scope, receive, send)
    assert not called
    assert sent[0]["status"] == 400
