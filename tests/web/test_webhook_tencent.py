"""Tencent SMS callbacks: the secret path and source allow-list, delivery receipts, replies.

Most tests call the router through httpx's ASGI transport; the last one runs the app on a
real socket and lets the Tencent fake send, receive receipts and push a reply, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.base import OutboundMessage, SendResult
from channels.fakes.tencent_sms import TencentSmsFake
from channels.fakes.tencent_sms_push import (
    push_reply,
    push_status,
    reply_event,
    reports_for,
    status_report,
)
from channels.sms.http_client import HttpClient
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import TencentSmsChannel
from hub.app.config import Settings, load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.receipts import retry_parked
from hub.store.db import Database
from hub.store.models import Contact, Message
from hub.store.models import InboundReply as StoredReply
from hub.web.webhooks import sms_tencent
from hub.web.webhooks.context import WebhookContext
from tests.seed import seed_registry

PATH_SECRET = "path-secret-7f3a9c"
SECRET_ID = "AKIDtest0000000000000000000000000000"
SECRET_KEY = "test-secret-key"
APP_ID = "1400000000"
SIGN = "主动服务"
OK = {"result": 0, "errmsg": "OK"}
# 乙商贸's second contact (tests/seed.py).
MOBILE = "+8613900000012"


def tencent_settings(write_config: Callable[..., Path], **tencent: Any) -> Settings:
    secrets = {
        "secret_id": f"${{HUB_TEST_TENCENT_SECRET_ID:-{SECRET_ID}}}",
        "secret_key": f"${{HUB_TEST_TENCENT_SECRET_KEY:-{SECRET_KEY}}}",
        "path_secret": f"${{HUB_TEST_TENCENT_PATH_SECRET:-{PATH_SECRET}}}",
    }
    section = {"enabled": True, "sdk_app_id": APP_ID, "sign_name": SIGN, **secrets, **tencent}
    return load_settings(write_config(channels={"sms": {"tencent": section}}))


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])  # the inbound stream's group
    return queue


@pytest.fixture
def make_client(
    write_config: Callable[..., Path],
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    queue: Queue,
    clock: FixedClock,
) -> Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    @contextlib.asynccontextmanager
    async def make(**tencent: Any) -> AsyncIterator[httpx.AsyncClient]:
        settings = tencent_settings(write_config, **tencent)
        ctx = WebhookContext(settings, db, redis_client, redis_keys, queue, clock)
        app = FastAPI()
        app.include_router(sms_tencent.router(ctx))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client

    return make


@pytest.fixture
async def client(
    make_client: Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]],
) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        yield client


def url(kind: str, secret: str = PATH_SECRET) -> str:
    return f"/webhooks/sms/tencent/{secret}/{kind}"


def a_reply(clock: FixedClock, text: str = "5", number: str = MOBILE) -> dict[str, Any]:
    return reply_event(number, text, at=clock.now() - timedelta(minutes=1), sign=SIGN)


async def stored_replies(db: Database) -> list[StoredReply]:
    async with db.read() as session:
        return list((await session.scalars(sa.select(StoredReply).order_by(StoredReply.id))).all())


async def sent_message(
    db: Database, clock: FixedClock, serial: str, *, mobile: str = MOBILE, key: str = "m"
) -> int:
    """A message the dispatcher recorded as sent with Tencent's ``SerialNo``."""
    now = clock.now()
    async with db.write() as session:
        contact = (
            await session.execute(sa.select(Contact).where(Contact.mobile == mobile))
        ).scalar_one_or_none()
        row = Message(
            idempotency_key=key, kind=MessageKind.TICKET_FEEDBACK, channel=ChannelName.SMS,
            address=mobile, status=MessageStatus.SENT, body="请评价", params={}, attempts=1,
            provider_message_id=serial, sent_at=now - timedelta(minutes=5),
            contact_id=contact.id if contact else None,
            enterprise_id=contact.enterprise_id if contact else None,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def message_row(db: Database, message_id: int) -> Message:
    async with db.read() as session:
        row = await session.get(Message, message_id)
    assert row is not None
    return row


# --- verification -------------------------------------------------------------------------


async def test_a_wrong_path_secret_is_403_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, clock: FixedClock
) -> None:
    await seed_registry(db)
    message_id = await sent_message(db, clock, "2028:1")
    reply = await client.post(url("reply", "guessed"), json=a_reply(clock))
    report = status_report("2028:1", MOBILE, at=clock.now())
    status = await client.post(url("status", "guessed"), json=[report])
    assert (reply.status_code, status.status_code) == (403, 403)
    assert await stored_replies(db) == []
    assert (await message_row(db, message_id)).status is MessageStatus.SENT


