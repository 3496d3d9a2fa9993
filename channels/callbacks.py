"""What the hub's webhooks see of a provider's callbacks: the shapes, the refusals, the parsers.

A webhook verifies a callback (the provider's signature, secret path, source address, replay
window), parses it with its channel's pure parsers into :class:`channels.base.DeliveryReceipt`,
:class:`channels.base.InboundReply` and :class:`AccountEvent`, stores what they say and
answers. The parsers live in each channel package (``channels/sms/tencent_callbacks.py``,
``channels/sms/aliyun_callbacks.py``, ``channels/wechat/callbacks.py``,
``channels/telegram/updates.py``) and reach the hub through :mod:`channels.registry`, typed by
the protocols below, so no webhook imports a provider module (docs/architecture.md, a reply's
path in).

The refusals are the channels' words for what a webhook answers 4xx: :class:`CallbackError`
(the body is not what the provider sends: 400), :class:`CallbackRefusedError` (it cannot be
taken as the provider's: 403) and :class:`CallbackSignatureError` (its signature is missing or
wrong: 401). None of them stores anything.

May import channels.base and hub.core only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from channels.base import DeliveryReceipt, InboundReply
from hub.core.errors import HubError, UsageError

if TYPE_CHECKING:
    from aiogram.types import CallbackQuery, Message, Update

__all__ = [
    "AccountEvent",
    "CallbackError",
    "CallbackRefusedError",
    "CallbackSignatureError",
    "SignedCallbacks",
    "SmsCallbacks",
    "TelegramUpdates",
]


class CallbackError(UsageError):
    """A callback body that is not what the provider sends; the message names the field."""


class CallbackRefusedError(HubError):
    """A callback that cannot be taken as the provider's (another app's, or not ours to open)."""


class CallbackSignatureError(CallbackRefusedError):
    """A callback whose signature is missing or does not match: forged or altered."""


@dataclass(frozen=True, slots=True)
class AccountEvent:
    """A provider's event that is no message: a user followed or left, a delivery receipt.

    Events carry no message id, so ``dedupe_key`` is what makes a redelivery the same event
    (the provider's own rule). ``followed`` is True for a (new) follow, False for leaving, None
    for neither; ``receipts`` are the delivery receipts the event reports.
    """

    sender: str
    name: str  # the event as the provider names it, lower case (for logs)
    dedupe_key: str
    followed: bool | None = None
    receipts: tuple[DeliveryReceipt, ...] = ()


class SmsCallbacks(Protocol):
    """An SMS provider's pushes, parsed (Tencent's, Aliyun's callbacks modules).

    Both raise :class:`CallbackError` naming the item and the field for a body that is not the
    provider's; nothing of such a body may be stored.
    """

    def parse_receipts(self, body: bytes) -> list[DeliveryReceipt]:
        """The delivery receipts of one receipt push."""
        ...

    def parse_reply(self, body: bytes) -> list[InboundReply]:
        """The replies of one reply push (Tencent's carries one, Aliyun's a batch)."""
        ...


class SignedCallbacks(Protocol):
    """One configured app's signed callbacks (a WeChat Official Account, a WeCom app).

    Verification first: :meth:`verify_url` and :meth:`open` check the signature (and open the
    encrypted body) before anything of the message is read, and raise
    :class:`CallbackSignatureError`, :class:`CallbackRefusedError` or :class:`CallbackError`.
    """

    @property
    def name(self) -> str:
        """The app's name in config.yaml (``channels.wechat.apps``)."""
        ...

    @property
    def provider(self) -> str:
        """``wechat_mp`` or ``wecom``."""
        ...

    def verify_url(self, query: Mapping[str, str]) -> str:
        """The answer to the platform's URL check (``GET``), once its signature holds."""
        ...

    def signs_content(self, query: Mapping[str, str]) -> bool:
        """Whether the signature covers what the request carries (its body, WeCom's echostr)."""
        ...

    def open(self, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """A ``POST``'s message fields, verified (and decrypted); its ``CreateTime`` checked."""
        ...

    def addressed_to_us(self, query: Mapping[str, str], fields: Mapping[str, Any]) -> bool:
        """Whether the opened message names this app (agent) and the query's sender."""
        ...

    def parse_reply(self, fields: Mapping[str, Any]) -> InboundReply | None:
        """The user's reply the message is (a message, a card button); None for an event."""
        ...

    def parse_event(self, fields: Mapping[str, Any]) -> AccountEvent:
        """The event the message is (follow, leave, a delivery receipt, or another)."""
        ...


class TelegramUpdates(Protocol):
    """Telegram's updates, parsed (``channels.telegram.updates``)."""

    def parse_reply(self, message: Message, update: Update) -> InboundReply:
        """The reply a text message from a chat is."""
        ...

    def parse_button(self, query: CallbackQuery, update: Update) -> InboundReply | None:
        """The reply a press of one of the hub's buttons is; None for a button it never sent."""
        ...
