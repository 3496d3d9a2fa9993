"""The channels config.yaml enables, built once per process (the one place that knows how).

``sandbox`` is on by default; ``sms`` is the provider ``channels.sms.provider`` names, with the
other one as failover when it is enabled too; ``wechat`` is ``channels.wechat.default_app`` (an
Official Account); ``wecom`` is the first enabled WeCom app; ``telegram`` when enabled. The
WeChat and WeCom senders share one ``aiohttp.ClientSession`` (docs/design.md, HTTP out); the SMS
providers, one request per personalised message, share one lean
:class:`channels.sms.http_client.HttpClient`.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from channels.base import Channel, ChannelRegistry
from channels.sandbox import SandboxChannel
from channels.sms.aliyun import AliyunSmsChannel
from channels.sms.failover import FailoverSmsChannel
from channels.sms.http_client import HttpClient
from channels.sms.tencent import TencentSmsChannel
from hub.app.config import Settings
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient
from hub.rendering.template_spec import Catalog

if TYPE_CHECKING:
    import aiohttp
    from aiogram import Bot

# Requests in flight per SMS provider: the lean client's connections per origin.
HTTP_CONCURRENCY = 64


def sms_template_ids(catalog: Catalog, provider: str) -> dict[str, str]:
    """Message kind -> the provider's approved SMS template id, as the templates declare it."""
    ids: dict[str, str] = {}
    for spec in catalog:
        sms = spec.sms
        if spec.channel == "sms" and sms is not None and sms.template_ids.get(provider):
            ids[spec.kind] = str(sms.template_ids[provider])
    return ids


def _needs_http(settings: Settings) -> bool:
    return any(app.enabled for app in settings.channels.wechat.apps.values())


async def build_channels(
    settings: Settings, stack: AsyncExitStack, redis: RedisClient, keys: RedisKeys, clock: Clock,
    catalog: Catalog,
) -> ChannelRegistry:  # fmt: skip
    """Register every enabled channel; ``stack`` closes them (and the HTTP session) on exit."""
    http: aiohttp.ClientSession | None = None
    if _needs_http(settings):
        # aiohttp (~10 MB per process) only where a WeChat or WeCom app is on.
        import aiohttp

        # Entered before the registry so it closes after the channels that use it.
        http = await stack.enter_async_context(
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=HTTP_CONCURRENCY * 2, limit_per_host=0)
            )
        )
    sms = settings.channels.sms
    lean: HttpClient | None = None
    if sms.tencent.enabled or sms.aliyun.enabled:
        # The SMS providers' send path (channels/sms/http_client.py says why not aiohttp).
        lean = await stack.enter_async_context(
            HttpClient(max_connections_per_origin=HTTP_CONCURRENCY)
        )
    registry = ChannelRegistry()
    stack.push_async_callback(registry.aclose)
    c = settings.channels
    if c.sandbox.enabled:
        registry.register(SandboxChannel(redis, keys, clock, inbox_size=c.sandbox.inbox_size,
                                         qps=c.sandbox.qps))  # fmt: skip
    if lean is not None:
        sms_channel = _sms_channel(settings, lean, clock, catalog)
        if sms_channel is not None:
            registry.register(sms_channel)
    if http is not None:
        from channels.wechat.official_account import WechatMpChannel
        from channels.wechat.wecom import WecomChannel

        wechat = c.wechat
        oa = wechat.apps.get(wechat.default_app) if wechat.default_app else None
        if wechat.default_app and oa is not None and oa.enabled:
            registry.register(WechatMpChannel(wechat.default_app, oa, http, redis, keys, clock))
        for name, app in wechat.apps.items():
            if app.enabled and app.kind == "wecom":
                registry.register(WecomChannel(name, app, http, redis, keys, clock))
                break
    if c.telegram.enabled and c.telegram.token:
        # aiogram costs ~100 MB per process: imported only where Telegram is on.
        from channels.telegram.channel import TelegramChannel

        registry.register(TelegramChannel.from_settings(c.telegram))
    return registry


def _sms_channel(
    settings: Settings, http: HttpClient, clock: Clock, catalog: Catalog
) -> Channel | None:
    sms = settings.channels.sms
    built: dict[str, Channel] = {}
    if sms.tencent.enabled:
        built["tencent"] = TencentSmsChannel(
            sms.tencent, http, clock, template_ids=sms_template_ids(catalog, "tencent")
        )
    if sms.aliyun.enabled:
        built["aliyun"] = AliyunSmsChannel(
            sms.aliyun, http, clock, template_ids=sms_template_ids(catalog, "aliyun")
        )
    primary = built.pop(sms.provider, None)
    if primary is None:
        return next(iter(built.values()), None)
    if built:
        return FailoverSmsChannel(primary, next(iter(built.values())))
    return primary


def telegram_bot_of(registry: ChannelRegistry) -> Bot | None:
    """The Telegram channel's bot when Telegram is enabled (the webhook and polling reuse it)."""
    if "telegram" not in registry.names():
        return None
    # aiogram only where Telegram is on.
    from channels.telegram.channel import TelegramChannel

    channel = registry.get("telegram")
    return channel.bot if isinstance(channel, TelegramChannel) else None
