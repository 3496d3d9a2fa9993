"""The one interface every channel module implements, and the errors it may raise.

A channel turns an :class:`OutboundMessage` into a provider call and the provider's answer into
a :class:`SendResult`, or raises :class:`RetryableError` (try later, maybe after
``retry_after`` seconds) or :class:`PermanentError` (never on this channel: fall back or fail).
Provider facts live as class attributes so the dispatcher can batch and rate-limit without
knowing the provider.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from hub.core.errors import HubError


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


class RateLimitedError(RetryableError):
    """The provider's rate or quota window is full; it opens after ``retry_after`` seconds.

    The message itself is fine, only early (a number's 30-second/hourly/daily limit, the app's
    daily quota, HTTP 429): the dispatcher retries when the window ends and does not count the
    wait as a failed attempt.
    """

    retry_after: float

    def __init__(self, message: str, *, code: str = "", retry_after: float) -> None:
        if retry_after is None:
            raise ValueError("a rate limit names its window: retry_after is required")
        super().__init__(message, code=code, retry_after=retry_after)


class PermanentError(ChannelError):
    """This message cannot go out on this channel (bad address, opted out, template refused)."""


class OptedOutError(PermanentError):
    """The recipient refused this channel at the provider (SMS blacklist, WeChat user left).

    The dispatcher records an opt-out for the contact on this channel, then falls back.
    """


class ProviderConfigError(PermanentError):
    """The provider refused our side: template, signature, credentials, app settings.

    Every message of that kind would fail the same way, so besides failing (or falling back)
    the dispatcher raises an admin alert.
    """


class HoldError(ChannelError):
    """The provider refuses to send now but will later (e.g. a marketing time window).

    The message is held until ``until`` (or the next quiet-hours opening), never dropped.
    """

    def __init__(self, message: str, *, code: str = "", until: datetime | None = None) -> None:
        self.until = until
        super().__init__(message, code=code)


@dataclass(frozen=True, slots=True)
class ChannelLimits:
    """What a provider accepts, as the template check holds templates to it (None: no limit).

    Each channel class declares its own as ``limits: ClassVar[ChannelLimits]``; the hub reads
    them through :mod:`channels.registry` (``hub.rendering.check``, ``hub.rendering.sms_text``).
    """

    #: A message body, in characters (Telegram 4,096; Tencent and Aliyun SMS 500).
    max_text_chars: int | None = None
    #: A text message body, in UTF-8 bytes (WeCom 2,048).
    max_text_bytes: int | None = None
    #: One field of a WeChat template message, in characters.
    template_field_max_chars: int | None = None
    #: One variable of an approved SMS template unless its meta.yaml says more (Aliyun 35).
    template_param_max_chars: int | None = None
    #: The form of the provider's approved template id (Tencent digits, Aliyun ``SMS_…``).
    template_id_pattern: re.Pattern[str] | None = None
    #: Variable names the provider refuses in a template (Aliyun's reserved words).
    reserved_names: frozenset[str] = frozenset()

    def together_with(self, other: ChannelLimits) -> ChannelLimits:
        """The limits a message meets to go out through both (e.g. SMS with failover).

        Template id patterns stay per provider: a combined channel has none of its own.
        """

        def least(a: int | None, b: int | None) -> int | None:
            return b if a is None else a if b is None else min(a, b)

        return ChannelLimits(
            max_text_chars=least(self.max_text_chars, other.max_text_chars),
            max_text_bytes=least(self.max_text_bytes, other.max_text_bytes),
            template_field_max_chars=least(
                self.template_field_max_chars, other.template_field_max_chars
            ),
            template_param_max_chars=least(
                self.template_param_max_chars, other.template_param_max_chars
            ),
            reserved_names=self.reserved_names | other.reserved_names,
        )


ChoiceKind = Literal["rating", "visit"]


@dataclass(frozen=True, slots=True)
class Choices:
    """What a message asks its recipient to choose: intent, which each channel draws its way.

    The hub says what it asks, never how it looks: ``rating`` is the five levels of
    ``hub.core.vocab.RATING_LEVELS`` (``ref`` names what is rated, e.g. a ticket number),
    ``visit`` is ``hub.core.vocab.VisitAnswer`` for one visit (``visit_id``), and with ``slots``
    (the times offered, as shown: "12月8日（周二）上午9:30") one choice per slot first, pressed
    as ``visit:slot:<n>`` (1-based). Telegram draws
    inline buttons, WeCom a button card (``ask_id`` its task id, unique per app; ``title`` and
    ``detail`` its text; ``params["url"]`` the page a click opens); the other channels print
    the choices in the text, as the templates do. Stored as ``Message.params["choices"]``.
    """

    kind: ChoiceKind
    ref: str | None = None
    visit_id: int | None = None
    ask_id: str | None = None
    title: str = ""
    detail: str = ""
    slots: tuple[str, ...] = ()

    def to_params(self) -> dict[str, Any]:
        """The JSON form kept in ``Message.params["choices"]`` (unset fields left out)."""
        data: dict[str, Any] = {"kind": self.kind}
        for key in ("ref", "visit_id", "ask_id", "title", "detail"):
            value = getattr(self, key)
            if value:
                data[key] = value
        if self.slots:
            data["slots"] = list(self.slots)
        return data

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Choices | None:
        """The choices a message's params ask for; None for none, ``ValueError`` if malformed."""
        data = params.get("choices")
        if data is None:
            return None
        if not isinstance(data, Mapping) or data.get("kind") not in ("rating", "visit"):
            raise ValueError(f"unknown choices {data!r}")
        visit_id = data.get("visit_id")
        slots = data.get("slots") or ()
        if not isinstance(slots, list | tuple) or not all(isinstance(x, str) for x in slots):
            raise ValueError(f"choices slots must be a list of texts: {slots!r}")
        return cls(
            kind=data["kind"],
            ref=None if data.get("ref") is None else str(data["ref"]),
            visit_id=None if visit_id is None else int(visit_id),
            ask_id=None if data.get("ask_id") is None else str(data["ask_id"]),
            title=str(data.get("title") or ""),
            detail=str(data.get("detail") or ""),
            slots=tuple(slots),
        )


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """What the dispatcher hands a channel: one rendered message to one address."""

    message_id: int
    address: str
    body: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    contact_id: int | None = None

    @property
    def choices(self) -> Choices | None:
        """What the message asks to choose (``params["choices"]``); ``ValueError`` if malformed."""
        return Choices.from_params(self.params)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The provider accepted the message; ``provider_message_id`` links later receipts."""

    message_id: int
    provider_message_id: str | None = None
    #: The provider that sent it, when the channel chose among several (SMS failover).
    provider: str | None = None
    #: What the first provider answered before the channel failed over: (provider, error).
    failed_over: tuple[str, ChannelError] | None = None


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A provider's report on a message it accepted: delivered, or failed with its code.

    ``provider_message_id`` is what :class:`SendResult` carried (Tencent SerialNo, Aliyun BizId,
    WeChat MsgID); a receipt for an id the hub does not know changes nothing.
    """

    provider: str
    provider_message_id: str
    delivered: bool
    at: datetime | None = None
    error_code: str = ""
    detail: str = ""
    #: The hub message id the provider echoed (Aliyun ``out_id``) and the number the report is
    #: for (E.164): they find a message whose send left no provider id (``hub.outbound.receipts``).
    message_id: int | None = None
    recipient: str = ""
    #: The provider says the recipient refuses us (Aliyun ``MOBILE_IN_BLACK``, WeChat
    #: ``failed:user block``): the webhook records an opt-out (``channels.callbacks``).
    opted_out: bool = False


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


