"""Feedback on resolve: the answer and a rating request, with each channel's way to answer it.

The hub asks for a rating (intent, ``params["choices"]``) and each channel draws it: Telegram
inline buttons naming the ticket, WeCom a button card whose click names it too, SMS and WeChat
numbered choices (the template prints the five levels) and every channel the rating-page link;
a button press comes back and rates the ticket it was sent for.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import OutboundMessage
from channels.telegram.keyboards import keyboard_for
from channels.wechat.wecom import message_content
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, TicketEventType, TicketState
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Contact, RatingLink, Ticket, TicketEvent
from hub.tickets.feedback import FeedbackSender, choice_params
from tests.inbound_support import ALL_CHANNELS, TEMPLATES, Loop, make_loop, planning_policy

PROMPT = "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意"
CHAT = "5550001"
USERID = "JiaJingli"


@pytest.fixture
async def loop(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
               ) -> Loop:  # fmt: skip
    loop = await make_loop(db, redis_client, redis_keys, clock)
    async with loop.db.write() as session:
        await session.execute(
            sa.update(Contact).where(Contact.id == loop.world.contacts["甲机械"])
            .values(telegram_chat_id=CHAT, wecom_userid=USERID, wechat_openid="oJia")
        )  # fmt: skip
    return loop


async def _ticket_from(loop: Loop, channel: ChannelName, sender: str, text: str) -> int:
    """The id of the ticket a reply opened."""
    reply_id = await loop.reply(text, sender=sender, channel=channel)
    await loop.drain()
    return (await loop.stored(reply_id)).ticket_id or 0


async def _resolved_on(loop: Loop, channel: ChannelName, sender: str, text: str) -> Ticket:
    ticket_id = await _ticket_from(loop, channel, sender, text)
    await loop.resolve(ticket_id, answer="已协调供电公司完成用电增容。新增容量400千伏安。")
    return await loop.ticket(ticket_id)


async def _token(loop: Loop, ticket: Ticket) -> str:
    async with loop.db.read() as session:
        token = await session.scalar(
            sa.select(RatingLink.token).where(RatingLink.ticket_id == ticket.id)
        )
    assert token is not None
    return str(token)


async def test_telegram_feedback_has_rating_buttons_naming_the_ticket(loop: Loop) -> None:
    ticket = await _resolved_on(loop, ChannelName.TELEGRAM, CHAT, "用电增容申请一直没有答复")
    [feedback] = await loop.messages(MessageKind.TICKET_FEEDBACK)

    assert (feedback.channel, feedback.address) == (ChannelName.TELEGRAM, CHAT)
    assert PROMPT in feedback.body
    assert f"https://hub.example.cn/r/{await _token(loop, ticket)}" in feedback.body
    keyboard = keyboard_for(feedback.params)
    assert keyboard is not None
    [row] = keyboard.inline_keyboard
    assert [b.text for b in row] == [
        "5 非常满意",
        "4 满意",
        "3 基本满意",
        "2 不满意",
        "1 非常不满意",
    ]
    assert [b.callback_data for b in row] == [f"rate:{n}:{ticket.number}" for n in (5, 4, 3, 2, 1)]
    async with loop.db.read() as session:
        requested = await session.scalar(
            sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                         TicketEvent.type == TicketEventType.RATING_REQUESTED)
        )  # fmt: skip
    assert requested is not None
    assert requested.data["message_id"] == feedback.id
    assert (await loop.ticket(ticket.id)).rating_requested_at == loop.clock.now()


async def test_a_button_press_rates_the_ticket_it_was_sent_for_even_with_two_awaiting(
    loop: Loop,
) -> None:
    first = await _resolved_on(loop, ChannelName.TELEGRAM, CHAT, "用电增容申请一直没有答复")
    loop.clock.advance(timedelta(days=4))
    second = await _resolved_on(loop, ChannelName.TELEGRAM, CHAT, "招工补贴怎么申请")
    # Telegram: the update keeps the callback data; the stored text is rating:N
    # (hub.web.webhooks.telegram_bot)
    raw = {"callback_query": {"data": f"rate:2:{first.number}"}}
    await loop.reply("rating:2", sender=CHAT, channel=ChannelName.TELEGRAM, raw=raw)
    await loop.drain()

    assert (await loop.ticket(first.id)).state is TicketState.REOPENED
    assert (await loop.ticket(second.id)).state is TicketState.RESOLVED
    assert await loop.messages(MessageKind.RATING_REMINDER) == []


async def test_wecom_feedback_is_a_button_card_whose_click_rates_that_ticket(loop: Loop) -> None:
    ticket = await _resolved_on(loop, ChannelName.WECOM, USERID, "用电增容申请一直没有答复")
    [feedback] = await loop.messages(MessageKind.TICKET_FEEDBACK)
    token = await _token(loop, ticket)

    assert feedback.channel is ChannelName.WECOM
    drawn = OutboundMessage(feedback.id, USERID, feedback.body, "ticket_feedback", feedback.params)
    msgtype, card = message_content(drawn)  # what the WeCom channel sends
    assert msgtype == "template_card"
    assert card["main_title"] == {"title": f"诉求 {ticket.number} 已办结，请评价"}
    assert card["task_id"] == f"rating_{ticket.number}_r0_{token}"
    assert [b["key"] for b in card["button_list"]] == [f"rating:{n}" for n in (5, 4, 3, 2, 1)]
    assert next(b["text"] for b in card["button_list"]) == "5 非常满意"
    assert card["card_action"] == {"type": 1, "url": f"https://hub.example.cn/r/{token}"}
    # the click: EventKey is the text, TaskId in raw (hub/web/webhooks/wechat.py)
    await loop.reply("rating:4", sender=USERID, channel=ChannelName.WECOM,
                     raw={"MsgType": "event", "TaskId": card["task_id"]})  # fmt: skip
    await loop.drain()
    assert (await loop.ticket(ticket.id)).state is TicketState.CLOSED


async def test_sms_and_wechat_feedback_number_the_choices_and_carry_the_link(loop: Loop) -> None:
    on_sms = await _resolved_on(loop, ChannelName.SMS, "+8613900000001", "用电增容申请没有答复")
    loop.clock.advance(timedelta(days=4))
    on_wechat = await _resolved_on(loop, ChannelName.WECHAT, "oJia", "招工补贴怎么申请")
    sms, wechat = await loop.messages(MessageKind.TICKET_FEEDBACK)

    assert sms.channel is ChannelName.SMS
    assert PROMPT in sms.body
    assert sms.params["values"][-1] == f"https://hub.example.cn/r/{await _token(loop, on_sms)}"
    assert sms.params["template_ids"]["tencent"] == "1000117"
    assert wechat.channel is ChannelName.WECHAT
    assert PROMPT in wechat.body
    assert wechat.params["url"] == f"https://hub.example.cn/r/{await _token(loop, on_wechat)}"
    assert sms.params["choices"]["kind"] == wechat.params["choices"]["kind"] == "rating"


async def test_feedback_takes_the_routing_chain_when_the_tickets_channel_is_switched_off(
    loop: Loop,
) -> None:
    ticket_id = await _ticket_from(loop, ChannelName.TELEGRAM, CHAT, "用电增容申请一直没有答复")
    # Telegram is switched off in config.yaml before the department answers.
    without_telegram = planning_policy(ALL_CHANNELS - {ChannelName.TELEGRAM.value})
    loop.feedback = FeedbackSender(TemplateRenderer(TEMPLATES), without_telegram,
                                   "https://hub.example.cn")  # fmt: skip
    await loop.resolve(ticket_id, answer="已协调供电公司完成用电增容。")
    [feedback] = await loop.messages(MessageKind.TICKET_FEEDBACK)

    assert (await loop.ticket(ticket_id)).channel is ChannelName.TELEGRAM
    assert feedback.channel is ChannelName.SANDBOX  # the kind's chain in this deployment
    assert "keyboard" not in feedback.params  # the intent, not Telegram's buttons
    assert feedback.params["choices"]["ref"] == (await loop.ticket(ticket_id)).number
    assert PROMPT in feedback.body
    assert "已协调供电公司完成用电增容。" in feedback.body


def test_the_feedback_asks_for_a_rating_the_same_way_on_every_channel() -> None:
    args: dict[str, Any] = {"number": "GD202611230001", "token": "tok", "url": "u",
                            "answer": "答复", "round_no": 1}  # fmt: skip
    assert choice_params(**args) == {
        "choices": {"kind": "rating", "ref": "GD202611230001",
                    "ask_id": "rating_GD202611230001_r1_tok",
                    "title": "诉求 GD202611230001 已办结，请评价", "detail": "答复"},
        "url": "u",
    }  # fmt: skip


async def test_a_reopened_ticket_resolved_again_gets_a_new_feedback_and_the_same_live_link(
    loop: Loop,
) -> None:
    ticket = await _resolved_on(loop, ChannelName.SANDBOX, "+8613900000001", "用电增容没有答复")
    token = await _token(loop, ticket)
    await loop.reply("1")
    await loop.drain()
    assert (await loop.ticket(ticket.id)).state is TicketState.REOPENED
    await loop.resolve(ticket.id, answer="已整改：增容完成并通电。")

    first, second = await loop.messages(MessageKind.TICKET_FEEDBACK)
    assert "已整改" in second.body
    assert token in first.body
    assert token in second.body  # not used on the page, still valid: one live link per ticket


@pytest.mark.parametrize(("resolved_at_hour", "unsent"), [(22, "held"), (15, "queued")])
async def test_a_rating_before_the_rating_request_went_out_cancels_the_request(
    loop: Loop, resolved_at_hour: int, unsent: str
) -> None:
    ticket_id = await _ticket_from(loop, ChannelName.SMS, "+8613900000001", "用电增容申请没有答复")
    # from 10:00 to the hour of resolving (22:00 is in quiet hours: the request is held)
    loop.clock.advance(timedelta(hours=resolved_at_hour - 10))
    await loop.resolve(ticket_id)
    [request] = await loop.messages(MessageKind.TICKET_FEEDBACK)
    assert request.status.value == unsent
    # the enterprise rates at once (a phone call, an earlier reminder) before it went out
    loop.clock.advance(timedelta(minutes=30))
    await loop.reply("5", sender="+8613900000001", channel=ChannelName.SMS)
    await loop.drain()

    assert (await loop.ticket(ticket_id)).state is TicketState.CLOSED
    [request] = await loop.messages(MessageKind.TICKET_FEEDBACK)
    assert (request.status.value, request.status_reason) == ("skipped", "已评价，无需再发评价请求")
    assert request.next_attempt_at is None
