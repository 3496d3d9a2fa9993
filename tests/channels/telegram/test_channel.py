"""Telegram channel: the pure request and error mapping, then sends through the loopback fake Bot
API (aiogram's real session and ``check_response`` on the fake's real error shapes)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiohttp import web

from channels.base import (
    ChannelError,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RetryableError,
    SendResult,
)
from channels.fakes.telegram_api import SECRET_HEADER, TelegramBotApiFake
from channels.telegram.channel import (
    MAX_TEXT,
    TelegramChannel,
    build_request,
    error_of,
)
from channels.telegram.keyboards import (
    RatingCallback,
    VisitCallback,
    keyboard_for,
    rating_keyboard,
    reply_text,
)
from channels.telegram.settings import TelegramSettings

TOKEN = "123456789:AAHtest-token_for-the-fake"
CHAT = 700000001


def message(i: int = 1, *, chat: int = CHAT, body: str = "", **params: object) -> OutboundMessage:
    return OutboundMessage(
        message_id=i,
        address=str(chat),
        body=body or f"甲机械：您的诉求 T{i:04d} 已办结，请评价",
        kind="ticket_feedback",
        params=dict(params),
    )


# --- pure -----------------------------------------------------------------------------------


def test_the_rating_keyboard_has_the_five_levels_in_order_with_packed_callback_data() -> None:
    [row] = rating_keyboard(ref="T0001").inline_keyboard
    assert [b.text for b in row] == [
        "5 非常满意",
        "4 满意",
        "3 基本满意",
        "2 不满意",
        "1 非常不满意",
    ]
    assert [b.callback_data for b in row] == [f"rate:{n}:T0001" for n in (5, 4, 3, 2, 1)]
    assert RatingCallback.unpack("rate:3:") == RatingCallback(level=3, ref=None)


def test_the_visit_keyboard_confirms_or_reschedules_its_visit() -> None:
    markup = keyboard_for({"keyboard": "visit", "visit_id": 42})
    assert markup is not None
    [row] = markup.inline_keyboard
    assert [(b.text, b.callback_data) for b in row] == [
        ("确认走访", "visit:confirm:42"),
        ("申请改期", "visit:reschedule:42"),
    ]
    assert reply_text(VisitCallback.unpack("visit:reschedule:42")) == "visit:reschedule:42"
    assert reply_text(RatingCallback(level=5)) == "rating:5"


def test_build_request_sends_plain_text_to_the_chat_with_the_keyboard_asked_for() -> None:
    request = build_request(message(body="<b>不是标记</b>", keyboard="rating"))
    assert isinstance(request, SendMessage)
    assert request.chat_id == CHAT
    assert request.text == "<b>不是标记</b>"
    assert request.parse_mode is None
    assert request.reply_markup == rating_keyboard()
    assert build_request(message()).reply_markup is None


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (message(body="字" * (MAX_TEXT + 1)), "MessageTooLong"),
        (OutboundMessage(1, "not-a-chat", "正文", "notice"), "InvalidChatId"),
        (message(keyboard="poll"), "UnknownKeyboard"),
        (message(keyboard="visit"), "UnknownKeyboard"),
        (message(keyboard="rating", rating_ref="a:b"), "UnknownKeyboard"),
    ],
)
def test_build_request_refuses_what_telegram_would_refuse(msg: OutboundMessage, code: str) -> None:
    with pytest.raises(PermanentError) as refused:
        build_request(msg)
    assert refused.value.code == code


def test_a_body_of_exactly_4096_characters_is_allowed() -> None:
    assert build_request(message(body="字" * MAX_TEXT)).text == "字" * MAX_TEXT


_METHOD = SendMessage(chat_id=CHAT, text="x")
_BLOCKED = "Forbidden: bot was blocked by the user"
_NEVER_STARTED = "Forbidden: bot can't initiate conversation with a user"


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (TelegramForbiddenError(_METHOD, _BLOCKED), OptedOutError, "403"),
        (TelegramForbiddenError(_METHOD, _NEVER_STARTED), PermanentError, "403"),
        (TelegramBadRequest(_METHOD, "Bad Request: chat not found"), PermanentError,
         "ChatNotFound"),
        (TelegramBadRequest(_METHOD, "Bad Request: message is too long"), PermanentError, "400"),
        (TelegramUnauthorizedError(_METHOD, "Unauthorized"), ProviderConfigError, "401"),
        (TelegramNotFound(_METHOD, "Not Found"), ProviderConfigError, "404"),
        (TelegramServerError(_METHOD, "Internal Server Error"), RetryableError, "5xx"),
        (TelegramNetworkError(_METHOD, "ClientConnectorError: refused"), RetryableError, "Network"),
    ],
)  # fmt: skip
def test_error_of_maps_each_telegram_error(
    error: TelegramAPIError, expected: type[ChannelError], code: str
) -> None:
    mapped = error_of(error)
    assert type(mapped) is expected
    assert mapped.code == code


def test_retry_after_carries_telegrams_wait() -> None:
    mapped = error_of(TelegramRetryAfter(_METHOD, "Too Many Requests: retry after 7", 7))
    assert isinstance(mapped, RetryableError)
    assert mapped.retry_after == 7.0


# --- through the fake -----------------------------------------------------------------------


@pytest.fixture
def fake() -> TelegramBotApiFake:
    return TelegramBotApiFake(TOKEN)


@pytest.fixture
async def channel(fake: TelegramBotApiFake) -> AsyncIterator[TelegramChannel]:
    async with fake.serve() as base_url:
        channel = TelegramChannel.from_settings(TelegramSettings(token=TOKEN, api_base=base_url))
        try:
            yield channel
        finally:
            await channel.aclose()


async def test_messages_go_out_with_their_keyboards_and_chat_scoped_ids(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    results = await channel.send_batch(
        [
            message(1, keyboard="rating", rating_ref="T0001"),
            message(2, chat=CHAT + 1),
            message(3, keyboard="visit", visit_id=9),
        ]
    )
    assert results == [
        SendResult(1, f"{CHAT}:1"),
        SendResult(2, f"{CHAT + 1}:1"),
        SendResult(3, f"{CHAT}:2"),
    ]
    by_chat = {(s.chat_id, s.message_id): s for s in fake.sent}
    first = by_chat[(CHAT, 1)]
    assert first.text == "甲机械：您的诉求 T0001 已办结，请评价"
    assert first.reply_markup is not None
    buttons = [b["callback_data"] for b in first.reply_markup["inline_keyboard"][0]]
    assert buttons == [f"rate:{n}:T0001" for n in (5, 4, 3, 2, 1)]
    assert by_chat[(CHAT + 1, 1)].reply_markup is None
    visit = by_chat[(CHAT, 2)].reply_markup
    assert visit is not None
    assert visit["inline_keyboard"][0][0]["callback_data"] == "visit:confirm:9"


async def test_429_is_retryable_after_the_seconds_telegram_asks(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    fake.switches.chat_errors = {str(CHAT): "too_many_requests"}
    fake.switches.retry_after = 3
    [result] = await channel.send_batch([message()])
    assert isinstance(result, RetryableError)
    assert result.retry_after == 3.0
    assert fake.sent == []


async def test_a_user_who_blocked_the_bot_is_an_opt_out(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    fake.switches.chat_errors = {str(CHAT + 1): "blocked"}
    results = await channel.send_batch([message(1), message(2, chat=CHAT + 1), message(3)])
    assert isinstance(results[0], SendResult)
    assert isinstance(results[1], OptedOutError)
    assert isinstance(results[2], SendResult)
    assert [s.chat_id for s in fake.sent] == [CHAT, CHAT]


async def test_chat_not_found_fails_permanently_without_an_opt_out(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    fake.switches.chat_errors = {str(CHAT): "chat_not_found"}
    [result] = await channel.send_batch([message()])
    assert isinstance(result, PermanentError)
    assert not isinstance(result, OptedOutError)
    assert result.code == "ChatNotFound"


async def test_server_errors_are_retryable(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    fake.switches.error_rate = 1.0
    fake.switches.random_error = "bad_gateway"
    results = await channel.send_batch([message(1), message(2)])
    assert all(isinstance(r, RetryableError) for r in results)


async def test_a_wrong_token_is_a_provider_config_error(fake: TelegramBotApiFake) -> None:
    async with fake.serve() as base_url:
        channel = TelegramChannel.from_settings(
            TelegramSettings(token="987654321:AAHsomeone-elses", api_base=base_url)
        )
        try:
            [result] = await channel.send_batch([message()])
        finally:
            await channel.aclose()
    assert isinstance(result, ProviderConfigError)
    assert result.code == "401"
    assert fake.sent == []


async def test_an_unreachable_api_is_retryable() -> None:
    with socket.socket() as sock:  # a port nobody listens on once the socket closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    channel = TelegramChannel.from_settings(
        TelegramSettings(token=TOKEN, api_base=f"http://127.0.0.1:{port}"), timeout_s=2
    )
    try:
        [result] = await channel.send_batch([message()])
    finally:
        await channel.aclose()
    assert isinstance(result, RetryableError)
    assert result.code == "Network"


async def test_a_message_the_channel_refuses_never_reaches_telegram(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    results = await channel.send_batch([message(1, body="字" * 5000), message(2)])
    assert isinstance(results[0], PermanentError)
    assert results[1] == SendResult(2, f"{CHAT}:1")
    assert [s.text for s in fake.sent] == [message(2).body]


# --- the fake behaves like Telegram where the hub depends on it -----------------------------


async def test_the_fake_refuses_get_updates_while_a_webhook_is_set(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    bot = channel.bot
    assert await bot.set_webhook(url="https://hub.example/webhooks/telegram", secret_token="s-1")
    with pytest.raises(TelegramConflictError):
        await bot.get_updates(timeout=0)
    assert await bot.delete_webhook()
    fake.push_update(fake.message_update(CHAT, "你好"))
    [update] = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.text == "你好"
    assert await bot.get_updates(offset=update.update_id + 1, timeout=0) == []


async def test_a_callback_query_can_be_answered_once(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    query_id = fake.callback_update(CHAT, "rate:5:")["callback_query"]["id"]
    assert await channel.bot.answer_callback_query(query_id, text="已收到您的评价")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await channel.bot.answer_callback_query(query_id, text="again")
    assert [(a.callback_query_id, a.text) for a in fake.callback_answers] == [
        (query_id, "已收到您的评价")
    ]


async def test_deliver_posts_the_update_with_the_registered_secret(
    channel: TelegramChannel, fake: TelegramBotApiFake
) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []

    async def webhook(request: web.Request) -> web.Response:
        received.append((request.headers.get(SECRET_HEADER), await request.json()))
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/telegram", webhook)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await channel.bot.set_webhook(
            url=f"http://127.0.0.1:{port}/webhooks/telegram", secret_token="s-2"
        )
        update = fake.start_update(CHAT, "abcdefghijklmnop")
        async with aiohttp.ClientSession() as session:
            assert await fake.deliver(update, session) == 200
    finally:
        await runner.cleanup()
    assert received == [("s-2", update)]
