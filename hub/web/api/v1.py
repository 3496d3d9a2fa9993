"""``/api/v1``: every route behind a credential (hub/web/api/auth.py), errors in one shape."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends

from hub.app.config import Settings
from hub.core.clock import SHANGHAI, Clock
from hub.scheduling.programs.base import ProgramContext
from hub.store.db import Database
from hub.tickets.desk import TicketDesk
from hub.web.api import enterprise_data, messages, replies, staff, ticket_admin, tickets, visits
from hub.web.api.context import ApiContext
from hub.web.api.faq import router as faq_router
from hub.web.api.visit_records import router as visit_records_router

PREFIX = "/api/v1"


def router(
    db: Database, clock: Clock, *, tz: ZoneInfo = SHANGHAI, ticket_desk: TicketDesk | None = None,
    programs: ProgramContext | None = None,
) -> APIRouter:  # fmt: skip
    """The v1 API; include it in the app with ``app.include_router(router(db, clock, tz=...))``.

    ``ticket_desk`` works the tickets with the deployment's settings and sends the messages
    a step causes; without one, tickets follow the default settings and no message is sent.
    ``programs``: what the seed programs run with when a call saves data they react to (a new
    policy is matched); without it, the data is saved and nothing is sent.
    """
    ctx = ApiContext(db, clock, tz, programs)
    # The router-wide dependency makes a credential mandatory even on a route that forgets
    # to ask for the principal; FastAPI resolves it once per request.
    api = APIRouter(prefix=PREFIX, dependencies=[Depends(ctx.authenticate)])
    for module in (staff, replies, messages, enterprise_data, visits):
        api.include_router(module.router(ctx))
    desk = ticket_desk or TicketDesk(db, Settings(), clock)
    api.include_router(tickets.router(ctx, desk))
    api.include_router(ticket_admin.router(ctx, desk))
    api.include_router(visit_records_router(ctx, desk.settings))
    api.include_router(faq_router(ctx))
    return api
