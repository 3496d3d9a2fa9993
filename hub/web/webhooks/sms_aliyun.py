"""Aliyun SMS pushes: ``POST /webhooks/sms/aliyun/{path_secret}/report`` and ``/up``.

Aliyun's HTTP push ("HTTP批量推送模式") POSTs JSON arrays and signs nothing, so a push is
verified by the secret path segment (``channels.sms.aliyun.path_secret``, compared in constant
time) and, when configured, the source address (``allowed_ips``): either failing is 403 and
stores nothing. A body that is not an array of well-formed items is 400 naming the item and
the field, and stores nothing either: every item is validated before any is stored. The items
are read by the channel's pure parsers (``parse_receipts``, ``parse_reply`` of
``channels.sms.aliyun_callbacks``, through :func:`channels.registry.sms_callbacks`).

- ``report`` (``SmsReport``) sets the message ``delivered`` or ``failed`` through
  :func:`hub.outbound.receipts.apply_receipts`, matched on ``f"{biz_id}:{phone_number}"`` —
  the id the channel recorded (``channels.sms.aliyun``) — or, for a message with no such id on
  record, on the message id a ``SendSms`` carried in ``out_id``: a send whose worker died
  during the call is settled by the report (taken, never resent), and one the status query
  found gets its ``BizId``. Receipts that outran the send are parked. A
  redelivered report changes nothing (a final status is never moved again). A report failing
  with ``MOBILE_IN_BLACK`` (the number refused our signature) also records an SMS opt-out
  (source ``provider:aliyun``), once, when it is the report that failed the message.
- ``up`` (``SmsUp``) stores each reply through the webhooks' group commit
  (:class:`hub.inbound.accept_batch.ReplyAccepter`; provider ``aliyun``, id ``sequence_id``,
  sender ``+86…``), deduped on the id, linked to its contact and enterprise. A reply of R, TD
  or 退订 (NFKC-normalised, stripped, any case) also records an SMS opt-out (source ``aliyun_up``) —
  the notices are notification templates without unsubscribe text, but the words are honoured.

Aliyun gets ``{"code": 0, "msg": "接收成功"}`` only after everything is committed; anything
else makes it push again later, which the dedupe above makes harmless.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Final, TypeVar

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from channels.callbacks import CallbackError
from channels.registry import sms_callbacks
from hub.core.safe_text import storable_text
from hub.core.vocab import ChannelName
from hub.outbound.optouts import opt_out_address
from hub.outbound.receipts import apply_receipts, park_unmatched
from hub.web.webhooks.context import (
    BodyReader,
    WebhookContext,
    client_host,
    require_allowed_source,
    require_path_secret,
)
from hub.web.webhooks.lean import LeanRoutes

log = structlog.get_logger(__name__)

PROVIDER: Final = "aliyun"
PREFIX: Final = "/webhooks/sms/aliyun/{path_secret}"
ANSWER: Final = {"code": 0, "msg": "接收成功"}
MAX_BODY: Final = 4 * 1024 * 1024  # a push carries at most a few thousand items
UNSUBSCRIBE_WORDS: Final = frozenset({"r", "td", "退订"})
UP_OPT_OUT_SOURCE: Final = "aliyun_up"
BLACKLIST_OPT_OUT_SOURCE: Final = "provider:aliyun"

T = TypeVar("T")


class AliyunPushes:
    """The two pushes, whichever way the request came: a FastAPI route (:func:`router`) or the
    app's lean path for the provider webhooks (:func:`lean_routes`). Each takes the path secret,
    the peer's address and a reader of the body, which is read only once verified."""

    def __init__(self, ctx: WebhookContext) -> None:
        self.ctx = ctx
        self.parse = sms_callbacks(PROVIDER)

    def verify(self, path_secret: str, client: str) -> None:
        settings = self.ctx.settings.channels.sms.aliyun
        if not settings.enabled:
            raise HTTPException(status_code=403, detail="forbidden")
        require_path_secret(path_secret, settings.path_secret)
        require_allowed_source(client, settings.allowed_ips)

    async def report(self, path_secret: str, client: str, read: BodyReader) -> JSONResponse:
        """Delivery reports: applied (or parked; a blacklist failure opts the number out)."""
        self.verify(path_secret, client)
        receipts = await _parsed(read, self.parse.parse_receipts)
        ctx = self.ctx
        refused = [r for r in receipts if r.opted_out]
        others = [r for r in receipts if not r.opted_out]
        outcome = await apply_receipts(ctx.db, ctx.clock, others, queue=ctx.queue)
        unmatched = list(outcome.unmatched)
        for receipt in refused:
            # One at a time (they are rare) to know whether this report failed the message:
            # only then is the opt-out new information, never on a redelivery.
            alone = await apply_receipts(ctx.db, ctx.clock, [receipt], queue=ctx.queue)
            unmatched.extend(alone.unmatched)
            if alone.applied:
                await opt_out_address(
                    ctx.db, ctx.clock, ChannelName.SMS, receipt.recipient,
                    source=BLACKLIST_OPT_OUT_SOURCE,
                )  # fmt: skip
        await park_unmatched(ctx.redis, ctx.keys, ctx.clock, unmatched)
        log.info("aliyun_sms_reports", count=len(receipts), unmatched=len(unmatched))
        return JSONResponse(ANSWER)

    async def up(self, path_secret: str, client: str, read: BodyReader) -> JSONResponse:
        """Replies: each stored once and queued; R / TD / 退订 also opt the number out."""
        self.verify(path_secret, client)
        replies = await _parsed(read, self.parse.parse_reply)
        ctx = self.ctx
        stored = 0
        accepts = await ctx.accepter.accept_many(ChannelName.SMS, replies)
        for reply, accepted in zip(replies, accepts, strict=True):
            if accepted.duplicate:
                continue
            stored += 1
            if is_unsubscribe(reply.text):
                await opt_out_address(
                    ctx.db, ctx.clock, ChannelName.SMS, reply.sender, source=UP_OPT_OUT_SOURCE
                )
        log.info("aliyun_sms_up", count=len(replies), stored=stored)
        return JSONResponse(ANSWER)


