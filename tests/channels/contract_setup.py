"""Each channel and its loopback fake, set up the same way for the one contract suite.

:func:`open_kit` starts a provider's fake (``channels/fakes/``), builds the channel against it
(HTTP providers through the ONE ``aiohttp.ClientSession`` the caller passes; Telegram through
aiogram's own session, as the channel does in production) and returns a :class:`ChannelKit`:
the channel plus what the contract needs to drive it — valid messages rendered from the
shipped templates, the fake's switch for a recipient the provider refuses, for an outage, for
a slow answer, and a channel with wrong credentials.

Constants and builders come from each channel's own tests, so a credential or an id has one
spelling across the suite.
"""

from __future__ import annotations

import functools
import socket
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, ClassVar

import aiohttp
from redis.asyncio import Redis

from channels.base import (
    Channel,
    OutboundMessage,
    PermanentError,
    SendResult,
)
from channels.fakes.aliyun_sms import AliyunSmsFake
from channels.fakes.telegram_api import TelegramBotApiFake
from channels.fakes.tencent_sms import TencentSmsFake
from channels.fakes.wechat_api import WechatApiFake
from channels.fakes.wecom_api import WecomApiFake
from channels.sandbox import SandboxChannel
from channels.sms.aliyun import AliyunSmsChannel, national_number
from channels.sms.http_client import HttpClient
from channels.sms.settings import AliyunSmsSettings, TencentSmsSettings
from channels.sms.tencent import TencentSmsChannel, e164
from channels.telegram.channel import TelegramChannel
from channels.telegram.settings import TelegramSettings
from channels.wechat.official_account import TEMPLATE_PATH, WechatMpChannel
from channels.wechat.settings import WechatAppSettings
from channels.wechat.wecom import WecomChannel
from hub.app.runtime import PROJECT_ROOT
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.rendering.render import TemplateRenderer
from hub.rendering.template_spec import Rendered
from hub.rendering.templates import example_context
from tests.channels.sms import test_aliyun as aliyun_tests
from tests.channels.sms import test_tencent_fake as tencent_tests
from tests.channels.telegram import test_channel as telegram_tests
from tests.channels.wechat import test_official_account as wechat_tests
from tests.channels.wechat import test_wecom as wecom_tests

#: Every provider the contract runs over, and the logical channel each one serves.
PROVIDERS: dict[str, str] = {
    "sandbox": "sandbox",
    "tencent": "sms",
    "aliyun": "sms",
    "wechat_mp": "wechat",
    "wecom": "wecom",
    "telegram": "telegram",
}
#: Those that keep state in Redis (sandbox inboxes, WeChat/WeCom access tokens).
NEEDS_REDIS = frozenset({"sandbox", "wechat_mp", "wecom"})
#: The SMS template the SMS kits send (its approved ids and parameters, templates/credit_warning).
SMS_KIND = "credit_warning"
SLOW_TIMEOUT_S = 0.1
SLOW_LATENCY_S = 0.5


@functools.cache
def renderer() -> TemplateRenderer:
    """The shipped templates (read on first use)."""
    return TemplateRenderer(PROJECT_ROOT / "templates")


def render(kind: str, channel: str, company: str) -> Rendered:
    """A real template rendered with its examples, for ``company`` (so messages differ)."""
    spec = renderer().spec(kind, channel)
    context: dict[str, Any] = example_context(spec)
    context["enterprise"] = {**context["enterprise"], "name": company}
    return renderer().render_message(kind, channel, context)


def company(i: int) -> str:
    return f"鹤城精密机械{i}号厂"


def sms_message(i: int, *, mobile: str = "") -> OutboundMessage:
    """A credit warning as the outbox stores it: ``Rendered.message_params`` of the SMS template."""
    rendered = render(SMS_KIND, "sms", company(i))
    return OutboundMessage(
        message_id=i, address=mobile or f"+861380000{i:04d}", body=rendered.body, kind=SMS_KIND,
        params=rendered.message_params(), contact_id=1000 + i,
    )  # fmt: skip


