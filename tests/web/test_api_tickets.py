"""``/api/v1/tickets``: scope by role and department (403), steps, 409 on an illegal step."""

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
from tests.queries.answer_rows import add_auto_answer
from tests.ticket_support import TicketWorld, new_ticket, seed_ticket_world, sh

NOW = sh(2026, 11, 23, 10)
TOKENS = ("gxj_a", "gxj_head", "swj_a", "dispatcher", "admin", "viewer")


@pytest.fixture
async def world(any_db: Database) -> TicketWorld:
    return await seed_ticket_world(any_db)


@pytest.fixture
async def tokens(any_db: Database, world: TicketWorld) -> dict[str, dict[str, str]]:
    clock = FixedClock(NOW)
    headers = {}
    for username in TOKENS:
        token = await issue_token(any_db, clock, username, actor="test")
        headers[username] = {"Authorization": f"Bearer {token}"}
    return headers


@pytest.fixture
async def client(any_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    clock = FixedClock(NOW)
    app = FastAPI()
    app.include_router(router(any_db, clock, ticket_desk=TicketDesk(any_db, Settings(), clock)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield http


async def test_a_handler_sees_only_their_departments_tickets(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    gxj = await new_ticket(any_db, world, at=NOW)
    swj = await new_ticket(any_db, world, at=NOW, enterprise="乙商贸", body="想了解补贴政策")
    mine = await client.get("/api/v1/tickets", headers=tokens["gxj_a"])
    assert mine.status_code == 200
    assert [t["number"] for t in mine.json()] == [gxj.number]
    everything = await client.get("/api/v1/tickets", headers=tokens["dispatcher"])
    assert [t["number"] for t in everything.json()] == [swj.number, gxj.number]
    other = await client.get(f"/api/v1/tickets/{swj.number}", headers=tokens["gxj_a"])
    assert other.status_code == 403
    assert other.json()["code"] == "forbidden"
    assert "不在您的部门范围内" in other.json()["error"]
    refused = await client.post(f"/api/v1/tickets/{swj.number}/start", headers=tokens["gxj_a"])
    assert refused.status_code == 403
    shown = await client.get(f"/api/v1/tickets/{gxj.number}", headers=tokens["gxj_a"])
    assert shown.status_code == 200
    body = shown.json()
    assert body["department"] == {"code": "GXJ", "name": "工业和信息化局"}
    assert body["contact"]["mobile"] != "+8613900000001"  # masked for a handler
    assert [e["type"] for e in body["events"]] == ["created", "assigned"]
    assert (await client.get("/api/v1/tickets")).status_code == 401


async def test_a_viewer_reads_but_may_not_act(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    ticket = await new_ticket(any_db, world, at=NOW)
    read = await client.get(f"/api/v1/tickets/{ticket.number}", headers=tokens["viewer"])
    assert read.status_code == 200
    act = await client.post(f"/api/v1/tickets/{ticket.number}/start", headers=tokens["viewer"])
    assert act.status_code == 403
    assert "查看者无权开始办理" in act.json()["error"]
    extend = await client.post(
        f"/api/v1/tickets/{ticket.number}/extend", headers=tokens["gxj_a"],
        json={"days": 2, "reason": "需核查"},
    )  # fmt: skip
    assert extend.status_code == 403


async def test_the_closed_loop_through_the_api(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    ticket = await new_ticket(any_db, world, at=NOW)
    base = f"/api/v1/tickets/{ticket.number}"
    early = await client.post(f"{base}/resolve", headers=tokens["admin"], json={"answer": "x"})
    assert early.status_code == 200  # assigned tickets may be resolved directly
    conflict = await client.post(f"{base}/start", headers=tokens["gxj_a"])
    assert conflict.status_code == 409
    assert "当前状态为“已办结待评价”，不能开始办理" in conflict.json()["error"]
    reopened = await client.post(f"{base}/reopen", headers=tokens["gxj_head"],
                                 json={"reason": "企业再次反映"})  # fmt: skip
    assert reopened.json()["state"] == "reopened"
    started = await client.post(f"{base}/start", headers=tokens["gxj_a"])
    assert started.json()["state"] == "in_progress"
    extended = await client.post(f"{base}/extend", headers=tokens["gxj_head"],
                                 json={"days": 5, "reason": "需现场核查"})  # fmt: skip
    assert extended.status_code == 200
    # Mon 23 Nov: due Mon 30 Nov, extended by 5 wd to Mon 7 Dec (24:00)
    assert extended.json()["due_date"] == "2026-12-07"
    missing_reason = await client.post(f"{base}/transfer", headers=tokens["gxj_a"],
                                       json={"department": "SWJ", "reason": ""})  # fmt: skip
    assert missing_reason.status_code == 422
    moved = await client.post(f"{base}/transfer", headers=tokens["gxj_a"],
                              json={"department": "SWJ", "reason": "属商务局职责"})  # fmt: skip
    assert moved.status_code == 200
    assert moved.json()["department"]["code"] == "SWJ"
    assert moved.json()["due_date"] == "2026-12-07"  # a transfer keeps the deadline
    # now it is SWJ's: GXJ's handler no longer sees it
    gone = await client.get(base, headers=tokens["gxj_a"])
    assert gone.status_code == 403
    resolved = await client.post(f"{base}/resolve", headers=tokens["swj_a"],
                                 json={"answer": "已协调办理"})  # fmt: skip
    assert resolved.json()["state"] == "resolved"
    types = [e["type"] for e in resolved.json()["events"]]
    assert types == [
        "created", "assigned", "resolved", "reopened", "in_progress", "extended",
        "transferred", "assigned", "resolved",
    ]  # fmt: skip
    unknown = await client.get("/api/v1/tickets/GD209901010001", headers=tokens["admin"])
    assert unknown.status_code == 404


async def test_list_filters(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    await new_ticket(any_db, world, at=sh(2026, 11, 2, 10))  # due 9 Nov: overdue on the 23rd
    fresh = await new_ticket(any_db, world, at=NOW, body="投诉：窗口推诿")
    overdue = await client.get("/api/v1/tickets?overdue=true", headers=tokens["admin"])
    assert [t["overdue"] for t in overdue.json()] == [True]
    complaints = await client.get("/api/v1/tickets?category=投诉", headers=tokens["admin"])
    assert [t["number"] for t in complaints.json()] == [fresh.number]
    bad = await client.get("/api/v1/tickets?state=nope", headers=tokens["admin"])
    assert bad.status_code == 422


async def test_a_ticket_gives_its_deadline_as_the_last_day_and_the_instant(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    ticket = await new_ticket(any_db, world, at=NOW)
    # Mon 23 Nov, general (5 wd): due 24:00 on Mon 30 Nov, the instant 00:00 on 1 Dec
    listed = await client.get("/api/v1/tickets", headers=tokens["admin"])
    shown = await client.get(f"/api/v1/tickets/{ticket.number}", headers=tokens["admin"])
    for view in (listed.json()[0], shown.json()):
        assert view["deadline"] == "2026-11-30（周一）24时前"
        assert view["due_date"] == "2026-11-30"
        assert view["due_at"] == view["deadline_at"] == "2026-12-01T00:00:00+08:00"
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert {"deadline", "due_at"} <= set(schema["TicketSummaryOut"]["required"])


async def test_a_ticket_carries_the_assistants_suggestions(
    any_db: Database,
    world: TicketWorld,
    tokens: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:
    ticket = await new_ticket(any_db, world, at=NOW, body="高企认定需要什么条件")
    plain = await new_ticket(any_db, world, at=NOW)
    found = [
        {"entry_id": "FAQ-GX-001", "version": 2, "title": "高新技术企业认定条件", "score": 0.48}
    ]
    await add_auto_answer(any_db, "高企认定需要什么条件", at=NOW, ticket_id=ticket.id,
                          entry_id="FAQ-GX-001", suggestions=found)  # fmt: skip

    shown = await client.get(f"/api/v1/tickets/{ticket.number}", headers=tokens["gxj_a"])
    assert shown.status_code == 200
    assert shown.json()["suggestions"] == found
    other = await client.get(f"/api/v1/tickets/{plain.number}", headers=tokens["gxj_a"])
    assert other.json()["suggestions"] == []
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]
    assert "suggestions" in schema["TicketOut"]["required"]
    assert set(schema["SuggestionOut"]["properties"]) == {"entry_id", "version", "title", "score"}
