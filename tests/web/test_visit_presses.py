"""A visit proposal's slot buttons, pressed on the fakes, confirm the visit at that slot.

Telegram: the proposal goes through the Telegram channel to the fake Bot API, which keeps the
inline keyboard it was sent (one button per slot, 申请改期 below); the press of slot 2 is a
callback query on the hub's webhook, stored as ``visit:slot:2:<visit id>`` and answered. WeCom:
the proposal's button card is drawn as the WeCom channel draws it; the press is the encrypted
``template_card_event`` the WeCom fake sends, whose ``EventKey`` is the button's key and whose
``TaskId`` (the ask id) names the visit. The inbound worker then applies each press: the visit
is confirmed at slot 2 and the officer gets a ``visit_update``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiogram import Bot
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.base import Choices, OutboundMessage, SendResult
from channels.fakes.telegram_api import TelegramBotApiFake, webhook_request
from channels.fakes.wechat_push import WechatPush
from channels.telegram.channel import TelegramChannel, build_bot
from channels.telegram.settings import TelegramSettings
from channels.wechat.wecom import message_content
from hub.app.config import load_settings
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, ReplyClass, VisitStatus
from hub.inbound.answers import Answerer
from hub.inbound.apply import ReplyApplier
from hub.inbound.outcome import with_button_ref
from hub.inbound.telegram_links import bind_chat
from hub.inbound.worker import InboundWorker, Processed
from hub.infra.queue import Queue
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Contact, Enterprise, Message, Officer, Visit
from hub.store.models import InboundReply as StoredReply
from hub.visits.slots import slot_label
from hub.web.webhooks import telegram, wechat
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram_bot import SLOT_RECEIVED
from tests.inbound_support import TEMPLATES, planning_policy
from tests.inbound_support import settings as inbound_settings
from tests.seed import seed_registry
from tests.web import test_webhook_telegram as telegram_hooks
from tests.web import test_webhook_wechat as wechat_hooks

CHAT = 700000001  # 甲机械's contact (+8613900000001), linked to the bot
USERID = wechat_hooks.USERID  # 乙商贸's contact (+8613900000002) in WeCom
SLOTS = (
    datetime(2026, 12, 2, 14, 30, tzinfo=SHANGHAI),
    datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI),
    datetime(2026, 12, 4, 14, 30, tzinfo=SHANGHAI),
)
LABELS = tuple(slot_label(at) for at in SLOTS)


@dataclass
class Presses:
    db: Database
    clock: FixedClock
    client: httpx.AsyncClient
    fake: TelegramBotApiFake
    bot: Bot
    worker: InboundWorker
    enterprises: dict[str, int]

    async def propose(self, enterprise: str) -> int:
        """A visit to ``enterprise`` proposed with the three slots, its officer on record."""
        now = self.clock.now()
        async with self.db.write() as session:
            officer = Officer(code=f"LY-{enterprise}", name="王联络", mobile="+8613800000009",
                              created_at=now, updated_at=now)  # fmt: skip
            session.add(officer)
            await session.flush()
            row = await session.get(Enterprise, self.enterprises[enterprise])
            assert row is not None
            row.officer_id = officer.id
            visit = Visit(enterprise_id=row.id, officer_id=officer.id, period="2026Q4",
                          status=VisitStatus.PROPOSED, details={},
                          slots=[at.isoformat() for at in SLOTS],
                          proposed_at=now - timedelta(hours=1), created_at=now,
                          updated_at=now)  # fmt: skip
            session.add(visit)
            await session.flush()
            return visit.id

    async def visit(self, visit_id: int) -> Visit:
        async with self.db.read() as session:
            found = await session.get(Visit, visit_id)
        assert found is not None
        return found

    async def replies(self) -> list[StoredReply]:
        async with self.db.read() as session:
            return list((await session.scalars(sa.select(StoredReply))).all())

    async def updates(self) -> list[Message]:
        async with self.db.read() as session:
            query = sa.select(Message).where(Message.kind == MessageKind.VISIT_UPDATE)
            return list((await session.scalars(query)).all())

    async def apply(self) -> list[Processed]:
        return await self.worker.run_once()


@pytest.fixture
async def presses(
    write_config: Callable[..., Path], db: Database, redis_client: Redis, redis_keys: RedisKeys,
    clock: FixedClock,
) -> AsyncIterator[Presses]:  # fmt: skip
    channels: dict[str, Any] = {
        "telegram": {"enabled": True, "token": "${TG_TOKEN}", "webhook_secret": "${TG_SECRET}"},
        "wechat": {"apps": {"work": wechat_hooks.WECOM_APP}},
    }
    env = {"TG_TOKEN": telegram_hooks.TOKEN, "TG_SECRET": telegram_hooks.SECRET,
           **wechat_hooks.SECRETS}  # fmt: skip
    hub_settings = load_settings(write_config(channels=channels), env=env)
    enterprises = await seed_registry(db)
    async with db.write() as session:
        await session.execute(sa.update(Contact).where(Contact.mobile == "+8613900000002")
                              .values(wecom_userid=USERID))  # fmt: skip
        contact_id = await session.scalar(
            sa.select(Contact.id).where(Contact.mobile == "+8613900000001")
        )
    assert contact_id is not None
    await bind_chat(db, clock, contact_id, str(CHAT))
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(["sandbox"])
    ctx = WebhookContext(hub_settings, db, redis_client, redis_keys, queue, clock)
    applier = ReplyApplier(inbound_settings(),
                           Answerer(TemplateRenderer(TEMPLATES), planning_policy()))  # fmt: skip
    worker = InboundWorker(db, queue, clock, applier, consumer="w1", block_ms=1)
    fake = TelegramBotApiFake(telegram_hooks.TOKEN)
    async with fake.serve() as base_url:
        bot = build_bot(TelegramSettings(token=telegram_hooks.TOKEN, api_base=base_url))
        app = FastAPI()
        app.include_router(telegram.router(ctx, bot))
        app.include_router(wechat.router(ctx))
        try:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://hub") as client:  # fmt: skip
                yield Presses(db, clock, client, fake, bot, worker, enterprises)
        finally:
            await bot.session.close()


def _proposal(visit_id: int, address: str) -> OutboundMessage:
    choices = Choices("visit", visit_id=visit_id, slots=LABELS, ask_id=f"visit_{visit_id}_r1_c1",
                      title="走访预约：请选择时间", detail="请选择方便的时间")  # fmt: skip
    return OutboundMessage(1, address, "请选择走访时间", MessageKind.VISIT_PROPOSAL.value,
                           {"choices": choices.to_params()})  # fmt: skip


async def test_a_telegram_slot_button_confirms_the_visit_at_that_slot(presses: Presses) -> None:
    visit_id = await presses.propose("甲机械")
    [sent] = await TelegramChannel(presses.bot).send_batch([_proposal(visit_id, str(CHAT))])
    assert isinstance(sent, SendResult)

    [shown] = presses.fake.sent
    assert shown.reply_markup is not None
    rows = shown.reply_markup["inline_keyboard"]
    assert [[b["text"] for b in row] for row in rows] == [
        ["1 12月2日（周三）下午2:30"], ["2 12月3日（周四）上午9:30"], ["3 12月4日（周五）下午2:30"],
        ["申请改期"],
    ]  # fmt: skip
    assert all(len(b["callback_data"].encode()) <= 64 for row in rows for b in row)

    update = presses.fake.callback_update(CHAT, rows[1][0]["callback_data"])
    headers, body = webhook_request(update, telegram_hooks.SECRET)
    response = await presses.client.post("/webhooks/telegram", content=body, headers=headers)
    assert response.status_code == 200
    [stored] = await presses.replies()
    assert stored.text == f"visit:slot:2:{visit_id}"
    assert [a.text for a in presses.fake.callback_answers] == [SLOT_RECEIVED.format(n=2)]

    [done] = await presses.apply()
    assert done.cls is ReplyClass.VISIT_ANSWER
    visit = await presses.visit(visit_id)
    assert (visit.status, visit.proposed_for) == (VisitStatus.CONFIRMED, SLOTS[1])
    [update_row] = await presses.updates()
    assert "选择第2个时间（12月3日（周四）上午9:30）" in update_row.body


async def test_a_wecom_card_button_confirms_the_visit_at_that_slot(presses: Presses) -> None:
    visit_id = await presses.propose("乙商贸")
    msgtype, card = message_content(_proposal(visit_id, USERID))
    assert msgtype == "template_card"
    buttons = card["button_list"]
    assert [(b["text"], b["key"]) for b in buttons] == [
        ("1 12月2日（周三）下午2:30", "visit:slot:1"),
        ("2 12月3日（周四）上午9:30", "visit:slot:2"),
        ("3 12月4日（周五）下午2:30", "visit:slot:3"),
        ("申请改期", "visit:reschedule"),
    ]  # fmt: skip

    push = WechatPush.wecom(token=wechat_hooks.WC_TOKEN, corp_id=wechat_hooks.WC_CORP,
                            agent_id=wechat_hooks.WC_AGENT, encoding_aes_key=wechat_hooks.WC_KEY,
                            clock=presses.clock)  # fmt: skip
    click = push.template_card_click(USERID, card["task_id"], buttons[1]["key"])
    response = await push.send(click, wechat_hooks.WC_URL, client=presses.client)
    assert response.status_code == 200
    [stored] = await presses.replies()
    assert stored.text == "visit:slot:2"

    [done] = await presses.apply()
    assert done.cls is ReplyClass.VISIT_ANSWER
    visit = await presses.visit(visit_id)
    assert (visit.status, visit.proposed_for) == (VisitStatus.CONFIRMED, SLOTS[1])
    assert visit.details["answers"][0]["source"] == f"reply:{stored.id}"
    [update_row] = await presses.updates()
    assert "乙商贸" in update_row.body


@pytest.mark.parametrize(
    ("text", "raw", "read"),
    [
        ("visit:slot:2", {"TaskId": "visit_42_r1_c3"}, "visit:slot:2:42"),
        ("visit:reschedule", {"TaskId": "visit_42_r2_c0"}, "visit:reschedule:42"),
        ("visit:slot:2", {"TaskId": "rating_GD202611230001_r1_x"}, "visit:slot:2"),
        ("visit:slot:2:7", {"TaskId": "visit_42_r1_c3"}, "visit:slot:2:7"),
        ("第二个", {"TaskId": "visit_42_r1_c3"}, "第二个"),
    ],
)  # fmt: skip
def test_a_wecom_visit_card_press_is_read_with_the_visit_its_task_id_names(
    text: str, raw: dict[str, Any], read: str
) -> None:
    assert with_button_ref(text, raw) == read
