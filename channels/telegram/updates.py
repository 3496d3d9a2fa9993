"""Telegram updates, parsed (pure): a chat's text and a press of one of the hub's buttons.

``channels.fakes.telegram_api`` builds the updates (``message``, ``callback_query``) as
Telegram sends them, by webhook or ``getUpdates``; the hub's bot (``hub.web.webhooks
.telegram_bot``) decides who may reply (a linked chat) and calls these to read the update:

- a text message is a reply whose id is ``"<chat_id>:<message_id>"`` (Telegram's message ids
  are unique per chat only) and whose sender is the chat;
- a button press is a reply whose id is the callback query's id and whose sender is the person
  who pressed; its text is what the button means in the hub's words (``rating:5``,
  ``visit:confirm:42``, :func:`channels.telegram.keyboards.reply_text`). Callback data of no
  keyboard of ours (a stale or forged button) is no reply.

Each reply keeps the whole update as its ``raw``.
"""

from __future__ import annotations

from typing import Any, Final

from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, Message, Update

from channels.base import InboundReply
from channels.telegram.channel import provider_message_id
from channels.telegram.keyboards import BUTTONS, Pressed, reply_text

PROVIDER: Final = "telegram"


def parse_reply(message: Message, update: Update) -> InboundReply:
    """The reply a text message from a chat is (``update`` carries ``message``)."""
    chat_id = str(message.chat.id)
    return InboundReply(
        provider=PROVIDER,
        provider_msg_id=provider_message_id(chat_id, message.message_id),
        sender=chat_id,
        text=message.text or "",
        raw=raw_update(update),
    )


def parse_button(query: CallbackQuery, update: Update) -> InboundReply | None:
    """The reply a press of a rating or visit button is; None for any other callback data."""
    pressed = _button_data(query.data)
    if pressed is None:
        return None
    # The person who pressed: in a private chat their id is the chat id.
    return InboundReply(provider=PROVIDER, provider_msg_id=query.id,
                        sender=str(query.from_user.id), text=reply_text(pressed),
                        raw=raw_update(update))  # fmt: skip


def raw_update(update: Update) -> dict[str, Any]:
    """The update as Telegram sent it (JSON names), to keep with the reply."""
    return update.model_dump(mode="json", exclude_none=True, by_alias=True)


def _button_data(data: str | None) -> Pressed | None:
    """The callback data of one of the hub's keyboards, as aiogram's ``.filter()`` reads it."""
    if not data:
        return None
    for button in BUTTONS:
        try:
            pressed: CallbackData = button.unpack(data)
        except (TypeError, ValueError):  # another prefix, or fields that do not validate
            continue
        if isinstance(pressed, Pressed):
            return pressed
    return None
