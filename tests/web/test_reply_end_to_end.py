"""A reply from each provider, as that provider delivers it, to the whole hub and out of the CLI.

For Tencent SMS (reply callback), Aliyun SMS (``SmsUp`` push), a WeChat Official Account
(encrypted text, safe mode), WeCom (text) and Telegram (text from a linked chat): the provider is
configured in a config.yaml whose secrets are ``${ENV}`` references, the hub is opened the way
every process opens it (``open_components``) and served on a loopback socket by uvicorn
(``create_app`` with every webhook mounted), and the provider's fake or push client delivers the
same reply twice — as providers do when an answer is slow. One reply is stored, linked to the
contact whose address sent it and that contact's enterprise, and ``hub replies list --json``
(same config file) lists it once. A forged delivery is refused with 401/403 and stores nothing.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import aiohttp
import httpx
import pytest
import sqlalchemy as sa

from channels.fakes.aliyun_sms import AliyunSmsFake, push
from channels.fakes.telegram_api import TelegramBotApiFake, webhook_request
from channels.fakes.tencent_sms_push import push_reply, reply_event
from channels.fakes.wechat_push import WechatPush
from hub.app.config import load_settings
from hub.app.processes import telegram_bot
from hub.app.runtime import Components, open_components
from hub.cli import main
from hub.core.clock import FixedClock
from hub.inbound.telegram_links import bind_chat
from hub.store.models import Contact
from hub.store.models import InboundReply as StoredReply
from hub.web.app import create_app
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram_bot import register_webhook
from tests.seed import seed_registry
from tests.web import test_webhook_aliyun as aliyun_hooks
from tests.web import test_webhook_telegram as telegram_hooks
from tests.web import test_webhook_tencent as tencent_hooks
from tests.web import test_webhook_wechat as wechat_hooks
from tests.web.test_webhook_tencent import serve


@dataclass
class Live:
    """The running hub as a provider sees it."""

    hub: Components
    base_url: str
    http: aiohttp.ClientSession


class Provider(ABC):
    """One provider's inbound side: its config, the contact it knows, its deliveries."""

    id: ClassVar[str]
    channel: ClassVar[str]  # the logical channel the reply is stored under
    mobile: ClassVar[str]  # the seeded contact (tests/seed.py) the reply comes from
    enterprise: ClassVar[str]
    text: ClassVar[str]
    env: ClassVar[dict[str, str]]

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock

    async def start(self, stack: AsyncExitStack) -> None:  # noqa: B027 - an optional hook
        """Start what must run before the config is written (a fake API the config names)."""

    @abstractmethod
    def channels(self) -> dict[str, Any]:
        """The ``channels`` section enabling this provider (secrets as ``${ENV}``)."""

    async def link(self, hub: Components, contact_id: int) -> None:  # noqa: B027 - optional
        """Give the contact this provider's address (SMS: the seeded mobile already is)."""

    @abstractmethod
    async def deliver(self, live: Live) -> int:
        """Deliver THE reply (the same one on every call) as the provider does; HTTP status."""

    @abstractmethod
    async def forge(self, live: Live) -> int:
        """Deliver another reply the way a forger would; HTTP status."""


class Tencent(Provider):
    id, channel, mobile, enterprise = "tencent", "sms", tencent_hooks.MOBILE, "乙商贸"
    text = "请问奖补资金什么时候到账"
    env: ClassVar = {"TC_ID": tencent_hooks.SECRET_ID, "TC_KEY": tencent_hooks.SECRET_KEY,
                     "TC_PATH": tencent_hooks.PATH_SECRET}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.event = reply_event(self.mobile, self.text, at=clock.now() - timedelta(minutes=1),
                                 sign=tencent_hooks.SIGN)  # fmt: skip

    def channels(self) -> dict[str, Any]:
        return {"sms": {"tencent": {
            "enabled": True, "secret_id": "${TC_ID}", "secret_key": "${TC_KEY}",
            "sdk_app_id": tencent_hooks.APP_ID, "sign_name": tencent_hooks.SIGN,
            "path_secret": "${TC_PATH}",
        }}}  # fmt: skip

    def _url(self, live: Live, secret: str) -> str:
        return f"{live.base_url}/webhooks/sms/tencent/{secret}/reply"

    async def deliver(self, live: Live) -> int:
        answer = await push_reply(live.http, self._url(live, tencent_hooks.PATH_SECRET), self.event)
        assert answer.body == tencent_hooks.OK
        return answer.status

    async def forge(self, live: Live) -> int:
        other = {**self.event, "text": "伪造的回复"}
        return (await push_reply(live.http, self._url(live, "guessed-secret"), other)).status


