"""The hub's Telegram bot: chats bound by deep link, replies and button presses in, polling.

One aiogram :class:`~aiogram.Router` (:func:`build_router`) serves both delivery modes: the
webhook (:mod:`hub.web.webhooks.telegram`, ``channels.telegram.mode: webhook``) feeds it through
``Dispatcher.feed_webhook_update``; :func:`run_polling` (``mode: polling``) through
``getUpdates``. Handlers, private chats only:

- ``/start <code>``: redeem a one-time link code and bind the chat
  (:mod:`hub.inbound.telegram_links`), answering "已绑定：<企业名称>"; a bad, used or expired code
  binds nothing.
- text from a linked chat: stored with :mod:`hub.inbound.accept_batch`'s group commit (provider id
  ``"<chat_id>:<message_id>"``); from an unlinked chat: nothing stored, the bot asks the person
  to bind first (a liaison officer's chat is stored: his commands, hub/inbound/officer_commands).
- a rating or visit button from a linked person: stored as ``rating:5`` / ``visit:confirm:42``
  / ``visit:slot:2:42`` (provider id: the callback query's id), then ``answerCallbackQuery``
  saying what was received (:func:`press_answer`); unlinked: only an answer; a button of no
  keyboard of ours: only an answer.

The Telegram channel reads the updates (``channels.telegram.updates``, through
:func:`channels.registry.telegram_updates`): its ids, its buttons' callback data. The bot decides
who may reply, stores and answers.

Storing comes first and its failure propagates (the webhook answers 500 and Telegram redelivers;
polling does not confirm the update). Answers to the chat come after and a failed answer is only
logged: the reply is already safe, and a redelivery would store nothing new anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Final, TypeVar

import structlog
from aiogram import Bot, Dispatcher, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramConflictError,
    TelegramRetryAfter,
)
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, Update

from channels.registry import telegram_updates
from hub.core.identifiers import mask_id
from hub.core.vocab import ChannelName
from hub.inbound.officer_commands import is_officer_chat
from hub.inbound.telegram_links import link_chat, linked_contact
from hub.web.webhooks.context import WebhookContext

log = structlog.get_logger(__name__)

ALLOWED_UPDATES: Final = ["message", "callback_query"]
UNLINKED: Final = "请先通过服务专员发送的链接绑定企业"
BOUND: Final = "已绑定：{name}"
BAD_CODE: Final = "绑定链接无效、已使用或已过期，请联系服务专员重新发送"
WELCOME: Final = "您好，已绑定企业，可直接在此回复服务专员"
TEXT_ONLY: Final = "目前只能接收文字消息"
RATING_RECEIVED: Final = "已收到您的评价"
VISIT_RECEIVED: Final = {
    "confirm": "已确认走访安排",
    "reschedule": "已收到改期申请，服务专员将与您联系",
}
SLOT_RECEIVED: Final = "已收到：您选择了第{n}个时间，服务专员将按时走访"
STALE_BUTTON: Final = "该按钮已失效"

T = TypeVar("T")


def build_router(ctx: WebhookContext) -> Router:
    """The handlers, bound to the hub's database, Redis, queue and clock."""
    router = Router(name="hub.telegram")
    updates = telegram_updates()
    router.message.filter(F.chat.type == ChatType.PRIVATE)

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        chat_id = str(message.chat.id)
        code = (command.args or "").strip()
        if not code:
            linked = await linked_contact(ctx.db, chat_id)
            await _say(message, WELCOME if linked else UNLINKED)
            return
        bound = await link_chat(ctx.db, ctx.redis, ctx.keys, ctx.clock, code, chat_id)
        if bound is None:
            log.info("telegram link refused", chat=mask_id(chat_id))
            await _say(message, BAD_CODE)
            return
        log.info("telegram chat bound", chat=mask_id(chat_id), contact=bound.contact_id,
                 again=bound.again)  # fmt: skip
        await _say(message, BOUND.format(name=bound.enterprise_name))

    @router.message(F.text)
    async def text(message: Message, event_update: Update) -> None:
        chat = str(message.chat.id)  # an officer's chat is no contact's: his commands come in
        if await linked_contact(ctx.db, chat) is None and not await is_officer_chat(ctx.db, chat):
            await _say(message, UNLINKED)
            return
        reply = updates.parse_reply(message, event_update)
        await ctx.accepter.accept(ChannelName.TELEGRAM, reply)

    @router.message()
    async def other(message: Message) -> None:
        linked = await linked_contact(ctx.db, str(message.chat.id))
        await _say(message, TEXT_ONLY if linked else UNLINKED)

    @router.callback_query()
    async def button(query: CallbackQuery, event_update: Update) -> None:
        reply = updates.parse_button(query, event_update)
        if reply is None:  # a button the hub never sent (stale or forged)
            await _answer(query, STALE_BUTTON)
            return
        # The person who pressed must be linked: in a private chat their id is the chat id.
        if await linked_contact(ctx.db, reply.sender) is None:
            await _answer(query, UNLINKED, alert=True)
            return
        await ctx.accepter.accept(ChannelName.TELEGRAM, reply)
        await _answer(query, press_answer(reply.text))

    return router