async def test_a_source_outside_the_allow_list_is_403(
    make_client: Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]],
    db: Database,
    clock: FixedClock,
) -> None:
    async with make_client(allowed_ips=["10.1.0.0/16"]) as outside:
        refused = await outside.post(url("reply"), json=a_reply(clock))
    assert refused.status_code == 403
    assert await stored_replies(db) == []
    async with make_client(allowed_ips=["10.1.0.0/16", "127.0.0.1"]) as inside:
        accepted = await inside.post(url("reply"), json=a_reply(clock))
    assert (accepted.status_code, accepted.json()) == (200, OK)
    assert len(await stored_replies(db)) == 1


async def test_a_disabled_provider_takes_no_callbacks(
    make_client: Callable[..., contextlib.AbstractAsyncContextManager[httpx.AsyncClient]],
    db: Database,
    clock: FixedClock,
) -> None:
    async with make_client(enabled=False) as client:
        response = await client.post(url("reply"), json=a_reply(clock))
    assert response.status_code == 403
    assert await stored_replies(db) == []


# --- replies ------------------------------------------------------------------------------


@pytest.fixture
def any_client(
    write_config: Callable[..., Path],
    any_db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    queue: Queue,
    clock: FixedClock,
) -> Callable[[], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]:
    @contextlib.asynccontextmanager
    async def make() -> AsyncIterator[httpx.AsyncClient]:
        ctx = WebhookContext(
            tencent_settings(write_config), any_db, redis_client, redis_keys, queue, clock
        )
        app = FastAPI()
        app.include_router(sms_tencent.router(ctx))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            yield client

    return make


async def test_a_reply_is_stored_once_linked_to_its_contact_and_enterprise(
    any_client: Callable[[], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]],
    any_db: Database,
    queue: Queue,
    clock: FixedClock,
) -> None:
    ids = await seed_registry(any_db)
    answered = await sent_message(any_db, clock, "2028:7")
    event = a_reply(clock, "５ 非常满意")
    async with any_client() as client:
        first = await client.post(url("reply"), json=event)
        again = await client.post(url("reply"), json=event)  # Tencent redelivers
    assert (first.status_code, first.json()) == (200, OK)
    assert (again.status_code, again.json()) == (200, OK)
    [stored] = await stored_replies(any_db)
    async with any_db.read() as session:
        contact = (
            await session.execute(sa.select(Contact).where(Contact.mobile == MOBILE))
        ).scalar_one()
    assert (stored.provider, stored.channel, stored.sender) == ("tencent", ChannelName.SMS, MOBILE)
    assert stored.text == "５ 非常满意"
    assert (stored.contact_id, stored.enterprise_id) == (contact.id, ids["乙商贸"])
    assert stored.in_reply_to == answered
    assert stored.raw == event
    claimed = await queue.claim_inbound("t1", 10, 1)
    assert [e.reply_id for e in claimed] == [stored.id]  # queued once, for the inbound worker