class Aliyun(Provider):
    id, channel, mobile, enterprise = "aliyun", "sms", "+8613900000003", "丙软件"
    text = "已收到，谢谢"
    env: ClassVar = {"AL_ID": aliyun_hooks.KEY_ID, "AL_SECRET": aliyun_hooks.KEY_SECRET,
                     "AL_PATH": aliyun_hooks.PATH_SECRET}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        # The fake only builds the SmsUp items here; nothing is sent through it.
        self.fake = AliyunSmsFake(aliyun_hooks.KEY_ID, aliyun_hooks.KEY_SECRET,
                                  sign_name=aliyun_hooks.SIGN,
                                  clock=lambda: clock.now().timestamp())  # fmt: skip
        self.item = self.fake.up(self.mobile.removeprefix("+86"), self.text)

    def channels(self) -> dict[str, Any]:
        return {"sms": {"provider": "aliyun", "aliyun": {
            "enabled": True, "access_key_id": "${AL_ID}", "access_key_secret": "${AL_SECRET}",
            "sign_name": aliyun_hooks.SIGN, "path_secret": "${AL_PATH}",
        }}}  # fmt: skip

    def _url(self, live: Live, secret: str) -> str:
        return f"{live.base_url}/webhooks/sms/aliyun/{secret}/up"

    async def deliver(self, live: Live) -> int:
        url = self._url(live, aliyun_hooks.PATH_SECRET)
        status, answer = await push(live.http, url, [self.item])
        assert answer == aliyun_hooks.ANSWER
        return status

    async def forge(self, live: Live) -> int:
        other = self.fake.up(self.mobile.removeprefix("+86"), "伪造的回复")
        status, _ = await push(live.http, self._url(live, "guessed-secret"), [other])
        return status


class WechatOfficialAccount(Provider):
    id, channel, mobile, enterprise = "wechat_mp", "wechat", "+8613900000001", "甲机械"
    text = "5"
    address = wechat_hooks.OPENID
    path = wechat_hooks.OA_URL
    env: ClassVar = {"OA_SECRET": "s1", "OA_TOKEN": wechat_hooks.OA_TOKEN,
                     "OA_KEY": wechat_hooks.OA_KEY}  # fmt: skip

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.request = self.push().text(self.address, self.text)

    def push(self, **overrides: Any) -> WechatPush:
        config: dict[str, Any] = {
            "token": wechat_hooks.OA_TOKEN, "app_id": wechat_hooks.OA_APPID,
            "encoding_aes_key": wechat_hooks.OA_KEY, "clock": self.clock,
        }  # fmt: skip
        return WechatPush.official_account(**(config | overrides))

    def channels(self) -> dict[str, Any]:
        app = {
            "enabled": True,
            "kind": "official_account",
            "app_id": wechat_hooks.OA_APPID,
            "secret": "${OA_SECRET}",
            "token": "${OA_TOKEN}",
            "encoding_aes_key": "${OA_KEY}",
        }
        return {"wechat": {"default_app": "main", "apps": {"main": app}}}

    async def link(self, hub: Components, contact_id: int) -> None:
        async with hub.db.write() as session:
            await session.execute(
                sa.update(Contact)
                .where(Contact.id == contact_id)
                .values(wechat_openid=self.address)
            )

    async def _send(self, push: WechatPush, request: Any, live: Live) -> int:
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            response = await push.send(request, self.path, client=client)
        return response.status_code

    async def deliver(self, live: Live) -> int:
        return await self._send(self.push(), self.request, live)

    async def forge(self, live: Live) -> int:
        forger = self.push(token="guessed-token")
        return await self._send(forger, forger.text(self.address, "伪造的回复"), live)


class Wecom(WechatOfficialAccount):
    id, channel, mobile, enterprise = "wecom", "wecom", "+8613900000002", "乙商贸"
    text = "收到，周四上午走访可以"
    address = wechat_hooks.USERID
    path = wechat_hooks.WC_URL
    env: ClassVar = {"WC_SECRET": "s2", "WC_TOKEN": wechat_hooks.WC_TOKEN,
                     "WC_KEY": wechat_hooks.WC_KEY}  # fmt: skip

    def push(self, **overrides: Any) -> WechatPush:
        config: dict[str, Any] = {
            "token": wechat_hooks.WC_TOKEN, "corp_id": wechat_hooks.WC_CORP,
            "agent_id": wechat_hooks.WC_AGENT, "encoding_aes_key": wechat_hooks.WC_KEY,
            "clock": self.clock,
        }  # fmt: skip
        return WechatPush.wecom(**(config | overrides))

    def channels(self) -> dict[str, Any]:
        return {"wechat": {"apps": {"work": wechat_hooks.WECOM_APP}}}

    async def link(self, hub: Components, contact_id: int) -> None:
        async with hub.db.write() as session:
            await session.execute(
                sa.update(Contact).where(Contact.id == contact_id).values(wecom_userid=self.address)
            )


