"""Each channel, both ways, for the closed-loop end-to-end test.

A :class:`Side` is one provider as the enterprise uses it: its outbound API fake (what the
hub's dispatcher sends to: Tencent and Aliyun SMS, the Official Account and WeCom APIs, the
Bot API; the sandbox keeps an inbox in Redis), the config enabling it with every endpoint
aimed at that fake (secrets as ``${ENV}``), the contact's address on it, and how the
enterprise answers through the provider's real webhook: text (SMS push, encrypted WeChat /
WeCom XML, a Telegram update) and, where the channel has buttons, a button press (a Telegram
callback query, a WeCom template-card click). The sandbox answers the way ``hub sandbox reply``
does (its CLI's inbound path, ``accept_reply``).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

import aiohttp
import httpx
import sqlalchemy as sa

from channels.base import InboundReply
from channels.fakes.aliyun_sms import AliyunSmsFake, push
from channels.fakes.telegram_api import TelegramBotApiFake
from channels.fakes.tencent_sms import TencentSmsFake
from channels.fakes.tencent_sms_push import push_reply, reply_event
from channels.fakes.wechat_api import WechatApiFake
from channels.fakes.wechat_push import WechatPush
from channels.fakes.wecom_api import WecomApiFake
from hub.app.processes import telegram_bot
from hub.app.runtime import PROJECT_ROOT, Components, inbound_worker
from hub.core.clock import FixedClock
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.inbound.telegram_links import bind_chat
from hub.outbound.dispatch import Dispatcher
from hub.rendering.template_spec import Catalog
from hub.rendering.templates import load_folder
from hub.store.models import Contact
from hub.web.app import create_app
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram_bot import register_webhook
from tests.web import test_webhook_aliyun as aliyun_hooks
from tests.web import test_webhook_telegram as telegram_hooks
from tests.web import test_webhook_tencent as tencent_hooks
from tests.web import test_webhook_wechat as wechat_hooks
from tests.web.test_webhook_tencent import serve

#: The SMS kinds the closed loop sends the enterprise.
SMS_KINDS = ("ticket_ack", "ticket_feedback", "rating_reminder")


@dataclass
class Live:
    """The running hub as a provider sees it."""

    hub: Components
    base_url: str
    http: aiohttp.ClientSession


async def linked_contact(side: Side, hub: Components) -> int:
    """The seeded contact who writes on ``side``, given its address there; its id."""
    async with hub.db.read() as session:
        query = sa.select(Contact.id).where(Contact.mobile == side.mobile)
        contact_id = await session.scalar(query)
    assert contact_id is not None
    await side.link(hub, contact_id)
    return contact_id


async def serve_hub(stack: AsyncExitStack, hub: Components, **app_options: Any) -> Live:
    """The app with every webhook (as ``hub.app.processes`` serves it) on a loopback port."""
    context = WebhookContext(hub.settings, hub.db, hub.redis, hub.keys, hub.queue, hub.clock)
    app = create_app(hub.db, hub.redis, metrics=hub.metrics.registry, webhooks=context,
                     telegram_bot=telegram_bot(hub), clock=hub.clock, **app_options)  # fmt: skip
    return Live(hub, await stack.enter_async_context(serve(app)),
                await stack.enter_async_context(aiohttp.ClientSession()))  # fmt: skip


def processes(hub: Components) -> Callable[[], Awaitable[None]]:
    """The production inbound worker and dispatcher; the call runs the worker, then the
    dispatcher on every channel, until both are idle."""
    worker = inbound_worker(hub, consumer="e2e")
    dispatcher = Dispatcher(hub.db, hub.queue, hub.channels, hub.clock, hub.settings.dispatch,
                            hub.metrics, consumer="e2e")  # fmt: skip

    async def settle() -> None:
        while await worker.run_once():
            pass
        for name in hub.channels.names():
            while await dispatcher.run_once(name, block_ms=1):
                pass

    return settle


def _catalog() -> Catalog:
    return load_folder(PROJECT_ROOT / "templates").catalog


def _epoch(clock: FixedClock) -> Any:
    return lambda: clock.now().timestamp()


class Side(ABC):
    """One provider, as the enterprise's side of the conversation."""

    id: ClassVar[str]
    channel: ClassVar[ChannelName]
    mobile: ClassVar[str]  # the seeded contact (tests/seed.py) who writes
    env: ClassVar[dict[str, str]] = {}

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock
        self._n = 0

    async def start(self, stack: AsyncExitStack) -> None:  # noqa: B027 - optional
        """Start the outbound fake the config points at."""

    @abstractmethod
    def channels(self) -> dict[str, Any]:
        """The ``channels`` section enabling this provider."""

    async def link(self, hub: Components, contact_id: int) -> None:  # noqa: B027 - optional
        """Give the contact its address here (SMS: the seeded mobile already is)."""

    @abstractmethod
    async def say(self, live: Live, text: str) -> int:
        """The enterprise sends ``text``; the webhook's HTTP status."""

    async def rate(self, live: Live, score: int, ticket_number: str) -> int:
        """The enterprise rates as this channel invites it to (here: by replying the digit)."""
        return await self.say(live, str(score))

    @abstractmethod
    def received(self) -> list[str]:
        """Everything the provider was asked to deliver to the contact, as text."""

    def stamp(self) -> int:
        """A fresh second for each delivery (providers' ids include the time)."""
        self._n += 1
        return int((self.clock.now() - timedelta(minutes=5)).timestamp()) + self._n


