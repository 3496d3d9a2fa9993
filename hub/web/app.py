"""The FastAPI application. Built by :func:`create_app` from already-open components."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from channels.sms.settings import SmsSettings
from hub.core.clock import SHANGHAI, Clock, SystemClock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient, redis_health
from hub.queries.metrics import DatabaseGauges
from hub.scheduling.programs.base import ProgramContext
from hub.store.db import Database
from hub.tickets.desk import TicketDesk
from hub.tickets.ratings import RatingNotifier
from hub.web import answer_page, api, credit_report_page, docs, rating_page, report_files
from hub.web.admin import enterprise_import
from hub.web.admin import routes as admin_routes
from hub.web.admin.context import AdminContext
from hub.web.admin.settings import AdminSettings
from hub.web.body_limit import BodyLimitMiddleware
from hub.web.webhooks import sms_aliyun, sms_tencent, wechat
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.lean import LeanWebhooks
from hub.web.webhooks.limits import WEBHOOK_BODY_LIMITS

if TYPE_CHECKING:
    from aiogram import Bot


def create_app(
    db: Database, redis: RedisClient, *, metrics: CollectorRegistry,
    webhooks: WebhookContext | None = None, telegram_bot: Bot | None = None,
    clock: Clock | None = None, tz: ZoneInfo = SHANGHAI,
    rating_notifier: RatingNotifier | None = None, ticket_desk: TicketDesk | None = None,
    programs: ProgramContext | None = None, reports_dir: Path | None = None,
    keys: RedisKeys | None = None, admin_settings: AdminSettings | None = None,
    sms_settings: SmsSettings | None = None,
) -> FastAPI:  # fmt: skip
    """The app; it owns nothing: the runtime opens and closes the database and Redis.

    With ``webhooks``, every provider's callback routes are mounted (each refuses, with 403
    and nothing stored, while its provider is disabled), and the rating page ``/r/{token}``
    (``rating_notifier`` writes a bad rating's alert to the department head).
    With ``reports_dir``, produced report files there are downloadable by signed link.
    The web admin (``/admin/``) keeps its sessions in ``redis`` under ``keys``' prefix; its
    template editor counts SMS segments with the signature of ``sms_settings`` (channels.sms).
    """
    # docs_url=None: FastAPI's own page loads Swagger UI from a CDN; hub.web.docs serves it.
    app = FastAPI(title="Hub", version="0.1.0", docs_url=None, redoc_url=None,
                  openapi_url="/openapi.json")  # fmt: skip
    # Bodies are limited before they are read (1 MiB; the webhooks, /r/ and the registry
    # upload have their own).
    body_limits = {**WEBHOOK_BODY_LIMITS, "/r/": rating_page.MAX_BODY,
                   enterprise_import.IMPORT_PATH: enterprise_import.MAX_UPLOAD_BODY}  # fmt: skip
    if webhooks is not None:
        # SMS callbacks come by the hundred a second: served inside the body limit (added
        # after, so it runs first) but past FastAPI's routing (hub.web.webhooks.lean).
        app.add_middleware(LeanWebhooks, routes={**sms_tencent.lean_routes(webhooks),
                                                 **sms_aliyun.lean_routes(webhooks)})  # fmt: skip
    app.add_middleware(BodyLimitMiddleware, routes=body_limits)
    if webhooks is not None:
        # The same routes through FastAPI, for what the lean path hands over (a traced
        # request, an app under a root path); first, as routes are matched in order.
        for sms in (sms_tencent, sms_aliyun):
            app.include_router(sms.router(webhooks))
    app.include_router(docs.docs_router(openapi_url="/openapi.json", title="Hub API"))
    app.include_router(api.router(db, clock or SystemClock(), tz=tz, ticket_desk=ticket_desk,
                                  programs=programs))  # fmt: skip
    # The half-yearly credit report's page (/reports/credit/{token}): public, read-only.
    app.include_router(credit_report_page.router(db, clock or SystemClock(), tz=tz))
    # The page an automatic answer's link opens (/a/{token}): public, read-only.
    app.include_router(answer_page.router(db, clock or SystemClock(), tz=tz))
    if reports_dir is not None:
        # Downloads of the ledger and work report files (/reports/files/{token}): by token.
        app.include_router(report_files.router(reports_dir, clock or SystemClock()))
    if webhooks is not None:
        # The rating page of rating requests (/r/{token}), public like the webhooks.
        app.include_router(rating_page.router(
            db, clock or SystemClock(), webhooks.settings, queue=webhooks.queue,
            notifier=rating_notifier,
        ))  # fmt: skip
        app.include_router(wechat.router(webhooks))
        if telegram_bot is not None:
            from hub.web.webhooks import telegram  # aiogram only where Telegram is on

            app.include_router(telegram.router(webhooks, telegram_bot))

    admin_routes.mount(app, AdminContext(
        db, redis, clock or SystemClock(), keys=keys or RedisKeys(),
        settings=admin_settings or AdminSettings(), tz=tz, ticket_desk=ticket_desk,
        programs=programs, sms=sms_settings or SmsSettings(),
    ))  # fmt: skip

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        """200 when the database and Redis both answer, 503 otherwise, with each one's status."""
        database: dict[str, Any] = await db.health()
        queue: dict[str, Any] = await redis_health(redis)
        healthy = database["status"] == "ok" and queue["status"] == "ok"
        body = {"status": "ok" if healthy else "error", "database": database, "redis": queue}
        return JSONResponse(body, status_code=200 if healthy else 503)

    # The state in the database (any process's work), beside this process's own counters.
    database_gauges = DatabaseGauges(db, clock or SystemClock())
    database_registry = CollectorRegistry(auto_describe=False)
    database_registry.register(database_gauges)

    @app.get("/metrics", tags=["ops"])
    async def prometheus_metrics() -> Response:
        """Prometheus text format: this process's counters and the database's gauges."""
        await database_gauges.refresh()
        body = generate_latest(metrics) + generate_latest(database_registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return app
