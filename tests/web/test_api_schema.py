"""Schemathesis over ``/openapi.json``: every ``/api/v1`` operation, as an admin and a handler.

Each operation gets schema-valid and schema-invalid requests (examples, boundary coverage, a
bounded number of random ones, fixed seed, no example database). The API must never answer 5xx,
must answer only the status codes it documents, accept what its schema allows, reject what it
does not, and name the right methods in ``Allow`` on a 405.

The app is the real one (:func:`hub.web.app.create_app`) over a migrated SQLite file holding
tickets (one with a rating), messages and replies. Schemathesis serves the app on an event loop
of its own, so the database is opened for the app there and closed by the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.types import Receive, Scope, Send

from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.core.vocab import ChannelName, MessageStatus
from hub.store.db import Database
from hub.store.models import Rating
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import issue_token
from hub.web.api.params import USCC_FORMAT
from hub.web.app import create_app
from tests.importing.factories import make_uscc
from tests.ticket_support import new_ticket, seed_ticket_world, sh
from tests.web.api_support import OPENID, contact_of, store_message, store_reply

NOW = sh(2026, 11, 23, 10)
# An admin sees and may do everything; a handler (工信局) only their department's tickets.
USERNAMES = ("admin", "gxj_a")
JIA, YI, BING = "+8613900000001", "+8613900000002", "+8613900000003"


async def _seed(url: str) -> dict[str, str]:
    """Tickets, a rating, messages and replies; an API token per username in USERNAMES."""
    db = Database.open(url)
    try:
        world = await seed_ticket_world(db)
        gxj = await new_ticket(db, world, at=NOW - timedelta(days=3))
        await new_ticket(db, world, at=NOW - timedelta(days=1), enterprise="乙商贸",
                         body="想了解补贴政策")  # fmt: skip
        async with db.write() as session:
            session.add(Rating(ticket_id=gxj.id, contact_id=gxj.contact_id, score=1,
                               at=NOW - timedelta(days=2), malicious=False))  # fmt: skip
        jia, yi, bing = [await contact_of(db, mobile) for mobile in (JIA, YI, BING)]
        at = NOW - timedelta(hours=2)
        await store_message(db, at, jia, key="m1")
        await store_message(db, at, yi, key="m2", status=MessageStatus.FAILED)
        await store_message(db, at, bing, key="m3", channel=ChannelName.WECHAT, address=OPENID,
                            status=MessageStatus.QUEUED)  # fmt: skip
        await store_reply(db, at, sender=JIA, text="1", contact=jia)
        await store_reply(db, at, sender=OPENID, text="你好", channel=ChannelName.WECHAT)
        clock = FixedClock(NOW)
        return {u: await issue_token(db, clock, u, actor="test") for u in USERNAMES}
    finally:
        await db.aclose()


def _app(url: str) -> FastAPI:
    """The hub's app; its lifespan closes the database on the loop that used it."""
    db = Database.open(url)
    redis = Redis()  # never connected: only /api/v1 is called, and it does not use Redis
    clock = FixedClock(NOW)
    desk = TicketDesk(db, Settings(), clock)
    app = create_app(db, redis, metrics=CollectorRegistry(), clock=clock, ticket_desk=desk)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await db.aclose()
        await redis.aclose()

    app.router.lifespan_context = lifespan
    return app


class AppSlot:
    """The ASGI app schemathesis calls: the schema is loaded at import, the app made later."""

    def __init__(self) -> None:
        self.app: FastAPI | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.app is not None, "the tokens fixture puts the app in the slot"
        await self.app(scope, receive, send)


HUB = AppSlot()


@pytest.fixture(scope="module")
def tokens(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """The seeded app in HUB; an API token per username."""
    path = tmp_path_factory.mktemp("api-schema") / "hub.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    tokens = asyncio.run(_seed(url))
    HUB.app = _app(url)
    try:
        yield tokens
    finally:
        shutdown_lifespans()  # the app's lifespan closes its database on schemathesis's loop
        HUB.app = None


# The API's own string format (hub/web/api/params.py): the seeded enterprises' codes (serials
# 1-5, tests/seed.py) and codes of no enterprise.
schemathesis.openapi.format(
    USCC_FORMAT, (st.integers(1, 5) | st.integers(6, 99_999_999)).map(make_uscc)
)


def _schema() -> schemathesis.BaseSchema:
    """The API's OpenAPI document (it does not depend on the data, so no database is opened)."""
    schema = schemathesis.openapi.from_dict(_app("sqlite+aiosqlite:///:memory:").openapi())
    schema.app = HUB
    schema.config.seed = 20261123
    schema.config.generation.update(max_examples=10, database="none")
    return schema.include(path_regex="^/api/v1/")


schema = _schema()


@schema.parametrize()
# A shared 2-core machine: no per-example deadline, and no health check that fails a run for
# being slow or for filtering; what bounds the run is max_examples (10 per operation).
@settings(deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("username", USERNAMES)
def test_the_api_keeps_to_its_schema(
    case: schemathesis.Case, username: str, tokens: dict[str, str]
) -> None:
    excluded = []
    if case.operation.label == "PUT /api/v1/calendar/{year}":
        # Its days must lie in the path's year, which JSON Schema cannot say: a schema-valid
        # body is mostly refused (422, documented), not a valid one wrongly refused.
        excluded.append(positive_data_acceptance)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {tokens[username]}"}, excluded_checks=excluded
    )
