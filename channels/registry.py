"""The one table of providers: provider name -> its channel class and what it accepts.

Every provider the hub can send through is one row of :data:`PROVIDERS`, keyed by the channel
class's own ``provider`` ClassVar (``sandbox``, ``tencent``, ``aliyun``, ``wechat_mp``,
``wecom``, ``telegram``), with the logical channel it serves (``name``: ``sandbox``, ``sms``,
``wechat``, ``wecom``, ``telegram``) and its :class:`~channels.base.ChannelLimits`. A new
provider is a new row here, never a new branch in the hub.

The hub reaches provider modules only through this table and ``hub.app.channel_setup`` (the
import-linter contract "providers behind the registry", docs/architecture.md). The limits sit in
light modules of their own (``channels/<package>/limits.py``) that the channel classes declare
as ``limits: ClassVar[ChannelLimits]``, so reading them (the template check) loads neither
aiohttp nor aiogram; :func:`channel_class` loads a provider's module when asked.

SMS failover (:class:`channels.sms.failover.FailoverSmsChannel`, provider ``sms``) is no row:
it composes two rows, and :func:`channel_limits` of ``sms`` is what both accept.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from channels.base import Channel, ChannelLimits
from channels.callbacks import SignedCallbacks, SmsCallbacks, TelegramUpdates
from channels.sandbox import SandboxChannel
from channels.sms import aliyun_callbacks, tencent_callbacks
from channels.sms.aliyun import AliyunSmsChannel
from channels.sms.limits import ALIYUN_LIMITS, TENCENT_LIMITS
from channels.sms.tencent import TencentSmsChannel
from channels.telegram.limits import TELEGRAM_LIMITS
from channels.wechat.limits import WECHAT_MP_LIMITS, WECOM_LIMITS


@dataclass(frozen=True, slots=True)
class Provider:
    """One row of the table: a provider, the logical channel it serves, its limits, its class."""

    name: str  # the class's ``provider`` ClassVar
    channel: str  # the class's ``name`` ClassVar: the logical channel
    limits: ChannelLimits  # the class's ``limits`` ClassVar, readable without loading it
    load: Callable[[], type[Channel]]  # the channel class, its module imported on first call


def _wechat_mp() -> type[Channel]:
    # aiohttp (~10 MB per process) only where an Official Account is on.
    from channels.wechat.official_account import WechatMpChannel

    return WechatMpChannel


def _wecom() -> type[Channel]:
    # aiohttp (~10 MB per process) only where a WeCom app is on.
    from channels.wechat.wecom import WecomChannel

    return WecomChannel


def _telegram() -> type[Channel]:
    # aiogram (about a second to import) only where Telegram is on.
    from channels.telegram.channel import TelegramChannel

    return TelegramChannel


PROVIDERS: Final[Mapping[str, Provider]] = MappingProxyType(
    {
        row.name: row
        for row in (
            Provider("sandbox", "sandbox", SandboxChannel.limits, lambda: SandboxChannel),
            Provider("tencent", "sms", TENCENT_LIMITS, lambda: TencentSmsChannel),
            Provider("aliyun", "sms", ALIYUN_LIMITS, lambda: AliyunSmsChannel),
            Provider("wechat_mp", "wechat", WECHAT_MP_LIMITS, _wechat_mp),
            Provider("wecom", "wecom", WECOM_LIMITS, _wecom),
            Provider("telegram", "telegram", TELEGRAM_LIMITS, _telegram),
        )
    }
)


def provider(name: str) -> Provider:
    """The row of a provider; ``KeyError`` names the providers there are."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"no provider {name!r}; there are {', '.join(PROVIDERS)}") from None


def channel_class(name: str) -> type[Channel]:
    """The channel class of a provider (its module imported now if it was not)."""
    return provider(name).load()


def limits_for(name: str) -> ChannelLimits:
    """What a provider accepts."""
    return provider(name).limits


def providers_of(channel: str) -> tuple[str, ...]:
    """The providers that serve a logical channel (``sms``: tencent, aliyun), table order."""
    return tuple(row.name for row in PROVIDERS.values() if row.channel == channel)


def required(limit: int | None, what: str) -> int:
    """A limit the hub relies on, as a channel declares it; one left undeclared is a bug here."""
    if limit is None:
        raise LookupError(f"{what}: no channels/*/limits.py declares it")
    return limit


@functools.cache
def channel_limits(channel: str) -> ChannelLimits:
    """What a message on a logical channel meets whichever of its providers sends it."""
    names = providers_of(channel)
    if not names:
        raise KeyError(f"no provider serves channel {channel!r}")
    return functools.reduce(ChannelLimits.together_with, (limits_for(n) for n in names))


# --- the parsers each provider's webhook calls (channels.callbacks) ---------------------------

SMS_CALLBACKS: Final[Mapping[str, SmsCallbacks]] = MappingProxyType(
    {"tencent": tencent_callbacks, "aliyun": aliyun_callbacks}
)


def sms_callbacks(name: str) -> SmsCallbacks:
    """The parsers of an SMS provider's receipt and reply pushes (``tencent``, ``aliyun``)."""
    return SMS_CALLBACKS[name]


def signed_callbacks(
    name: str, *, kind: str, token: str, receive_id: str, encoding_aes_key: str | None,
    agent_id: str | None = None,
) -> SignedCallbacks | None:  # fmt: skip
    """The callbacks of a WeChat app (``kind``: ``official_account`` | ``wecom``), or None
    when it cannot take any (a WeCom app without its key); ``ValueError`` for a malformed key."""
    # The callback crypto (cryptography's AES) only where a WeChat or WeCom app is on.
    from channels.wechat.callbacks import WechatCallbacks

    return WechatCallbacks.for_app(
        name, kind=kind, token=token, receive_id=receive_id,
        encoding_aes_key=encoding_aes_key, agent_id=agent_id,
    )  # fmt: skip


def telegram_updates() -> TelegramUpdates:
    """The parsers of Telegram's updates (a chat's text, a button press)."""
    # aiogram (about a second to import) only where Telegram is on.
    from channels.telegram import updates

    return updates
