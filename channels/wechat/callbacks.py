"""WeChat Official Account and WeCom callbacks: verified, opened and parsed (pure).

One :class:`WechatCallbacks` per configured app (:mod:`channels.callbacks` ``SignedCallbacks``),
built with :meth:`WechatCallbacks.for_app`; ``channels.fakes.wechat_push`` plays the platforms.

Verification (:mod:`channels.wechat.crypto` does the arithmetic):

- Official Account: the URL check (``GET``) carries ``signature`` = sha1(sorted token,
  timestamp, nonce) and an ``echostr`` to echo; a ``POST`` comes in plain mode (the same
  ``signature``, which covers no body) or safe mode (``encrypt_type=aes`` + ``msg_signature``
  over the ``Encrypt`` text, whose trailer must be our AppID).
- WeCom: always encrypted; the ``GET``'s ``echostr`` is encrypted and its plaintext the answer;
  the trailer must be our CorpID, and the message's ``AgentID`` our agent.

A signature that fails is :class:`~channels.callbacks.CallbackSignatureError`, a message that
does not open with our key or names another app :class:`~channels.callbacks.CallbackRefusedError`,
anything that is not WeChat's XML (or a plain ``echostr`` longer than :data:`MAX_ECHOSTR` or not
printable ASCII) :class:`~channels.callbacks.CallbackError`.

Parsing, once verified: a user message (text, media, location, link) or a WeCom template-card
click is an :class:`~channels.base.InboundReply` (:meth:`WechatCallbacks.parse_reply`); anything
else is an :class:`~channels.callbacks.AccountEvent` (:meth:`WechatCallbacks.parse_event`):
``subscribe``, ``unsubscribe``, and an Official Account's ``TEMPLATESENDJOBFINISH``, the template
message's delivery receipt.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from channels.base import DeliveryReceipt, InboundReply
from channels.callbacks import (
    AccountEvent,
    CallbackError,
    CallbackRefusedError,
    CallbackSignatureError,
)
from channels.wechat.crypto import (
    DecryptError,
    MalformedXmlError,
    SignatureError,
    WechatCrypto,
    WechatCryptoError,
    parse_xml,
    signature_matches,
    xml_text,
    xml_time,
)

MAX_ECHOSTR: Final = 128  # WeChat's plain-mode echostr is a string of about 19 digits
MAX_PROVIDER_ID: Final = 128  # provider ids are stored in 128 characters
_MEDIA_LABELS: Final = {"image": "图片", "voice": "语音", "video": "视频",
                        "shortvideo": "小视频", "file": "文件"}  # fmt: skip
# TEMPLATESENDJOBFINISH Status values (WeChat documents these three).
_STATUS_DETAIL: Final = {
    "failed:user block": "用户拒收 (user block)",
    "failed: system failed": "发送失败，系统原因 (system failed)",
}
_USER_BLOCK: Final = "failed:user block"


@dataclass(frozen=True, slots=True)
class WechatCallbacks:
    """The callbacks of one app: ``provider`` ``wechat_mp`` (Official Account) or ``wecom``."""

    name: str
    provider: str
    token: str
    receive_id: str  # AppID or CorpID: the trailer every encrypted message must carry
    crypto: WechatCrypto | None  # None: an Official Account in plain mode only
    agent_id: str | None = None

    @classmethod
    def for_app(
        cls, name: str, *, kind: str, token: str, receive_id: str,
        encoding_aes_key: str | None, agent_id: str | None = None,
    ) -> WechatCallbacks | None:  # fmt: skip
        """An app's callbacks (``kind``: ``official_account`` | ``wecom``); None for a WeCom app
        without its EncodingAESKey (WeCom has no plain mode). ``ValueError`` for a malformed key.
        """
        crypto = WechatCrypto(token, encoding_aes_key, receive_id) if encoding_aes_key else None
        if kind == "wecom" and crypto is None:
            return None
        provider = "wecom" if kind == "wecom" else "wechat_mp"
        return cls(name, provider, token, receive_id, crypto, agent_id)

    @property
    def is_wecom(self) -> bool:
        """A WeCom app (always encrypted; template cards), not an Official Account."""
        return self.provider == "wecom"

    # --- verification ---------------------------------------------------------------------------

    def verify_url(self, query: Mapping[str, str]) -> str:
        """The answer to the URL check: ``echostr`` as is, or decrypted for WeCom."""
        timestamp, nonce, echostr = (query.get(k, "") for k in ("timestamp", "nonce", "echostr"))
        if not self.is_wecom and (
            len(echostr) > MAX_ECHOSTR or not (echostr.isascii() and echostr.isprintable())
        ):
            raise CallbackError("echostr 应为不超过 128 个字符的可打印 ASCII (echostr)")
        with _refusals():
            if self.is_wecom:
                signature = query.get("msg_signature")
                return self._opener().verify_url(signature, timestamp, nonce, echostr)
            if signature_matches(query.get("signature"), self.token, timestamp, nonce):
                return echostr
            raise SignatureError("签名不符 (signature)")

    def signs_content(self, query: Mapping[str, str]) -> bool:
        """Whether the signature covers what the request carries (its body, WeCom's echostr).

        Plain mode signs only timestamp and nonce: its caller must make sure a signature
        carries one body only (the webhook's nonce store).
        """
        return self.is_wecom or query.get("encrypt_type", "").lower() == "aes"

    def open(self, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
        """A POST's message fields, its signature checked (and decrypted); CreateTime checked."""
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        with _refusals():
            if self.signs_content(query):
                signature = query.get("msg_signature")
                fields = self._opener().decrypt_message(signature, timestamp, nonce, body)
            elif query.get("encrypt_type", "raw").lower() != "raw":
                raise SignatureError(f"不支持的加密方式 {query.get('encrypt_type')!r}")
            elif not signature_matches(query.get("signature"), self.token, timestamp, nonce):
                raise SignatureError("签名不符 (signature)")
            else:
                fields = parse_xml(body)
            xml_time(fields, "CreateTime")
        return fields

    def addressed_to_us(self, query: Mapping[str, str], fields: Mapping[str, Any]) -> bool:
        """False when the message names another WeCom agent, or a plain-mode openid disagrees."""
        agent = xml_text(fields, "AgentID")
        openid = query.get("openid")
        return not (
            (self.agent_id and agent and agent != self.agent_id)
            or (openid and openid != xml_text(fields, "FromUserName"))
        )

    def _opener(self) -> WechatCrypto:
        if self.crypto is None:  # raised inside _refusals(): refused, as any other key's would be
            raise DecryptError("未配置 EncodingAESKey，无法解密 (encoding_aes_key)")
        return self.crypto

    # --- parsing --------------------------------------------------------------------------------

    def parse_reply(self, fields: Mapping[str, Any]) -> InboundReply | None:
        """The reply a user message or WeCom card click is; None when it is another event."""
        sender = _sender(fields)
        if xml_text(fields, "MsgType") != "event":
            return self._reply(_message_id(sender, fields), sender, _message_text(fields), fields)
        if self.is_wecom and xml_text(fields, "Event").lower() == "template_card_event":
            # A template-card click: the text is the button key (rating:5) or the options.
            task, key = xml_text(fields, "TaskId"), xml_text(fields, "EventKey")
            options = _selected_options(fields.get("SelectedItems"))
            text = ",".join(options) if options else key
            msg_id = f"card:{task}:{sender}:{key}" + (f":{text}" if options else "")
            return self._reply(msg_id, sender, text, fields)
        return None

    def parse_event(self, fields: Mapping[str, Any]) -> AccountEvent:
        """The event a message that is no reply is (see :meth:`parse_reply`)."""
        sender = _sender(fields)
        event = xml_text(fields, "Event").lower()
        # WeChat's dedupe rule for events (no MsgId): FromUserName + CreateTime (+ the event).
        parts = (self.name, sender, xml_text(fields, "CreateTime"), xml_text(fields, "Event"),
                 xml_text(fields, "EventKey"), xml_text(fields, "MsgID"))  # fmt: skip
        key = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]
        followed = {"subscribe": True, "unsubscribe": False}.get(event)
        receipts: tuple[DeliveryReceipt, ...] = ()
        if event == "templatesendjobfinish" and not self.is_wecom:
            receipts = (self._receipt(fields),)
        return AccountEvent(sender, event, key, followed=followed, receipts=receipts)

    def _reply(
        self, msg_id: str, sender: str, text: str, fields: Mapping[str, Any]
    ) -> InboundReply:
        return InboundReply(provider=self.provider, provider_msg_id=_bounded(msg_id),
                            sender=sender, text=text,
                            raw={**fields, "hub_app": self.name})  # fmt: skip

    def _receipt(self, fields: Mapping[str, Any]) -> DeliveryReceipt:
        status = xml_text(fields, "Status")
        msg_id = xml_text(fields, "MsgID") or xml_text(fields, "MsgId")
        if not msg_id:
            raise CallbackError("MsgID missing")
        # The user refuses this account's messages: the hub stops sending them here.
        return DeliveryReceipt(provider=self.provider, provider_message_id=msg_id,
                               delivered=status == "success", at=xml_time(fields, "CreateTime"),
                               error_code=status, detail=_STATUS_DETAIL.get(status, ""),
                               opted_out=status == _USER_BLOCK)  # fmt: skip


@contextmanager
def _refusals() -> Iterator[None]:
    """The crypto's errors as the callbacks' refusals (the cause kept for the log)."""
    try:
        yield
    except MalformedXmlError as exc:
        raise CallbackError(str(exc)) from exc
    except SignatureError as exc:
        raise CallbackSignatureError(str(exc)) from exc
    except WechatCryptoError as exc:
        raise CallbackRefusedError(str(exc)) from exc


def _sender(fields: Mapping[str, Any]) -> str:
    sender = xml_text(fields, "FromUserName")
    if not sender:
        raise CallbackError("FromUserName missing")
    return sender


def _message_id(sender: str, fields: Mapping[str, Any]) -> str:
    # MsgId is there for every user message; the fallback only keeps a retry deduped.
    return xml_text(fields, "MsgId") or f"{sender}:{xml_text(fields, 'CreateTime')}"


def _message_text(fields: Mapping[str, Any]) -> str:
    """What a user message says: its text, or a label for media, a location or a link."""
    msg_type = xml_text(fields, "MsgType")
    if msg_type == "text":
        content = fields.get("Content")  # not stripped: the user's own words
        return content if isinstance(content, str) else ""
    if msg_type in _MEDIA_LABELS:
        text = f"[{_MEDIA_LABELS[msg_type]}] MediaId={xml_text(fields, 'MediaId')}"
        if recognition := xml_text(fields, "Recognition"):
            text += f" 识别：{recognition}"
        return text
    if msg_type == "location":
        x, y = xml_text(fields, "Location_X"), xml_text(fields, "Location_Y")
        return f"[位置] {xml_text(fields, 'Label')} ({x},{y})"
    if msg_type == "link":
        return f"[链接] {xml_text(fields, 'Title')} {xml_text(fields, 'Url')}"
    return f"[{msg_type or '未知'}]"


def _selected_options(items: Any) -> list[str]:
    """Option ids of a vote / multiple-choice card, in order."""
    found: list[str] = []
    for item in _as_list(items.get("SelectedItem") if isinstance(items, dict) else None):
        ids = item.get("OptionIds") if isinstance(item, dict) else None
        option = ids.get("OptionId") if isinstance(ids, dict) else None
        found.extend(o.strip() for o in _as_list(option) if isinstance(o, str))
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _bounded(provider_msg_id: str) -> str:
    """A provider id longer than :data:`MAX_PROVIDER_ID` is replaced by its hash."""
    if len(provider_msg_id) <= MAX_PROVIDER_ID:
        return provider_msg_id
    return "sha256:" + hashlib.sha256(provider_msg_id.encode()).hexdigest()