class Sandbox(Side):
    id, channel, mobile = "sandbox", ChannelName.SANDBOX, "+8613900000001"  # 甲机械

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.inbox: list[str] = []
        self.live: Live | None = None

    def channels(self) -> dict[str, Any]:
        return {}

    async def say(self, live: Live, text: str) -> int:
        self.live = live
        reply = InboundReply(provider="sandbox", provider_msg_id=f"sb-{self.stamp()}",
                             sender=self.mobile, text=text, raw={"from": self.mobile})  # fmt: skip
        await accept_reply(live.hub.db, live.hub.queue, live.hub.clock, self.channel, reply)
        return 200

    async def refresh(self, live: Live, contact_id: int) -> None:
        key = live.hub.keys.sandbox_inbox(contact_id)
        raw = await live.hub.redis.lrange(key, 0, -1)
        self.inbox = [json.loads(item)["body"] for item in reversed(raw)]

    def received(self) -> list[str]:
        return self.inbox


class Tencent(Side):
    id, channel, mobile = "tencent", ChannelName.SMS, tencent_hooks.MOBILE  # 乙商贸
    env: ClassVar = {"TC_ID": tencent_hooks.SECRET_ID, "TC_KEY": tencent_hooks.SECRET_KEY,
                     "TC_PATH": tencent_hooks.PATH_SECRET}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.fake = TencentSmsFake(
            tencent_hooks.SECRET_ID, tencent_hooks.SECRET_KEY, sdk_app_id=tencent_hooks.APP_ID,
            clock=_epoch(clock),
        )  # fmt: skip
        catalog = _catalog()
        approved = {}
        for kind in SMS_KINDS:
            spec = catalog.get(kind, "sms")
            assert spec is not None
            assert spec.sms is not None
            approved[spec.sms.template_ids["tencent"]] = len(spec.sms.params)
        self.fake.switches.approved_templates = approved
        self.endpoint = ""

    async def start(self, stack: AsyncExitStack) -> None:
        self.endpoint = await stack.enter_async_context(self.fake.serve())

    def channels(self) -> dict[str, Any]:
        return {"sms": {"tencent": {
            "enabled": True, "endpoint": self.endpoint, "secret_id": "${TC_ID}",
            "secret_key": "${TC_KEY}", "sdk_app_id": tencent_hooks.APP_ID,
            "sign_name": tencent_hooks.SIGN, "path_secret": "${TC_PATH}",
        }}}  # fmt: skip

    async def say(self, live: Live, text: str) -> int:
        url = f"{live.base_url}/webhooks/sms/tencent/{tencent_hooks.PATH_SECRET}/reply"
        event = reply_event(self.mobile, text, at=self.stamp(), sign=tencent_hooks.SIGN)
        return (await push_reply(live.http, url, event)).status

    def received(self) -> list[str]:
        return [" ".join(r.params) for r in self.fake.received]


