"""``POST /webhooks/telegram``: updates from Telegram, verified by the secret-token header.

``setWebhook`` registers a ``secret_token`` (``channels.telegram.webhook_secret``) that Telegram
sends in ``X-Telegram-Bot-Api-Secret-Token`` with every update. No header is 401, a different one
is 403 (compared with ``hmac.compare_digest``); either way nothing is stored. A verified update
goes to ``Dispatcher.feed_webhook_update`` and the handlers of :mod:`hub.web.webhooks.telegram_bot`,
which store before the route answers 200; a failed store answers 500, so Telegram delivers it again.

``router(ctx, bot, dispatcher=None)`` takes the Bot from the caller (the runtime shares the
Telegram channel's, which it closes); the dispatcher defaults to
:func:`hub.web.webhooks.telegram_bot.build_dispatcher`.
"""

from __future__ import annotations

import hmac

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import ValidationError

from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram_bot import build_dispatcher

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# aiogram answers a webhook early after ``_timeout`` (55 s by default) and keeps handling in the
# background, i.e. it would answer before the reply is stored; an hour means "never early".
_NO_EARLY_ANSWER_S = 3600.0

log = structlog.get_logger(__name__)


def require_secret_token(given: str | None, expected: str | None) -> None:
    """401 without the header, 403 unless it equals the configured secret (constant time)."""
    if given is None:
        raise HTTPException(status_code=401, detail="unauthorized")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="forbidden")


def router(ctx: WebhookContext, bot: Bot, dispatcher: Dispatcher | None = None) -> APIRouter:
    """The Telegram webhook route, feeding ``dispatcher`` (default: the hub's handlers)."""
    dispatcher = dispatcher or build_dispatcher(ctx)
    secret = ctx.settings.channels.telegram.webhook_secret
    api = APIRouter(tags=["webhooks"])

    @api.post("/webhooks/telegram")
    async def telegram_update(request: Request) -> Response:
        """One update from Telegram; 200 once it is handled (and any reply stored)."""
        require_secret_token(request.headers.get(SECRET_HEADER), secret)
        try:
            update = Update.model_validate_json(await request.body(), context={"bot": bot})
        except ValidationError:
            raise HTTPException(status_code=400, detail="not a Telegram update") from None
        try:
            await dispatcher.feed_webhook_update(bot, update, _timeout=_NO_EARLY_ANSWER_S)
        except Exception:
            log.exception("telegram update failed", update_id=update.update_id)
            return Response(status_code=500)
        return Response(status_code=200)

    return api