def sms_template() -> tuple[str, str, list[str]]:
    """``(tencent id, aliyun code, parameter names)`` the SMS template was approved with."""
    rendered = render(SMS_KIND, "sms", company(0))
    ids = rendered.provider_template_ids
    return ids["tencent"], ids["aliyun"], list(rendered.param_names)


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ChannelKit(ABC):
    """A channel against its fake, and the levers the contract pulls."""

    def __init__(self, channel: Channel, stack: AsyncExitStack) -> None:
        self.channel = channel
        self.stack = stack

    @abstractmethod
    def message(self, i: int) -> OutboundMessage:
        """A valid message ``i`` (distinct content and recipient for each ``i``)."""

    @abstractmethod
    async def outage(self) -> Channel:
        """Switch the provider down (5xx / system busy); the channel to send through."""

    @abstractmethod
    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        """The fake holds ``message`` (its recipient and content) under ``result``'s id."""


class ProviderKit(ChannelKit):
    """A channel to a real provider (every one but the sandbox): recipients it refuses,
    credentials, answers that come too late."""

    #: What a refused recipient gets (OptedOutError when the recipient refused us).
    refusal: ClassVar[type[PermanentError]] = PermanentError

    @abstractmethod
    def refused_message(self, i: int) -> OutboundMessage:
        """Message ``i`` to a recipient the provider refuses (its fake switched to refuse it)."""

    @abstractmethod
    async def slow(self) -> Channel:
        """A channel that gives up before the (switched slow) provider answers."""

    @abstractmethod
    async def wrong_credentials(self) -> Channel:
        """A channel to the same provider whose credentials the provider refuses."""


# --- sandbox -----------------------------------------------------------------------------------


class SandboxKit(ChannelKit):
    """No provider behind it: it refuses no address and has no credentials; Redis is its outage."""

    def __init__(
        self, stack: AsyncExitStack, redis: Redis, keys: RedisKeys, clock: FixedClock
    ) -> None:
        super().__init__(SandboxChannel(redis, keys, clock), stack)
        self.keys, self.clock = keys, clock

    def message(self, i: int) -> OutboundMessage:
        rendered = render("notice", "sandbox", company(i))
        return OutboundMessage(i, f"+861390000{i:04d}", rendered.body, "notice",
                               rendered.message_params(), contact_id=2000 + i)  # fmt: skip

    async def outage(self) -> Channel:
        # The sandbox's "provider" is Redis: a server that is not there.
        gone = Redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", decode_responses=True)
        self.stack.push_async_callback(gone.aclose)
        return SandboxChannel(gone, self.keys, self.clock)

    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        assert isinstance(self.channel, SandboxChannel)
        inbox = await self.channel.inbox(message.contact_id or 0)
        return result.provider_message_id == f"sandbox-{message.message_id}" and any(
            e["message_id"] == message.message_id and e["body"] == message.body for e in inbox
        )


# --- Tencent SMS -------------------------------------------------------------------------------


class TencentKit(ProviderKit):
    def __init__(
        self, stack: AsyncExitStack, fake: TencentSmsFake, endpoint: str, clock: FixedClock
    ) -> None:
        # The SMS providers post through the lean client (channels/sms/http_client.py), as in
        # production.
        http = HttpClient()
        stack.push_async_callback(http.aclose)
        super().__init__(TencentSmsChannel(self._config(endpoint), http, clock), stack)
        self.fake, self.endpoint, self.http, self.clock = fake, endpoint, http, clock

    @staticmethod
    def _config(endpoint: str, secret_key: str = tencent_tests.SECRET_KEY) -> TencentSmsSettings:
        return tencent_tests.config(endpoint, secret_key=secret_key)

    def message(self, i: int) -> OutboundMessage:
        return sms_message(i)

    def refused_message(self, i: int) -> OutboundMessage:
        message = sms_message(i)
        self.fake.switches.number_errors[message.address] = (
            "InvalidParameterValue.IncorrectPhoneNumber"
        )
        return message

    async def outage(self) -> Channel:
        self.fake.switches.http_status = 502
        return self.channel

    async def slow(self) -> Channel:
        self.fake.switches.latency_s = SLOW_LATENCY_S
        return TencentSmsChannel(self._config(self.endpoint), self.http, self.clock,
                                 timeout_s=SLOW_TIMEOUT_S)  # fmt: skip

    async def wrong_credentials(self) -> Channel:
        return TencentSmsChannel(self._config(self.endpoint, "guessed"), self.http, self.clock)

    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        number = e164(message.address)
        return any(
            serial == result.provider_message_id and n == number
            and r.params == tuple(message.params["values"])
            for r in self.fake.received
            for n, serial in zip(r.phone_numbers, r.serial_nos, strict=True)
        )  # fmt: skip


