"""``POST /api/v1/visits/{id}/outcome|schedule`` and ``/enterprises/{uscc}/contacts``: round
trips, and bad input answered 4xx with a Chinese message naming the field (never a 5xx)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import Enterprise, LiaisonContact, Ticket
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import issue_token
from hub.web.api import router
from tests.visits.record_support import NOW, VisitWorld, seed_visit_world, visit_settings


@pytest.fixture
async def world(any_db: Database) -> VisitWorld:
    return await seed_visit_world(any_db)


@pytest.fixture
async def auth(any_db: Database, world: VisitWorld) -> dict[str, dict[str, str]]:
    headers = {}
    for username in ("dispatcher", "viewer"):
        token = await issue_token(any_db, FixedClock(NOW), username, actor="test")
        headers[username] = {"Authorization": f"Bearer {token}"}
    return headers


@pytest.fixture
async def client(any_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    clock = FixedClock(NOW)
    app = FastAPI()
    desk = TicketDesk(any_db, visit_settings(), clock)
    app.include_router(router(any_db, clock, ticket_desk=desk))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield http


async def test_outcome_done_with_problems_then_repeat_opens_no_more(
    any_db: Database, world: VisitWorld, auth: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:  # fmt: skip
    visit_id = world.visits["甲机械"]
    body = {
        "done": True, "at": "2027-03-01T09:40", "notes": "座谈",
        "problems": [{"text": "厂区道路破损需维修", "department": "FGW"},
                     {"text": "经常停电影响生产"}],
    }  # fmt: skip
    answer = await client.post(f"/api/v1/visits/{visit_id}/outcome", json=body,
                               headers=auth["dispatcher"])  # fmt: skip
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert data["status"] == "done"
    assert data["visited_at"] == "2027-03-01T09:40:00+08:00"
    assert [t["department"] for t in data["tickets"]] == ["FGW", "FGW"]  # 停电 -> FGW by rule
    assert data["tickets"][0]["deadline_at"] == "2027-03-09T00:00:00+08:00"
    again = await client.post(f"/api/v1/visits/{visit_id}/outcome", json=body,
                              headers=auth["dispatcher"])  # fmt: skip
    assert again.status_code == 200
    assert again.json()["already"] is True
    async with any_db.read() as session:
        sources = (await session.scalars(sa.select(Ticket.source_visit_id))).all()
    assert sources == [visit_id, visit_id]


async def test_not_done_schedule_and_contact_round_trips(
    any_db: Database, world: VisitWorld, auth: dict[str, dict[str, str]],
    client: httpx.AsyncClient,
) -> None:  # fmt: skip
    visit_id = world.visits["丙软件"]
    headers = auth["dispatcher"]
    missed = await client.post(f"/api/v1/visits/{visit_id}/outcome", headers=headers,
                               json={"done": False, "reason": "企业负责人出差"})  # fmt: skip
    assert missed.status_code == 200, missed.text
    assert missed.json()["status"] == "planned"
    assert missed.json()["not_done"][0]["reason"] == "企业负责人出差"
    agreed = await client.post(f"/api/v1/visits/{visit_id}/schedule", headers=headers,
                               json={"at": "2027-03-02T09:30:00+08:00"})  # fmt: skip
    assert agreed.status_code == 200, agreed.text
    assert (agreed.json()["status"], agreed.json()["proposed_for"]) == (
        "confirmed", "2027-03-02T09:30:00+08:00")  # fmt: skip
    async with any_db.read() as session:
        uscc = await session.scalar(
            sa.select(Enterprise.uscc).where(Enterprise.id == world.tickets.enterprises["丙软件"])
        )
    contact = await client.post(
        f"/api/v1/enterprises/{uscc}/contacts", headers=headers,
        json={"via": "电话联系", "notes": "已电话了解用工需求"},
    )  # fmt: skip
    assert contact.status_code == 200, contact.text
    assert (contact.json()["officer"], contact.json()["via"]) == ("LL002", "phone")
    async with any_db.read() as session:
        [row] = (await session.scalars(sa.select(LiaisonContact))).all()
    assert row.source == "api:dispatcher"


@pytest.mark.parametrize(
    ("path", "body", "status", "names"),
    [
        ("/visits/{v}/outcome", {"done": False}, 422, "reason"),
        ("/visits/{v}/outcome", {"done": True, "reason": "x"}, 422, "reason"),
        ("/visits/{v}/outcome", {"done": True, "problems": [{"text": "  "}]}, 422, "problems"),
        (
            "/visits/{v}/outcome",
            {"done": True, "problems": [{"text": "漏水", "department": "XYZ"}]},
            404,
            "部门编码 XYZ 不存在",
        ),
        (
            "/visits/{v}/outcome",
            {"done": True, "problems": [{"text": "漏水", "urgency": "很急"}]},
            422,
            "problems.0.urgency",
        ),
        ("/visits/{v}/outcome", {"done": True, "at": "2027-03-05T09:00"}, 409, "走访时间 (at)"),
        ("/visits/{v}/outcome", {"done": "maybe"}, 422, "done"),
        ("/visits/99999/outcome", {"done": True}, 404, "没有编号为 99999 的走访"),
        (
            "/visits/{v}/schedule",
            {"at": "2027-04-05T09:30"},
            409,
            "约定时间 (at) 2027-04-05（周一）09:30 是休息日",
        ),
        ("/visits/{v}/schedule", {"at": "明天"}, 422, "at"),
        ("/visits/{v}/schedule", {}, 422, "at"),
        ("/enterprises/123/contacts", {"via": "phone"}, 422, "uscc"),
        ("/enterprises/{u}/contacts", {"via": "fax"}, 422, "via"),
        ("/enterprises/{u}/contacts", {"via": "phone", "officer": "LL999"}, 404, "LL999"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field_in_chinese(
    any_db: Database, world: VisitWorld, auth: dict[str, dict[str, str]],
    client: httpx.AsyncClient, path: str, body: dict[str, object], status: int, names: str,
) -> None:  # fmt: skip
    async with any_db.read() as session:
        uscc = await session.scalar(sa.select(Enterprise.uscc).order_by(Enterprise.id).limit(1))
    url = "/api/v1" + path.format(v=world.visits["甲机械"], u=uscc)
    answer = await client.post(url, json=body, headers=auth["dispatcher"])
    assert answer.status_code == status, answer.text
    assert names in answer.json()["error"]
    assert any("\u4e00" <= ch <= "\u9fff" for ch in answer.json()["error"])
    async with any_db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


async def test_a_viewer_may_not_record(
    world: VisitWorld, auth: dict[str, dict[str, str]], client: httpx.AsyncClient
) -> None:
    answer = await client.post(f"/api/v1/visits/{world.visits['甲机械']}/outcome",
                               json={"done": True}, headers=auth["viewer"])  # fmt: skip
    assert answer.status_code == 403
