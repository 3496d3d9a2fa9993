"""Aliyun SMS: POP signing against Aliyun's published vectors, request building, the fake's
verifier, error mapping and batching — the channel talks to the loopback fake
(``channels.fakes.aliyun_sms``) over real HTTP through one shared aiohttp session.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import aiohttp
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import (
    ChannelError,
    ChannelRegistry,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.fakes.aliyun_sms import AliyunSmsFake
from channels.sms.aliyun import (
    SEND,
    SEND_BATCH,
    AliyunRequest,
    AliyunSmsChannel,
    build_request,
    classify_error,
    out_id_message,
    parse_response,
    plan_requests,
)
from channels.sms.aliyun_sign import percent_encode, rpc_signature, string_to_sign, verify_signature
from channels.sms.http_client import HttpClient, HttpError
from channels.sms.settings import AliyunSmsSettings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import MessageStatus
from hub.infra.queue import Queue
from hub.outbound.dispatch import Dispatcher
from hub.outbound.settings import DispatchSettings
from hub.store.db import Database
from hub.store.models import Message

KEY_ID = "LTAI5tTestKeyId000000000"
KEY_SECRET = "test-access-key-secret"
SIGN = "龙沙区营商服务"
TEMPLATE = "SMS_000000101"


def message(
    i: int, *, company: str | None = None, params: dict[str, object] | None = None
) -> OutboundMessage:
    """A credit warning to 1380000iiii; personalised by company unless ``params`` says else."""
    default = {
        "names": ["company", "date"],
        "values": [company or f"甲机械{i}", "12月1日"],
        "template_ids": {"tencent": "1000101", "aliyun": TEMPLATE},
    }
    return OutboundMessage(
        message_id=i, address=f"+861380000{i:04d}", body=f"甲机械{i}：请关注信用风险",
        kind="credit_warning", params=default if params is None else params,
    )  # fmt: skip


def same(i: int) -> OutboundMessage:
    """Messages whose template code and parameters are identical (batchable)."""
    return message(i, company="各市场主体")


def config(endpoint: str, *, secret: str = KEY_SECRET, key_id: str = KEY_ID,
           sign: str = SIGN) -> AliyunSmsSettings:  # fmt: skip
    return AliyunSmsSettings(access_key_id=key_id, access_key_secret=secret, sign_name=sign,
                             endpoint=endpoint)  # fmt: skip


@pytest.fixture
def fake(clock: FixedClock) -> AliyunSmsFake:
    return AliyunSmsFake(KEY_ID, KEY_SECRET, sign_name=SIGN, clock=lambda: clock.now().timestamp())


@pytest.fixture
async def endpoint(fake: AliyunSmsFake) -> AsyncIterator[str]:
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
def channel(endpoint: str, lean: HttpClient, clock: FixedClock) -> AliyunSmsChannel:
    return AliyunSmsChannel(config(endpoint), lean, clock)


# --- signing (pure) ----------------------------------------------------------------------------

# Aliyun SMS "HTTP协议及签名" example (GET, SendSms, AccessKeySecret "testSecret").
SMS_DOC_PARAMS = {
    "AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
    "PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0", "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}', "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}  # fmt: skip


def test_the_signature_equals_aliyuns_sms_example() -> None:
    sts = string_to_sign(SMS_DOC_PARAMS, "GET")
    assert sts.startswith("GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML")
    assert "SignName%3D%25E9%2598%25BF%25E9%2587%258C" in sts  # UTF-8, encoded twice
    assert sts.endswith("Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25")
    assert rpc_signature("testSecret", SMS_DOC_PARAMS, "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_the_signature_equals_aliyuns_rpc_example() -> None:
    # "签名机制" of Aliyun's RPC APIs: ECS DescribeRegions, AccessKeySecret "testsecret".
    params = {
        "AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
    }  # fmt: skip
    assert rpc_signature("testsecret", params, "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_percent_encoding_follows_pop_rules() -> None:
    assert percent_encode("a b") == "a%20b"  # never "+"
    assert percent_encode("*") == "%2A"
    assert percent_encode("~-_.") == "~-_."  # never "%7E"
    assert percent_encode("/=&+") == "%2F%3D%26%2B"
    assert percent_encode("派") == "%E6%B4%BE"


# --- building and parsing (pure) --------------------------------------------------------------


def _sent(body: bytes) -> dict[str, str]:
    return dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))


def test_a_send_sms_request_is_signed_over_every_parameter_it_carries() -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    [request], _ = plan_requests([message(1)], {})
    headers, body = build_request(request, config("https://dysmsapi.aliyuncs.com"), now, "n-1")
    assert headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    sent = _sent(body)
    assert {k: v for k, v in sent.items() if k != "Signature"} == {
        "AccessKeyId": KEY_ID, "Action": "SendSms", "Format": "JSON", "RegionId": "cn-hangzhou",
        "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "n-1", "SignatureVersion": "1.0",
        "Timestamp": "2026-11-23T02:00:00Z", "Version": "2017-05-25",
        "PhoneNumbers": "13800000001", "SignName": SIGN, "TemplateCode": TEMPLATE,
        "TemplateParam": '{"company":"甲机械1","date":"12月1日"}', "OutId": "1",
    }  # fmt: skip
    assert verify_signature(KEY_SECRET, sent, "POST")
    assert not verify_signature(KEY_SECRET, {**sent, "PhoneNumbers": "13800000009"}, "POST")
    assert not verify_signature(KEY_SECRET, sent, "GET")  # the method is signed too


def test_a_batch_request_carries_index_aligned_json_arrays() -> None:
    cfg = config("https://dysmsapi.aliyuncs.com")
    [request], _ = plan_requests([same(1), same(2), same(3)], {})
    assert request.action == SEND_BATCH
    sent = _sent(build_request(request, cfg, datetime(2026, 11, 23, 2, tzinfo=UTC), "n")[1])
    assert sent["Action"] == "SendBatchSms"
    assert json.loads(sent["PhoneNumberJson"]) == ["13800000001", "13800000002", "13800000003"]
    assert json.loads(sent["SignNameJson"]) == [SIGN] * 3
    assert (
        json.loads(sent["TemplateParamJson"]) == [{"company": "各市场主体", "date": "12月1日"}] * 3
    )
    assert sent["TemplateCode"] == TEMPLATE
    assert "PhoneNumbers" not in sent
    assert "OutId" not in sent


def test_planning_batches_identical_parameters_and_sends_personalised_ones_alone() -> None:
    batch = [same(i) for i in range(250)] + [message(1000 + i) for i in range(3)]
    requests, refused = plan_requests(batch, {})
    assert refused == {}
    assert sorted((r.action, len(r.messages)) for r in requests) == [
        (SEND_BATCH, 50), (SEND_BATCH, 100), (SEND_BATCH, 100), (SEND, 1), (SEND, 1), (SEND, 1),
    ]  # fmt: skip
    positions = sorted(p for r in requests for p in r.positions)
    assert positions == list(range(253))


def test_a_repeated_number_starts_a_new_request_and_bad_messages_fail_before_sending() -> None:
    no_code = message(3, params={"names": ["a"], "values": ["x"]})
    mismatched = message(4, params={"names": ["a", "b"], "values": ["x"],
                                    "template_ids": {"aliyun": TEMPLATE}})  # fmt: skip
    requests, refused = plan_requests([same(1), same(1), no_code, mismatched], {})
    assert [r.positions for r in requests] == [(0,), (1,)]
    assert isinstance(refused[2], ProviderConfigError)
    assert refused[2].code == "NoTemplateCode"
    assert isinstance(refused[3], PermanentError)
    assert refused[3].code == "BadTemplateParam"


def test_the_template_code_falls_back_to_the_kinds_and_none_is_refused() -> None:
    bare = message(1, params={})
    [request], _ = plan_requests([bare], {"credit_warning": "SMS_7"})
    assert (request.template_code, request.template_param) == ("SMS_7", None)
    _, refused = plan_requests([bare], {"visit_reminder": "SMS_9"})
    assert refused[0].code == "NoTemplateCode"


def test_answers_map_to_one_result_per_message() -> None:
    request = AliyunRequest(SEND_BATCH, TEMPLATE, None, (same(1), same(2)), (0, 1))
    ok = {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "r"}
    assert parse_response(200, json.dumps(ok).encode(), request) == [
        SendResult(1, "900619746936498440^0:13800000001"),
        SendResult(2, "900619746936498440^0:13800000002"),
    ]
    for status, body in ((200, b"<html>"), (502, b""), (200, b'{"RequestId": "r"}')):
        results = parse_response(status, body, request)
        assert all(isinstance(r, RetryableError) and r.code == "BadResponse" for r in results)


@pytest.mark.parametrize(
    ("code", "message_text", "status", "kind", "retry_after"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1", 200, RateLimitedError, 60.0),
        ("isv.BUSINESS_LIMIT_CONTROL", "触发小时级流控Permits:5", 200, RateLimitedError, 3600.0),
        # FixedClock is 10:00 in Beijing: a daily limit lifts at midnight, 14 hours on.
        ("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10", 200,
         RateLimitedError, 14 * 3600.0),
        ("isv.DAY_LIMIT_CONTROL", "触发日发送限额", 200, RateLimitedError, 14 * 3600.0),
        ("Throttling.User", "Request was denied due to user flow control.", 400,
         RateLimitedError, 1.0),
        ("isp.SYSTEM_ERROR", "系统错误", 200, RetryableError, None),
        ("ServiceUnavailable", "", 503, RetryableError, None),
        ("SomethingNew", "", 502, RetryableError, None),
        ("InvalidTimeStamp.Expired", "", 400, RetryableError, None),
        ("SignatureNonceUsed", "", 400, RetryableError, None),
        ("isv.AMOUNT_NOT_ENOUGH", "账户余额不足", 200, RetryableError, 600.0),
        ("MOBILE_IN_BLACK", "手机号在黑名单中", 200, OptedOutError, None),
        ("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号", 200, PermanentError, None),
        ("isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控", 200, PermanentError, None),
        ("isv.SMS_TEMPLATE_ILLEGAL", "", 200, ProviderConfigError, None),
        ("isv.SMS_SIGNATURE_ILLEGAL", "", 200, ProviderConfigError, None),
        ("isv.TEMPLATE_MISSING_PARAMETERS", "", 200, ProviderConfigError, None),
        ("isv.INVALID_PARAMETERS", "", 200, ProviderConfigError, None),
        ("isv.DENY_IP_RANGE", "", 200, ProviderConfigError, None),
        ("InvalidAccessKeyId.NotFound", "", 404, ProviderConfigError, None),
        ("SignatureDoesNotMatch", "", 400, ProviderConfigError, None),
    ],
)  # fmt: skip
def test_error_codes_map_to_the_documented_table(
    clock: FixedClock, code: str, message_text: str, status: int,
    kind: type[ChannelError], retry_after: float | None,
) -> None:  # fmt: skip
    error = classify_error(code, message_text, clock.now(), status)
    assert type(error) is kind
    assert error.code == code
    if isinstance(error, RetryableError):
        assert error.retry_after == retry_after


# --- against the fake --------------------------------------------------------------------------


async def test_personalised_messages_go_one_send_sms_each_and_get_biz_ids(
    channel: AliyunSmsChannel, fake: AliyunSmsFake
) -> None:
    results = await channel.send_batch([message(1), message(2), message(3)])
    assert sorted(r.action for r in fake.received) == [SEND] * 3
    by_number = {r.phone_numbers[0]: r for r in fake.received}
    assert by_number["13800000002"].template_params == ({"company": "甲机械2", "date": "12月1日"},)
    assert by_number["13800000002"].out_id == "2"
    assert [r.provider_message_id for r in results if isinstance(r, SendResult)] == [
        f"{by_number[f'1380000000{i}'].biz_id}:1380000000{i}" for i in (1, 2, 3)
    ]
    assert fake.refused == []


async def test_identical_parameters_go_as_send_batch_sms_of_at_most_100(
    channel: AliyunSmsChannel, fake: AliyunSmsFake
) -> None:
    results = await channel.send_batch([same(i) for i in range(150)])
    assert sorted((r.action, len(r.phone_numbers)) for r in fake.received) == [
        (SEND_BATCH, 50), (SEND_BATCH, 100),
    ]  # fmt: skip
    assert all(r.sign_names == (SIGN,) * len(r.phone_numbers) for r in fake.received)
    ids = {n: f"{r.biz_id}:{n}" for r in fake.received for n in r.phone_numbers}
    assert [r.provider_message_id for r in results if isinstance(r, SendResult)] == [
        ids[f"1380000{i:04d}"] for i in range(150)
    ]


async def _post(session: aiohttp.ClientSession, endpoint: str, body: bytes) -> tuple[int, str]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    async with session.post(endpoint + "/", data=body, headers=headers) as response:
        return response.status, str((await response.json())["Code"])


async def test_the_fake_refuses_a_tampered_or_replayed_request(
    endpoint: str, session: aiohttp.ClientSession, clock: FixedClock, fake: AliyunSmsFake
) -> None:
    [request], _ = plan_requests([message(1)], {})
    _, body = build_request(request, config(endpoint), clock.now(), "nonce-1")
    tampered = body.replace(b"PhoneNumbers=13800000001", b"PhoneNumbers=13800000009")
    assert await _post(session, endpoint, tampered) == (400, "SignatureDoesNotMatch")
    assert await _post(session, endpoint, body) == (200, "OK")
    assert await _post(session, endpoint, body) == (400, "SignatureNonceUsed")  # a replay
    assert len(fake.received) == 1


async def test_wrong_credentials_are_a_config_error_and_a_stale_clock_is_retried(
    endpoint: str, lean: HttpClient, clock: FixedClock, fake: AliyunSmsFake
) -> None:
    wrong = AliyunSmsChannel(config(endpoint, secret="guessed"), lean, clock)
    [refused] = await wrong.send_batch([message(1)])
    assert isinstance(refused, ProviderConfigError)
    assert refused.code == "SignatureDoesNotMatch"
    unknown = AliyunSmsChannel(config(endpoint, key_id="LTAIunknown"), lean, clock)
    [not_found] = await unknown.send_batch([message(1)])
    assert isinstance(not_found, ProviderConfigError)
    assert not_found.code == "InvalidAccessKeyId.NotFound"
    behind = AliyunSmsChannel(
        config(endpoint), lean, FixedClock(clock.now() - timedelta(minutes=20))
    )
    [expired] = await behind.send_batch([message(1)])
    assert isinstance(expired, RetryableError)
    assert expired.code == "InvalidTimeStamp.Expired"
    assert fake.received == []


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", RateLimitedError),
        ("Throttling.User", RateLimitedError),
        ("isp.SYSTEM_ERROR", RetryableError),
        ("InternalError", RetryableError),
        ("ServiceUnavailable", RetryableError),
        ("isv.MOBILE_NUMBER_ILLEGAL", PermanentError),
        ("isv.SMS_TEMPLATE_ILLEGAL", ProviderConfigError),
        ("isv.SMS_SIGNATURE_ILLEGAL", ProviderConfigError),
        ("isv.TEMPLATE_MISSING_PARAMETERS", ProviderConfigError),
        ("isv.INVALID_PARAMETERS", ProviderConfigError),
    ],
)
async def test_whole_request_errors_from_the_fake_apply_to_every_message(
    channel: AliyunSmsChannel, fake: AliyunSmsFake, code: str, kind: type[ChannelError]
) -> None:
    fake.switches.request_error = code
    results = await channel.send_batch([message(1), same(2), same(3)])
    assert all(type(r) is kind and isinstance(r, ChannelError) and r.code == code for r in results)


async def test_a_batch_refused_for_one_number_is_resent_number_by_number(
    channel: AliyunSmsChannel, fake: AliyunSmsFake
) -> None:
    fake.switches.number_errors = {"0099": "isv.BUSINESS_LIMIT_CONTROL"}
    fake.switches.error_message = "触发小时级流控Permits:5"
    ok_1, limited, ok_2 = await channel.send_batch([same(1), same(99), same(2)])
    assert fake.refused == ["isv.BUSINESS_LIMIT_CONTROL", "isv.BUSINESS_LIMIT_CONTROL"]
    assert sorted(r.phone_numbers for r in fake.received) == [("13800000001",), ("13800000002",)]
    assert isinstance(ok_1, SendResult)
    assert isinstance(ok_2, SendResult)
    assert isinstance(limited, RetryableError)
    assert limited.retry_after == 3600.0


async def test_the_fake_checks_template_variables_and_sign_name(
    endpoint: str, lean: HttpClient, clock: FixedClock, fake: AliyunSmsFake
) -> None:
    fake.switches.approved_templates = {TEMPLATE: ["company", "date", "item"]}
    channel = AliyunSmsChannel(config(endpoint), lean, clock)
    [missing] = await channel.send_batch([message(1)])
    assert isinstance(missing, ProviderConfigError)
    assert missing.code == "isv.TEMPLATE_MISSING_PARAMETERS"
    other_sign = config(endpoint, sign="别的签名")
    fake.switches.approved_templates = None
    [unsigned] = await AliyunSmsChannel(other_sign, lean, clock).send_batch([message(1)])
    assert isinstance(unsigned, ProviderConfigError)
    assert unsigned.code == "isv.SMS_SIGNATURE_ILLEGAL"


async def test_the_error_rate_switch_refuses_requests_with_its_code(
    channel: AliyunSmsChannel, fake: AliyunSmsFake
) -> None:
    fake.switches.error_rate = 1.0
    fake.switches.error_rate_code = "ServiceUnavailable"
    results = await channel.send_batch([message(i) for i in range(4)])
    assert all(isinstance(r, RetryableError) and r.code == "ServiceUnavailable" for r in results)
    fake.switches.error_rate = 0.0
    assert all(isinstance(r, SendResult) for r in await channel.send_batch([message(9)]))


async def test_network_failures_are_retryable_and_keep_their_cause(
    lean: HttpClient, clock: FixedClock, fake: AliyunSmsFake
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    [refused] = await AliyunSmsChannel(config(closed), lean, clock).send_batch([message(1)])
    assert isinstance(refused, RetryableError)
    assert refused.code == "Network"
    assert isinstance(refused.__cause__, HttpError)

    fake.switches.latency_s = 1.0
    async with fake.serve() as slow_url:
        slow = AliyunSmsChannel(config(slow_url), lean, clock, timeout_s=0.05)
        [timed_out] = await slow.send_batch([message(1)])
    assert isinstance(timed_out, RetryableError)
    assert isinstance(timed_out.__cause__, TimeoutError)


# --- through the dispatcher --------------------------------------------------------------------


async def test_the_dispatcher_records_biz_id_and_number_as_the_provider_message_id(
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    channel: AliyunSmsChannel,
    fake: AliyunSmsFake,
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sms"])
    now = clock.now()
    row = {
        "idempotency_key": "aliyun-test-1", "kind": "credit_warning", "channel": "sms",
        "address": "+8613900000001", "status": MessageStatus.QUEUED, "body": "甲机械：…",
        "params": message(1).params, "attempts": 0, "created_at": now, "updated_at": now,
    }  # fmt: skip
    async with db.write() as session_:
        message_id = await session_.scalar(sa.insert(Message).returning(Message.id), [row])
    assert message_id is not None
    await queue.enqueue("sms", [message_id])
    registry = ChannelRegistry()
    registry.register(channel)
    dispatcher = Dispatcher(
        db, queue, registry, clock, DispatchSettings(block_ms=1, batch_size=50),
        HubMetrics(CollectorRegistry()), consumer="t1",
    )  # fmt: skip
    assert await dispatcher.run_once("sms") == 1
    [received] = fake.received
    async with db.read() as session_:
        stored = await session_.get(Message, message_id)
    assert stored is not None
    assert stored.status is MessageStatus.SENT
    assert stored.provider_message_id == f"{received.biz_id}:13900000001"


@pytest.mark.parametrize(
    ("out_id", "message_id"),
    [("4711", 4711), (" 4711 ", 4711), ("", None), ("0", None), ("ord-4711", None),
     ("12.3", None), ("-5", None), ("４７", None), ("9" * 19, None), (str(2**63 - 1), 2**63 - 1)],
)  # fmt: skip
def test_a_reports_out_id_names_the_message_a_send_sms_carried_or_none(
    out_id: str, message_id: int | None
) -> None:
    assert out_id_message(out_id) == message_id
