"""Tencent SMS: TC3 signing against Tencent's example, the fake's verifier, error mapping, batching.

The channel talks to the loopback fake (``channels.fakes.tencent_sms``) over real HTTP through
one shared aiohttp session; the pure functions are tested without sockets.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import (
    ChannelRegistry,
    OutboundMessage,
    PermanentError,
    RetryableError,
    SendResult,
)
from channels.fakes.tencent_sms import TencentSmsFake
from channels.sms_tencent import (
    CONTENT_TYPE,
    TencentSmsChannel,
    TencentSmsConfig,
    build_request,
    canonical_headers,
    classify_error,
    parse_response,
    plan_requests,
    tc3_signature,
    utc_date,
)
from hub.clock import SHANGHAI, FixedClock
from hub.config import DispatchSettings
from hub.dispatch import Dispatcher
from hub.keys import RedisKeys
from hub.metrics import HubMetrics
from hub.queue import Queue
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from hub.vocab import MessageStatus

SECRET_ID = "AKIDtest0000000000000000000000000000"
SECRET_KEY = "test-secret-key"
APP_ID = "1400000000"


def message(i: int, *, params: dict[str, object] | None = None, body: str = "") -> OutboundMessage:
    return OutboundMessage(
        message_id=i,
        address=f"+861380000{i:04d}",
        body=body or f"甲机械{i}：请于月底前完成年报公示",
        kind="notice",
        params={"sms_template_id": "1000103"} if params is None else params,
    )


def config(endpoint: str, *, secret_key: str = SECRET_KEY) -> TencentSmsConfig:
    return TencentSmsConfig(SECRET_ID, secret_key, APP_ID, "主动服务", endpoint=endpoint)


@pytest.fixture
def fake(clock: FixedClock) -> TencentSmsFake:
    return TencentSmsFake(
        SECRET_ID, SECRET_KEY, sdk_app_id=APP_ID, clock=lambda: clock.now().timestamp()
    )


@pytest.fixture
async def endpoint(fake: TencentSmsFake) -> AsyncIterator[str]:
    async with fake.serve() as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def channel(endpoint: str, session: aiohttp.ClientSession, clock: FixedClock) -> TencentSmsChannel:
    return TencentSmsChannel(config(endpoint), session, clock, qps=1000)


# --- signing (pure) ----------------------------------------------------------------------------


def test_the_signature_equals_tencents_documented_example() -> None:
    # "Signature v3" in Tencent Cloud's API 3.0 documentation (CVM DescribeInstances).
    payload = (
        b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
    )
    signature = tc3_signature(
        "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
        service="cvm",
        timestamp=1551113065,
        canonical_headers="content-type:application/json; charset=utf-8\n"
        "host:cvm.tencentcloudapi.com\n",
        payload=payload,
    )
    assert signature == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_the_credential_date_is_the_utc_date_of_the_timestamp() -> None:
    # 1551113065 is 2019-02-26 00:44:25 in Beijing but still 2019-02-25 in UTC.
    assert utc_date(1551113065) == "2019-02-25"
    early = datetime(2026, 11, 24, 0, 30, tzinfo=SHANGHAI)
    headers, _ = build_request([message(1)], config("https://sms.tencentcloudapi.com"), early)
    assert "/2026-11-23/sms/tc3_request," in headers["Authorization"]


def test_the_request_signs_exactly_the_headers_and_body_it_sends() -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    headers, body = build_request([message(1)], config("http://127.0.0.1:8080"), now)
    assert headers["Content-Type"] == CONTENT_TYPE == "application/json; charset=utf-8"
    assert headers["Host"] == "127.0.0.1:8080"
    assert headers["X-TC-Action"] == "SendSms"
    assert headers["X-TC-Version"] == "2021-01-11"
    assert headers["X-TC-Timestamp"] == str(int(now.timestamp()))
    sent = json.loads(body)
    assert sent == {
        "PhoneNumberSet": ["+8613800000001"],
        "SmsSdkAppId": APP_ID,
        "SignName": "主动服务",
        "TemplateId": "1000103",
        "TemplateParamSet": ["甲机械1：请于月底前完成年报公示"],
    }
    signed = {k: headers[k] for k in ("Content-Type", "Host")}
    expected = tc3_signature(
        SECRET_KEY,
        service="sms",
        timestamp=int(now.timestamp()),
        canonical_headers=canonical_headers(signed),
        payload=body,
    )
    assert headers["Authorization"].endswith(f"Signature={expected}")


# --- against the fake --------------------------------------------------------------------------


async def test_a_signed_request_is_accepted_and_each_number_gets_its_serial_no(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    results = await channel.send_batch([message(1), message(2, body="乙商贸：请于月底前完成")])
    assert [type(r) for r in results] == [SendResult, SendResult]
    serials = {
        n: s for r in fake.received for n, s in zip(r.phone_numbers, r.serial_nos, strict=True)
    }
    assert [r.provider_message_id for r in results if isinstance(r, SendResult)] == [
        serials["+8613800000001"],
        serials["+8613800000002"],
    ]
    assert fake.refused == []


async def _post_raw(
    session: aiohttp.ClientSession, endpoint: str, headers: dict[str, str], body: bytes
) -> str:
    async with session.post(endpoint + "/", data=body, headers=headers) as response:
        answer = await response.json()
    return str(answer["Response"]["Error"]["Code"]) if "Error" in answer["Response"] else "Ok"


async def test_a_tampered_body_or_content_type_is_refused(
    endpoint: str, session: aiohttp.ClientSession, clock: FixedClock, fake: TencentSmsFake
) -> None:
    headers, body = build_request([message(1)], config(endpoint), clock.now())
    assert await _post_raw(session, endpoint, headers, body) == "Ok"
    tampered = body.replace(b"+8613800000001", b"+8613800000009")
    assert await _post_raw(session, endpoint, headers, tampered) == "AuthFailure.SignatureFailure"
    relabelled = {
        **headers,
        "Content-Type": "application/json",
    }  # what was sent is not what was signed
    assert await _post_raw(session, endpoint, relabelled, body) == "AuthFailure.SignatureFailure"
    assert len(fake.received) == 1


async def test_a_wrong_secret_fails_permanently_and_a_stale_clock_is_retried(
    endpoint: str, session: aiohttp.ClientSession, clock: FixedClock, fake: TencentSmsFake
) -> None:
    wrong = TencentSmsChannel(config(endpoint, secret_key="guessed"), session, clock)
    [refused] = await wrong.send_batch([message(1)])
    assert isinstance(refused, PermanentError)
    assert refused.code == "AuthFailure.SignatureFailure"

    behind = FixedClock(clock.now() - timedelta(minutes=10))
    stale = TencentSmsChannel(config(endpoint), session, behind)
    [expired] = await stale.send_batch([message(1)])
    assert isinstance(expired, RetryableError)
    assert expired.code == "AuthFailure.SignatureExpire"
    assert fake.received == []


async def test_per_number_errors_map_to_retry_or_permanent_failure(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    fake.switches.number_errors = {
        "0099": "LimitExceeded.PhoneNumberDailyLimit",
        "0088": "FailedOperation.PhoneNumberInBlacklist",
    }
    same = {"sms_template_id": "1000103", "sms_params": ["年报公示"]}
    batch = [message(i, params=same) for i in (1, 99, 88)]
    ok, limited, blacklisted = await channel.send_batch(batch)
    assert len(fake.received) == 1  # identical parameters: one request
    assert isinstance(ok, SendResult)
    assert isinstance(limited, RetryableError)
    assert limited.code == "LimitExceeded.PhoneNumberDailyLimit"
    # FixedClock is 10:00 in Beijing: the daily limit resets at midnight, 14 hours on.
    assert limited.retry_after == 14 * 3600
    assert isinstance(blacklisted, PermanentError)
    assert blacklisted.code == "FailedOperation.PhoneNumberInBlacklist"


@pytest.mark.parametrize(
    ("code", "kind", "retry_after"),
    [
        ("LimitExceeded", RetryableError, 60.0),
        ("RequestLimitExceeded", RetryableError, 1.0),
        ("InternalError", RetryableError, None),
        ("FailedOperation.TemplateIncorrectOrUnapproved", PermanentError, None),
        ("FailedOperation.SignatureIncorrectOrUnapproved", PermanentError, None),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", PermanentError, None),
    ],
)
async def test_whole_request_errors_apply_to_every_message(
    channel: TencentSmsChannel,
    fake: TencentSmsFake,
    code: str,
    kind: type[Exception],
    retry_after: float | None,
) -> None:
    fake.switches.request_error = code
    results = await channel.send_batch([message(1), message(2)])
    assert all(isinstance(r, kind) and r.code == code for r in results)  # type: ignore[attr-defined]
    if kind is RetryableError:
        assert all(r.retry_after == retry_after for r in results)  # type: ignore[union-attr]


async def test_identical_parameters_share_requests_of_at_most_200_numbers(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    same = {"sms_template_id": "1000103", "sms_params": ["2026年度奖补", "12月15日"]}
    results = await channel.send_batch([message(i, params=same) for i in range(450)])
    assert all(isinstance(r, SendResult) for r in results)
    assert sorted(len(r.phone_numbers) for r in fake.received) == [50, 200, 200]
    assert {r.params for r in fake.received} == {("2026年度奖补", "12月15日")}


async def test_personalised_messages_go_one_request_each(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    await channel.send_batch([message(i) for i in range(5)])
    assert sorted(r.phone_numbers for r in fake.received) == [
        (f"+861380000{i:04d}",) for i in range(5)
    ]
    assert {r.params for r in fake.received} == {
        (f"甲机械{i}：请于月底前完成年报公示",) for i in range(5)
    }


def test_a_repeated_number_and_a_missing_template_id_are_handled_before_sending() -> None:
    same = {"sms_template_id": "1", "sms_params": ["x"]}
    twice = [message(1, params=same), message(1, params=same), message(2, params={})]
    requests, refused = plan_requests(twice, config("https://sms.tencentcloudapi.com"))
    assert [r.positions for r in requests] == [(0,), (1,)]  # one status per number per request
    assert isinstance(refused[2], PermanentError)
    assert refused[2].code == "NoTemplateId"


def test_answers_that_cannot_be_read_are_retried() -> None:
    batch = [message(1), message(2)]
    assert all(isinstance(r, RetryableError) for r in parse_response(502, b"", batch))
    assert all(isinstance(r, RetryableError) for r in parse_response(200, b"<html>", batch))
    partial = {"Response": {"SendStatusSet": [
        {"PhoneNumber": "+8613800000001", "Code": "Ok", "SerialNo": "2028:1"}
    ], "RequestId": "r"}}  # fmt: skip
    ok, missing = parse_response(200, json.dumps(partial).encode(), batch)
    assert ok == SendResult(1, "2028:1")
    assert isinstance(missing, RetryableError)
    assert missing.code == "MissingStatus"


def test_retry_after_waits_for_the_providers_window() -> None:
    at_nine_pm = datetime(2026, 11, 23, 21, 0, tzinfo=SHANGHAI)
    thirty = classify_error("LimitExceeded.PhoneNumberThirtySecondLimit", "", at_nine_pm)
    marketing = classify_error("FailedOperation.MarketingSendTimeConstraint", "", at_nine_pm)
    count = classify_error("LimitExceeded.PhoneNumberCountLimit", "", at_nine_pm)
    assert isinstance(thirty, RetryableError)
    assert thirty.retry_after == 30
    assert isinstance(marketing, RetryableError)
    assert marketing.retry_after == 11 * 3600  # 08:00 tomorrow
    assert isinstance(count, PermanentError)  # more than 200 numbers is our bug, not a limit


# --- through the dispatcher --------------------------------------------------------------------


async def _queue_messages(db: Database, queue: Queue, clock: FixedClock, count: int) -> list[int]:
    now = clock.now()
    rows = [
        {
            "idempotency_key": f"tencent-test-{i}", "kind": "notice", "channel": "sms",
            "address": f"+861390000{i:04d}", "status": MessageStatus.QUEUED,
            "body": f"丙软件{i}：请于月底前完成年报公示", "params": {"sms_template_id": "1000103"},
            "attempts": 0, "created_at": now, "updated_at": now,
        }
        for i in range(count)
    ]  # fmt: skip
    async with db.write() as session:
        ids = list((await session.execute(
            sa.insert(Message).returning(Message.id), rows
        )).scalars())  # fmt: skip
    await queue.enqueue("sms", ids)
    return ids


def _dispatcher(
    db: Database, queue: Queue, channel: TencentSmsChannel, clock: FixedClock
) -> Dispatcher:
    registry = ChannelRegistry()
    registry.register(channel)
    settings = DispatchSettings(block_ms=1, batch_size=50)
    metrics = HubMetrics(CollectorRegistry())
    return Dispatcher(db, queue, registry, clock, settings, metrics, consumer="t1")


async def test_the_dispatcher_sends_through_the_fake_and_records_the_serial_no(
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    channel: TencentSmsChannel,
    fake: TencentSmsFake,
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    [message_id] = await _queue_messages(db, queue, clock, 1)

    assert await _dispatcher(db, queue, channel, clock).run_once("sms") == 1

    [received] = fake.received
    async with db.read() as session:
        stored = await session.get(Message, message_id)
        attempt = await session.scalar(sa.select(DeliveryAttempt))
    assert stored is not None
    assert stored.status is MessageStatus.SENT
    assert stored.provider_message_id == received.serial_nos[0]
    assert received.params == ("丙软件0：请于月底前完成年报公示",)
    assert attempt is not None
    assert (attempt.provider, attempt.outcome) == ("tencent", "sent")
    assert attempt.provider_message_id == received.serial_nos[0]


async def test_the_token_bucket_holds_the_rate_and_a_stop_returns_unsent_messages(
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    endpoint: str,
    session: aiohttp.ClientSession,
    fake: TencentSmsFake,
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    slow = TencentSmsChannel(config(endpoint), session, clock, qps=2)  # 2 a second, burst 2
    ids = await _queue_messages(db, queue, clock, 5)
    dispatcher = _dispatcher(db, queue, slow, clock)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    await _until(lambda: len(fake.received) == 2)
    await asyncio.sleep(0.2)  # the injected clock stands still: no more tokens come
    assert len(fake.received) == 2
    stop.set()
    await asyncio.wait_for(running, 10)

    async with db.read() as session_:
        rows = dict((await session_.execute(sa.select(Message.id, Message.status))).all())
        attempts = dict((await session_.execute(sa.select(Message.id, Message.attempts))).all())
    assert sorted(rows.values()) == sorted([MessageStatus.SENT] * 2 + [MessageStatus.QUEUED] * 3)
    unsent = [i for i in ids if rows[i] is MessageStatus.QUEUED]
    assert all(attempts[i] == 0 for i in unsent)  # given back, not counted as an attempt
    again = await queue.claim("sms", "t2", 10)  # back on the stream for another worker
    assert sorted(e.message_id for e in again) == unsent


async def _until(condition: Callable[[], bool]) -> None:
    """Poll a condition on the fake's records (the fake has no event to wait on)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - polling another object's state
            await asyncio.sleep(0.01)
