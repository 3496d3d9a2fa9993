"""WeChat Official Account and WeCom callbacks: ``GET`` and ``POST /webhooks/wechat/{app}``.

``{app}`` names an enabled entry of ``channels.wechat.apps``; anything else is 404.

- Official Account (``kind: official_account``): ``GET`` carries ``signature`` =
  sha1(sorted token, timestamp, nonce) and ``echostr``, echoed back as is. ``POST`` comes in
  plain mode (the same ``signature``; it covers no body, so safe mode is the one to choose in
  the console) or safe mode (``encrypt_type=aes`` + ``msg_signature`` over the ``Encrypt`` text,
  whose trailer must be our AppID).
- WeCom app (``kind: wecom``): always encrypted; ``GET`` carries an encrypted ``echostr`` whose
  plaintext is the answer; the trailer must be our CorpID.

The WeChat channel verifies, opens and parses (``channels.wechat.callbacks``: one
``SignedCallbacks`` per app from :func:`channels.registry.signed_callbacks`, built here when the
routes are; the webhook keeps what needs the hub: the clock, Redis and the database). A request
whose signature fails is 401, one whose timestamp is further than
``channels.wechat.replay_window_seconds`` from now (a replay) or whose trailer names another app
is 403, a body that is not WeChat's XML is 400 — and none of them stores anything. In plain
mode, whose signature covers no body, a (timestamp, nonce) that already came with another body
is 403 too, and so is a ``GET`` whose (timestamp, nonce) already verified another ``echostr``
(which must be printable ASCII of at most 128 characters, else 400). The XML is parsed without
recursion, DOCTYPE or entities, at most :data:`channels.wechat.crypto.MAX_XML_DEPTH` deep: an
encrypted callback's envelope is parsed before its signature can be checked.

After verification, within the request and without calling out (WeChat waits 5 s, then retries
up to three times): a user message is stored (the webhooks' group commit,
:mod:`hub.inbound.accept_batch`; deduped on ``MsgId``) before ``success`` is answered; a WeCom
template-card click is stored as a reply whose text is the button key; events are deduped on
sender + CreateTime + event in Redis, then ``unsubscribe`` records an opt-out, ``subscribe``
lifts the opt-out that leaving had recorded (audit-logged), and ``TEMPLATESENDJOBFINISH`` is the
template message's delivery receipt.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse

from channels.base import InboundReply
from channels.callbacks import (
    AccountEvent,
    CallbackError,
    CallbackRefusedError,
    CallbackSignatureError,
    SignedCallbacks,
)
from channels.registry import provider, signed_callbacks
from hub.core.errors import ConfigError
from hub.core.identifiers import mask_id
from hub.core.vocab import ChannelName
from hub.outbound.optouts import opt_out_address
from hub.outbound.receipts import apply_receipts, park_unmatched
from hub.store.models import AuditLog, Contact, ContactOptOut
from hub.web.webhooks.context import WebhookContext

log = structlog.get_logger(__name__)

PATH: Final = "/webhooks/wechat/{app}"
MAX_BODY: Final = 64 * 1024  # callbacks are a few hundred bytes
SUCCESS: Final = "success"  # tells WeChat "received, no passive reply"
# Opt-outs that leaving the account (or the provider saying the user left) recorded; a new
# subscribe lifts these, never one the user asked for in words (a "退订" reply).
_LEAVE_SOURCES: Final = {
    ChannelName.WECHAT: ("wechat_unsubscribe", "wechat_user_block", "provider:wechat_mp"),
    ChannelName.WECOM: ("wecom_unsubscribe", "provider:wecom"),
}
_UNSUBSCRIBE_SOURCES: Final = {
    ChannelName.WECHAT: "wechat_unsubscribe",
    ChannelName.WECOM: "wecom_unsubscribe",
}
_ADDRESS: Final = {
    ChannelName.WECHAT: Contact.wechat_openid,
    ChannelName.WECOM: Contact.wecom_userid,
}


def callback_apps(ctx: WebhookContext) -> dict[str, SignedCallbacks]:
    """The enabled apps by name; a malformed EncodingAESKey is a :class:`ConfigError`."""
    apps: dict[str, SignedCallbacks] = {}
    for name, app in ctx.settings.channels.wechat.apps.items():
        receive_id = app.corp_id if app.kind == "wecom" else app.app_id
        if not app.enabled or not app.token or not receive_id:
            continue
        try:
            callbacks = signed_callbacks(
                name, kind=app.kind, token=app.token, receive_id=receive_id,
                encoding_aes_key=app.encoding_aes_key, agent_id=app.agent_id,
            )  # fmt: skip
        except ValueError as exc:
            raise ConfigError(
                str(exc),
                file=str(ctx.settings.source or "config.yaml"),
                key=f"channels.wechat.apps.{name}.encoding_aes_key",
            ) from exc
        if callbacks is not None:  # None: WeCom without its key (config check requires it)
            apps[name] = callbacks
    return apps


def channel_of(app: SignedCallbacks) -> ChannelName:
    """The logical channel an app's callbacks come in on (``wechat`` or ``wecom``)."""
    return ChannelName(provider(app.provider).channel)


