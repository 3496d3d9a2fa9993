"""The SMS webhooks' lean path (hub.web.webhooks.lean) answers exactly as the FastAPI routes do.

Each request goes, at the ASGI level, to the app ``create_app`` builds (SMS callbacks served
past FastAPI's routing) and to an app of the FastAPI routes alone behind the same body limit
(the app before the lean path); the answers must be the same bytes: status, headers, body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.fakes.tencent_sms_push import reply_event
from hub.app.config import load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import InboundReply as StoredReply
from hub.web.app import create_app
from hub.web.body_limit import BodyLimitMiddleware
from hub.web.webhooks import sms_aliyun, sms_tencent
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.limits import WEBHOOK_BODY_LIMITS
from tests.seed import seed_registry

TC = "/webhooks/sms/tencent/lean-path-secret"
AL = "/webhooks/sms/aliyun/lean-path-secret"
PEER = "127.0.0.1"
ELSEWHERE = "192.0.2.7"  # outside Tencent's allow-list below


def env_secret(name: str, default: str) -> str:
    """A config value read from the environment (secrets only from there), with a default."""
    return f"${{HUB_TEST_LEAN_{name}:-{default}}}"


# Both SMS providers on, one path secret; Tencent takes callbacks from 127.0.0.1 only.
SMS: dict[str, Any] = {
    "tencent": {"enabled": True, "sdk_app_id": "1400000000", "sign_name": "主动服务",
                "secret_id": env_secret("TC_ID", "AKIDtest"),
                "secret_key": env_secret("TC_KEY", "k"),
                "path_secret": env_secret("PATH", "lean-path-secret"), "allowed_ips": [PEER]},
    "aliyun": {"enabled": True, "access_key_id": env_secret("AL_ID", "LTAI-test"),
               "access_key_secret": env_secret("AL_KEY", "s"), "sign_name": "主动服务",
               "path_secret": env_secret("PATH", "lean-path-secret")},
}  # fmt: skip


@pytest.fixture
async def ctx(write_config: Callable[..., Path], db: Database, redis_client: Redis,
              redis_keys: RedisKeys, clock: FixedClock) -> WebhookContext:  # fmt: skip
    """The webhooks' components on the seeded registry, the inbound stream's group made."""
    settings = load_settings(write_config(channels={"sms": SMS}))
    ctx = WebhookContext(settings, db, redis_client, redis_keys,
                         Queue(redis_client, redis_keys, clock=clock), clock)  # fmt: skip
    await ctx.queue.ensure_groups([])
    await seed_registry(db)
    return ctx


def routes_alone(ctx: WebhookContext) -> FastAPI:
    """The SMS routes through FastAPI behind the same body limit: the app before the lean path."""
    app = FastAPI()
    app.add_middleware(BodyLimitMiddleware, routes=WEBHOOK_BODY_LIMITS)
    app.include_router(sms_tencent.router(ctx))
    app.include_router(sms_aliyun.router(ctx))
    return app


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    routed: bool  # FastAPI's router matched a route (it put the endpoint in the scope)


async def call(
    app: Any, method: str, path: str, chunks: Sequence[bytes], *, declared: bool = True,
    peer: str = PEER,
) -> Answer:  # fmt: skip
    """One request at the ASGI level, the body in ``chunks``; the answer as sent."""
    body = b"".join(chunks)
    headers = [(b"host", b"hub"), (b"content-type", b"application/json")]
    if declared:
        headers.append((b"content-length", str(len(body)).encode()))
    scope: dict[str, Any] = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "headers": headers, "client": (peer, 40000), "server": ("hub", 80),
    }  # fmt: skip
    pending = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks or [b""])
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], list(start["headers"]), content, "endpoint" in scope)


def tencent_reply(clock: FixedClock, n: int) -> bytes:
    at = clock.now() - timedelta(minutes=1)
    event = reply_event("+8613900000001", f"第{n}条", at=at, sign="主动服务", extend=str(n))
    return json.dumps(event, ensure_ascii=False).encode()


def aliyun_up(n: int) -> bytes:
    item = {"phone_number": "13900000002", "send_time": "2026-11-23 10:00:00", "content": "好的",
            "sign_name": "主动服务", "dest_code": "", "sequence_id": n}  # fmt: skip
    return json.dumps([item], ensure_ascii=False).encode()


def requests(clock: FixedClock, n: int) -> list[tuple[str, str, list[bytes], dict[str, Any]]]:
    """(method, path, body chunks, call options): every kind of answer the SMS routes give."""
    big = b"x" * (sms_tencent.MAX_BODY + 1)
    return [
        ("POST", f"{TC}/reply", [tencent_reply(clock, n)], {}),
        ("POST", f"{TC}/reply", [tencent_reply(clock, n)], {}),  # Tencent's redelivery
        ("POST", f"{TC}/reply", [tencent_reply(clock, n + 1)], {"peer": ELSEWHERE}),
        ("POST", "/webhooks/sms/tencent/wrong/reply", [b"not json"], {}),  # 403 before 400
        ("POST", f"{TC}/reply", [b'{"mobile": 5}'], {}),
        ("POST", f"{TC}/reply", [b"not json"], {}),
        ("POST", f"{TC}/status", [b"[]"], {}),
        ("POST", f"{TC}/status", [b'[{"mobile": 1}]'], {}),
        ("POST", f"{TC}/reply", [big], {}),  # declared: 413 before the body is read
        ("POST", f"{TC}/reply", [big[:60_000]] * 20, {"declared": False}),  # cut off: 413
        ("POST", f"{AL}/up", [aliyun_up(n)], {}),
        ("POST", f"{AL}/up", [b'[{"phone_number": 1}]'], {}),
        ("POST", "/webhooks/sms/aliyun/wrong/up", [aliyun_up(n + 1)], {}),
        ("POST", f"{AL}/report", [b"[]"], {}),  # an empty push: 400
        ("GET", f"{TC}/reply", [], {}),  # 405, by FastAPI
        ("POST", f"{TC}/reply/", [tencent_reply(clock, n + 2)], {}),  # FastAPI redirects
        ("POST", "/webhooks/sms/tencent//reply", [tencent_reply(clock, n + 3)], {}),
        ("POST", f"{TC}/other", [b"{}"], {}),
    ]


async def stored(db: Database) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(StoredReply.provider, StoredReply.provider_msg_id).order_by(StoredReply.id)
        )
        return [(row.provider, row.provider_msg_id) for row in rows]


async def test_every_sms_answer_is_byte_identical_to_the_fastapi_routes(
    ctx: WebhookContext, db: Database, redis_client: Redis, clock: FixedClock
) -> None:
    lean = create_app(db, redis_client, metrics=CollectorRegistry(), webhooks=ctx, clock=clock)
    before = routes_alone(ctx)

    by_lean = [await call(lean, m, p, c, **o) for m, p, c, o in requests(clock, 100)]
    lean_rows = await stored(db)
    by_routes = [await call(before, m, p, c, **o) for m, p, c, o in requests(clock, 200)]

    assert [(a.status, a.headers, a.body) for a in by_lean] == [
        (a.status, a.headers, a.body) for a in by_routes
    ]
    assert [a.status for a in by_lean] == [
        200, 200, 403, 403, 400, 400, 200, 400, 413, 413, 200, 400, 403, 400, 405, 307, 404, 404,
    ]  # fmt: skip
    # One reply of each provider stored by each app; the redelivery and the refused stored none.
    assert len(lean_rows) == 2
    assert len(await stored(db)) == 4
    # The lean path served the POSTs to its routes; FastAPI routed them before it.
    assert [a.routed for a in by_lean[:14]] == [False] * 14
    assert all(a.routed for a in by_routes[:8])


async def test_a_request_fastapi_traces_goes_through_its_routes(
    ctx: WebhookContext, db: Database, redis_client: Redis, clock: FixedClock
) -> None:
    """With OpenTelemetry on, FastAPI's span names the route: such requests are routed."""
    app = create_app(db, redis_client, metrics=CollectorRegistry(), webhooks=ctx, clock=clock)
    middleware = app.build_middleware_stack()

    async def traced(scope: Any, receive: Any, send: Any) -> None:
        scope["fastapi.telemetry"] = object()  # what FastAPI sets when it observes a request
        await middleware(scope, receive, send)

    answer = await call(traced, "POST", f"{TC}/reply", [tencent_reply(clock, 7)])
    assert (answer.status, json.loads(answer.body)) == (200, sms_tencent.OK)
    assert answer.routed
    assert len(await stored(db)) == 1