class Verdict(StrEnum):
    """What a provider's status query says about a send whose outcome was unknown."""

    TAKEN = "taken"  # the provider has it: record it sent (or delivered, or failed)
    NOT_TAKEN = "not_taken"  # the provider's records are complete and do not hold it: resend
    UNKNOWN = "unknown"  # no answer yet (query failed, or too early to say): ask again later


@dataclass(frozen=True, slots=True)
class SendProbe:
    """A send whose worker died during the provider call: ``since`` is when it was claimed."""

    message_id: int
    address: str
    since: datetime


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """The provider's word on one :class:`SendProbe`.

    ``delivered`` is the receipt the provider holds for a taken message (None: none yet).
    """

    message_id: int
    verdict: Verdict
    provider_message_id: str | None = None
    delivered: bool | None = None
    detail: str = ""


@runtime_checkable
class StatusQuerying(Protocol):
    """A channel whose provider answers whether it took a message (SMS status queries).

    ``status_settle_seconds``: how long after a send the provider may still not list it; a
    message absent from its records only after that is one the provider never took.
    """

    status_settle_seconds: float

    async def query_sent(self, probes: Sequence[SendProbe]) -> list[ProbeAnswer]: ...


# A request's hub message ids, as its provider echoes them (Tencent SessionContext, Aliyun
# OutId): the first id in decimal, then each gap to the next in base 36, joined by '.'. A
# campaign's ids are nearly consecutive, so 200 ids take some 400 characters.
_CONTEXT_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _CONTEXT_DIGITS[rest] + digits
        if number == 0:
            return digits


def send_context(message_ids: Iterable[int]) -> str:
    """The ids of one provider request as the text the provider echoes in its status records."""
    ids = sorted(set(message_ids))
    if not ids:
        return ""
    parts = [str(ids[0])]
    parts.extend(_base36(b - a) for a, b in itertools.pairwise(ids))
    return ".".join(parts)


def context_ids(text: str | None) -> frozenset[int]:
    """The message ids :func:`send_context` wrote; empty for any other text."""
    if not text:
        return frozenset()
    first, *gaps = text.split(".")
    try:
        ids = [int(first)]
        for gap in gaps:
            ids.append(ids[-1] + int(gap, 36))
    except ValueError:
        return frozenset()
    return frozenset(ids)


def context_length_with(context_length: int, last_id: int | None, next_id: int) -> int:
    """The length of a request's context once ``next_id`` (above ``last_id``) joins it."""
    if last_id is None:
        return len(str(next_id))
    return context_length + 1 + len(_base36(next_id - last_id))


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