def press_answer(stored: str) -> str:
    """What the person who pressed is told, by what the press is stored as (``rating:5``,
    ``visit:confirm:42``, ``visit:slot:2:42``)."""
    parts = stored.split(":")
    if parts[0] == "rating":
        return RATING_RECEIVED
    if parts[1] == "slot":
        return SLOT_RECEIVED.format(n=parts[2])
    return VISIT_RECEIVED[parts[1]]


def build_dispatcher(ctx: WebhookContext) -> Dispatcher:
    """A dispatcher with the hub's router; one per bot process (webhook or polling)."""
    dispatcher = Dispatcher(name="hub")
    dispatcher.include_router(build_router(ctx))
    return dispatcher


async def _say(message: Message, text: str) -> None:
    try:
        await message.answer(text)
    except (TelegramAPIError, ClientDecodeError) as exc:
        log.warning("telegram answer failed", chat=mask_id(message.chat.id), error=str(exc))


async def _answer(query: CallbackQuery, text: str, *, alert: bool = False) -> None:
    try:
        await query.answer(text, show_alert=alert)
    except (TelegramAPIError, ClientDecodeError) as exc:
        # A redelivered press was answered the first time ("query is too old"): nothing lost.
        log.warning("telegram callback answer failed", error=str(exc))


async def register_webhook(bot: Bot, url: str, secret: str) -> None:
    """Tell Telegram where to POST updates (``<public base>/webhooks/telegram``) and the secret."""
    await bot.set_webhook(url=url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)


# --- polling ------------------------------------------------------------------------------


async def run_polling(
    ctx: WebhookContext,
    bot: Bot,
    stop: asyncio.Event,
    *,
    dispatcher: Dispatcher | None = None,
    polling_timeout: int = 30,
    max_attempts: int = 5,
    max_backoff_s: float = 30.0,
) -> None:
    """Long-poll ``getUpdates`` until ``stop`` is set, with the same router as the webhook.

    Not aiogram's ``start_polling``: that confirms an update (advances the offset) before its
    handler ran, so a failed store would lose it. Here each update is handled, in order, before
    the next ``getUpdates`` confirms it; one that fails is fetched and tried again, up to
    ``max_attempts`` times, then skipped with an error in the log. A webhook still set is
    deleted (Telegram refuses ``getUpdates`` while one is active).
    """
    dispatcher = dispatcher or build_dispatcher(ctx)
    request_timeout = int(bot.session.timeout + polling_timeout)
    with contextlib.suppress(TelegramAPIError, ClientDecodeError):
        await _unless_stopped(bot.delete_webhook(), stop)
    offset: int | None = None
    asked_with: int | None = None
    failures = 0
    attempts: dict[int, int] = {}
    while not stop.is_set():
        try:
            asked_with = offset
            updates = await _unless_stopped(
                bot.get_updates(offset=offset, timeout=polling_timeout,
                                allowed_updates=ALLOWED_UPDATES, request_timeout=request_timeout),
                stop,
            )  # fmt: skip
        except TelegramRetryAfter as exc:
            await _pause(stop, float(exc.retry_after))
            continue
        except (TelegramAPIError, ClientDecodeError) as exc:
            log.warning("telegram getUpdates failed", error=str(exc))
            if isinstance(exc, TelegramConflictError):
                with contextlib.suppress(TelegramAPIError, ClientDecodeError):
                    await bot.delete_webhook()
            await _pause(stop, min(2.0**failures, max_backoff_s))
            failures += 1
            continue
        if updates is None:
            break
        failures = 0
        for update in updates:
            try:
                await dispatcher.feed_update(bot, update)
            except Exception:
                tries = attempts[update.update_id] = attempts.get(update.update_id, 0) + 1
                if tries < max_attempts:
                    log.exception("telegram update failed; will retry", update_id=update.update_id)
                    await _pause(stop, min(2.0**tries, max_backoff_s))
                    break
                log.exception("telegram update failed; skipped", update_id=update.update_id)
            attempts.pop(update.update_id, None)
            offset = update.update_id + 1
    if offset is not None and offset != asked_with:
        # Confirm what was handled since the last call, so a restart does not fetch it again.
        with contextlib.suppress(TelegramAPIError, ClientDecodeError):
            await bot.get_updates(offset=offset, limit=1, timeout=0)


async def _unless_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T | None:
    """The awaitable's result, or None (and the awaitable cancelled) once ``stop`` is set."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return task.result() if not task.cancelled() else None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