# --- Aliyun SMS --------------------------------------------------------------------------------


class AliyunKit(ProviderKit):
    def __init__(
        self, stack: AsyncExitStack, fake: AliyunSmsFake, endpoint: str, clock: FixedClock
    ) -> None:
        http = HttpClient()
        stack.push_async_callback(http.aclose)
        super().__init__(AliyunSmsChannel(self._config(endpoint), http, clock), stack)
        self.fake, self.endpoint, self.http, self.clock = fake, endpoint, http, clock

    @staticmethod
    def _config(endpoint: str, secret: str = aliyun_tests.KEY_SECRET) -> AliyunSmsSettings:
        return aliyun_tests.config(endpoint, secret=secret)

    def message(self, i: int) -> OutboundMessage:
        return sms_message(i)

    def refused_message(self, i: int) -> OutboundMessage:
        message = sms_message(i)
        self.fake.switches.number_errors[national_number(message.address)] = (
            "isv.MOBILE_NUMBER_ILLEGAL"
        )
        return message

    async def outage(self) -> Channel:
        self.fake.switches.request_error = "ServiceUnavailable"  # HTTP 503, as Aliyun answers
        return self.channel

    async def slow(self) -> Channel:
        self.fake.switches.latency_s = SLOW_LATENCY_S
        return AliyunSmsChannel(self._config(self.endpoint), self.http, self.clock,
                                timeout_s=SLOW_TIMEOUT_S)  # fmt: skip

    async def wrong_credentials(self) -> Channel:
        return AliyunSmsChannel(self._config(self.endpoint, "guessed"), self.http, self.clock)

    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        number = national_number(message.address)
        expected = dict(zip(message.params["names"], message.params["values"], strict=True))
        return any(
            f"{r.biz_id}:{n}" == result.provider_message_id and n == number and p == expected
            for r in self.fake.received
            for n, p in zip(r.phone_numbers, r.template_params, strict=True)
        )


# --- WeChat Official Account -------------------------------------------------------------------


class WechatMpKit(ProviderKit):
    def __init__(
        self, stack: AsyncExitStack, fake: WechatApiFake, base_url: str,
        http: aiohttp.ClientSession, redis: Redis, keys: RedisKeys, clock: FixedClock,
    ) -> None:  # fmt: skip
        channel = wechat_tests.make_channel(base_url, http, redis, keys, clock)
        super().__init__(channel, stack)
        self.fake, self.base_url, self.http = fake, base_url, http
        self.redis, self.keys, self.clock = redis, keys, clock

    def message(self, i: int) -> OutboundMessage:
        rendered = render(SMS_KIND, "wechat", company(i))
        return OutboundMessage(i, wechat_tests.openid(i), rendered.body, SMS_KIND,
                               rendered.message_params())  # fmt: skip

    def refused_message(self, i: int) -> OutboundMessage:
        message = self.message(i)
        self.fake.followers.discard(message.address)  # not a user of this account: 40003
        return message

    async def outage(self) -> Channel:
        self.fake.switches.errcode = -1  # system busy
        return self.channel

    async def slow(self) -> Channel:
        self.fake.switches.latency_s = SLOW_LATENCY_S
        config = self._settings(wechat_tests.SECRET)
        return WechatMpChannel("main", config, self.http, self.redis, self.keys, self.clock,
                               timeout_s=SLOW_TIMEOUT_S)  # fmt: skip

    async def wrong_credentials(self) -> Channel:
        # Its own app name: the token cache is per app, and this app has never had a token.
        config = self._settings("guessed")
        return WechatMpChannel("guessed", config, self.http, self.redis, self.keys, self.clock)

    def _settings(self, secret: str) -> WechatAppSettings:
        return WechatAppSettings(kind="official_account", app_id=wechat_tests.APP_ID,
                                 secret=secret, api_base=self.base_url)  # fmt: skip

    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        fields = {k: {"value": v} for k, v in message.params["fields"].items()}
        return any(
            c.msgid == result.provider_message_id and c.payload["touser"] == message.address
            and c.payload["data"] == fields
            for c in self.fake.sent(TEMPLATE_PATH)
        )  # fmt: skip