async def test_a_different_reply_from_the_same_number_is_a_new_reply(
    client: httpx.AsyncClient, db: Database, clock: FixedClock
) -> None:
    await seed_registry(db)
    await client.post(url("reply"), json=a_reply(clock, "5"))
    await client.post(url("reply"), json=a_reply(clock, "退订"))
    assert [r.text for r in await stored_replies(db)] == ["5", "退订"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "body"),
        (b"[]", "body"),
        (b'{"nationcode": "86", "text": "5", "time": 1795000000}', "mobile"),
        (b'{"mobile": "13900000012", "text": "5", "time": 1795000000}', "nationcode"),
        (b'{"mobile": "13900000012", "nationcode": "86", "time": 1795000000}', "text"),
        (b'{"mobile": "13900000012", "nationcode": "86", "text": "5", "time": "soon"}', "time"),
        (b'{"mobile": "1390000x", "nationcode": "86", "text": "5", "time": 1795000000}', "mobile"),
    ],
)
async def test_a_malformed_reply_is_400_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, body: bytes, field: str
) -> None:
    response = await client.post(
        url("reply"), content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["result"] != 0
    assert f"（{field}）" in response.json()["errmsg"]
    assert await stored_replies(db) == []


# --- delivery receipts --------------------------------------------------------------------


async def test_receipts_set_messages_delivered_or_failed(
    client: httpx.AsyncClient, db: Database, clock: FixedClock
) -> None:
    await seed_registry(db)
    delivered = await sent_message(db, clock, "2028:11", key="a")
    failed = await sent_message(db, clock, "2028:12", mobile="+8613900000002", key="b")
    reports = [
        status_report("2028:11", MOBILE, at=clock.now()),
        status_report("2028:12", "+8613900000002", at=clock.now(), delivered=False),
    ]
    response = await client.post(url("status"), json=reports)
    assert (response.status_code, response.json()) == (200, OK)
    ok, ko = await message_row(db, delivered), await message_row(db, failed)
    assert ok.status is MessageStatus.DELIVERED
    assert ok.delivered_at == clock.now()  # user_receive_time, Beijing time
    assert ko.status is MessageStatus.FAILED
    assert ko.status_reason is not None
    assert "002" in ko.status_reason

    again = await client.post(url("status"), json=reports)  # a redelivery changes nothing
    assert again.json() == OK
    assert (await message_row(db, delivered)).status is MessageStatus.DELIVERED


async def test_a_receipt_before_its_message_is_parked_then_applied(
    client: httpx.AsyncClient,
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
) -> None:
    report = status_report("2028:21", MOBILE, at=clock.now())
    response = await client.post(url("status"), json=[report])
    assert (response.status_code, response.json()) == (200, OK)
    assert await redis_client.zcard(redis_keys.parked_receipts()) == 1

    message_id = await sent_message(db, clock, "2028:21")  # the send is recorded after all
    assert await retry_parked(db, redis_client, redis_keys, clock) == 1
    assert (await message_row(db, message_id)).status is MessageStatus.DELIVERED
    assert await redis_client.zcard(redis_keys.parked_receipts()) == 0


@pytest.mark.parametrize(
    ("report", "field"),
    [
        ({"report_status": "SUCCESS"}, "sid"),
        ({"sid": "2028:31", "report_status": "DONE"}, "report_status"),
        ({"sid": "2028:31", "report_status": "SUCCESS", "user_receive_time": "today"},
         "user_receive_time"),
    ],
)  # fmt: skip
async def test_a_malformed_receipt_is_400_naming_the_field_and_changes_nothing(
    client: httpx.AsyncClient, db: Database, clock: FixedClock, report: dict[str, str], field: str
) -> None:
    message_id = await sent_message(db, clock, "2028:31")
    good = status_report("2028:31", MOBILE, at=clock.now())
    response = await client.post(url("status"), json=[good, report])
    assert response.status_code == 400
    assert f"（{field}）" in response.json()["errmsg"]
    assert (await message_row(db, message_id)).status is MessageStatus.SENT


# --- end to end over real sockets ---------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers (pytest keeps those)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", ws="none", log_level="warning", access_log=False)
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_message_sent_through_the_fake_is_delivered_and_its_reply_stored_once(
    write_config: Callable[..., Path],
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    queue: Queue,
    clock: FixedClock,
) -> None:
    ids = await seed_registry(db)
    fake = TencentSmsFake(SECRET_ID, SECRET_KEY, sdk_app_id=APP_ID, sign_name=SIGN,
                          clock=lambda: clock.now().timestamp())  # fmt: skip
    ctx = WebhookContext(tencent_settings(write_config), db, redis_client, redis_keys, queue, clock)
    app = FastAPI()
    app.include_router(sms_tencent.router(ctx))
    async with (
        fake.serve() as endpoint,
        serve(app) as hub,
        aiohttp.ClientSession() as http,
        HttpClient() as lean,
    ):
        account = TencentSmsSettings(
            secret_id=SECRET_ID, secret_key=SECRET_KEY, sdk_app_id=APP_ID, sign_name=SIGN,
            endpoint=endpoint,
        )  # fmt: skip
        channel = TencentSmsChannel(account, lean, clock)
        params = {"sms_template_id": "1000201", "sms_params": ["T1"]}
        outbound = OutboundMessage(1, MOBILE, "请评价", "ticket_feedback", params)
        [sent] = await channel.send_batch([outbound])
        assert isinstance(sent, SendResult)
        assert sent.provider_message_id is not None
        message_id = await sent_message(db, clock, sent.provider_message_id)

        [received] = fake.received
        status_url = f"{hub}/webhooks/sms/tencent/{PATH_SECRET}/status"
        answer = await push_status(http, status_url, reports_for(received, at=clock.now()))
        assert (answer.status, answer.body) == (200, OK)

        reply_url = f"{hub}/webhooks/sms/tencent/{PATH_SECRET}/reply"
        event = a_reply(clock, "4")
        first = await push_reply(http, reply_url, event)
        again = await push_reply(http, reply_url, event)
        forged = await push_reply(http, reply_url.replace(PATH_SECRET, "guess"), event)
    assert (first.status, first.body, again.status, again.body) == (200, OK, 200, OK)
    assert forged.status == 403
    assert (await message_row(db, message_id)).status is MessageStatus.DELIVERED
    [stored] = await stored_replies(db)
    assert (stored.text, stored.enterprise_id, stored.in_reply_to) == (
        "4", ids["乙商贸"], message_id
    )  # fmt: skip


# --- hostile input: 400, nothing stored -----------------------------------------------------


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize("kind", ["status", "reply"])
@pytest.mark.parametrize("levels", [100_000, 50])
async def test_json_nested_deeply_is_400_and_stores_nothing(
    client: httpx.AsyncClient, db: Database, clock: FixedClock, kind: str, levels: int
) -> None:
    message_id = await sent_message(db, clock, "2028:41")
    response = await client.post(url(kind), content=deep(levels),
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400
    assert "（body）" in response.json()["errmsg"]
    assert await stored_replies(db) == []
    assert (await message_row(db, message_id)).status is MessageStatus.SENT


async def test_a_reply_carrying_a_deeply_nested_extra_field_is_400(
    client: httpx.AsyncClient, db: Database, clock: FixedClock
) -> None:
    body = json.dumps(a_reply(clock)).encode()[:-1] + b', "extra": ' + deep(50) + b"}"
    response = await client.post(url("reply"), content=body,
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code == 400
    assert await stored_replies(db) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [("time", "²"), ("time", "١٧٩٥٠٠٠٠٠٠"), ("time", 10**30), ("time", "1" + "0" * 30),
     ("time", -1), ("mobile", "1390000001²"), ("nationcode", "８６")],
)  # fmt: skip
async def test_a_reply_whose_numbers_are_not_ascii_digits_is_400_naming_the_field(
    client: httpx.AsyncClient, db: Database, clock: FixedClock, field: str, value: Any
) -> None:
    response = await client.post(url("reply"), json={**a_reply(clock), field: value})
    assert response.status_code == 400
    assert f"（{field}）" in response.json()["errmsg"]
    assert await stored_replies(db) == []