class Telegram(Provider):
    id, channel, mobile, enterprise = "telegram", "telegram", "+8613900000005", "戊建筑"
    text = "好的，明天把材料送到政务服务大厅"
    env: ClassVar = {"TG_TOKEN": telegram_hooks.TOKEN, "TG_SECRET": telegram_hooks.SECRET}

    def __init__(self, clock: FixedClock) -> None:
        super().__init__(clock)
        self.fake = TelegramBotApiFake(telegram_hooks.TOKEN, clock=lambda: clock.now().timestamp())
        self.update = self.fake.message_update(telegram_hooks.CHAT, self.text)
        self.api_base = ""

    async def start(self, stack: AsyncExitStack) -> None:
        self.api_base = await stack.enter_async_context(self.fake.serve())

    def channels(self) -> dict[str, Any]:
        return {"telegram": {"enabled": True, "api_base": self.api_base, "token": "${TG_TOKEN}",
                             "webhook_secret": "${TG_SECRET}"}}  # fmt: skip

    async def link(self, hub: Components, contact_id: int) -> None:
        assert await bind_chat(hub.db, hub.clock, contact_id, str(telegram_hooks.CHAT))

    async def deliver(self, live: Live) -> int:
        if not self.fake.webhook_url:  # what `hub run` registers at start-up
            bot = telegram_bot(live.hub)
            assert bot is not None
            url = f"{live.base_url}/webhooks/telegram"
            await register_webhook(bot, url, live.hub.settings.channels.telegram.webhook_secret
                                   or "")  # fmt: skip
        return await self.fake.deliver(self.update, live.http)

    async def forge(self, live: Live) -> int:
        other = self.fake.message_update(telegram_hooks.CHAT, "伪造的回复")
        headers, body = webhook_request(other, "guessed-secret")
        async with live.http.post(f"{live.base_url}/webhooks/telegram", data=body,
                                  headers=headers) as response:  # fmt: skip
            return response.status


PROVIDERS = [Tencent, Aliyun, WechatOfficialAccount, Wecom, Telegram]
by_provider = pytest.mark.parametrize("kind", PROVIDERS, ids=[p.id for p in PROVIDERS])


@dataclass
class Outcome:
    statuses: list[int]
    rows: list[tuple[int | None, int | None, str, str]]  # contact, enterprise, channel, text
    contact_id: int
    enterprise_id: int


async def _run(
    provider: Provider, write_config: Callable[..., Path], clock: FixedClock, *, forge: bool
) -> tuple[Path, Outcome]:
    """Open the hub with the provider enabled, serve it, deliver twice (and forge once)."""
    async with AsyncExitStack() as stack:
        await provider.start(stack)
        config = write_config(channels=provider.channels())
        hub = await stack.enter_async_context(open_components(load_settings(config), clock=clock))
        enterprises = await seed_registry(hub.db)
        async with hub.db.read() as session:
            contact_id = await session.scalar(
                sa.select(Contact.id).where(Contact.mobile == provider.mobile)
            )
        assert contact_id is not None
        await provider.link(hub, contact_id)
        context = WebhookContext(hub.settings, hub.db, hub.redis, hub.keys, hub.queue, hub.clock)
        app = create_app(hub.db, hub.redis, metrics=hub.metrics.registry, webhooks=context,
                         telegram_bot=telegram_bot(hub))  # fmt: skip
        base_url = await stack.enter_async_context(serve(app))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        live = Live(hub, base_url, http)
        statuses = [await provider.deliver(live), await provider.deliver(live)]
        if forge:
            statuses.append(await provider.forge(live))
        async with hub.db.read() as session:
            rows = [
                (r.contact_id, r.enterprise_id, r.channel.value, r.text)
                for r in (await session.scalars(sa.select(StoredReply))).all()
            ]
    return config, Outcome(statuses, rows, contact_id, enterprises[provider.enterprise])


@by_provider
def test_a_reply_delivered_twice_is_stored_once_linked_and_listed_once(
    kind: type[Provider], write_config: Callable[..., Path], clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    for name, value in kind.env.items():
        monkeypatch.setenv(name, value)
    provider = kind(clock)
    config, outcome = asyncio.run(_run(provider, write_config, clock, forge=False))

    assert outcome.statuses == [200, 200]
    assert outcome.rows == [
        (outcome.contact_id, outcome.enterprise_id, provider.channel, provider.text)
    ]
    capsys.readouterr()
    assert main(["--config", str(config), "replies", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert (listed["channel"], listed["provider"]) == (provider.channel, provider.id)
    assert (listed["text"], listed["enterprise"]) == (provider.text, provider.enterprise)


@by_provider
def test_a_forged_delivery_is_refused_and_stores_nothing(
    kind: type[Provider], write_config: Callable[..., Path], clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name, value in kind.env.items():
        monkeypatch.setenv(name, value)
    provider = kind(clock)
    _, outcome = asyncio.run(_run(provider, write_config, clock, forge=True))

    genuine, again, forged = outcome.statuses
    assert (genuine, again) == (200, 200)
    assert forged in (401, 403)
    assert [row[3] for row in outcome.rows] == [provider.text]  # still the genuine one only
