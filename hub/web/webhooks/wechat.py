"""WeChat Official Account and WeCom callbacks: ``GET`` and ``POST /webhooks/wechat/{app}``.

``{app}`` names an enabled entry of ``channels.wechat.apps``; anything else is 404.

- Official Account (``kind: official_account``): ``GET`` carries ``signature`` =
  sha1(sorted token, timestamp, nonce) and ``echostr``, echoed back as is. ``POST`` comes in
  plain mode (the same ``signature``; it covers no body, so safe mode is the one to choose in
  the console) or safe mode (``encrypt_type=aes`` + ``msg_signature`` over the ``Encrypt`` text,
  whose trailer must be our AppID).
- WeCom app (``kind: wecom``): always encrypted; ``GET`` carries an encrypted ``echostr`` whose
  plaintext is the answer; the trailer must be our CorpID.

A request whose signature fails is 401, one whose timestamp is further than
``channels.wechat.replay_window_seconds`` from now (a replay) or whose trailer names another app
is 403, a body that is not WeChat's XML is 400 — and none of them stores anything. In plain
mode, whose signature covers no body, a (timestamp, nonce) that already came with another body
is 403 too, and so is a ``GET`` whose (timestamp, nonce) already verified another ``echostr``
(which must be printable ASCII of at most :data:`MAX_ECHOSTR` characters, else 400). The XML
is parsed without recursion, DOCTYPE or entities, at most
:data:`channels.wechat.crypto.MAX_XML_DEPTH` deep: an encrypted callback's envelope is parsed
before its signature can be checked.

After verification, within the request and without calling out (WeChat waits 5 s, then retries
up to three times): a user message is stored through :func:`hub.inbound.accept.accept_reply`
(deduped on ``MsgId``) before ``success`` is answered; a WeCom template-card click is stored as a
reply whose text is the button key; events are deduped on sender + CreateTime + event in Redis, then
``unsubscribe`` records an opt-out, ``subscribe`` lifts the opt-out that leaving had recorded
(audit-logged), and ``TEMPLATESENDJOBFINISH`` is the template message's delivery receipt.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from channels.base import DeliveryReceipt, InboundReply
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
from hub.core.errors import ConfigError
from hub.core.identifiers import mask_id
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.outbound.optouts import opt_out_address
from hub.outbound.receipts import apply_receipts, park_unmatched
from hub.store.models import AuditLog, Contact, ContactOptOut
from hub.web.webhooks.context import WebhookContext

log = structlog.get_logger(__name__)

PATH: Final = "/webhooks/wechat/{app}"
MAX_BODY: Final = 64 * 1024  # callbacks are a few hundred bytes
MAX_ECHOSTR: Final = 128  # WeChat's plain-mode echostr is a string of about 19 digits
SUCCESS: Final = "success"  # tells WeChat "received, no passive reply"
# Opt-outs that leaving the account (or the provider saying the user left) recorded; a new
# subscribe lifts these, never one the user asked for in words (a "退订" reply).
_LEAVE_SOURCES: Final = {
    ChannelName.WECHAT: ("wechat_unsubscribe", "wechat_user_block", "provider:wechat_mp"),
    ChannelName.WECOM: ("wecom_unsubscribe", "provider:wecom"),
}
_ADDRESS: Final = {
    ChannelName.WECHAT: Contact.wechat_openid,
    ChannelName.WECOM: Contact.wecom_userid,
}
_MEDIA_LABELS: Final = {"image": "图片", "voice": "语音", "video": "视频",
                        "shortvideo": "小视频", "file": "文件"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CallbackApp:
    """One configured app as its callbacks need it."""

    name: str
    kind: str  # official_account | wecom
    token: str
    receive_id: str  # AppID or CorpID: the trailer every encrypted message must carry
    crypto: WechatCrypto | None  # None: an Official Account in plain mode only
    agent_id: str | None = None

    def opener(self) -> WechatCrypto:
        """The crypto that opens this app's encrypted callbacks; 403 when it has no key."""
        if self.crypto is None:
            raise DecryptError("未配置 EncodingAESKey，无法解密 (encoding_aes_key)")
        return self.crypto

    @property
    def channel(self) -> ChannelName:
        return ChannelName.WECOM if self.kind == "wecom" else ChannelName.WECHAT

    @property
    def provider(self) -> str:
        return "wecom" if self.kind == "wecom" else "wechat_mp"


