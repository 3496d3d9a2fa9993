"""Telegram Bot API through aiogram 3: one ``sendMessage`` per message, inline keyboards.

Optional and off in the shipped config: Telegram is unreachable from mainland China, where WeCom
serves officers (docs/design.md). The channel wraps an aiogram :class:`~aiogram.Bot` whose
``AiohttpSession`` speaks to ``TelegramAPIServer.from_base(api_base)`` (``channels.telegram
.api_base``), so tests and drills aim it at :mod:`channels.fakes.telegram_api`. aiogram's
session opens its own ``aiohttp.ClientSession``; Telegram volume is small, so the channel does
not share the runtime's.

Pure core, I/O at the edge: :func:`build_request` turns a message into aiogram's ``SendMessage``
(chat id, text of at most 4,096 characters, the keyboard ``params["keyboard"]`` names, see
:mod:`channels.telegram.keyboards`), :func:`error_of` maps aiogram's exceptions (themselves
aiogram's ``check_response`` of the HTTP status and JSON) onto the hub's errors:

========================================  ===========================================
``TelegramRetryAfter`` (429)              :class:`RateLimitedError` with ``retry_after``
``TelegramForbiddenError`` (403 blocked)  :class:`OptedOutError` (the user blocked the bot)
``TelegramBadRequest`` (400 chat not …)   :class:`PermanentError`
``TelegramUnauthorizedError`` (401)       :class:`ProviderConfigError` (the token)
``TelegramServerError``, network errors   :class:`RetryableError`
========================================  ===========================================

``SendResult.provider_message_id`` is ``"<chat_id>:<message_id>"``: Telegram's message ids are
unique per chat only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import ClassVar, Final

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage

from channels.base import (
    ChannelError,
    ChannelLimits,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from channels.telegram.keyboards import UnknownKeyboard, keyboard_for
from channels.telegram.limits import TELEGRAM_LIMITS
from channels.telegram.settings import TelegramSettings
from hub.core.identifiers import normalize_telegram_chat_id

MAX_TEXT: Final = 4096  # characters of a message's text, after entity parsing

Result = SendResult | ChannelError


def build_bot(settings: TelegramSettings, *, timeout_s: float = 10.0) -> Bot:
    """A Bot with ``settings.token``, aimed at ``settings.api_base``; its session opens on first
    use, close it with ``await bot.session.close()``."""
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.api_base), timeout=timeout_s)
    return Bot(settings.required("token"), session=session)


def provider_message_id(chat_id: int | str, message_id: int) -> str:
    """The id the hub keeps for a Telegram message (sent or received)."""
    return f"{chat_id}:{message_id}"


def build_request(message: OutboundMessage) -> SendMessage:
    """The ``sendMessage`` call for one message; :class:`PermanentError` if it cannot be one."""
    try:
        chat_id = int(normalize_telegram_chat_id(message.address))
    except ValueError as exc:
        raise PermanentError(f"Telegram 地址 {exc}", code="InvalidChatId") from None
    if not message.body.strip():
        raise PermanentError("Telegram 消息正文为空", code="EmptyText")
    if len(message.body) > MAX_TEXT:
        raise PermanentError(
            f"Telegram 消息 {len(message.body)} 字，超过上限 {MAX_TEXT} 字", code="MessageTooLong"
        )
    try:
        keyboard = keyboard_for(message.params)
    except UnknownKeyboard as exc:
        raise PermanentError(str(exc), code="UnknownKeyboard") from None
    # Plain text, whatever the Bot's defaults: a body with '<' or '*' is not markup.
    return SendMessage(chat_id=chat_id, text=message.body, parse_mode=None, reply_markup=keyboard)


def error_of(exc: TelegramAPIError | ClientDecodeError) -> ChannelError:
    """The hub's error for an aiogram error (see the module docstring's table)."""
    if isinstance(exc, ClientDecodeError):
        return RetryableError(f"Telegram 应答无法解析: {exc}", code="Decode")
    detail = exc.message
    if isinstance(exc, TelegramRetryAfter):
        return RateLimitedError(
            f"Telegram 限流，{exc.retry_after} 秒后重试 ({detail})",
            code="429",
            retry_after=float(exc.retry_after),
        )
    if isinstance(exc, TelegramForbiddenError):
        if "can't initiate conversation" in detail:
            # The chat never started the bot: not a refusal, but nothing can reach it either.
            return PermanentError(f"对方尚未启用机器人 ({detail})", code="403")
        return OptedOutError(f"对方已屏蔽或停用机器人 ({detail})", code="403")
    if isinstance(exc, TelegramUnauthorizedError):
        return ProviderConfigError(f"Telegram 拒绝机器人令牌 (token): {detail}", code="401")
    if isinstance(exc, TelegramNotFound):
        return ProviderConfigError(f"Telegram 接口地址或令牌错误 (api_base): {detail}", code="404")
    if isinstance(exc, TelegramMigrateToChat):
        return PermanentError(
            f"群组已升级，新的 chat id 为 {exc.migrate_to_chat_id} ({detail})", code="400"
        )
    if isinstance(exc, TelegramBadRequest):
        if "chat not found" in detail.lower():
            return PermanentError(f"Telegram 找不到该会话 ({detail})", code="ChatNotFound")
        return PermanentError(f"Telegram 拒绝该消息 ({detail})", code="400")
    if isinstance(exc, TelegramEntityTooLarge):
        return PermanentError(f"Telegram 消息过大 ({detail})", code="413")
    if isinstance(exc, TelegramServerError):
        return RetryableError(f"Telegram 服务端错误 ({detail})", code="5xx")
    if isinstance(exc, TelegramNetworkError):
        return RetryableError(f"Telegram 网络错误 ({detail})", code="Network")
    return RetryableError(f"Telegram 错误 ({type(exc).__name__}: {detail})", code="Telegram")


class TelegramChannel:
    """``sendMessage`` per message, concurrently, at most ``concurrency`` requests in flight.

    Give it a :class:`Bot` (the runtime shares one with the webhook, which answers chats through
    it) or build one with :meth:`from_settings`; it closes the bot's session only in that case.
    """

    name: ClassVar[str] = "telegram"
    provider: ClassVar[str] = "telegram"
    limits: ClassVar[ChannelLimits] = TELEGRAM_LIMITS
    #: Each message is its own request; a batch is what one dispatcher claim sends at once.
    max_batch: ClassVar[int] = 30
    #: Telegram's broadcast limit is about 30 messages a second to different chats.
    default_qps: ClassVar[float] = 25.0

    def __init__(
        self,
        bot: Bot,
        *,
        qps: float | None = None,
        concurrency: int = 16,
        close_bot: bool = False,
    ) -> None:
        self.qps = qps or self.default_qps
        self._bot = bot
        self._close_bot = close_bot
        self._slots = asyncio.Semaphore(concurrency)

    @classmethod
    def from_settings(
        cls, settings: TelegramSettings, *, concurrency: int = 16, timeout_s: float = 10.0
    ) -> TelegramChannel:
        """A channel with a Bot of its own (closed by :meth:`aclose`), sending at
        ``settings.qps``."""
        bot = build_bot(settings, timeout_s=timeout_s)
        return cls(bot, qps=settings.qps, concurrency=concurrency, close_bot=True)

    @property
    def bot(self) -> Bot:
        return self._bot

    async def send_batch(self, messages: Sequence[OutboundMessage]) -> list[Result]:
        return list(await asyncio.gather(*(self._send(m) for m in messages)))

    async def _send(self, message: OutboundMessage) -> Result:
        try:
            request = build_request(message)
        except ChannelError as refused:
            return refused
        async with self._slots:
            try:
                sent = await self._bot(request)
            except (TelegramAPIError, ClientDecodeError) as exc:
                return error_of(exc)
        return SendResult(message.message_id, provider_message_id(sent.chat.id, sent.message_id))

    async def aclose(self) -> None:
        """Close the bot's HTTP session if this channel created the bot."""
        if self._close_bot:
            await self._bot.session.close()
