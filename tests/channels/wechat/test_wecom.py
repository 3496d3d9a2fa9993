"""WeCom app messages: msgtype choice, cards, grouping, error mapping, and sends through the fake.

The channel talks to ``channels.fakes.wecom_api`` over real HTTP through one shared aiohttp
session; the access token is cached in real Redis; time is a FixedClock the fake shares.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from redis.asyncio import Redis

from channels.base import (
    Channel,
    ChannelError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.fakes.wecom_api import WecomApiFake
from channels.wechat.settings import WechatAppSettings
from channels.wechat.wecom import (
    WecomChannel,
    build_request,
    classify_errcode,
    message_content,
    parse_response,
    plan_requests,
    rating_card,
    visit_card,
)
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys

CORP_ID = "ww0123456789abcdef"
SECRET = "test-wecom-secret"
AGENT_ID = 1000002
USERS = ("ZhangWei", "li.si", "wang_fang@dept")

MakeChannel = Callable[..., WecomChannel]


def message(i: int, user: str, body: str = "", **params: Any) -> OutboundMessage:
    text = body or f"走访提醒：请于11月26日上午10:00走访企业{i}"
    return OutboundMessage(i, user, text, "visit_reminder", params)


def config(base_url: str, *, secret: str = SECRET, agent_id: int = AGENT_ID) -> WechatAppSettings:
    return WechatAppSettings(
        kind="wecom", corp_id=CORP_ID, agent_id=str(agent_id), secret=secret, api_base=base_url
    )


@pytest.fixture
def fake(clock: FixedClock) -> WecomApiFake:
    return WecomApiFake(
        CORP_ID, SECRET, AGENT_ID, users=USERS, clock=lambda: clock.now().timestamp()
    )


@pytest.fixture
async def base_url(fake: WecomApiFake) -> AsyncIterator[str]:
    async with fake.serve() as url:
        yield url


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def make(
    base_url: str,
    session: aiohttp.ClientSession,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
) -> MakeChannel:
    def build(**kw: Any) -> WecomChannel:
        return WecomChannel("staff", config(base_url, **kw), session, redis_client, redis_keys,
                            clock)  # fmt: skip

    return build


@pytest.fixture
def channel(make: MakeChannel) -> WecomChannel:
    return make()


# --- content, cards and grouping (pure) -------------------------------------------------------


def test_the_msgtype_comes_from_params_then_the_markdown_flag_then_text() -> None:
    assert message_content(message(1, "li.si", "你好")) == ("text", {"content": "你好"})
    assert message_content(message(1, "li.si", "**重点**", markdown=True)) == (
        "markdown",
        {"content": "**重点**"},
    )
    card = rating_card("rate-GD0012", "请评价诉求办理", "GD0012 用电增容")
    spec = {"msgtype": "template_card", "template_card": card}
    assert message_content(message(1, "li.si", wecom=spec)) == ("template_card", card)
    named = {"msgtype": "markdown", "markdown": {"content": "# 标题"}}
    assert message_content(message(1, "li.si", wecom=named)) == ("markdown", {"content": "# 标题"})
    with pytest.raises(PermanentError):
        message_content(message(1, "li.si", wecom={"msgtype": "voice"}))
    with pytest.raises(PermanentError):
        message_content(message(1, "li.si", wecom={"msgtype": "template_card"}))


def test_the_rating_card_has_the_five_levels_and_the_visit_card_confirm_or_reschedule() -> None:
    card = rating_card("rate-GD0012", "请评价诉求办理", "GD0012 用电增容")
    assert card["card_type"] == "button_interaction"
    assert card["task_id"] == "rate-GD0012"
    assert [b["text"] for b in card["button_list"]] == [
        "5 非常满意",
        "4 满意",
        "3 基本满意",
        "2 不满意",
        "1 非常不满意",
    ]
    assert [b["key"] for b in card["button_list"]] == [f"rating:{n}" for n in (5, 4, 3, 2, 1)]
    visit = visit_card("visit-88", "走访预约", "11月26日上午10:00")
    assert [b["key"] for b in visit["button_list"]] == ["visit:confirm", "visit:reschedule"]
    with pytest.raises(ValueError, match="task_id"):
        rating_card("rate:GD0012", "请评价", "")  # ':' is not allowed in a task_id


def test_identical_content_shares_a_call_and_a_repeated_user_starts_another() -> None:
    same = "全体联络员：本周五下午召开走访工作例会"
    messages = [
        message(1, "ZhangWei", same),
        message(2, "li.si", same),
        message(3, "zhangwei", same),  # the same user in other case: a second call
        message(4, "li.si", "个性化内容"),
        message(5, "li.si", " "),  # empty: refused before sending
    ]
    requests, refused = plan_requests(messages)
    assert [r.positions for r in requests] == [(0, 1), (2,), (3,)]
    assert list(refused) == [4]
    body = build_request(requests[0], config("http://x"))
    assert body == {
        "touser": "ZhangWei|li.si",
        "msgtype": "text",
        "agentid": AGENT_ID,
        "text": {"content": same},
    }


@pytest.mark.parametrize(
    ("errcode", "kind", "code"),
    [
        (40014, RetryableError, "40014"),
        (42001, RetryableError, "42001"),
        (81013, PermanentError, "invaliduser"),
        (60020, ProviderConfigError, "60020"),
        (40056, ProviderConfigError, "40056"),
        (301002, ProviderConfigError, "301002"),
        (45009, RateLimitedError, "45009"),
        (-1, RetryableError, "-1"),
        (42014, PermanentError, "42014"),
        (99999, PermanentError, "99999"),
    ],
)
def test_each_errcode_maps_to_its_documented_error(
    errcode: int, kind: type[ChannelError], code: str
) -> None:
    error = classify_errcode(errcode, "errmsg, hint: [1]")
    assert type(error) is kind
    assert error.code == code


def test_invaliduser_fails_only_those_users_in_any_case() -> None:
    messages = [message(1, "ZhangWei"), message(2, "Ghost.User")]
    body = b'{"errcode":0,"errmsg":"ok","invaliduser":"ghost.user","msgid":"m1"}'
    ok, invalid = parse_response(200, body, messages)
    assert ok == SendResult(1, "m1")
    assert isinstance(invalid, PermanentError)
    assert invalid.code == "invaliduser"
    assert all(isinstance(r, RetryableError) for r in parse_response(503, b"", messages))


# --- through the fake -------------------------------------------------------------------------


async def test_a_text_message_is_sent_with_the_app_agentid(
    channel: WecomChannel, fake: WecomApiFake
) -> None:
    assert isinstance(channel, Channel)
    [result] = await channel.send_batch([message(1, "li.si", "请于本周五前提交走访记录")])
    [call] = fake.sent()
    assert result == SendResult(1, call.msgid)
    assert call.payload == {
        "touser": "li.si",
        "msgtype": "text",
        "agentid": AGENT_ID,
        "text": {"content": "请于本周五前提交走访记录"},
    }


async def test_markdown_and_template_card_messages_are_sent(
    channel: WecomChannel, fake: WecomApiFake
) -> None:
    card = rating_card("rate-GD0012", "请评价诉求办理", "GD0012 用电增容")
    results = await channel.send_batch([
        message(1, "li.si", "**逾期提醒**：GD0012 还剩 1 个工作日", markdown=True),
        message(2, "ZhangWei", wecom={"msgtype": "template_card", "template_card": card}),
    ])  # fmt: skip
    assert all(isinstance(r, SendResult) for r in results)
    markdown, card_call = sorted(fake.sent(), key=lambda c: str(c.payload["msgtype"]))
    assert markdown.payload["markdown"] == {"content": "**逾期提醒**：GD0012 还剩 1 个工作日"}
    assert card_call.payload["template_card"] == card
    assert fake.task_ids == {"rate-GD0012"}


async def test_a_reused_task_id_fails_permanently(
    channel: WecomChannel, fake: WecomApiFake
) -> None:
    spec = {"msgtype": "template_card", "template_card": visit_card("visit-7", "走访预约", "")}
    [first] = await channel.send_batch([message(1, "li.si", wecom=spec)])
    [second] = await channel.send_batch([message(2, "ZhangWei", wecom=spec)])
    assert isinstance(first, SendResult)
    assert type(second) is PermanentError
    assert second.code == "42014"


async def test_an_invalid_user_fails_for_that_user_only(
    channel: WecomChannel, fake: WecomApiFake
) -> None:
    same = "全体联络员：本周五下午召开走访工作例会"
    results = await channel.send_batch(
        [message(1, "ZhangWei", same), message(2, "left.the.corp", same), message(3, "li.si", same)]
    )
    assert isinstance(results[0], SendResult)
    assert type(results[1]) is PermanentError
    assert results[1].code == "invaliduser"
    assert isinstance(results[2], SendResult)
    assert len(fake.sent()) == 1  # one call for the three
    assert fake.delivered("zhangwei")
    assert fake.delivered("li.si")
    assert not fake.delivered("left.the.corp")
    [alone] = await channel.send_batch([message(4, "left.the.corp")])
    assert type(alone) is PermanentError
    assert alone.code == "invaliduser"  # 81013: every recipient invalid


async def test_an_expired_token_is_refreshed_once_and_the_send_succeeds(
    channel: WecomChannel, fake: WecomApiFake
) -> None:
    assert isinstance((await channel.send_batch([message(1, "li.si")]))[0], SendResult)
    fake.expire_tokens()
    assert isinstance((await channel.send_batch([message(2, "li.si")]))[0], SendResult)
    assert fake.token_calls == 2
    assert [c.errcode for c in fake.received] == [0, 42001, 0]


async def test_concurrent_sends_with_no_token_make_one_gettoken_call(
    make: MakeChannel, fake: WecomApiFake
) -> None:
    first, second = make(), make()  # two processes sharing Redis
    batches = await asyncio.gather(
        first.send_batch([message(1, "li.si"), message(2, "ZhangWei")]),
        second.send_batch([message(3, "wang_fang@dept")]),
    )
    assert all(isinstance(r, SendResult) for batch in batches for r in batch)
    assert fake.token_calls == 1


async def test_error_switches_give_retryable_errors(
    channel: WecomChannel, fake: WecomApiFake
) -> None:
    fake.switches.error_rate = 1.0
    [busy] = await channel.send_batch([message(1, "li.si")])
    assert isinstance(busy, RetryableError)
    assert busy.code == "-1"
    fake.switches.error_rate = 0.0
    fake.switches.errcode, fake.switches.errcode_for = 45009, ("ZhangWei",)
    limited, ok = await channel.send_batch([message(2, "ZhangWei"), message(3, "li.si")])
    assert isinstance(limited, RetryableError)
    assert limited.code == "45009"
    assert limited.retry_after == 60.0
    assert isinstance(ok, SendResult)


@pytest.mark.parametrize("errcode", [60020, 301002])
async def test_switched_config_refusals_are_provider_config_errors(
    channel: WecomChannel, fake: WecomApiFake, errcode: int
) -> None:
    fake.switches.errcode = errcode
    [result] = await channel.send_batch([message(1, "li.si")])
    assert isinstance(result, ProviderConfigError)
    assert result.code == str(errcode)


async def test_a_wrong_secret_or_agentid_is_a_provider_config_error(
    make: MakeChannel, fake: WecomApiFake
) -> None:
    [secret] = await make(secret="wrong").send_batch([message(1, "li.si")])
    assert isinstance(secret, ProviderConfigError)
    assert secret.code == "40001"
    assert fake.received == []
    [agent] = await make(agent_id=1000099).send_batch([message(2, "li.si")])
    assert isinstance(agent, ProviderConfigError)
    assert agent.code == "40056"