def callback_apps(ctx: WebhookContext) -> dict[str, CallbackApp]:
    """The enabled apps by name; a malformed EncodingAESKey is a :class:`ConfigError`."""
    apps: dict[str, CallbackApp] = {}
    for name, app in ctx.settings.channels.wechat.apps.items():
        receive_id = app.corp_id if app.kind == "wecom" else app.app_id
        if not app.enabled or not app.token or not receive_id:
            continue
        try:
            crypto = (
                WechatCrypto(app.token, app.encoding_aes_key, receive_id)
                if app.encoding_aes_key
                else None
            )
        except ValueError as exc:
            raise ConfigError(
                str(exc),
                file=str(ctx.settings.source or "config.yaml"),
                key=f"channels.wechat.apps.{name}.encoding_aes_key",
            ) from exc
        if app.kind == "wecom" and crypto is None:
            continue  # WeCom has no plain mode; config check requires the key when enabled
        apps[name] = CallbackApp(name, app.kind, app.token, receive_id, crypto, app.agent_id)
    return apps


def router(ctx: WebhookContext) -> APIRouter:
    """The callback routes of every enabled WeChat Official Account and WeCom app."""
    apps = callback_apps(ctx)
    api = APIRouter(tags=["webhooks"])

    def lookup(name: str) -> CallbackApp:
        app = apps.get(name)
        if app is None:
            raise HTTPException(status_code=404, detail="unknown app")
        return app

    @api.get(PATH, response_class=PlainTextResponse)
    async def wechat_verify(app: str, request: Request) -> PlainTextResponse:
        """URL verification: echo ``echostr`` (decrypted for WeCom) once the signature holds."""
        callback = lookup(app)
        query = request.query_params
        timestamp, nonce, echostr = (query.get(k, "") for k in ("timestamp", "nonce", "echostr"))
        plain = callback.kind != "wecom"  # WeCom's msg_signature covers its echostr
        if plain:
            _require_short_echostr(callback, echostr)
        with _refusals(callback):
            if not plain:
                answer = callback.opener().verify_url(
                    query.get("msg_signature"), timestamp, nonce, echostr
                )
            elif signature_matches(query.get("signature"), callback.token, timestamp, nonce):
                answer = echostr
            else:
                raise SignatureError("签名不符 (signature)")
        _require_fresh(ctx, callback, timestamp)
        if plain:
            await _require_first_use(
                ctx, callback, timestamp, nonce, b"echostr\n" + echostr.encode()
            )
        return PlainTextResponse(answer)

    @api.post(PATH, response_class=PlainTextResponse)
    async def wechat_callback(app: str, request: Request) -> PlainTextResponse:
        """A user message or event: verified, stored or applied, then ``success``."""
        callback = lookup(app)
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="body too large")
        query = request.query_params
        with _refusals(callback):
            fields = _open(callback, query, body)
            created = xml_time(fields, "CreateTime")
        _require_fresh(ctx, callback, query.get("timestamp", ""))
        if not _encrypted(callback, query):
            timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
            await _require_first_use(ctx, callback, timestamp, nonce, body)
        _require_addressed_to(callback, query, fields)
        await _handle(ctx, callback, fields, created)
        return PlainTextResponse(SUCCESS)

    return api


@contextmanager
def _refusals(app: CallbackApp) -> Iterator[None]:
    """Turn a crypto failure into 401 / 403 / 400 (and a log line without personal data)."""
    try:
        yield
    except WechatCryptoError as exc:
        if isinstance(exc, MalformedXmlError):
            status = 400
        else:
            status = 401 if isinstance(exc, SignatureError) else 403
        log.warning("wechat_callback_refused", app=app.name, status=status,
                    reason=type(exc).__name__)  # fmt: skip
        raise HTTPException(status_code=status, detail=_DETAILS[status]) from exc


