"""Aliyun SMS pushes (``SmsReport``, ``SmsUp``): verified by path secret and source address,
validated whole before anything is stored, stored once, and answered only after storing.

Most tests call the router through httpx's ASGI transport with items built by the loopback
fake (``channels.fakes.aliyun_sms``); the last one runs the whole loop over real HTTP: the
channel sends through the fake, the fake pushes a report and a reply to the hub's webhook.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import ChannelRegistry
from channels.fakes.aliyun_sms import AliyunSmsFake, push
from channels.sms.aliyun import AliyunSmsChannel
from channels.sms.http_client import HttpClient
from channels.sms.settings import AliyunSmsSettings
from hub.app.config import Settings, load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import ChannelName, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.dispatch import Dispatcher
from hub.outbound.settings import DispatchSettings
from hub.store.db import Database
from hub.store.models import Contact, ContactOptOut, InboundReply, Message
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.sms_aliyun import router
from tests.seed import seed_registry

PATH_SECRET = "p4th-Secret-0f-Aliyun"
ANSWER = {"code": 0, "msg": "接收成功"}
KEY_ID, KEY_SECRET, SIGN = "LTAI5tTestKeyId000000000", "test-access-key-secret", "龙沙区营商服务"


def aliyun_settings(write_config: Callable[..., Path], allowed_ips: list[str]) -> Settings:
    aliyun = {
        "enabled": True,
        "access_key_id": "${HUB_TEST_ALIYUN_KEY_ID:-LTAI-test}",
        "access_key_secret": "${HUB_TEST_ALIYUN_KEY_SECRET:-test-secret}",
        "sign_name": "${HUB_TEST_ALIYUN_SIGN:-主动服务}",
        "path_secret": f"${{HUB_TEST_ALIYUN_PATH:-{PATH_SECRET}}}",
        "allowed_ips": allowed_ips,
    }
    return load_settings(write_config(channels={"sms": {"aliyun": aliyun}}))


@pytest.fixture
async def queue(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Queue:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    return queue


def make_app(
    settings: Settings, db: Database, redis: Redis, keys: RedisKeys, queue: Queue, clock: FixedClock
) -> FastAPI:
    app = FastAPI()
    app.include_router(router(WebhookContext(settings, db, redis, keys, queue, clock)))
    return app


@pytest.fixture
def app(
    write_config: Callable[..., Path], db: Database, redis_client: Redis,
    redis_keys: RedisKeys, queue: Queue, clock: FixedClock,
) -> FastAPI:  # fmt: skip
    return make_app(aliyun_settings(write_config, []), db, redis_client, redis_keys, queue, clock)


@pytest.fixture
def fake(clock: FixedClock) -> AliyunSmsFake:
    return AliyunSmsFake(KEY_ID, KEY_SECRET, sign_name=SIGN, clock=lambda: clock.now().timestamp())


async def post(
    app: FastAPI, path: str, items: Any, client: tuple[str, int] = ("127.0.0.1", 4000)
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        if isinstance(items, bytes):
            return await http.post(path, content=items)
        return await http.post(path, json=items)


def url(kind: str, secret: str = PATH_SECRET) -> str:
    return f"/webhooks/sms/aliyun/{secret}/{kind}"


async def count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def sent_message(db: Database, clock: FixedClock, provider_id: str, mobile: str) -> int:
    """A message the channel sent, as the dispatcher records it."""
    now = clock.now()
    async with db.write() as session:
        contact = (
            await session.execute(sa.select(Contact).where(Contact.mobile == mobile))
        ).scalar()
        row = {
            "idempotency_key": provider_id, "kind": "notice", "channel": ChannelName.SMS,
            "address": mobile, "status": MessageStatus.SENT, "body": "请于月底前完成年报公示",
            "params": {}, "attempts": 1, "created_at": now, "updated_at": now, "sent_at": now,
            "provider_message_id": provider_id,
            "contact_id": contact.id if contact else None,
            "enterprise_id": contact.enterprise_id if contact else None,
        }  # fmt: skip
        message_id = await session.scalar(sa.insert(Message).returning(Message.id), [row])
    assert message_id is not None
    return int(message_id)


async def message_status(db: Database, message_id: int) -> tuple[MessageStatus, str | None]:
    async with db.read() as session:
        stored = await session.get(Message, message_id)
    assert stored is not None
    return stored.status, stored.status_reason


def report(biz_id: str, phone: str, *, success: bool = True, err_code: str = "DELIVERED",
           err_msg: str = "用户接收成功") -> dict[str, Any]:  # fmt: skip
    return {"phone_number": phone, "send_time": "2026-11-23 10:00:00",
            "report_time": "2026-11-23 10:00:05", "success": success, "err_code": err_code,
            "err_msg": err_msg, "sms_size": "1", "biz_id": biz_id, "out_id": ""}  # fmt: skip


# --- verification ------------------------------------------------------------------------------


async def test_a_forged_path_secret_is_403_and_stores_nothing(
    app: FastAPI, db: Database, queue: Queue, clock: FixedClock, fake: AliyunSmsFake
) -> None:
    await seed_registry(db)
    message_id = await sent_message(db, clock, "1^0:13900000001", "+8613900000001")
    for kind, items in (("up", [fake.up("13900000001", "TD")]),
                        ("report", [report("1^0", "13900000001")])):  # fmt: skip
        for secret in ("guessed", PATH_SECRET[:-1], PATH_SECRET + "x"):
            response = await post(app, url(kind, secret), items)
            assert response.status_code == 403
    assert await count(db, InboundReply) == 0
    assert await count(db, ContactOptOut) == 0
    assert await message_status(db, message_id) == (MessageStatus.SENT, None)
    assert await queue.claim_inbound("w", 10, None) == []


async def test_pushes_while_aliyun_is_disabled_are_403_and_store_nothing(
    write_config: Callable[..., Path], db: Database, redis_client: Redis,
    redis_keys: RedisKeys, queue: Queue, clock: FixedClock, fake: AliyunSmsFake,
) -> None:  # fmt: skip
    aliyun = {"enabled": False, "path_secret": f"${{HUB_TEST_ALIYUN_PATH:-{PATH_SECRET}}}"}
    settings = load_settings(write_config(channels={"sms": {"aliyun": aliyun}}))
    app = make_app(settings, db, redis_client, redis_keys, queue, clock)
    response = await post(app, url("up"), [fake.up("13900000001", "1")])
    assert response.status_code == 403
    assert await count(db, InboundReply) == 0


async def test_a_source_outside_the_allow_list_is_403(
    write_config: Callable[..., Path], db: Database, redis_client: Redis,
    redis_keys: RedisKeys, queue: Queue, clock: FixedClock, fake: AliyunSmsFake,
) -> None:  # fmt: skip
    settings = aliyun_settings(write_config, ["127.0.0.2", "127.0.1.0/24"])
    app = make_app(settings, db, redis_client, redis_keys, queue, clock)
    refused = await post(app, url("up"), [fake.up("13900000001", "1")], client=("127.0.0.1", 1))
    assert refused.status_code == 403
    assert await count(db, InboundReply) == 0
    for peer in ("127.0.0.2", "127.0.1.7"):
        allowed = await post(app, url("up"), [fake.up("13900000001", "1")], client=(peer, 1))
        assert allowed.status_code == 200
    assert await count(db, InboundReply) == 2


# --- replies -----------------------------------------------------------------------------------


@pytest.fixture
def both_db(any_db: Database) -> Database:
    return any_db


async def test_a_reply_is_stored_once_linked_to_its_contact_and_enterprise(
    write_config: Callable[..., Path], both_db: Database, redis_client: Redis,
    redis_keys: RedisKeys, queue: Queue, clock: FixedClock, fake: AliyunSmsFake,
) -> None:  # fmt: skip
    db = both_db
    app = make_app(aliyun_settings(write_config, []), db, redis_client, redis_keys, queue, clock)
    enterprises = await seed_registry(db)
    item = fake.up("13900000002", "请问补贴什么时候发放？", sequence_id=1234567890)

    first = await post(app, url("up"), [item])
    again = await post(app, url("up"), [item])  # Aliyun pushes again when unsure

    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() == ANSWER
    async with db.read() as session:
        [stored] = (await session.scalars(sa.select(InboundReply))).all()
        contact = (await session.execute(
            sa.select(Contact).where(Contact.mobile == "+8613900000002")
        )).scalar_one()  # fmt: skip
    assert (stored.provider, stored.provider_msg_id) == ("aliyun", "1234567890")
    assert (stored.channel, stored.sender) == (ChannelName.SMS, "+8613900000002")
    assert stored.text == "请问补贴什么时候发放？"
    assert stored.contact_id == contact.id
    assert stored.enterprise_id == enterprises["乙商贸"]
    assert stored.raw["sequence_id"] == 1234567890
    assert [e.reply_id for e in await queue.claim_inbound("w", 10, None)] == [stored.id]
    assert await count(db, ContactOptOut) == 0


@pytest.mark.parametrize("text", ["TD", "td", "ＴＤ", " 退订 ", "R", "ｒ"])
async def test_r_td_and_unsubscribe_replies_record_an_sms_opt_out(
    app: FastAPI, db: Database, fake: AliyunSmsFake, text: str
) -> None:
    await seed_registry(db)
    assert (await post(app, url("up"), [fake.up("13900000003", text)])).json() == ANSWER
    async with db.read() as session:
        opt_outs = (
            await session.execute(sa.select(ContactOptOut, Contact.mobile).join(Contact))
        ).all()
    assert [(o.channel, o.kind, o.source, mobile) for o, mobile in opt_outs] == [
        (ChannelName.SMS, "*", "aliyun_up", "+8613900000003")
    ]
    assert await count(db, InboundReply) == 1


@pytest.mark.parametrize("text", ["5", "TD一下是什么意思", "退订吗", "RR"])
async def test_other_replies_record_no_opt_out(
    app: FastAPI, db: Database, fake: AliyunSmsFake, text: str
) -> None:
    await seed_registry(db)
    assert (await post(app, url("up"), [fake.up("13900000003", text)])).status_code == 200
    assert await count(db, ContactOptOut) == 0


@pytest.mark.parametrize(
    ("kind", "items", "field"),
    [
        ("up", b"not json", "body"),
        ("up", [], "body"),
        ("up", ["13900000001"], "item"),
        ("up", [{"phone_number": "13900000001", "content": "5"}], "sequence_id"),
        ("up", [{"phone_number": "x", "content": "5", "sequence_id": 1}], "phone_number"),
        ("up", [{"phone_number": "13900000001", "content": 5, "sequence_id": 1}], "content"),
        ("report", [{**report("1^0", "13900000001"), "biz_id": ""}], "biz_id"),
        ("report", [{**report("1^0", "13900000001"), "success": "maybe"}], "success"),
        ("report", [{**report("1^0", "13900000001"), "report_time": "23/11/2026"}],
         "report_time"),
        ("report", [{**report("1^0", "13900000001"), "out_id": ["7"]}], "out_id"),
    ],
)  # fmt: skip
async def test_a_malformed_push_is_400_naming_the_field_and_stores_nothing(
    app: FastAPI, db: Database, clock: FixedClock, fake: AliyunSmsFake,
    kind: str, items: Any, field: str,
) -> None:  # fmt: skip
    await seed_registry(db)
    message_id = await sent_message(db, clock, "1^0:13900000001", "+8613900000001")
    # A valid item first: nothing of a push is stored unless all of it is valid.
    valid = fake.up("13900000001", "TD") if kind == "up" else report("1^0", "13900000001")
    body = [valid, *items] if isinstance(items, list) and items else items
    response = await post(app, url(kind), body)
    assert response.status_code == 400
    assert f"({field})" in response.json()["detail"]
    assert await count(db, InboundReply) == 0
    assert await count(db, ContactOptOut) == 0
    assert await message_status(db, message_id) == (MessageStatus.SENT, None)


# --- reports -----------------------------------------------------------------------------------


async def test_reports_set_delivered_or_failed_and_a_redelivery_changes_nothing(
    app: FastAPI, db: Database, clock: FixedClock
) -> None:
    await seed_registry(db)
    delivered = await sent_message(db, clock, "77^0:13900000001", "+8613900000001")
    failed = await sent_message(db, clock, "77^0:13900000002", "+8613900000002")
    push_ = [report("77^0", "13900000001"),
             report("77^0", "13900000002", success=False, err_code="MOBILE_NOT_ON_SERVICE",
                    err_msg="停机、空号")]  # fmt: skip
    assert (await post(app, url("report"), push_)).json() == ANSWER
    assert await message_status(db, delivered) == (MessageStatus.DELIVERED, None)
    status, reason = await message_status(db, failed)
    assert status is MessageStatus.FAILED
    assert reason is not None
    assert "MOBILE_NOT_ON_SERVICE" in reason

    flipped = [report("77^0", "13900000002")]  # a late, contradictory redelivery
    assert (await post(app, url("report"), push_ + flipped)).json() == ANSWER
    assert await message_status(db, delivered) == (MessageStatus.DELIVERED, None)
    assert (await message_status(db, failed))[0] is MessageStatus.FAILED


async def test_a_report_that_outran_the_send_is_parked(
    app: FastAPI, db: Database, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    assert (await post(app, url("report"), [report("5^0", "13900000009")])).json() == ANSWER
    parked = await redis_client.zrange(redis_keys.parked_receipts(), 0, -1)
    assert len(parked) == 1
    assert "5^0:13900000009" in parked[0]


async def test_a_blacklist_report_fails_the_message_and_records_an_opt_out_once(
    app: FastAPI, db: Database, clock: FixedClock
) -> None:
    await seed_registry(db)
    message_id = await sent_message(db, clock, "8^0:13900000005", "+8613900000005")
    item = report("8^0", "13900000005", success=False, err_code="MOBILE_IN_BLACK",
                  err_msg="手机号在黑名单中")  # fmt: skip
    assert (await post(app, url("report"), [item])).json() == ANSWER
    assert (await message_status(db, message_id))[0] is MessageStatus.FAILED
    async with db.read() as session:
        [opt_out] = (await session.scalars(sa.select(ContactOptOut))).all()
    assert (opt_out.channel, opt_out.source) == (ChannelName.SMS, "provider:aliyun")
    async with db.write() as session:  # an admin lifts it; a redelivery must not restore it
        await session.execute(sa.delete(ContactOptOut))
    assert (await post(app, url("report"), [item])).json() == ANSWER
    assert await count(db, ContactOptOut) == 0


# --- the whole loop over real HTTP -------------------------------------------------------------


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test runner keeps its own handlers
        yield


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = _Server(uvicorn.Config(app, lifespan="off", log_level="warning", ws="none"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_a_message_sent_through_the_fake_is_reported_and_its_reply_stored_once(
    app: FastAPI, db: Database, queue: Queue, clock: FixedClock, fake: AliyunSmsFake
) -> None:
    enterprises = await seed_registry(db)
    now = clock.now()
    async with db.write() as session:
        contact = (await session.execute(
            sa.select(Contact).where(Contact.mobile == "+8613900000001")
        )).scalar_one()  # fmt: skip
        row = {
            "idempotency_key": "loop-1", "kind": "notice", "channel": ChannelName.SMS,
            "address": contact.mobile, "status": MessageStatus.QUEUED, "attempts": 0,
            "body": "甲机械：请于月底前完成年报公示", "created_at": now, "updated_at": now,
            "contact_id": contact.id, "enterprise_id": contact.enterprise_id,
            "params": {"names": ["company"], "values": ["甲机械"],
                       "template_ids": {"aliyun": "SMS_000000101"}},
        }  # fmt: skip
        inserted = await session.scalar(sa.insert(Message).returning(Message.id), [row])
    assert inserted is not None
    message_id = int(inserted)
    await queue.enqueue("sms", [message_id])

    async with (
        aiohttp.ClientSession() as http,
        HttpClient() as lean,
        fake.serve() as endpoint,
        serve(app) as hub,
    ):
        registry = ChannelRegistry()
        registry.register(
            AliyunSmsChannel(
                AliyunSmsSettings(
                    access_key_id=KEY_ID,
                    access_key_secret=KEY_SECRET,
                    sign_name=SIGN,
                    endpoint=endpoint,
                ),
                lean,
                clock,
            )
        )
        dispatcher = Dispatcher(
            db, queue, registry, clock, DispatchSettings(block_ms=1, batch_size=10),
            HubMetrics(CollectorRegistry()), consumer="t1",
        )  # fmt: skip
        assert await dispatcher.run_once("sms") == 1
        [received] = fake.received
        assert received.template_params == ({"company": "甲机械"},)

        reports = fake.reports()
        assert await push(http, f"{hub}{url('report')}", reports) == (200, ANSWER)
        reply = fake.up("13900000001", "ＴＤ")
        assert await push(http, f"{hub}{url('up')}", [reply]) == (200, ANSWER)
        assert await push(http, f"{hub}{url('up')}", [reply]) == (200, ANSWER)  # redelivered
        forged = f"{hub}/webhooks/sms/aliyun/guessed/up"
        assert (await push(http, forged, [fake.up("13900000001", "5")]))[0] == 403

    assert (await message_status(db, message_id))[0] is MessageStatus.DELIVERED
    async with db.read() as session:
        [stored] = (await session.scalars(sa.select(InboundReply))).all()
        [opt_out] = (await session.scalars(sa.select(ContactOptOut))).all()
    assert (stored.provider, stored.text, stored.sender) == ("aliyun", "ＴＤ", "+8613900000001")
    assert (stored.contact_id, stored.enterprise_id) == (contact.id, enterprises["甲机械"])
    assert stored.in_reply_to == message_id
    assert (opt_out.contact_id, opt_out.channel, opt_out.source) == (
        contact.id, ChannelName.SMS, "aliyun_up",
    )  # fmt: skip


# --- hostile input: 400, nothing stored ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["up", "report"])
@pytest.mark.parametrize("levels", [100_000, 50])
async def test_json_nested_deeply_is_400_and_stores_nothing(
    app: FastAPI, db: Database, kind: str, levels: int
) -> None:
    await seed_registry(db)
    response = await post(app, url(kind), b"[" * levels + b"]" * levels)
    assert response.status_code == 400
    assert "(body)" in response.json()["detail"]
    assert await count(db, InboundReply) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [("sequence_id", "²"), ("sequence_id", "١٢٣"), ("phone_number", "1390000000١")],
)  # fmt: skip
async def test_an_up_whose_numbers_are_not_ascii_digits_is_400_and_stores_nothing(
    app: FastAPI, db: Database, fake: AliyunSmsFake, field: str, value: str
) -> None:
    await seed_registry(db)
    item = {**fake.up("13900000001", "TD"), field: value}
    response = await post(app, url("up"), [item])
    assert response.status_code == 400
    assert f"({field})" in response.json()["detail"]
    assert await count(db, InboundReply) == 0
    assert await count(db, ContactOptOut) == 0