# --- WeCom -------------------------------------------------------------------------------------


def wecom_user(i: int) -> str:
    return f"officer{i:03d}"


class WecomKit(ProviderKit):
    def __init__(
        self, stack: AsyncExitStack, fake: WecomApiFake, base_url: str,
        http: aiohttp.ClientSession, redis: Redis, keys: RedisKeys, clock: FixedClock,
    ) -> None:  # fmt: skip
        channel = WecomChannel("staff", wecom_tests.config(base_url), http, redis, keys, clock)
        super().__init__(channel, stack)
        self.fake, self.base_url, self.http = fake, base_url, http
        self.redis, self.keys, self.clock = redis, keys, clock

    def message(self, i: int) -> OutboundMessage:
        rendered = render("visit_update", "wecom", company(i))
        return OutboundMessage(i, wecom_user(i), rendered.body, "visit_update",
                               rendered.message_params())  # fmt: skip

    def refused_message(self, i: int) -> OutboundMessage:
        message = self.message(i)
        self.fake.users.discard(message.address.lower())  # left the corp: invaliduser
        return message

    async def outage(self) -> Channel:
        self.fake.switches.errcode = -1  # system busy
        return self.channel

    async def slow(self) -> Channel:
        self.fake.switches.latency_s = SLOW_LATENCY_S
        return WecomChannel("staff", wecom_tests.config(self.base_url), self.http, self.redis,
                            self.keys, self.clock, timeout_s=SLOW_TIMEOUT_S)  # fmt: skip

    async def wrong_credentials(self) -> Channel:
        config = wecom_tests.config(self.base_url, secret="guessed")
        return WecomChannel("guessed", config, self.http, self.redis, self.keys, self.clock)

    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        return any(
            c.msgid == result.provider_message_id
            and c.payload["touser"].lower().split("|") == [message.address.lower()]
            and c.payload[c.payload["msgtype"]]["content"] == message.body
            for c in self.fake.sent()
        )


# --- Telegram ----------------------------------------------------------------------------------