def router(ctx: WebhookContext) -> APIRouter:
    """The two push endpoints of Aliyun SMS."""
    api = APIRouter(tags=["webhooks"])
    pushes = AliyunPushes(ctx)

    @api.post(PREFIX + "/report", include_in_schema=False)
    async def report(path_secret: str, request: Request) -> JSONResponse:
        return await pushes.report(path_secret, client_host(request), request.body)

    @api.post(PREFIX + "/up", include_in_schema=False)
    async def up(path_secret: str, request: Request) -> JSONResponse:
        return await pushes.up(path_secret, client_host(request), request.body)

    return api


def lean_routes(ctx: WebhookContext) -> LeanRoutes:
    """The same two routes for :class:`hub.web.webhooks.lean.LeanWebhooks`."""
    pushes = AliyunPushes(ctx)
    return {(PROVIDER, "report"): pushes.report, (PROVIDER, "up"): pushes.up}


def is_unsubscribe(text: str) -> bool:
    """R, TD or 退订 alone, after NFKC (full-width ＴＤ), stripping and case folding.

    Read as ``accept_reply`` stores it (control characters dropped): ``T\\x00D`` is listed
    as TD, so it opts out as TD does.
    """
    words = unicodedata.normalize("NFKC", storable_text(text)).strip().casefold()
    return words in UNSUBSCRIBE_WORDS


async def _parsed(read: BodyReader, parse: Callable[[bytes], list[T]]) -> list[T]:
    """The items of a verified push, read by the channel's parser; 413 / 400 otherwise."""
    body = await read()
    if len(body) > MAX_BODY:
        raise HTTPException(status_code=413, detail="推送内容过大 (body too large)")
    try:
        return parse(body)
    except CallbackError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