def router(ctx: WebhookContext) -> APIRouter:
    """The callback routes of every enabled WeChat Official Account and WeCom app."""
    apps = callback_apps(ctx)
    api = APIRouter(tags=["webhooks"])

    def lookup(name: str) -> SignedCallbacks:
        app = apps.get(name)
        if app is None:
            raise HTTPException(status_code=404, detail="unknown app")
        return app

    @api.get(PATH, response_class=PlainTextResponse)
    async def wechat_verify(app: str, request: Request) -> PlainTextResponse:
        """URL verification: echo ``echostr`` (decrypted for WeCom) once the signature holds."""
        callback = lookup(app)
        query = request.query_params
        with _refusals(callback, malformed="malformed echostr"):
            answer = callback.verify_url(query)
        timestamp = query.get("timestamp", "")
        _require_fresh(ctx, callback, timestamp)
        if not callback.signs_content(query):  # WeCom's msg_signature covers its echostr
            echostr = query.get("echostr", "").encode()
            await _require_first_use(
                ctx, callback, timestamp, query.get("nonce", ""), b"echostr\n" + echostr
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
        with _refusals(callback, malformed="malformed XML"):
            fields = callback.open(query, body)
        _require_fresh(ctx, callback, query.get("timestamp", ""))
        if not callback.signs_content(query):
            timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
            await _require_first_use(ctx, callback, timestamp, nonce, body)
        if not callback.addressed_to_us(query, fields):
            log.warning("wechat_callback_refused", app=callback.name, status=403,
                        reason="wrong_addressee")  # fmt: skip
            raise HTTPException(status_code=403, detail="forbidden")
        try:
            reply = callback.parse_reply(fields)
            event = callback.parse_event(fields) if reply is None else None
        except CallbackError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        if reply is not None:
            await _store(ctx, callback, reply)
        elif event is not None:
            await _handle_event(ctx, callback, event)
        return PlainTextResponse(SUCCESS)

    return api


@contextmanager
def _refusals(app: SignedCallbacks, *, malformed: str) -> Iterator[None]:
    """Turn the channel's refusals into 401 / 403 / 400 (and a log line without personal data)."""
    try:
        yield
    except (CallbackError, CallbackRefusedError) as exc:
        if isinstance(exc, CallbackError):
            status, detail = 400, malformed
        elif isinstance(exc, CallbackSignatureError):
            status, detail = 401, "bad signature"
        else:
            status, detail = 403, "forbidden"
        # The crypto's own error (SignatureError, DecryptError, ...) says most; a plain
        # echostr refused before any crypto has none.
        cause = exc.__cause__
        reason = type(cause).__name__ if cause else "bad_echostr"
        log.warning("wechat_callback_refused", app=app.name, status=status, reason=reason)
        raise HTTPException(status_code=status, detail=detail) from exc


def _require_fresh(ctx: WebhookContext, app: SignedCallbacks, timestamp: str) -> None:
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


async def _require_first_use(
    ctx: WebhookContext, app: SignedCallbacks, timestamp: str, nonce: str, body: bytes
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


# --- after verification ------------------------------------------------------------------------


async def _store(ctx: WebhookContext, app: SignedCallbacks, reply: InboundReply) -> None:
    accepted = await ctx.accepter.accept(channel_of(app), reply)
    log.info("wechat_reply_received", app=app.name, sender=mask_id(reply.sender),
             reply_id=accepted.reply_id, duplicate=accepted.duplicate)  # fmt: skip


async def _handle_event(ctx: WebhookContext, app: SignedCallbacks, event: AccountEvent) -> None:
    """Apply an event once: WeChat redelivers it, and events carry no id to dedupe on."""
    seen = ctx.keys.webhook_seen(app.provider, event.dedupe_key)
    ttl = 2 * ctx.settings.channels.wechat.replay_window_seconds
    if not await ctx.redis.set(seen, "1", nx=True, ex=ttl):
        log.info("wechat_event_redelivered", app=app.name, wechat_event=event.name)
        return
    try:
        await _apply_event(ctx, app, event)
    except BaseException:
        await ctx.redis.delete(seen)  # not applied: WeChat's retry must apply it
        raise


async def _apply_event(ctx: WebhookContext, app: SignedCallbacks, event: AccountEvent) -> None:
    channel, sender = channel_of(app), event.sender
    if event.followed is False:
        source = _UNSUBSCRIBE_SOURCES[channel]
        ids = await opt_out_address(ctx.db, ctx.clock, channel, sender, source=source)
        log.info("wechat_unsubscribed", app=app.name, sender=mask_id(sender), contacts=len(ids))
    elif event.followed:
        lifted = await lift_leave_opt_outs(ctx, app, sender)
        log.info("wechat_subscribed", app=app.name, sender=mask_id(sender), lifted=lifted)
    elif event.receipts:
        await _apply_receipts(ctx, app, event)
    else:
        log.debug("wechat_event_ignored", app=app.name, wechat_event=event.name)


async def lift_leave_opt_outs(ctx: WebhookContext, app: SignedCallbacks, address: str) -> int:
    """Remove the opt-outs that leaving recorded for the contacts at ``address``; how many.

    Following the account again is an opt-in (ContactOptOut: "removed only by an opt-in"); an
    opt-out the user asked for in words stays. Each removal is written to the audit log.
    """
    channel = channel_of(app)
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


async def _apply_receipts(ctx: WebhookContext, app: SignedCallbacks, event: AccountEvent) -> None:
    """A template message's receipt (TEMPLATESENDJOBFINISH)."""
    for receipt in event.receipts:
        if receipt.opted_out:
            # The user refuses this account's messages: stop sending them here (routing falls
            # back).
            await opt_out_address(
                ctx.db, ctx.clock, channel_of(app), event.sender, source="wechat_user_block"
            )
    outcome = await apply_receipts(ctx.db, ctx.clock, event.receipts)
    await park_unmatched(ctx.redis, ctx.keys, ctx.clock, outcome.unmatched)
    statuses = ",".join(receipt.error_code for receipt in event.receipts)
    log.info("wechat_receipt", app=app.name, applied=outcome.applied,
             unmatched=len(outcome.unmatched), status=statuses)  # fmt: skip