class Aliyun(Side):
    id, channel, mobile = "aliyun", ChannelName.SMS, "+8613900000003"  # 丙软件
    env: ClassVar = {"AL_ID": aliyun_hooks.KEY_ID, "AL_SECRET": aliyun_hooks.KEY_SECRET,
                     "AL_PATH": aliyun_hooks.PATH_SECRET}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.fake = AliyunSmsFake(aliyun_hooks.KEY_ID, aliyun_hooks.KEY_SECRET,
                                  sign_name=aliyun_hooks.SIGN, clock=_epoch(clock))  # fmt: skip
        catalog = _catalog()
        approved = {}
        for kind in SMS_KINDS:
            spec = catalog.get(kind, "sms")
            assert spec is not None
            assert spec.sms is not None
            approved[spec.sms.template_ids["aliyun"]] = [p.name for p in spec.sms.params]
        self.fake.switches.approved_templates = approved
        self.endpoint = ""

    async def start(self, stack: AsyncExitStack) -> None:
        self.endpoint = await stack.enter_async_context(self.fake.serve())

    def channels(self) -> dict[str, Any]:
        return {"sms": {"provider": "aliyun", "aliyun": {
            "enabled": True, "endpoint": self.endpoint, "access_key_id": "${AL_ID}",
            "access_key_secret": "${AL_SECRET}", "sign_name": aliyun_hooks.SIGN,
            "path_secret": "${AL_PATH}",
        }}}  # fmt: skip

    async def say(self, live: Live, text: str) -> int:
        url = f"{live.base_url}/webhooks/sms/aliyun/{aliyun_hooks.PATH_SECRET}/up"
        item = self.fake.up(self.mobile.removeprefix("+86"), text)  # a new sequence_id each
        status, _ = await push(live.http, url, [item])
        return status

    def received(self) -> list[str]:
        return [" ".join(p.values()) for r in self.fake.received for p in r.template_params]


class WechatOfficialAccount(Side):
    id, channel, mobile = "wechat_mp", ChannelName.WECHAT, "+8613900000001"  # 甲机械
    address = wechat_hooks.OPENID
    env: ClassVar = {"OA_SECRET": "s1", "OA_TOKEN": wechat_hooks.OA_TOKEN,
                     "OA_KEY": wechat_hooks.OA_KEY}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.fake = WechatApiFake(wechat_hooks.OA_APPID, "s1", clock=_epoch(clock))
        for kind in SMS_KINDS:
            spec = _catalog().get(kind, "wechat")
            assert spec is not None
            assert spec.wechat is not None
            self.fake.add_template(spec.wechat.template_id, [n for n, _ in spec.wechat.fields])
        self.fake.follow(self.address)
        self.api_base = ""

    async def start(self, stack: AsyncExitStack) -> None:
        self.api_base = await stack.enter_async_context(self.fake.serve())

    def channels(self) -> dict[str, Any]:
        app = {"enabled": True, "kind": "official_account", "app_id": wechat_hooks.OA_APPID,
               "api_base": self.api_base, "secret": "${OA_SECRET}", "token": "${OA_TOKEN}",
               "encoding_aes_key": "${OA_KEY}"}  # fmt: skip
        return {"wechat": {"default_app": "main", "apps": {"main": app}}}

    def push(self) -> WechatPush:
        return WechatPush.official_account(
            token=wechat_hooks.OA_TOKEN, app_id=wechat_hooks.OA_APPID,
            encoding_aes_key=wechat_hooks.OA_KEY, clock=self.clock,
        )  # fmt: skip

    async def link(self, hub: Components, contact_id: int) -> None:
        async with hub.db.write() as session:
            await session.execute(
                sa.update(Contact).where(Contact.id == contact_id)
                .values(wechat_openid=self.address)
            )  # fmt: skip

    async def _post(self, live: Live, request: Any, path: str) -> int:
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            return (await self.push().send(request, path, client=client)).status_code

    async def say(self, live: Live, text: str) -> int:
        return await self._post(live, self.push().text(self.address, text), wechat_hooks.OA_URL)

    def received(self) -> list[str]:
        return [" ".join(str(v["value"]) for v in c.payload["data"].values())
                + " " + str(c.payload.get("url", "")) for c in self.fake.sent()]  # fmt: skip


