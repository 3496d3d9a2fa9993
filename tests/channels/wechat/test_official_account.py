"""WeChat Official Account: requests and error mapping (pure), and sends through the loopback fake.

The channel talks to ``channels.fakes.wechat_api`` over real HTTP through one shared aiohttp
session; the access token is cached in real Redis; time is a FixedClock the fake shares.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from redis.asyncio import Redis

from channels.base import (
    Channel,
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
from channels.fakes.wechat_api import WechatApiFake
from channels.wechat.official_account import (
    CUSTOM_PATH,
    TEMPLATE_PATH,
    WechatMpChannel,
    build_request,
    classify_errcode,
    parse_response,
    parse_token_response,
)
from channels.wechat.settings import WechatAppSettings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys

APP_ID = "wx0123456789abcdef"
SECRET = "test-app-secret"
TEMPLATE = "TPL_TICKET_FEEDBACK"
FIELDS = ("character_string1", "thing2", "thing3")


def openid(i: int) -> str:
    return f"oAbCdEfGhIjKlMnOpQrStUv{i:05d}"


def template_message(i: int, **fields: str) -> OutboundMessage:
    values = {"character_string1": f"GD2026112300{i:02d}", "thing2": "市营商环境建设监督局"}
    values["thing3"] = "已协调供电公司完成用电增容"
    values.update(fields)
    return OutboundMessage(
        message_id=i,
        address=openid(i),
        body="（模板消息的正文不发送）",
        kind="ticket_feedback",
        params={"template_ids": {"wechat": TEMPLATE}, "fields": values},
    )


def custom_message(
    i: int, body: str = "您的诉求已转市场监管局办理，请耐心等待。"
) -> OutboundMessage:
    return OutboundMessage(message_id=i, address=openid(i), body=body, kind="ticket_ack")


@pytest.fixture
def fake(clock: FixedClock) -> WechatApiFake:
    api = WechatApiFake(APP_ID, SECRET, clock=lambda: clock.now().timestamp())
    api.add_template(TEMPLATE, FIELDS)
    api.follow(*(openid(i) for i in range(1, 10)))
    return api


@pytest.fixture
async def base_url(fake: WechatApiFake) -> AsyncIterator[str]:
    async with fake.serve() as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


def make_channel(
    base_url: str,
    session: aiohttp.ClientSession,
    redis: Redis,
    keys: RedisKeys,
    clock: FixedClock,
    *,
    secret: str = SECRET,
) -> WechatMpChannel:
    config = WechatAppSettings(kind="official_account", app_id=APP_ID, secret=secret,
                               api_base=base_url)  # fmt: skip
    return WechatMpChannel("main", config, session, redis, keys, clock)


@pytest.fixture
def channel(
    base_url: str,
    session: aiohttp.ClientSession,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
) -> WechatMpChannel:
    return make_channel(base_url, session, redis_client, redis_keys, clock)


# --- requests and answers (pure) --------------------------------------------------------------


def test_a_template_message_becomes_a_template_send_with_its_fields_as_data() -> None:
    message = template_message(7)
    message.params["url"] = "https://example.gov.cn/t/7"
    request = build_request(message)
    assert request.path == TEMPLATE_PATH
    assert request.payload == {
        "touser": openid(7),
        "template_id": TEMPLATE,
        "data": {
            "character_string1": {"value": "GD202611230007"},
            "thing2": {"value": "市营商环境建设监督局"},
            "thing3": {"value": "已协调供电公司完成用电增容"},
        },
        "client_msg_id": "hub-7",
        "url": "https://example.gov.cn/t/7",
    }


def test_a_message_without_template_is_a_customer_service_text() -> None:
    request = build_request(custom_message(3, "收到，谢谢"))
    assert request.path == CUSTOM_PATH
    assert request.payload == {
        "touser": openid(3),
        "msgtype": "text",
        "text": {"content": "收到，谢谢"},
    }


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("一" * 21, "field_too_long"),
        ("第一行\n第二行", "field_line_break"),
        ("甲\r乙", "field_line_break"),
    ],
)
def test_a_field_wechat_would_refuse_is_refused_naming_it(value: str, code: str) -> None:
    with pytest.raises(PermanentError) as caught:
        build_request(template_message(1, thing3=value))
    assert caught.value.code == code
    assert "thing3" in str(caught.value)
    assert not isinstance(caught.value, ProviderConfigError)
    build_request(template_message(1, thing3="一" * 20))  # exactly 20 characters is fine


@pytest.mark.parametrize(
    ("errcode", "kind"),
    [
        (43004, OptedOutError),
        (43101, OptedOutError),
        (45015, PermanentError),
        (45047, PermanentError),
        (40003, PermanentError),
        (40037, ProviderConfigError),
        (40036, ProviderConfigError),
        (47003, ProviderConfigError),
        (40013, ProviderConfigError),
        (40125, ProviderConfigError),
        (48001, ProviderConfigError),
        (40001, RetryableError),
        (40014, RetryableError),
        (42001, RetryableError),
        (-1, RetryableError),
        (45009, RateLimitedError),
        (61234, PermanentError),
    ],
)
def test_each_errcode_maps_to_its_documented_error(errcode: int, kind: type[ChannelError]) -> None:
    error = classify_errcode(errcode, "errmsg rid: x")
    assert type(error) is kind
    assert error.code == str(errcode)


def test_the_daily_quota_is_retried_after_midnight_in_shanghai(clock: FixedClock) -> None:
    error = classify_errcode(45009, "reach max api daily quota limit", clock.now())
    assert isinstance(error, RetryableError)
    assert error.retry_after == 14 * 3600  # 10:00 → 24:00 Shanghai


def test_unreadable_answers_and_http_errors_are_retried() -> None:
    message = custom_message(1)
    for status, body in ((502, b"bad gateway"), (200, b"<html>"), (200, b"[1]")):
        assert isinstance(parse_response(status, body, message), RetryableError)
    ok = parse_response(200, b'{"errcode":0,"errmsg":"ok","msgid":200228332}', message)
    assert ok == SendResult(1, "200228332")


def test_a_refused_token_request_is_a_config_error_unless_transient() -> None:
    with pytest.raises(ProviderConfigError):
        parse_token_response(200, b'{"errcode":40125,"errmsg":"invalid appsecret"}')
    with pytest.raises(ProviderConfigError):
        parse_token_response(200, b'{"errcode":40001,"errmsg":"invalid credential"}')
    with pytest.raises(RetryableError):
        parse_token_response(200, b'{"errcode":-1,"errmsg":"system error"}')
    assert parse_token_response(200, b'{"access_token":"T","expires_in":7200}') == ("T", 7200)


# --- through the fake -------------------------------------------------------------------------


async def test_a_template_message_is_sent_and_its_msgid_returned(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    assert isinstance(channel, Channel)
    [result] = await channel.send_batch([template_message(1)])
    [call] = fake.sent(TEMPLATE_PATH)
    assert result == SendResult(1, call.msgid)
    assert call.payload["touser"] == openid(1)
    assert call.payload["data"]["thing2"] == {"value": "市营商环境建设监督局"}


async def test_a_field_over_20_characters_is_refused_before_anything_is_sent(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    [result] = await channel.send_batch([template_message(1, thing2="一" * 21)])
    assert isinstance(result, PermanentError)
    assert "thing2" in str(result)
    assert fake.received == []
    assert fake.token_calls == 0


async def test_an_expired_token_is_refreshed_once_and_the_send_succeeds(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    [first] = await channel.send_batch([template_message(1)])
    assert isinstance(first, SendResult)
    fake.expire_tokens()
    [second] = await channel.send_batch([template_message(2)])
    assert isinstance(second, SendResult)
    assert fake.token_calls == 2
    assert [c.errcode for c in fake.received] == [0, 42001, 0]


async def test_a_token_refused_twice_is_retryable_after_one_retry(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    fake.switches.errcode = 40001
    [result] = await channel.send_batch([template_message(1)])
    assert isinstance(result, RetryableError)
    assert result.code == "40001"
    assert [c.errcode for c in fake.received] == [40001, 40001]


async def test_concurrent_sends_with_no_token_make_one_stable_token_call(
    base_url: str,
    session: aiohttp.ClientSession,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    fake: WechatApiFake,
) -> None:
    one = make_channel(base_url, session, redis_client, redis_keys, clock)
    other = make_channel(base_url, session, redis_client, redis_keys, clock)  # another process
    results = [
        *await one.send_batch([template_message(1), template_message(2)]),
        *await other.send_batch([template_message(3)]),
    ]
    assert all(isinstance(r, SendResult) for r in results)
    assert fake.token_calls == 1


async def test_two_channels_sending_at_once_share_one_token_fetch(
    base_url: str,
    session: aiohttp.ClientSession,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    fake: WechatApiFake,
) -> None:
    channels = [make_channel(base_url, session, redis_client, redis_keys, clock) for _ in range(2)]
    batches = await asyncio.gather(
        channels[0].send_batch([template_message(1), template_message(2)]),
        channels[1].send_batch([template_message(3), template_message(4)]),
    )
    assert all(isinstance(r, SendResult) for batch in batches for r in batch)
    assert fake.token_calls == 1


async def test_a_user_who_left_or_refuses_is_an_opt_out(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    fake.unfollow(openid(1))
    fake.refusing.add(openid(2))
    results = await channel.send_batch(
        [template_message(1), template_message(2), template_message(3)]
    )
    assert isinstance(results[0], OptedOutError)
    assert results[0].code == "43004"
    assert isinstance(results[1], OptedOutError)
    assert results[1].code == "43101"
    assert isinstance(results[2], SendResult)


async def test_customer_service_text_goes_within_48_hours_and_fails_permanently_after(
    channel: WechatMpChannel, fake: WechatApiFake, clock: FixedClock
) -> None:
    now = clock.now().timestamp()
    fake.user_messaged(openid(1), at=now - 47 * 3600)
    fake.user_messaged(openid(2), at=now - 49 * 3600)
    results = await channel.send_batch([custom_message(1), custom_message(2), custom_message(3)])
    assert results[0] == SendResult(1, None)
    for result in results[1:]:
        assert type(result) is PermanentError
        assert result.code == "45015"
    [call] = fake.sent(CUSTOM_PATH)
    assert call.payload["text"] == {"content": "您的诉求已转市场监管局办理，请耐心等待。"}


async def test_more_than_five_replies_to_one_user_message_fail_permanently(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    fake.user_messaged(openid(1))
    replies = [custom_message(1, f"第{n}条回复") for n in range(6)]
    results = [(await channel.send_batch([r]))[0] for r in replies]
    assert all(isinstance(r, SendResult) for r in results[:5])
    assert isinstance(results[5], PermanentError)
    assert results[5].code == "45047"


async def test_error_switches_give_retryable_errors(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    fake.switches.error_rate = 1.0
    [busy] = await channel.send_batch([template_message(1)])
    assert isinstance(busy, RetryableError)
    assert busy.code == "-1"
    fake.switches.error_rate = 0.0
    fake.switches.errcode = 45009
    fake.switches.errcode_for = (openid(2),)
    results = await channel.send_batch([template_message(2), template_message(3)])
    assert isinstance(results[0], RetryableError)
    assert results[0].code == "45009"
    assert results[0].retry_after == 14 * 3600
    assert isinstance(results[1], SendResult)


async def test_refusals_of_our_configuration_are_provider_config_errors(
    base_url: str,
    session: aiohttp.ClientSession,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    fake: WechatApiFake,
) -> None:
    wrong = make_channel(base_url, session, redis_client, redis_keys, clock, secret="wrong")
    results = await wrong.send_batch([template_message(1), template_message(2)])
    assert all(isinstance(r, ProviderConfigError) and r.code == "40125" for r in results)
    assert fake.received == []

    channel = make_channel(base_url, session, redis_client, redis_keys, clock)
    unknown = template_message(3)
    unknown.params["template_ids"] = {"wechat": "TPL_NOT_ADDED"}
    fake.switches.errcode, fake.switches.errcode_for = 48001, (openid(4),)
    results = await channel.send_batch([unknown, template_message(4)])
    assert isinstance(results[0], ProviderConfigError)
    assert results[0].code == "40037"
    assert isinstance(results[1], ProviderConfigError)
    assert results[1].code == "48001"


async def test_an_unknown_openid_fails_permanently(channel: WechatMpChannel) -> None:
    message = OutboundMessage(
        9, "oNotAUserOfThisAccount00000", "x", "notice", template_message(9).params
    )
    [result] = await channel.send_batch([message])
    assert type(result) is PermanentError
    assert result.code == "40003"


async def test_a_resent_message_is_delivered_once(
    channel: WechatMpChannel, fake: WechatApiFake
) -> None:
    [first] = await channel.send_batch([template_message(1)])
    [again] = await channel.send_batch([template_message(1)])  # e.g. the answer was lost
    assert first == again
    assert len(fake.sent(TEMPLATE_PATH)) == 1


async def test_an_unreachable_api_is_retryable(
    session: aiohttp.ClientSession, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = make_channel(f"http://127.0.0.1:{port}", session, redis_client, redis_keys, clock)
    [result] = await channel.send_batch([template_message(1)])
    assert isinstance(result, RetryableError)
    assert result.code == "Network"


async def test_the_channel_registers_under_its_logical_name(
    session: aiohttp.ClientSession, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    registry = ChannelRegistry()
    registry.register(
        make_channel("https://api.weixin.qq.com", session, redis_client, redis_keys, clock)
    )
    assert registry.names() == ["wechat"]
    assert WechatMpChannel.provider == "wechat_mp"


async def test_a_slow_api_times_out_as_retryable(
    base_url: str,
    session: aiohttp.ClientSession,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    fake: WechatApiFake,
) -> None:
    config = WechatAppSettings(kind="official_account", app_id=APP_ID, secret=SECRET,
                               api_base=base_url)  # fmt: skip
    impatient = WechatMpChannel("main", config, session, redis_client, redis_keys, clock,
                                timeout_s=0.05)  # fmt: skip
    fake.switches.latency_s = 0.3
    [result] = await impatient.send_batch([template_message(1)])
    assert isinstance(result, RetryableError)
    assert result.code == "Network"


async def test_the_fake_stable_token_keeps_its_token_unless_forced(
    base_url: str, session: aiohttp.ClientSession, fake: WechatApiFake
) -> None:
    body = {"grant_type": "client_credential", "appid": APP_ID, "secret": SECRET}

    async def stable_token(force: bool) -> dict[str, object]:
        url = f"{base_url}/cgi-bin/stable_token"
        async with session.post(url, json={**body, "force_refresh": force}) as response:
            return dict(await response.json())

    first, again = await stable_token(False), await stable_token(False)
    assert first == again
    assert first["expires_in"] == 7200
    forced = await stable_token(True)
    assert forced["access_token"] != first["access_token"]
    send = f"{base_url}{TEMPLATE_PATH}?access_token={first['access_token']}"
    async with session.post(send, json=build_request(template_message(1)).payload) as response:
        answer = await response.json()
    assert answer["errcode"] == 40001
    assert str(answer["errmsg"]).startswith("invalid credential")
    assert " rid: " in answer["errmsg"]