_DETAILS: Final = {400: "malformed XML", 401: "bad signature", 403: "forbidden"}


def _encrypted(app: CallbackApp, query: Mapping[str, str]) -> bool:
    """Safe mode (always for WeCom): the signature covers the body."""
    return app.kind == "wecom" or query.get("encrypt_type", "").lower() == "aes"


def _open(app: CallbackApp, query: Mapping[str, str], body: bytes) -> dict[str, Any]:
    timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
    if _encrypted(app, query):
        return app.opener().decrypt_message(query.get("msg_signature"), timestamp, nonce, body)
    if query.get("encrypt_type", "raw").lower() != "raw":
        raise SignatureError(f"不支持的加密方式 {query.get('encrypt_type')!r}")
    if not signature_matches(query.get("signature"), app.token, timestamp, nonce):
        raise SignatureError("签名不符 (signature)")
    return parse_xml(body)


def _require_fresh(ctx: WebhookContext, app: CallbackApp, timestamp: str) -> None:
    """403 unless ``timestamp`` (epoch seconds) is within the replay window of now."""
    window = ctx.settings.channels.wechat.replay_window_seconds
    # ASCII digits only: int() also takes " 12", "1_2" and other scripts' digits.
    if len(timestamp) <= 12 and timestamp.isascii() and timestamp.isdigit():
        skew = abs(ctx.clock.now().timestamp() - int(timestamp))
    else:
        skew = float("inf")
    if skew > window:
        log.warning("wechat_callback_refused", app=app.name, status=403, reason="stale_timestamp")
        raise HTTPException(status_code=403, detail="timestamp outside the replay window")


def _require_short_echostr(app: CallbackApp, echostr: str) -> None:
    """400 unless a plain-mode ``echostr`` is what WeChat sends: short printable ASCII."""
    if len(echostr) > MAX_ECHOSTR or not (echostr.isascii() and echostr.isprintable()):
        log.warning("wechat_callback_refused", app=app.name, status=400, reason="bad_echostr")
        raise HTTPException(status_code=400, detail="malformed echostr")


async def _require_first_use(
    ctx: WebhookContext, app: CallbackApp, timestamp: str, nonce: str, body: bytes
) -> None:
    """403 when a plain-mode signature already came with another body (or ``echostr``).

    Plain mode signs only timestamp and nonce, so a signature seen once could carry any body
    (any openid) — or make a ``GET`` echo any text — until its timestamp leaves the window.
    Each (timestamp, nonce) is remembered with its body's hash until then, one store for
    ``GET`` and ``POST`` (the signature is the same); the same body again is WeChat's retry
    (deduped further on), another one is refused.
    """
    signed = hashlib.sha256(f"{timestamp}\n{nonce}".encode()).hexdigest()[:40]
    key = ctx.keys.webhook_nonce(app.provider, signed)
    digest = hashlib.sha256(body).hexdigest()
    # Fresh: |now - timestamp| <= window, so the signature is usable until timestamp + window.
    window = ctx.settings.channels.wechat.replay_window_seconds
    ttl = max(1, int(timestamp) + window - int(ctx.clock.now().timestamp()) + 1)
    if await ctx.redis.set(key, digest, nx=True, ex=ttl):
        return
    earlier = await ctx.redis.get(key)
    if isinstance(earlier, bytes):
        earlier = earlier.decode("ascii", "replace")
    if isinstance(earlier, str) and hmac.compare_digest(earlier, digest):
        return
    log.warning("wechat_callback_refused", app=app.name, status=403, reason="nonce_reused")
    raise HTTPException(status_code=403, detail="signature already used")


def _require_addressed_to(
    app: CallbackApp, query: Mapping[str, str], fields: Mapping[str, Any]
) -> None:
    """403 when the message names another WeCom agent, or a plain-mode openid disagrees."""
    agent = xml_text(fields, "AgentID")
    openid = query.get("openid")
    if (app.agent_id and agent and agent != app.agent_id) or (
        openid and openid != xml_text(fields, "FromUserName")
    ):
        log.warning("wechat_callback_refused", app=app.name, status=403, reason="wrong_addressee")
        raise HTTPException(status_code=403, detail="forbidden")


