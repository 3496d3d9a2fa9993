"""POST /webhooks/telegram and polling: verified by the secret token, chats bound by one-time
deep link, replies and button presses stored once; the fake Bot API plays Telegram's servers
(it builds the updates, and records what the bot answered)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
import sqlalchemy as sa
from aiogram import Bot
from fastapi import FastAPI
from redis.asyncio import Redis

from channels.base import OutboundMessage, SendResult
from channels.fakes.telegram_api import TelegramBotApiFake, webhook_request
from channels.telegram.channel import TelegramChannel, build_bot
from channels.telegram.keyboards import RatingCallback, VisitCallback
from channels.telegram.settings import TelegramSettings
from hub.app.config import Settings, load_settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.inbound.telegram_links import (
    bind_chat,
    deep_link,
    issue_link_code,
    link_chat,
    linked_contact,
    redeem,
)
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import AuditLog, Contact
from hub.store.models import InboundReply as StoredReply
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram import router
from hub.web.webhooks.telegram_bot import BAD_CODE, RATING_RECEIVED, UNLINKED, run_polling
from tests.seed import seed_registry

TOKEN = "123456789:AAHtest-token_for-the-fake"
SECRET = "tg-webhook-secret_0123456789"
CHAT = 700000001  # 甲机械's contact, once linked
STRANGER = 700000009


class ConfigWriter(Protocol):
    def __call__(self, **overrides: Any) -> Path: ...


@pytest.fixture
def tg_settings(write_config: ConfigWriter) -> Settings:
    path = write_config(
        channels={"telegram": {"enabled": True, "token": "${TG_TOKEN}",
                               "webhook_secret": "${TG_SECRET}"}}
    )  # fmt: skip
    return load_settings(path, env={"TG_TOKEN": TOKEN, "TG_SECRET": SECRET})


@dataclass
class Hub:
    ctx: WebhookContext
    fake: TelegramBotApiFake
    bot: Bot
    client: httpx.AsyncClient
    contact_id: int  # 甲机械's contact
    enterprise_id: int  # 甲机械

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> httpx.Response:
        headers, body = webhook_request(update, secret)
        return await self.client.post("/webhooks/telegram", content=body, headers=headers)

    async def replies(self) -> list[StoredReply]:
        async with self.ctx.db.read() as session:
            return list((await session.scalars(sa.select(StoredReply))).all())

    async def chat_of(self, contact_id: int) -> str | None:
        async with self.ctx.db.read() as session:
            contact = await session.get(Contact, contact_id)
        assert contact is not None
        return contact.telegram_chat_id

    async def link(self, chat: int = CHAT) -> None:
        await bind_chat(self.ctx.db, self.ctx.clock, self.contact_id, str(chat))


async def contact_of(db: Database, mobile: str) -> int:
    async with db.read() as session:
        found = await session.scalar(sa.select(Contact.id).where(Contact.mobile == mobile))
    assert found is not None
    return int(found)


def context(settings: Settings, db: Database, redis: Redis, keys: RedisKeys,
            clock: FixedClock) -> WebhookContext:  # fmt: skip
    return WebhookContext(settings, db, redis, keys, Queue(redis, keys, clock=clock), clock)


@pytest.fixture
async def hub(
    tg_settings: Settings, db: Database, redis_client: Redis, redis_keys: RedisKeys,
    clock: FixedClock,
) -> AsyncIterator[Hub]:  # fmt: skip
    ids = await seed_registry(db)
    ctx = context(tg_settings, db, redis_client, redis_keys, clock)
    await ctx.queue.ensure_groups([])
    fake = TelegramBotApiFake(TOKEN)
    async with fake.serve() as base_url:
        bot = build_bot(TelegramSettings(token=TOKEN, api_base=base_url))
        app = FastAPI()
        app.include_router(router(ctx, bot))
        transport = httpx.ASGITransport(app=app)
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
                contact_id = await contact_of(db, "+8613900000001")
                yield Hub(ctx, fake, bot, client, contact_id, ids["甲机械"])
        finally:
            await bot.session.close()


# --- verification ---------------------------------------------------------------------------


@pytest.mark.parametrize(("secret", "status"), [(None, 401), ("wrong-secret", 403), ("", 403)])
async def test_an_unverified_update_is_refused_and_stores_nothing(
    hub: Hub, secret: str | None, status: int
) -> None:
    await hub.link()
    code = await issue_link_code(hub.ctx.redis, hub.ctx.keys, hub.contact_id)
    for update in (
        hub.fake.message_update(CHAT, "我要咨询"),
        hub.fake.start_update(STRANGER, code),
        hub.fake.callback_update(CHAT, RatingCallback(level=5).pack()),
    ):
        assert (await hub.post(update, secret)).status_code == status
    assert await hub.replies() == []
    assert await hub.chat_of(hub.contact_id) == str(CHAT)  # not moved to the stranger
    assert await redeem(hub.ctx.redis, hub.ctx.keys, code) == hub.contact_id  # still unused
    assert hub.fake.sent == []
    assert hub.fake.callback_answers == []


async def test_a_verified_body_that_is_not_an_update_is_400(hub: Hub) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await hub.client.post("/webhooks/telegram", content=b'{"hello": 1}', headers=headers)
    assert response.status_code == 400


@pytest.mark.parametrize(
    "body",
    [b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     '{"update_id": "²"}'.encode()],
)  # fmt: skip
async def test_a_verified_body_nested_deeply_or_with_a_bad_number_is_400(
    hub: Hub, body: bytes
) -> None:
    # pydantic's JSON parser has its own nesting limit; this keeps it that way.
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await hub.client.post("/webhooks/telegram", content=body, headers=headers)
    assert response.status_code == 400
    assert await hub.replies() == []


# --- binding --------------------------------------------------------------------------------


async def test_start_with_a_valid_code_binds_the_chat_once(hub: Hub) -> None:
    code = await issue_link_code(hub.ctx.redis, hub.ctx.keys, hub.contact_id)
    update = hub.fake.start_update(CHAT, code)

    assert (await hub.post(update)).status_code == 200
    assert await hub.chat_of(hub.contact_id) == str(CHAT)
    assert [s.text for s in hub.fake.sent] == ["已绑定：甲机械"]

    # Telegram redelivers the same update: still bound, nothing written twice.
    assert (await hub.post(update)).status_code == 200
    assert await hub.chat_of(hub.contact_id) == str(CHAT)
    async with hub.ctx.db.read() as session:
        audits = (await session.scalars(sa.select(AuditLog))).all()
    assert [(a.action, a.target_id) for a in audits] == [
        ("contact.telegram_bound", str(hub.contact_id))
    ]
    assert [s.text for s in hub.fake.sent] == ["已绑定：甲机械", "已绑定：甲机械"]


async def test_a_used_code_binds_no_other_chat(hub: Hub) -> None:
    code = await issue_link_code(hub.ctx.redis, hub.ctx.keys, hub.contact_id)
    await hub.post(hub.fake.start_update(CHAT, code))

    assert (await hub.post(hub.fake.start_update(STRANGER, code))).status_code == 200
    assert await hub.chat_of(hub.contact_id) == str(CHAT)
    assert [(s.chat_id, s.text) for s in hub.fake.sent][-1] == (STRANGER, BAD_CODE)


@pytest.mark.parametrize("code", ["AAAAAAAAAAAAAAAAAAAAAA", "short", "x" * 80])
async def test_an_unknown_code_binds_nothing(hub: Hub, code: str) -> None:
    assert (await hub.post(hub.fake.start_update(CHAT, code))).status_code == 200
    assert await hub.chat_of(hub.contact_id) is None
    assert [s.text for s in hub.fake.sent] == [BAD_CODE]


async def test_a_binding_that_cannot_be_stored_is_500_and_the_code_survives(
    hub: Hub, tg_settings: Settings, tmp_path: Path
) -> None:
    code = await issue_link_code(hub.ctx.redis, hub.ctx.keys, hub.contact_id)
    update = hub.fake.start_update(CHAT, code)
    dead = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'never-migrated.db'}")  # no tables
    ctx = context(tg_settings, dead, hub.ctx.redis, hub.ctx.keys, FixedClock(hub.ctx.clock.now()))
    app = FastAPI()
    app.include_router(router(ctx, hub.bot))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://hub") as down:  # fmt: skip
            headers, body = webhook_request(update, SECRET)
            response = await down.post("/webhooks/telegram", content=body, headers=headers)
    finally:
        await dead.aclose()
    assert response.status_code == 500
    assert hub.fake.sent == []

    assert (await hub.post(update)).status_code == 200  # Telegram's redelivery
    assert await hub.chat_of(hub.contact_id) == str(CHAT)


async def test_link_codes_are_one_time_and_a_chat_acts_for_one_contact(
    any_db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(any_db)
    first = await contact_of(any_db, "+8613900000002")  # 乙商贸's two contacts
    second = await contact_of(any_db, "+8613900000012")
    code = await issue_link_code(redis_client, redis_keys, first, ttl=timedelta(hours=1))
    assert 0 < await redis_client.pttl(redis_keys.telegram_link(code)) <= 3_600_000

    bound = await link_chat(any_db, redis_client, redis_keys, clock, code, str(CHAT))
    assert bound is not None
    assert (bound.contact_id, bound.enterprise_name, bound.again) == (first, "乙商贸", False)
    again = await link_chat(any_db, redis_client, redis_keys, clock, code, str(CHAT))
    assert again is not None
    assert (again.contact_id, again.again) == (first, True)
    assert await link_chat(any_db, redis_client, redis_keys, clock, code, str(STRANGER)) is None
    assert await linked_contact(any_db, str(STRANGER)) is None

    # The same chat bound to the enterprise's other contact moves there.
    other = await issue_link_code(redis_client, redis_keys, second)
    assert await link_chat(any_db, redis_client, redis_keys, clock, other, str(CHAT)) is not None
    linked = await linked_contact(any_db, str(CHAT))
    assert linked is not None
    assert linked[0] == second
    assert await redeem(redis_client, redis_keys, other) is None


def test_the_deep_link_opens_the_bot_with_the_code() -> None:
    assert deep_link("@hub_bot", "abc_DEF-123") == "https://t.me/hub_bot?start=abc_DEF-123"


# --- replies --------------------------------------------------------------------------------


async def test_text_from_a_linked_chat_is_stored_once_for_its_contact(hub: Hub) -> None:
    await hub.link()
    update = hub.fake.message_update(CHAT, "请问年报在哪里填报？")

    assert (await hub.post(update)).status_code == 200
    assert (await hub.post(update)).status_code == 200  # redelivery

    [stored] = await hub.replies()
    message_id = update["message"]["message_id"]
    assert (stored.provider, stored.provider_msg_id) == ("telegram", f"{CHAT}:{message_id}")
    assert (stored.sender, stored.text) == (str(CHAT), "请问年报在哪里填报？")
    assert (stored.contact_id, stored.enterprise_id) == (hub.contact_id, hub.enterprise_id)
    assert stored.raw["message"]["from"]["id"] == CHAT
    assert [e.reply_id for e in await hub.ctx.queue.claim_inbound("w", 10, None)] == [stored.id]
    assert hub.fake.sent == []


async def test_text_from_an_unlinked_chat_stores_nothing_and_asks_to_bind(hub: Hub) -> None:
    assert (await hub.post(hub.fake.message_update(STRANGER, "我是甲机械的"))).status_code == 200
    assert await hub.replies() == []
    assert [(s.chat_id, s.text) for s in hub.fake.sent] == [(STRANGER, UNLINKED)]


async def rating_prompt(hub: Hub, chat: int = CHAT) -> None:
    """The hub's rating request, sent through the channel, so the press answers a real message."""
    channel = TelegramChannel(hub.bot)
    result = await channel.send_batch(
        [OutboundMessage(1, str(chat), "您的诉求已办结，请评价", "ticket_feedback",
                         {"keyboard": "rating"})]
    )  # fmt: skip
    assert isinstance(result[0], SendResult)


