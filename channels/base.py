"""The one interface every channel module implements, and the errors it may raise.

A channel turns an :class:`OutboundMessage` into a provider call and the provider's answer into
a :class:`SendResult`, or raises :class:`RetryableError` (try later, maybe after
``retry_after`` seconds) or :class:`PermanentError` (never on this channel: fall back or fail).
Provider facts live as class attributes so the dispatcher can batch and rate-limit without
knowing the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from hub.errors import HubError


class ChannelError(HubError):
    """A provider call failed."""

    def __init__(self, message: str, *, code: str = "") -> None:
        self.code = code
        super().__init__(message)


class RetryableError(ChannelError):
    """Transient: rate limit, timeout, 5xx. ``retry_after`` seconds if the provider said."""

    def __init__(self, message: str, *, code: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code)


class PermanentError(ChannelError):
    """This message cannot go out on this channel (bad address, opted out, template refused)."""


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the dispatcher hands a channel: one rendered message to one address."""

    message_id: int
    address: str
    body: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    contact_id: int | None = None


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message; ``provider_message_id`` links later receipts."""

    message_id: int
    provider_message_id: str | None = None


@dataclass(frozen=True, slots=True)
class InboundReply:
    """A reply as a webhook (or the sandbox) received it, before the hub stores it."""

    provider: str
    provider_msg_id: str
    sender: str
    text: str
    raw: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Channel(Protocol):
    """One provider. ``send_batch`` returns a result or an error per message, in order."""

    name: ClassVar[str]  # logical channel: sms, wechat, wecom, telegram, sandbox
    provider: ClassVar[str]  # tencent, aliyun, wechat_mp, wecom, telegram, sandbox
    max_batch: ClassVar[int]  # messages one provider request may carry
    default_qps: ClassVar[float]

    async def send_batch(
        self, messages: Sequence[OutboundMessage]
    ) -> list[SendResult | ChannelError]: ...

    async def aclose(self) -> None: ...


class ChannelRegistry:
    """Explicit registry of channels by logical name; refuses duplicates (no folder scan)."""

    def __init__(self) -> None:
        self._channels: dict[str, Channel] = {}

    def register(self, channel: Channel) -> None:
        if channel.name in self._channels:
            raise ValueError(f"channel {channel.name!r} registered twice")
        self._channels[channel.name] = channel

    def get(self, name: str) -> Channel:
        try:
            return self._channels[name]
        except KeyError:
            raise PermanentError(
                f"channel {name!r} is not enabled", code="channel_disabled"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._channels)

    async def aclose(self) -> None:
        for channel in self._channels.values():
            await channel.aclose()
