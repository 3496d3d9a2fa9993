"""Tencent Cloud SMS callbacks: ``POST /webhooks/sms/tencent/{path_secret}/status`` and ``/reply``.

Tencent signs neither callback, so a request is taken as Tencent's only when the path carries
``channels.sms.tencent.path_secret`` and, if ``allowed_ips`` is set, comes from one of them;
anything else is 403 and stores nothing (so is any request while the provider is disabled).
A body that is not Tencent's JSON is 400, naming the field, and stores nothing.

The bodies are read by the channel's pure parsers (``parse_receipts``, ``parse_reply`` of
``channels.sms.tencent_callbacks``, through :func:`channels.registry.sms_callbacks`), after
verification:

- ``/status``: the delivery receipts set the messages ``delivered`` / ``failed``
  (:func:`hub.outbound.receipts.apply_receipts`); receipts that outran the send record are parked
  for the reconciler. Applying a redelivered receipt changes nothing. A receipt names no hub
  message (no ``SessionContext``, unlike the status query): one for a send whose worker died
  during the call waits, parked, until the dispatcher's status query records its ``SerialNo``
  (:mod:`hub.outbound.unknown_sends` says why that query is not triggered from here).
- ``/reply``: the reply is stored (:class:`hub.inbound.accept_batch.ReplyAccepter`: one
  commit for concurrent requests) — linked to the contact by the sender's E.164 number — before
  Tencent is answered. Tencent sends no message id, so the id is a hash of what identifies the
  reply: a redelivery is the same reply and stores nothing new.

Both answer ``{"result": 0, "errmsg": "OK"}`` once done; Tencent retries anything else.
"""

from __future__ import annotations

from typing import Final

import structlog
from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from channels.callbacks import CallbackError
from channels.registry import sms_callbacks
from hub.core.identifiers import mask_mobile
from hub.core.vocab import ChannelName
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

PROVIDER: Final = "tencent"
STATUS_PATH: Final = "/webhooks/sms/tencent/{path_secret}/status"
REPLY_PATH: Final = "/webhooks/sms/tencent/{path_secret}/reply"
OK: Final = {"result": 0, "errmsg": "OK"}
MAX_BODY: Final = 1024 * 1024  # a receipt batch is ~200 bytes an entry


class TencentCallbacks:
    """The two callbacks, whichever way the request came: a FastAPI route (:func:`router`) or
    the app's lean path for the provider webhooks (:func:`lean_routes`). Each takes the path
    secret, the peer's address and a reader of the body, which is read only once verified."""

    def __init__(self, ctx: WebhookContext) -> None:
        self.ctx = ctx
        self.parse = sms_callbacks(PROVIDER)

    async def verified_body(self, path_secret: str, client: str, read: BodyReader) -> bytes:
        tencent = self.ctx.settings.channels.sms.tencent
        if not tencent.enabled:
            raise HTTPException(status_code=403, detail="forbidden")
        require_path_secret(path_secret, tencent.path_secret)
        require_allowed_source(client, tencent.allowed_ips)
        body = await read()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="too large")
        return body

    async def status(self, path_secret: str, client: str, read: BodyReader) -> JSONResponse:
        """Delivery receipts: applied (or parked), then ``OK``."""
        body = await self.verified_body(path_secret, client, read)
        try:
            receipts = self.parse.parse_receipts(body)
        except CallbackError as exc:
            return _refused(exc)
        ctx = self.ctx
        outcome = await apply_receipts(ctx.db, ctx.clock, receipts)
        await park_unmatched(ctx.redis, ctx.keys, ctx.clock, outcome.unmatched)
        log.info(
            "tencent_sms_receipts", received=len(receipts), applied=outcome.applied,
            already=outcome.already, parked=len(outcome.unmatched),
        )  # fmt: skip
        return JSONResponse(OK)

    async def reply(self, path_secret: str, client: str, read: BodyReader) -> JSONResponse:
        """A reply: stored (once per its hash id) and queued, then ``OK``."""
        body = await self.verified_body(path_secret, client, read)
        try:
            replies = self.parse.parse_reply(body)
        except CallbackError as exc:
            return _refused(exc)
        # Tencent's reply callback carries one; it shares a commit with concurrent requests.
        accepts = await self.ctx.accepter.accept_many(ChannelName.SMS, replies)
        for inbound, accepted in zip(replies, accepts, strict=True):
            log.info(
                "tencent_sms_reply", reply_id=accepted.reply_id, duplicate=accepted.duplicate,
                sender=mask_mobile(inbound.sender), linked=accepted.contact_id is not None,
            )  # fmt: skip
        return JSONResponse(OK)


def router(ctx: WebhookContext) -> APIRouter:
    """The two callback routes, bound to the open components in ``ctx``."""
    callbacks = TencentCallbacks(ctx)
    routes = APIRouter(tags=["webhooks"])

    @routes.post(STATUS_PATH, include_in_schema=False)
    async def status(path_secret: str, request: Request) -> JSONResponse:
        return await callbacks.status(path_secret, client_host(request), request.body)

    @routes.post(REPLY_PATH, include_in_schema=False)
    async def reply(path_secret: str, request: Request) -> JSONResponse:
        return await callbacks.reply(path_secret, client_host(request), request.body)

    return routes


def lean_routes(ctx: WebhookContext) -> LeanRoutes:
    """The same two routes for :class:`hub.web.webhooks.lean.LeanWebhooks`."""
    callbacks = TencentCallbacks(ctx)
    return {(PROVIDER, "status"): callbacks.status, (PROVIDER, "reply"): callbacks.reply}


def _refused(error: CallbackError) -> JSONResponse:
    return JSONResponse({"result": 1, "errmsg": str(error)}, status_code=400)
