"""``/api/v1`` for an officer's token: only the enterprises of the liaison officer the account is
linked to, in every listing (tickets, visits, messages, replies), another's ticket a 403 and
another's reply a 404; ``/me`` names the officer; an officer account not linked sees nothing.
On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import Contact, Staff
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import NewStaff, StaffRole, add_staff, issue_token
from hub.web.api import router
from tests.ticket_support import new_ticket
from tests.visits.record_support import NOW, seed_visit_world
from tests.web.api_support import store_message, store_reply

# tests/seed.py: LL001 serves 甲机械 and 戊建筑; LL002 丙软件; 乙商贸 and 丁餐饮 have none.
MINE, OTHERS = ("甲机械", "戊建筑"), ("乙商贸", "丙软件")


@dataclass(frozen=True)
class OfficerWorld:
    headers: dict[str, str]  # li-ming's token (LL001)
    tickets: dict[str, str]  # enterprise name -> its ticket's number
    replies: dict[str, int]  # enterprise name -> a reply of its contact


@pytest.fixture
async def world(any_db: Database) -> OfficerWorld:
    seeded = await seed_visit_world(any_db)
    clock = FixedClock(NOW)
    await add_staff(any_db, clock, NewStaff("li-ming", "李明", StaffRole.OFFICER, officer="LL001"),
                    actor="test")  # fmt: skip
    token = await issue_token(any_db, clock, "li-ming", actor="test")
    tickets, replies = {}, {}
    for name in (*MINE, *OTHERS):
        tickets[name] = (await new_ticket(any_db, seeded.tickets, at=NOW, enterprise=name)).number
        async with any_db.read() as session:
            contact = await session.get(Contact, seeded.tickets.contacts[name])
        assert contact is not None
        await store_message(any_db, NOW, contact, key=f"m-{name}")
        replies[name] = await store_reply(any_db, NOW, sender=contact.mobile or "", text="收到",
                                          contact=contact, key=f"r-{name}")  # fmt: skip
    await store_reply(any_db, NOW, sender="+8613700000000", text="你好", key="unknown")
    return OfficerWorld({"Authorization": f"Bearer {token}"}, tickets, replies)


@pytest.fixture
async def client(any_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    clock = FixedClock(NOW)
    app = FastAPI()
    app.include_router(router(any_db, clock, ticket_desk=TicketDesk(any_db, Settings(), clock)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        yield http


async def _listed(client: httpx.AsyncClient, world: OfficerWorld, path: str) -> list[dict]:
    response = await client.get(path, headers=world.headers)
    assert response.status_code == 200, response.text
    return list(response.json())


def _names(rows: list[dict]) -> set[str]:
    return {row["enterprise"]["name"] for row in rows}


async def test_an_officer_lists_only_his_enterprises_data(
    world: OfficerWorld, client: httpx.AsyncClient
) -> None:
    tickets = await _listed(client, world, "/api/v1/tickets")
    assert {t["number"] for t in tickets} == {world.tickets[name] for name in MINE}
    assert _names(await _listed(client, world, "/api/v1/visits")) == set(MINE)
    assert _names(await _listed(client, world, "/api/v1/messages")) == set(MINE)
    replies = await _listed(client, world, "/api/v1/replies")
    assert {r["id"] for r in replies} == {world.replies[name] for name in MINE}  # not "unknown"
    assert all("*" in r["sender"] for r in replies)  # addresses masked, as a viewer's

    me = (await client.get("/api/v1/me", headers=world.headers)).json()
    assert me["scope"]["officer"] == "LL001"


async def test_another_officers_ticket_and_reply_are_refused(
    world: OfficerWorld, client: httpx.AsyncClient
) -> None:
    other = await client.get(f"/api/v1/tickets/{world.tickets['丙软件']}", headers=world.headers)
    assert other.status_code == 403
    assert "不在您的部门范围内" in other.json()["error"]
    reply = await client.get(f"/api/v1/replies/{world.replies['丙软件']}", headers=world.headers)
    assert reply.status_code == 404
    mine = await client.get(f"/api/v1/tickets/{world.tickets['甲机械']}", headers=world.headers)
    assert mine.status_code == 200


async def test_an_officer_token_not_linked_sees_nothing(
    any_db: Database, world: OfficerWorld, client: httpx.AsyncClient
) -> None:
    async with any_db.write() as session:  # an account from before the link (migration 0012)
        await session.execute(sa.update(Staff).where(Staff.username == "li-ming")
                              .values(officer_id=None))  # fmt: skip
    for path in ("/api/v1/tickets", "/api/v1/visits", "/api/v1/messages", "/api/v1/replies"):
        assert await _listed(client, world, path) == [], path
    me = (await client.get("/api/v1/me", headers=world.headers)).json()
    assert me["scope"]["officer"] is None