class Wecom(WechatOfficialAccount):
    id, channel, mobile = "wecom", ChannelName.WECOM, "+8613900000002"  # 乙商贸
    address = wechat_hooks.USERID
    env: ClassVar = {"WC_SECRET": "s2", "WC_TOKEN": wechat_hooks.WC_TOKEN,
                     "WC_KEY": wechat_hooks.WC_KEY}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        Side.__init__(self, clock)
        self.fake = WecomApiFake(wechat_hooks.WC_CORP, "s2", int(wechat_hooks.WC_AGENT),  # type: ignore[assignment]
                                 users=[self.address], clock=_epoch(clock))  # fmt: skip
        self.api_base = ""

    def channels(self) -> dict[str, Any]:
        return {"wechat": {"apps": {"work": {**wechat_hooks.WECOM_APP, "api_base": self.api_base}}}}

    def push(self) -> WechatPush:
        return WechatPush.wecom(
            token=wechat_hooks.WC_TOKEN, corp_id=wechat_hooks.WC_CORP,
            agent_id=wechat_hooks.WC_AGENT, encoding_aes_key=wechat_hooks.WC_KEY,
            clock=self.clock,
        )  # fmt: skip

    async def link(self, hub: Components, contact_id: int) -> None:
        async with hub.db.write() as session:
            await session.execute(
                sa.update(Contact).where(Contact.id == contact_id).values(wecom_userid=self.address)
            )

    async def say(self, live: Live, text: str) -> int:
        return await self._post(live, self.push().text(self.address, text), wechat_hooks.WC_URL)

    async def rate(self, live: Live, score: int, ticket_number: str) -> int:
        """A press on the last rating card the hub sent this member."""
        [card] = [c.payload["template_card"] for c in self.fake.sent()
                  if c.payload.get("msgtype") == "template_card"][-1:]  # fmt: skip
        assert ticket_number in card["task_id"]
        click = self.push().template_card_click(self.address, card["task_id"], f"rating:{score}")
        return await self._post(live, click, wechat_hooks.WC_URL)

    def received(self) -> list[str]:
        out = []
        for call in self.fake.sent():
            payload = call.payload
            if payload.get("msgtype") == "template_card":
                card = payload["template_card"]
                buttons = " ".join(b["text"] for b in card["button_list"])
                out.append(f"{card['main_title']['title']} {card.get('sub_title_text', '')} "
                           f"{buttons} {card['card_action']['url']}")  # fmt: skip
            else:
                out.append(str(payload[payload["msgtype"]]["content"]))
        return out


class Telegram(Side):
    id, channel, mobile = "telegram", ChannelName.TELEGRAM, "+8613900000005"  # 戊建筑
    env: ClassVar = {"TG_TOKEN": telegram_hooks.TOKEN, "TG_SECRET": telegram_hooks.SECRET}

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.fake = TelegramBotApiFake(telegram_hooks.TOKEN, clock=_epoch(clock))
        self.api_base = ""

    async def start(self, stack: AsyncExitStack) -> None:
        self.api_base = await stack.enter_async_context(self.fake.serve())

    def channels(self) -> dict[str, Any]:
        return {"telegram": {"enabled": True, "api_base": self.api_base, "token": "${TG_TOKEN}",
                             "webhook_secret": "${TG_SECRET}"}}  # fmt: skip

    async def link(self, hub: Components, contact_id: int) -> None:
        assert await bind_chat(hub.db, hub.clock, contact_id, str(telegram_hooks.CHAT))

    async def _deliver(self, live: Live, update: dict[str, Any]) -> int:
        if not self.fake.webhook_url:  # what `hub run` registers at start-up
            bot = telegram_bot(live.hub)
            assert bot is not None
            await register_webhook(bot, f"{live.base_url}/webhooks/telegram", telegram_hooks.SECRET)
        return await self.fake.deliver(update, live.http)

    async def say(self, live: Live, text: str) -> int:
        return await self._deliver(live, self.fake.message_update(telegram_hooks.CHAT, text))

    async def rate(self, live: Live, score: int, ticket_number: str) -> int:
        """A press on the rating keyboard of the last message the bot sent."""
        [last] = self.fake.sent[-1:]
        assert last.reply_markup is not None
        [row] = last.reply_markup["inline_keyboard"]
        data = next(b["callback_data"] for b in row if b["text"].startswith(f"{score} "))
        assert data == f"rate:{score}:{ticket_number}"
        return await self._deliver(live, self.fake.callback_update(telegram_hooks.CHAT, data))

    def received(self) -> list[str]:
        return [s.text for s in self.fake.sent]


SIDES: list[type[Side]] = [Sandbox, Tencent, Aliyun, WechatOfficialAccount, Wecom, Telegram]
