"""The channels config.yaml enables, built once per process (the one place that knows how).

``sandbox`` is on by default; ``sms`` is the provider ``channels.sms.provider`` names, with the
other one as failover when it is enabled too; ``wechat`` is ``channels.wechat.default_app`` (an
Official Account); ``wecom`` is the first enabled WeCom app; ``telegram`` when enabled. The
WeChat and WeCom senders share one ``aiohttp.ClientSession`` (docs/design.md, HTTP out); the SMS
providers, one request per personalised message, share one lean
:class:`channels.sms.http_client.HttpClient`.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from redis.asyncio import Redis

from channels.base import Channel, ChannelRegistry
from channels.sandbox import SandboxChannel
from channels.sms.aliyun import AliyunSmsChannel, AliyunSmsConfig
from channels.sms.failover import FailoverSmsChannel
from channels.sms.http_client import HttpClient
from channels.sms.tencent import TencentSmsChannel, TencentSmsConfig
from hub.config import AliyunSmsSettings, Settings, TencentSmsSettings
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
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


def tencent_config(
    settings: TencentSmsSettings, template_ids: Mapping[str, str]
) -> TencentSmsConfig:
    """The channel's view of ``channels.sms.tencent`` (config.py checked the secrets are set)."""
    values = (settings.secret_id, settings.secret_key, settings.sdk_app_id, settings.sign_name)
    if any(v is None for v in values):
        raise ValueError("channels.sms.tencent is enabled without its credentials")
    secret_id, secret_key, sdk_app_id, sign_name = (str(v) for v in values)
    return TencentSmsConfig(
        secret_id=secret_id, secret_key=secret_key, sdk_app_id=sdk_app_id, sign_name=sign_name,
        endpoint=settings.endpoint, region=settings.region, template_ids=template_ids,
    )  # fmt: skip


def aliyun_config(
    settings: AliyunSmsSettings, template_codes: Mapping[str, str]
) -> AliyunSmsConfig:
    """The channel's view of ``channels.sms.aliyun``."""
    values = (settings.access_key_id, settings.access_key_secret, settings.sign_name)
    if any(v is None for v in values):
        raise ValueError("channels.sms.aliyun is enabled without its credentials")
    key_id, key_secret, sign_name = (str(v) for v in values)
    return AliyunSmsConfig(key_id, key_secret, sign_name, endpoint=settings.endpoint,
                           template_codes=template_codes)  # fmt: skip


def _needs_http(settings: Settings) -> bool:
    return any(app.enabled for app in settings.channels.wechat.apps.values())


async def build_channels(
    settings: Settings, stack: AsyncExitStack, redis: Redis, keys: RedisKeys, clock: Clock,
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
        from channels.wechat.official_account import WechatMpChannel, WechatMpConfig
        from channels.wechat.wecom import WecomChannel, WecomConfig

        wechat = c.wechat
        oa = wechat.apps.get(wechat.default_app) if wechat.default_app else None
        if wechat.default_app and oa is not None and oa.enabled:
            config = WechatMpConfig(wechat.default_app, str(oa.app_id), str(oa.secret), oa.base_url)
            registry.register(WechatMpChannel(config, http, redis, keys, clock, qps=oa.qps))
        for name, app in wechat.apps.items():
            if app.enabled and app.kind == "wecom":
                config_w = WecomConfig(name, str(app.corp_id), int(str(app.agent_id)),
                                       str(app.secret), app.base_url)  # fmt: skip
                registry.register(WecomChannel(config_w, http, redis, keys, clock, qps=app.qps))
                break
    if c.telegram.enabled and c.telegram.token:
        # aiogram costs ~100 MB per process: imported only where Telegram is on.
        from channels.telegram.channel import TelegramChannel, TelegramConfig

        registry.register(
            TelegramChannel.from_config(
                TelegramConfig(token=c.telegram.token, api_base=c.telegram.api_base),
                qps=c.telegram.qps,
            )
        )
    return registry


def _sms_channel(
    settings: Settings, http: HttpClient, clock: Clock, catalog: Catalog
) -> Channel | None:
    sms = settings.channels.sms
    built: dict[str, Channel] = {}
    if sms.tencent.enabled:
        built["tencent"] = TencentSmsChannel(
            tencent_config(sms.tencent, sms_template_ids(catalog, "tencent")), http, clock,
            qps=sms.tencent.qps, status_settle_seconds=sms.tencent.status_settle_seconds,
        )  # fmt: skip
    if sms.aliyun.enabled:
        built["aliyun"] = AliyunSmsChannel(
            aliyun_config(sms.aliyun, sms_template_ids(catalog, "aliyun")), http, clock,
            qps=sms.aliyun.qps, status_settle_seconds=sms.aliyun.status_settle_seconds,
        )  # fmt: skip
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