# --- after verification ------------------------------------------------------------------------


async def _handle(
    ctx: WebhookContext, app: CallbackApp, fields: dict[str, Any], created: datetime | None
) -> None:
    sender = xml_text(fields, "FromUserName")
    if not sender:
        raise HTTPException(status_code=400, detail="FromUserName missing")
    if xml_text(fields, "MsgType") != "event":
        await _store(ctx, app, _message_reply(app, sender, fields))
        return
    event = xml_text(fields, "Event").lower()
    if app.kind == "wecom" and event == "template_card_event":
        await _store(ctx, app, _card_reply(app, sender, fields))
        return
    seen = ctx.keys.webhook_seen(app.provider, _event_id(app, sender, fields))
    ttl = 2 * ctx.settings.channels.wechat.replay_window_seconds
    if not await ctx.redis.set(seen, "1", nx=True, ex=ttl):
        log.info("wechat_event_redelivered", app=app.name, wechat_event=event)
        return
    try:
        await _apply_event(ctx, app, event, sender, fields, created)
    except BaseException:
        await ctx.redis.delete(seen)  # not applied: WeChat's retry must apply it
        raise


async def _store(ctx: WebhookContext, app: CallbackApp, reply: InboundReply) -> None:
    accepted = await accept_reply(ctx.db, ctx.queue, ctx.clock, app.channel, reply)
    log.info("wechat_reply_received", app=app.name, sender=mask_id(reply.sender),
             reply_id=accepted.reply_id, duplicate=accepted.duplicate)  # fmt: skip


def _message_reply(app: CallbackApp, sender: str, fields: dict[str, Any]) -> InboundReply:
    msg_type = xml_text(fields, "MsgType")
    media = xml_text(fields, "MediaId")
    if msg_type == "text":
        content = fields.get("Content")  # not stripped: the user's own words
        text = content if isinstance(content, str) else ""
    elif msg_type in _MEDIA_LABELS:
        text = f"[{_MEDIA_LABELS[msg_type]}] MediaId={media}"
        if recognition := xml_text(fields, "Recognition"):
            text += f" 识别：{recognition}"
    elif msg_type == "location":
        x, y = xml_text(fields, "Location_X"), xml_text(fields, "Location_Y")
        text = f"[位置] {xml_text(fields, 'Label')} ({x},{y})"
    elif msg_type == "link":
        text = f"[链接] {xml_text(fields, 'Title')} {xml_text(fields, 'Url')}"
    else:
        text = f"[{msg_type or '未知'}]"
    # MsgId is there for every user message; the fallback only keeps a retry deduped.
    msg_id = xml_text(fields, "MsgId") or f"{sender}:{xml_text(fields, 'CreateTime')}"
    return InboundReply(provider=app.provider, provider_msg_id=_bounded(msg_id), sender=sender,
                        text=text, raw={**fields, "hub_app": app.name})  # fmt: skip


def _card_reply(app: CallbackApp, sender: str, fields: dict[str, Any]) -> InboundReply:
    """A WeCom template-card click: the text is the button key (``rating:5``) or the options."""
    task, key = xml_text(fields, "TaskId"), xml_text(fields, "EventKey")
    options = _selected_options(fields.get("SelectedItems"))
    text = ",".join(options) if options else key
    msg_id = f"card:{task}:{sender}:{key}" + (f":{text}" if options else "")
    return InboundReply(provider=app.provider, provider_msg_id=_bounded(msg_id), sender=sender,
                        text=text, raw={**fields, "hub_app": app.name})  # fmt: skip


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
    """Provider ids are stored in 128 characters: a longer one is replaced by its hash."""
    if len(provider_msg_id) <= 128:
        return provider_msg_id
    return "sha256:" + hashlib.sha256(provider_msg_id.encode()).hexdigest()


