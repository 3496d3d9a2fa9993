"""Intent, not buttons: a message's ``params["choices"]`` and how each channel draws it.

The hub asks for a rating or a visit answer (:class:`channels.base.Choices`); Telegram draws
inline buttons, WeCom a button card, both from ``hub.core.vocab``. What goes out is what the hub
sent before it sent intent (the buttons it named itself): the same keyboard, the same card.
"""

from __future__ import annotations

from typing import Any

import pytest

from channels.base import Choices, OutboundMessage, PermanentError
from channels.telegram.channel import build_request
from channels.telegram.keyboards import UnknownKeyboard, keyboard_for, rating_keyboard
from channels.wechat.wecom import message_content, rating_card
from hub.core.vocab import RATING_PROMPT

RATING = Choices(
    "rating", ref="GD0012", ask_id="rating_GD0012_r0_tok", title="诉求 GD0012 已办结，请评价",
    detail="已协调供电公司完成用电增容。",
)  # fmt: skip


def message(**params: Any) -> OutboundMessage:
    return OutboundMessage(1, "700000001", f"请评价：{RATING_PROMPT}", "ticket_feedback", params)


def test_choices_round_trip_through_the_stored_params() -> None:
    assert Choices.from_params({"choices": RATING.to_params()}) == RATING
    visit = Choices("visit", visit_id=42, ask_id="visit-42")
    assert visit.to_params() == {"kind": "visit", "visit_id": 42, "ask_id": "visit-42"}
    assert message(choices=visit.to_params()).choices == visit
    assert message().choices is None
    with pytest.raises(ValueError, match="poll"):
        Choices.from_params({"choices": {"kind": "poll"}})


def test_telegram_draws_the_rating_as_the_buttons_it_was_once_told() -> None:
    drawn = keyboard_for({"choices": RATING.to_params()})
    assert drawn == keyboard_for({"keyboard": "rating", "rating_ref": "GD0012"})
    assert drawn == rating_keyboard("GD0012")
    [row] = rating_keyboard("GD0012").inline_keyboard
    assert " ".join(b.text for b in row) == RATING_PROMPT
    request = build_request(message(choices=RATING.to_params()))
    assert request.reply_markup == rating_keyboard("GD0012")


def test_telegram_draws_a_visit_proposal_for_its_visit() -> None:
    drawn = keyboard_for({"choices": {"kind": "visit", "visit_id": 42}})
    assert drawn == keyboard_for({"keyboard": "visit", "visit_id": 42})
    assert drawn is not None
    [row] = drawn.inline_keyboard
    assert [(b.text, b.callback_data) for b in row] == [
        ("确认走访", "visit:confirm:42"),
        ("申请改期", "visit:reschedule:42"),
    ]


@pytest.mark.parametrize(
    "choices",
    [{"kind": "visit"}, {"kind": "poll"}, "rating", {"kind": "rating", "ref": "a:b"}],
)
def test_telegram_refuses_choices_it_cannot_draw(choices: Any) -> None:
    with pytest.raises(UnknownKeyboard):
        keyboard_for({"choices": choices})
    with pytest.raises(PermanentError) as refused:
        build_request(message(choices=choices))
    assert refused.value.code == "UnknownKeyboard"


def test_wecom_draws_the_rating_as_the_card_it_was_once_given() -> None:
    url = "https://hub.example.cn/r/tok"
    given = rating_card(RATING.ask_id or "", RATING.title, RATING.detail)
    given["card_action"] = {"type": 1, "url": url}
    assert message_content(message(choices=RATING.to_params(), url=url)) == (
        "template_card",
        given,
    )
    # the older form still goes out as it was built
    legacy = {"msgtype": "template_card", "template_card": given}
    assert message_content(message(wecom=legacy)) == ("template_card", given)


def test_wecom_draws_a_visit_proposal_from_the_vocabulary() -> None:
    visit = Choices("visit", visit_id=7, ask_id="visit-7", title="走访预约", detail="11月26日")
    msgtype, card = message_content(message(choices=visit.to_params()))
    assert msgtype == "template_card"
    assert "card_action" not in card  # no page to open
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [
        ("确认走访", "visit:confirm"),
        ("申请改期", "visit:reschedule"),
    ]


@pytest.mark.parametrize(
    "choices",
    [{"kind": "rating"}, {"kind": "rating", "ask_id": "rate:1"}, {"kind": "vote"}],
)
def test_wecom_refuses_a_card_it_cannot_draw(choices: Any) -> None:
    with pytest.raises(PermanentError) as refused:
        message_content(message(choices=choices))
    assert refused.value.code == "no_card"
