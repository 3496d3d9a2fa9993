"""Tencent SMS against its loopback fake, over real HTTP through one shared aiohttp session:
signature checks, batching, per-number and whole-request errors, the fake's switches, and the
dispatcher recording the results."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import (
    ChannelError,
    ChannelRegistry,
    HoldError,
    OptedOutError,
    OutboundMessage,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.fakes.tencent_sms import TencentSmsFake
from channels.sms.http_client import HttpClient
from channels.sms.settings import TencentSmsSettings
from channels.sms.tencent import TencentSmsChannel, build_request
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import MessageStatus
from hub.infra.queue import Queue
from hub.outbound.dispatch import Dispatcher
from hub.outbound.settings import DispatchSettings
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message

SECRET_ID = "AKIDtest0000000000000000000000000000"
SECRET_KEY = "test-secret-key"
APP_ID = "1400000000"
SAME = {"sms_template_id": "1000103", "sms_params": ["2026年度奖补", "12月15日"]}


def message(i: int, *, params: dict[str, Any] | None = None, address: str = "") -> OutboundMessage:
    return OutboundMessage(
        message_id=i,
        address=address or f"+861380000{i:04d}",
        body=f"甲机械{i}：请于月底前完成年报公示",
        kind="notice",
        params={"sms_template_id": "1000103"} if params is None else params,
    )


def config(endpoint: str, *, secret_key: str = SECRET_KEY) -> TencentSmsSettings:
    return TencentSmsSettings(secret_id=SECRET_ID, secret_key=secret_key, sdk_app_id=APP_ID,
                              sign_name="主动服务", endpoint=endpoint)  # fmt: skip


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
    """For raw requests to the fake; the channel posts through its own client (``lean``)."""
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def lean() -> AsyncIterator[HttpClient]:
    async with HttpClient() as http:
        yield http


@pytest.fixture
def channel(endpoint: str, lean: HttpClient, clock: FixedClock) -> TencentSmsChannel:
    return TencentSmsChannel(config(endpoint), lean, clock, qps=1000)


def serials(fake: TencentSmsFake) -> dict[str, list[str]]:
    """Serial numbers the fake issued, by number, in order."""
    issued: dict[str, list[str]] = {}
    for request in fake.received:
        for number, serial in zip(request.phone_numbers, request.serial_nos, strict=True):
            issued.setdefault(number, []).append(serial)
    return issued


# --- signatures ---------------------------------------------------------------------------


async def test_a_signed_request_is_accepted_and_each_number_gets_its_serial_no(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    first, second = await channel.send_batch([message(1), message(2)])
    issued = serials(fake)
    assert first == SendResult(1, issued["+8613800000001"][0])
    assert second == SendResult(2, issued["+8613800000002"][0])
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
    relabelled = {**headers, "Content-Type": "application/json"}  # sent is not what was signed
    assert await _post_raw(session, endpoint, relabelled, body) == "AuthFailure.SignatureFailure"
    assert len(fake.received) == 1


async def test_a_wrong_secret_is_a_config_error_and_a_stale_clock_is_retried(
    endpoint: str, lean: HttpClient, clock: FixedClock, fake: TencentSmsFake
) -> None:
    wrong = TencentSmsChannel(config(endpoint, secret_key="guessed"), lean, clock)
    [refused] = await wrong.send_batch([message(1)])
    assert isinstance(refused, ProviderConfigError)  # the admin is alerted
    assert refused.code == "AuthFailure.SignatureFailure"

    behind = FixedClock(clock.now() - timedelta(minutes=5, seconds=1))
    stale = TencentSmsChannel(config(endpoint), lean, behind)
    [expired] = await stale.send_batch([message(1)])
    assert isinstance(expired, RetryableError)
    assert expired.code == "AuthFailure.SignatureExpire"
    assert fake.received == []


# --- batching -----------------------------------------------------------------------------


async def test_identical_parameters_share_requests_and_results_map_back_per_number(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    results = await channel.send_batch([message(i, params=SAME) for i in range(450)])
    assert sorted(len(r.phone_numbers) for r in fake.received) == [50, 200, 200]
    assert {r.params for r in fake.received} == {("2026年度奖补", "12月15日")}
    issued = serials(fake)
    assert results == [SendResult(i, issued[f"+861380000{i:04d}"][0]) for i in range(450)]


async def test_personalised_messages_go_one_request_each(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    await channel.send_batch([message(i) for i in range(5)])
    assert sorted(r.phone_numbers for r in fake.received) == [
        (f"+861380000{i:04d}",) for i in range(5)
    ]


async def test_a_number_twice_in_a_batch_is_not_merged(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    batch = [message(1, params=SAME), message(2, params=SAME),
             message(3, params=SAME, address="+8613800000001")]  # fmt: skip
    first, second, again = await channel.send_batch(batch)
    assert sorted(r.phone_numbers for r in fake.received) == [
        ("+8613800000001",),
        ("+8613800000001", "+8613800000002"),
    ]
    to_first = serials(fake)["+8613800000001"]
    assert isinstance(first, SendResult)
    assert isinstance(again, SendResult)
    assert sorted([first.provider_message_id, again.provider_message_id]) == sorted(to_first)
    assert first.provider_message_id != again.provider_message_id
    assert isinstance(second, SendResult)


# --- errors -------------------------------------------------------------------------------


async def test_per_number_errors_touch_only_their_number(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    fake.switches.number_errors = {
        "0099": "LimitExceeded.PhoneNumberDailyLimit",
        "0088": "FailedOperation.PhoneNumberInBlacklist",
        "+8613800000077": "LimitExceeded.PhoneNumberThirtySecondLimit",
    }
    batch = [message(i, params=SAME) for i in (1, 99, 88, 77)]
    ok, limited, blacklisted, hurried = await channel.send_batch(batch)
    assert len(fake.received) == 1  # one request; the statuses differ per number
    assert isinstance(ok, SendResult)
    assert isinstance(limited, RetryableError)
    assert limited.retry_after == 14 * 3600  # 10:00 in Beijing: the day resets at midnight
    assert isinstance(blacklisted, OptedOutError)
    assert isinstance(hurried, RetryableError)
    assert hurried.retry_after == 30


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("InternalError.Timeout", RetryableError),
        ("RequestLimitExceeded", RateLimitedError),
        ("FailedOperation.TemplateIncorrectOrUnapproved", ProviderConfigError),
        ("UnauthorizedOperation.SmsSdkAppIdVerifyFail", ProviderConfigError),
        ("FailedOperation.MarketingSendTimeConstraint", HoldError),
    ],
)
async def test_a_whole_request_error_applies_to_every_message_of_the_request(
    channel: TencentSmsChannel, fake: TencentSmsFake, code: str, kind: type[ChannelError]
) -> None:
    fake.switches.request_error = code
    results = await channel.send_batch([message(1, params=SAME), message(2, params=SAME)])
    assert [(type(r), getattr(r, "code", None)) for r in results] == [(kind, code)] * 2
    assert fake.refused == [code]


async def test_unapproved_templates_and_wrong_parameter_counts_are_config_errors(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    fake.switches.approved_templates = {"1000103": 2}
    unapproved, miscounted, fine = await channel.send_batch(
        [message(1, params={"sms_template_id": "999"}), message(2), message(3, params=SAME)]
    )
    assert isinstance(unapproved, ProviderConfigError)
    assert unapproved.code == "FailedOperation.TemplateIncorrectOrUnapproved"
    assert isinstance(miscounted, ProviderConfigError)
    assert miscounted.code == "FailedOperation.TemplateParamSetNotMatchApprovedTemplate"
    assert isinstance(fine, SendResult)


async def test_a_failing_gateway_or_a_slow_answer_is_retried(
    endpoint: str, lean: HttpClient, clock: FixedClock, fake: TencentSmsFake
) -> None:
    channel = TencentSmsChannel(config(endpoint), lean, clock, timeout_s=0.2)
    fake.switches.http_status = 502
    [gateway] = await channel.send_batch([message(1)])
    assert isinstance(gateway, RetryableError)
    assert gateway.code == "HTTP502"
    fake.switches.http_status = None
    fake.switches.latency_s = 2.0
    [slow] = await channel.send_batch([message(1)])
    assert isinstance(slow, RetryableError)
    assert slow.code == "Network"


async def test_the_error_rate_refuses_that_share_of_requests_reproducibly(
    channel: TencentSmsChannel, fake: TencentSmsFake
) -> None:
    fake.switches.error_rate = 0.5
    results = await channel.send_batch([message(i) for i in range(40)])
    refused = [r for r in results if not isinstance(r, SendResult)]
    assert all(isinstance(r, RetryableError) and r.code == "InternalError.Timeout" for r in refused)
    assert len(refused) == len(fake.refused)
    assert 0 < len(refused) < 40
    assert len(fake.received) == 40 - len(refused)


async def test_switches_can_be_set_over_http_for_drills(
    endpoint: str, session: aiohttp.ClientSession, channel: TencentSmsChannel
) -> None:
    switches = {"number_errors": {"": "FailedOperation.PhoneNumberInBlacklist"}}
    async with session.post(f"{endpoint}/__fake__/switches", json=switches) as response:
        assert response.status == 200
    [blacklisted] = await channel.send_batch([message(1)])
    assert isinstance(blacklisted, OptedOutError)
    async with session.post(f"{endpoint}/__fake__/reset") as response:
        assert response.status == 200
    [sent] = await channel.send_batch([message(1)])
    assert isinstance(sent, SendResult)
    async with session.get(f"{endpoint}/__fake__/received") as response:
        received = json.loads(await response.text())["received"]
    assert [r["serial_nos"] for r in received] == [[sent.provider_message_id]]


# --- through the dispatcher ---------------------------------------------------------------


async def _queue_messages(
    db: Database, queue: Queue, clock: FixedClock, count: int, params: dict[str, Any] | None = None
) -> list[int]:
    now = clock.now()
    rows = [
        {
            "idempotency_key": f"tencent-test-{i}", "kind": "notice", "channel": "sms",
            "address": f"+861390000{i:04d}", "status": MessageStatus.QUEUED,
            "body": f"丙软件{i}：请于月底前完成年报公示",
            "params": params or {"sms_template_id": "1000103"},
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


async def _statuses(db: Database) -> dict[int, MessageStatus]:
    async with db.read() as session:
        return dict((await session.execute(sa.select(Message.id, Message.status))).all())


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


async def test_a_per_number_limit_retries_only_that_number(
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    channel: TencentSmsChannel,
    fake: TencentSmsFake,
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    first, limited, third = await _queue_messages(db, queue, clock, 3, params=SAME)
    fake.switches.number_errors = {"+8613900000001": "LimitExceeded.PhoneNumberThirtySecondLimit"}
    dispatcher = _dispatcher(db, queue, channel, clock)

    assert await dispatcher.run_once("sms") == 3
    assert [r.phone_numbers for r in fake.received] == [
        ("+8613900000000", "+8613900000001", "+8613900000002")
    ]
    statuses = await _statuses(db)
    assert (statuses[first], statuses[limited], statuses[third]) == (
        MessageStatus.SENT, MessageStatus.QUEUED, MessageStatus.SENT
    )  # fmt: skip
    async with db.read() as session:
        waiting = await session.get(Message, limited)
    assert waiting is not None
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=30)

    fake.switches.number_errors = {}
    assert await dispatcher.run_once("sms", block_ms=1) == 0  # not due yet
    clock.advance(timedelta(seconds=30))
    assert await dispatcher.run_once("sms") == 1
    assert fake.received[-1].phone_numbers == ("+8613900000001",)  # that number only
    assert (await _statuses(db))[limited] is MessageStatus.SENT


async def test_the_token_bucket_holds_the_rate_and_a_stop_returns_unsent_messages(
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    endpoint: str,
    lean: HttpClient,
    fake: TencentSmsFake,
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    slow = TencentSmsChannel(config(endpoint), lean, clock, qps=2)  # 2 a second, burst 2
    ids = await _queue_messages(db, queue, clock, 5)
    dispatcher = _dispatcher(db, queue, slow, clock)
    stop = asyncio.Event()
    running = asyncio.create_task(dispatcher.run(stop))
    await _until(lambda: len(fake.received) == 2)
    await asyncio.sleep(0.2)  # the injected clock stands still: no more tokens come
    assert len(fake.received) == 2
    stop.set()
    await asyncio.wait_for(running, 10)

    rows = await _statuses(db)
    assert sorted(rows.values()) == sorted([MessageStatus.SENT] * 2 + [MessageStatus.QUEUED] * 3)
    unsent = [i for i in ids if rows[i] is MessageStatus.QUEUED]
    async with db.read() as session_:
        attempts = dict((await session_.execute(sa.select(Message.id, Message.attempts))).all())
    assert all(attempts[i] == 0 for i in unsent)  # given back, not counted as an attempt
    again = await queue.claim("sms", "t2", 10)  # back on the stream for another worker
    assert sorted(e.message_id for e in again) == unsent


async def _until(condition: Callable[[], bool]) -> None:
    """Poll a condition on the fake's records (the fake has no event to wait on)."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - polling another object's state
            await asyncio.sleep(0.01)
