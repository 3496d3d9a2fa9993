"""Admin edits over the API: a 2027 calendar (deadlines recomputed), rules, deadline classes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import issue_token
from hub.web.api import router
from tests.ticket_support import TicketWorld, new_ticket, seed_ticket_world, sh

NOW = sh(2026, 12, 30, 10)


@pytest.fixture
async def world(any_db: Database) -> TicketWorld:
    return await seed_ticket_world(any_db)


@pytest.fixture
async def tokens(any_db: Database, world: TicketWorld) -> dict[str, dict[str, str]]:
    clock = FixedClock(NOW)
    headers = {}
    for username in ("admin", "gxj_a"):
        token = await issue_token(any_db, clock, username, actor="test")
        headers[username] = {"Authorization": f"Bearer {token}"}
    return headers


@pytest.fixture
async def client(any_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    clock = FixedClock(NOW)
    app = FastAPI()
    app.include_router(router(any_db, clock, ticket_desk=TicketDesk(any_db, Settings(), clock)))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hub"
    ) as c:
        yield c


async def test_an_admin_enters_2027_and_the_december_deadline_is_recomputed(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    ticket = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10))
    before = await client.get("/api/v1/calendar/2027", headers=tokens["gxj_a"])
    assert before.json()["source"] == "fallback"
    body = {"holidays": ["2027-01-01"], "workdays": []}
    refused = await client.put("/api/v1/calendar/2027", headers=tokens["gxj_a"], json=body)
    assert refused.status_code == 403
    saved = await client.put("/api/v1/calendar/2027", headers=tokens["admin"], json=body)
    assert saved.status_code == 200
    assert saved.json()["source"] == "admin"
    assert saved.json()["recomputed"] == [{
        "number": ticket.number, "old_deadline_at": "2027-01-06T00:00:00+08:00",
        "new_deadline_at": "2027-01-07T00:00:00+08:00", "provisional": False,
    }]  # fmt: skip
    shown = await client.get(f"/api/v1/tickets/{ticket.number}", headers=tokens["admin"])
    assert shown.json()["events"][-1]["type"] == "deadline_recomputed"
    bad = await client.put("/api/v1/calendar/2027", headers=tokens["admin"],
                           json={"holidays": ["2026-12-31"]})  # fmt: skip
    assert bad.status_code == 422
    assert "2027 年工作日历有误" in bad.json()["error"]


async def test_rules_and_classes_over_the_api(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/api/v1/ticket-rules", headers=tokens["gxj_a"])).json()[
        "source"
    ] == "config"
    rules = {"rules": [{"keywords": ["停电"], "department": "FGW"}], "default_department": "SWJ"}
    assert (await client.put("/api/v1/ticket-rules", headers=tokens["gxj_a"],
                             json=rules)).status_code == 403  # fmt: skip
    saved = await client.put("/api/v1/ticket-rules", headers=tokens["admin"], json=rules)
    assert (saved.json()["version"], saved.json()["default_department"]) == (2, "SWJ")
    empty = await client.put("/api/v1/ticket-rules", headers=tokens["admin"],
                             json={"rules": [{"department": "FGW"}]})  # fmt: skip
    assert empty.status_code == 422
    classes = await client.put("/api/v1/deadline-classes", headers=tokens["admin"],
                               json={"classes": {"紧急": 1}})  # fmt: skip
    assert classes.json()["classes"]["urgent"] == 1
    assert classes.json()["version"] == 2
    bad = await client.put("/api/v1/deadline-classes", headers=tokens["admin"],
                           json={"classes": {"slow": 1}})  # fmt: skip
    assert bad.status_code == 422