async def test_a_rating_button_is_stored_and_answered(hub: Hub) -> None:
    await hub.link()
    await rating_prompt(hub)
    update = hub.fake.callback_update(CHAT, RatingCallback(level=5).pack())

    assert (await hub.post(update)).status_code == 200
    assert (await hub.post(update)).status_code == 200  # redelivered: answering again fails

    [stored] = await hub.replies()
    assert (stored.text, stored.provider_msg_id) == ("rating:5", update["callback_query"]["id"])
    assert stored.contact_id == hub.contact_id
    assert [(a.callback_query_id, a.text) for a in hub.fake.callback_answers] == [
        (update["callback_query"]["id"], RATING_RECEIVED)
    ]


async def test_a_visit_button_is_stored_with_its_visit(hub: Hub) -> None:
    await hub.link()
    update = hub.fake.callback_update(CHAT, VisitCallback(action="confirm", visit_id=42).pack())
    assert (await hub.post(update)).status_code == 200
    [stored] = await hub.replies()
    assert stored.text == "visit:confirm:42"
    assert [a.text for a in hub.fake.callback_answers] == ["已确认走访安排"]


async def test_a_button_pressed_by_an_unlinked_person_stores_nothing(hub: Hub) -> None:
    await rating_prompt(hub, STRANGER)
    update = hub.fake.callback_update(STRANGER, RatingCallback(level=1).pack())
    assert (await hub.post(update)).status_code == 200
    assert await hub.replies() == []
    [answer] = hub.fake.callback_answers
    assert (answer.text, answer.show_alert) == (UNLINKED, True)


# --- polling --------------------------------------------------------------------------------


async def test_polling_takes_an_update_from_get_updates_and_stores_it(hub: Hub) -> None:
    await hub.link()
    await hub.bot.set_webhook(url="https://hub.example/webhooks/telegram", secret_token=SECRET)
    update = hub.fake.message_update(CHAT, "轮询模式的回复")
    hub.fake.push_update(update)
    stop = asyncio.Event()
    polling = asyncio.create_task(run_polling(hub.ctx, hub.bot, stop, polling_timeout=1))
    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a timed assertion
            await hub.fake.confirmed(update["update_id"])
    finally:
        stop.set()
        await polling

    [stored] = await hub.replies()
    assert stored.text == "轮询模式的回复"
    assert stored.contact_id == hub.contact_id
    assert hub.fake.webhook_url == ""  # polling deleted the webhook that blocked getUpdates
    assert "getupdates" in hub.fake.calls