def _event_id(app: CallbackApp, sender: str, fields: Mapping[str, Any]) -> str:
    """WeChat's dedupe rule for events (no MsgId): FromUserName + CreateTime (+ the event)."""
    parts = (app.name, sender, xml_text(fields, "CreateTime"), xml_text(fields, "Event"),
             xml_text(fields, "EventKey"), xml_text(fields, "MsgID"))  # fmt: skip
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:40]


async def _apply_event(
    ctx: WebhookContext, app: CallbackApp, event: str, sender: str, fields: Mapping[str, Any],
    created: datetime | None,
) -> None:  # fmt: skip
    if event == "unsubscribe":
        source = "wecom_unsubscribe" if app.kind == "wecom" else "wechat_unsubscribe"
        ids = await opt_out_address(ctx.db, ctx.clock, app.channel, sender, source=source)
        log.info("wechat_unsubscribed", app=app.name, sender=mask_id(sender), contacts=len(ids))
    elif event == "subscribe":
        lifted = await lift_leave_opt_outs(ctx, app, sender)
        log.info("wechat_subscribed", app=app.name, sender=mask_id(sender), lifted=lifted)
    elif event == "templatesendjobfinish" and app.kind == "official_account":
        await _apply_receipt(ctx, app, sender, fields, created)
    else:
        log.debug("wechat_event_ignored", app=app.name, wechat_event=event)


async def lift_leave_opt_outs(ctx: WebhookContext, app: CallbackApp, address: str) -> int:
    """Remove the opt-outs that leaving recorded for the contacts at ``address``; how many.

    Following the account again is an opt-in (ContactOptOut: "removed only by an opt-in"); an
    opt-out the user asked for in words stays. Each removal is written to the audit log.
    """
    channel = app.channel
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        rows = (
            await session.execute(
                sa.select(ContactOptOut.contact_id, ContactOptOut.kind, ContactOptOut.source)
                .join(Contact, Contact.id == ContactOptOut.contact_id)
                .where(
                    _ADDRESS[channel] == address,
                    ContactOptOut.channel == channel,
                    ContactOptOut.source.in_(_LEAVE_SOURCES[channel]),
                )
            )
        ).all()
        for row in rows:
            await session.execute(
                sa.delete(ContactOptOut).where(
                    ContactOptOut.contact_id == row.contact_id,
                    ContactOptOut.channel == channel,
                    ContactOptOut.kind == row.kind,
                )
            )
            detail = {"channel": str(channel), "kind": row.kind, "removed_source": row.source}
            session.add(
                AuditLog(at=now, actor=f"{app.provider}:{app.name}", action="opt_out_lifted",
                         target_type="contact", target_id=str(row.contact_id),
                         detail={**detail, "reason": "subscribe"})
            )  # fmt: skip
    return len(rows)


# TEMPLATESENDJOBFINISH Status values (WeChat documents these three).
_STATUS_DETAIL: Final = {
    "failed:user block": "用户拒收 (user block)",
    "failed: system failed": "发送失败，系统原因 (system failed)",
}


async def _apply_receipt(
    ctx: WebhookContext, app: CallbackApp, sender: str, fields: Mapping[str, Any],
    at: datetime | None,
) -> None:  # fmt: skip
    status = xml_text(fields, "Status")
    msg_id = xml_text(fields, "MsgID") or xml_text(fields, "MsgId")
    if not msg_id:
        raise HTTPException(status_code=400, detail="MsgID missing")
    receipt = DeliveryReceipt(provider=app.provider, provider_message_id=msg_id,
                              delivered=status == "success", at=at, error_code=status,
                              detail=_STATUS_DETAIL.get(status, ""))  # fmt: skip
    if status == "failed:user block":
        # The user refuses this account's messages: stop sending them here (routing falls back).
        await opt_out_address(ctx.db, ctx.clock, app.channel, sender, source="wechat_user_block")
    outcome = await apply_receipts(ctx.db, ctx.clock, [receipt])
    await park_unmatched(ctx.redis, ctx.keys, ctx.clock, outcome.unmatched)
    log.info("wechat_receipt", app=app.name, applied=outcome.applied,
             unmatched=len(outcome.unmatched), status=status)  # fmt: skip