class TelegramKit(ProviderKit):
    def __init__(self, stack: AsyncExitStack, fake: TelegramBotApiFake, base_url: str) -> None:
        settings = TelegramSettings(token=fake.token, api_base=base_url)
        channel = TelegramChannel.from_settings(settings)
        stack.push_async_callback(channel.aclose)
        super().__init__(channel, stack)
        self.fake, self.base_url = fake, base_url

    def _own(self, channel: TelegramChannel) -> TelegramChannel:
        self.stack.push_async_callback(channel.aclose)
        return channel

    def message(self, i: int) -> OutboundMessage:
        rendered = render("ticket_feedback", "telegram", company(i))
        return OutboundMessage(i, str(telegram_tests.CHAT + i), rendered.body, "ticket_feedback",
                               rendered.message_params())  # fmt: skip

    def refused_message(self, i: int) -> OutboundMessage:
        message = self.message(i)
        self.fake.switches.chat_errors[message.address] = "chat_not_found"
        return message

    async def outage(self) -> Channel:
        self.fake.switches.error = "bad_gateway"
        return self.channel

    async def slow(self) -> Channel:
        self.fake.switches.latency_s = SLOW_LATENCY_S
        config = TelegramSettings(token=self.fake.token, api_base=self.base_url)
        return self._own(TelegramChannel.from_settings(config, timeout_s=SLOW_TIMEOUT_S))

    async def wrong_credentials(self) -> Channel:
        guessed = f"{self.fake.bot_id}:guessed-token"
        config = TelegramSettings(token=guessed, api_base=self.base_url)
        return self._own(TelegramChannel.from_settings(config))

    async def delivered(self, message: OutboundMessage, result: SendResult) -> bool:
        return any(
            f"{s.chat_id}:{s.message_id}" == result.provider_message_id
            and str(s.chat_id) == message.address
            and s.text == message.body
            for s in self.fake.sent
        )


# --- building one ------------------------------------------------------------------------------


def _epoch(clock: FixedClock) -> Callable[[], float]:
    return lambda: clock.now().timestamp()


@asynccontextmanager
async def open_kit(
    provider: str, *, http: aiohttp.ClientSession, redis: Redis, keys: RedisKeys,
    clock: FixedClock,
) -> AsyncIterator[ChannelKit]:  # fmt: skip
    """Start ``provider``'s fake, build its channel; stop and close everything on exit."""
    async with AsyncExitStack() as stack:
        kit: ChannelKit
        if provider == "sandbox":
            kit = SandboxKit(stack, redis, keys, clock)
        elif provider == "tencent":
            tencent_id, _, names = sms_template()
            tencent = TencentSmsFake(
                tencent_tests.SECRET_ID, tencent_tests.SECRET_KEY,
                sdk_app_id=tencent_tests.APP_ID, clock=_epoch(clock),
            )  # fmt: skip
            tencent.switches.approved_templates = {tencent_id: len(names)}
            endpoint = await stack.enter_async_context(tencent.serve())
            kit = TencentKit(stack, tencent, endpoint, clock)
        elif provider == "aliyun":
            _, aliyun_code, names = sms_template()
            aliyun = AliyunSmsFake(aliyun_tests.KEY_ID, aliyun_tests.KEY_SECRET,
                                   sign_name=aliyun_tests.SIGN, clock=_epoch(clock))  # fmt: skip
            aliyun.switches.approved_templates = {aliyun_code: names}
            endpoint = await stack.enter_async_context(aliyun.serve())
            kit = AliyunKit(stack, aliyun, endpoint, clock)
        elif provider == "wechat_mp":
            wechat = WechatApiFake(wechat_tests.APP_ID, wechat_tests.SECRET, clock=_epoch(clock))
            fields = render(SMS_KIND, "wechat", company(0))
            wechat.add_template(fields.provider_template_ids["wechat"], fields.fields)
            wechat.follow(*(wechat_tests.openid(i) for i in range(1, 10)))
            base_url = await stack.enter_async_context(wechat.serve())
            kit = WechatMpKit(stack, wechat, base_url, http, redis, keys, clock)
        elif provider == "wecom":
            wecom = WecomApiFake(wecom_tests.CORP_ID, wecom_tests.SECRET, wecom_tests.AGENT_ID,
                                 users=[wecom_user(i) for i in range(1, 10)],
                                 clock=_epoch(clock))  # fmt: skip
            base_url = await stack.enter_async_context(wecom.serve())
            kit = WecomKit(stack, wecom, base_url, http, redis, keys, clock)
        elif provider == "telegram":
            telegram = TelegramBotApiFake(telegram_tests.TOKEN, clock=_epoch(clock))
            base_url = await stack.enter_async_context(telegram.serve())
            kit = TelegramKit(stack, telegram, base_url)
        else:
            raise ValueError(f"no contract kit for provider {provider!r}")
        yield kit
