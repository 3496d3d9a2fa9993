"""Telegram updates parsed without a socket: the fake's updates -> replies."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import Update

from channels.fakes.telegram_api import TelegramBotApiFake
from channels.registry import telegram_updates
from channels.telegram import updates
from channels.telegram.keyboards import RatingCallback, SlotCallback, VisitCallback

CHAT = 424242


def _update(payload: dict[str, Any]) -> Update:
    return Update.model_validate(payload)


def test_a_text_message_is_a_reply_from_the_chat_keyed_on_chat_and_message_id() -> None:
    fake = TelegramBotApiFake("1:token")
    payload = fake.message_update(CHAT, "企业用地手续办理遇到困难")
    update = _update(payload)
    assert update.message is not None
    reply = updates.parse_reply(update.message, update)
    message_id = payload["message"]["message_id"]
    assert (reply.provider, reply.provider_msg_id, reply.sender, reply.text) == (
        "telegram", f"{CHAT}:{message_id}", str(CHAT), "企业用地手续办理遇到困难",
    )  # fmt: skip
    assert reply.raw == payload  # the update as Telegram sent it


@pytest.mark.parametrize(
    ("data", "text"),
    [
        pytest.param(RatingCallback(level=5).pack(), "rating:5", id="rating"),
        pytest.param(RatingCallback(level=2, ref="T-7").pack(), "rating:2", id="rating-with-ref"),
        pytest.param(VisitCallback(action="confirm", visit_id=42).pack(), "visit:confirm:42",
                     id="visit-confirm"),
        pytest.param(VisitCallback(action="reschedule", visit_id=9).pack(),
                     "visit:reschedule:9", id="visit-reschedule"),
        pytest.param(SlotCallback(slot=2, visit_id=42).pack(), "visit:slot:2:42",
                     id="visit-slot"),
    ],
)  # fmt: skip
def test_a_press_of_our_buttons_is_a_reply_in_the_hubs_words(data: str, text: str) -> None:
    update = _update(TelegramBotApiFake("1:token").callback_update(CHAT, data))
    assert update.callback_query is not None
    reply = updates.parse_button(update.callback_query, update)
    assert reply is not None
    assert (reply.provider, reply.sender, reply.text) == ("telegram", str(CHAT), text)
    assert reply.provider_msg_id == update.callback_query.id


@pytest.mark.parametrize(
    "data",
    ["", "rate:9", "rate:x", "visit:dance:1", "visit:confirm:0", "other:1", "rate:5:a:b",
     "vslot:0:42", "vslot:2:0", "vslot:x:42", "vslot:2"],
)  # fmt: skip
def test_callback_data_of_no_keyboard_of_ours_is_no_reply(data: str) -> None:
    update = _update(TelegramBotApiFake("1:token").callback_update(CHAT, data))
    assert update.callback_query is not None
    assert updates.parse_button(update.callback_query, update) is None


def test_the_registry_hands_the_bot_these_parsers() -> None:
    parsers = telegram_updates()
    assert parsers.parse_reply is updates.parse_reply
    assert parsers.parse_button is updates.parse_button
