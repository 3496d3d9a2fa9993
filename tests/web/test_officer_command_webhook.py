"""An officer's WeCom text "走访 N 完成 问题：…" through the real WeCom webhook (encrypted XML
from the push fake) and the inbound worker: the problem becomes a ticket routed to its
department with the visit as its source, and the officer is answered on WeCom. On Telegram an
officer's chat (no contact's) is stored, not refused as unlinked, and his command applied."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.fakes.telegram_api import TelegramBotApiFake, webhook_request
from channels.fakes.wechat_push import WechatPush
from channels.telegram.channel import build_bot
from channels.telegram.settings import TelegramSettings
from hub.app.config import Settings, load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, VisitStatus
from hub.inbound.answers import Answerer
from hub.inbound.apply import ReplyApplier
from hub.inbound.worker import InboundWorker
from hub.infra.queue import Queue
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Department, Message, Ticket, Visit
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram import router as telegram_router
from hub.web.webhooks.telegram_bot import UNLINKED
from hub.web.webhooks.wechat import router
from tests.inbound_support import ALL_CHANNELS, TEMPLATES, planning_policy
from tests.visits.record_support import (
    HOLIDAYS_2027,
    NOW,
    OFFICER_TELEGRAM,
    OFFICER_WECOM,
    seed_visit_world,
)
from tests.web import test_webhook_telegram as tg
from tests.web.test_webhook_wechat import (
    SECRETS,
    WC_AGENT,
    WC_CORP,
    WC_KEY,
    WC_TOKEN,
    WC_URL,
    WECOM_APP,
)


async def apply_the_one_reply(
    settings: Settings, db: Database, queue: Queue, clock: FixedClock
) -> None:
    """The inbound worker (shipped templates) handles the one reply the webhook queued."""
    answerer = Answerer(TemplateRenderer(TEMPLATES), planning_policy())
    worker = InboundWorker(db, queue, clock, ReplyApplier(settings, answerer), consumer="w1",
                           block_ms=1)  # fmt: skip
    [processed] = await worker.run_once(block_ms=1)
    assert processed.outcome == "applied"


async def test_an_officers_wecom_text_opens_a_routed_ticket_from_the_visit(
    db: Database, redis_client: Redis, redis_keys: RedisKeys,
    write_config: Callable[..., Path],
) -> None:  # fmt: skip
    path = write_config(
        channels={"wechat": {"apps": {"work": WECOM_APP}}},
        calendar={"years": {2027: {"holidays": [d.isoformat() for d in HOLIDAYS_2027.holidays],
                                   "workdays": [d.isoformat() for d in HOLIDAYS_2027.workdays]}}},
        tickets={"rules": [{"keywords": ["停电"], "department": "FGW"}]},
    )  # fmt: skip
    settings = load_settings(path, env=SECRETS)
    world = await seed_visit_world(db)
    visit_id = world.visits["甲机械"]
    clock = FixedClock(NOW)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(sorted(ALL_CHANNELS))
    app = FastAPI()
    app.include_router(router(WebhookContext(settings, db, redis_client, redis_keys, queue, clock)))
    push = WechatPush.wecom(token=WC_TOKEN, corp_id=WC_CORP, agent_id=WC_AGENT,
                            encoding_aes_key=WC_KEY, clock=clock)  # fmt: skip
    text = f"走访 {visit_id} 完成 问题：经常停电影响生产；厂区道路破损需维修"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        response = await push.send(push.text(OFFICER_WECOM, text), WC_URL, client=client)
    assert response.status_code == 200

    await apply_the_one_reply(settings, db, queue, clock)

    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Ticket.number, Ticket.source_visit_id, Department.code)
                .join(Department, Department.id == Ticket.department_id)
                .order_by(Ticket.id)
            )
        ).all()
        visit = await session.get(Visit, visit_id)
        [answer] = (
            await session.scalars(sa.select(Message).where(Message.kind == MessageKind.NOTICE))
        ).all()
    # 停电 -> FGW by the rule; the road by 甲机械's industry (制造业 -> GXJ)
    assert [(r.source_visit_id, r.code) for r in rows] == [(visit_id, "FGW"), (visit_id, "GXJ")]
    assert visit is not None
    assert visit.status is VisitStatus.DONE
    assert (answer.channel, answer.address) == (ChannelName.WECOM, OFFICER_WECOM)
    assert all(r.number in answer.body for r in rows)


async def test_an_officers_telegram_chat_is_stored_and_his_command_applied(
    db: Database, redis_client: Redis, redis_keys: RedisKeys,
    write_config: Callable[..., Path],
) -> None:  # fmt: skip
    path = write_config(channels={"telegram": {"enabled": True, "token": "${TG_TOKEN}",
                                               "webhook_secret": "${TG_SECRET}"}})  # fmt: skip
    settings = load_settings(path, env={"TG_TOKEN": tg.TOKEN, "TG_SECRET": tg.SECRET})
    world = await seed_visit_world(db)
    visit_id = world.visits["戊建筑"]
    clock = FixedClock(NOW)
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups(sorted(ALL_CHANNELS))
    ctx = WebhookContext(settings, db, redis_client, redis_keys, queue, clock)
    fake = TelegramBotApiFake(tg.TOKEN)
    async with fake.serve() as base_url:
        bot = build_bot(TelegramSettings(token=tg.TOKEN, api_base=base_url))
        app = FastAPI()
        app.include_router(telegram_router(ctx, bot))
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                officer = int(OFFICER_TELEGRAM)
                for chat, text in ((officer, f"走访 {visit_id} 未完成 原因：企业停产"),
                                   (tg.STRANGER, f"走访 {visit_id} 完成")):  # fmt: skip
                    headers, body = webhook_request(fake.message_update(chat, text), tg.SECRET)
                    answer = await client.post("/webhooks/telegram", content=body, headers=headers)
                    assert answer.status_code == 200
        finally:
            await bot.session.close()
    assert [m.text for m in fake.sent] == [UNLINKED]  # the stranger only

    await apply_the_one_reply(settings, db, queue, clock)
    async with db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    assert visit.status is VisitStatus.PLANNED
    assert visit.details["not_done"][0]["reason"] == "企业停产"
