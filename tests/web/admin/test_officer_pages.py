"""An officer signed in to the web admin sees only the enterprises of the liaison officer his
account is linked to, on every page: the enterprise list, the dossiers and their tickets
(another's is the Chinese 404 page), the visits and the dashboard's ticket figures (the tickets
workbench is not an officer's: 403, a ticket's page too); an officer account not linked sees
none of them."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.store.models import Enterprise, Staff
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import StaffRole
from hub.web.app import create_app
from tests.ticket_support import new_ticket
from tests.visits.record_support import NOW, VisitWorld, seed_visit_world, visit_settings
from tests.web.admin.admin_support import add_user, admin_client, sign_in

# tests/seed.py: LL001 serves 甲机械 and 戊建筑; LL002 丙软件; 乙商贸 and 丁餐饮 have none.
MINE, OTHERS = ("甲机械", "戊建筑"), ("乙商贸", "丙软件", "丁餐饮")


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> VisitWorld:
    clock.set(NOW)
    seeded = await seed_visit_world(db)
    await add_user(db, clock, "li-ming", StaffRole.OFFICER, officer="LL001")
    return seeded


@pytest.fixture
async def tickets(db: Database, world: VisitWorld) -> dict[str, str]:
    """A ticket for every enterprise: its number by enterprise name."""
    return {
        name: (await new_ticket(db, world.tickets, at=NOW, enterprise=name)).number
        for name in (*MINE, *OTHERS)
    }


@pytest.fixture
async def client(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys,
    world: VisitWorld,
) -> AsyncIterator[httpx.AsyncClient]:  # fmt: skip
    desk = TicketDesk(db, visit_settings(), clock)
    app: FastAPI = create_app(db, redis_client, metrics=CollectorRegistry(), clock=clock,
                              keys=redis_keys, ticket_desk=desk)  # fmt: skip
    async with admin_client(app) as http:
        await sign_in(http, "li-ming")
        yield http


async def _usccs(db: Database) -> dict[str, str]:
    async with db.read() as session:
        return dict((await session.execute(sa.select(Enterprise.name, Enterprise.uscc))).all())


async def _figures(client: httpx.AsyncClient) -> dict[str, Any]:
    """The dashboard's figures as its charts read them (the page's JSON)."""
    dashboard = await client.get("/admin/dashboard")
    assert dashboard.status_code == 200
    found = re.search(r'id="dashboard-data">(.*?)</script>', dashboard.text, re.S)
    assert found is not None
    figures: dict[str, Any] = json.loads(found.group(1))
    return figures


def _shown(html: str, names: tuple[str, ...]) -> set[str]:
    return {name for name in names if name in html}


async def test_an_officer_sees_his_enterprises_and_not_anothers_dossier(
    client: httpx.AsyncClient, db: Database
) -> None:
    listed = await client.get("/admin/enterprises")
    assert listed.status_code == 200
    assert _shown(listed.text, MINE + OTHERS) == set(MINE)
    usccs = await _usccs(db)
    mine = await client.get(f"/admin/enterprises/{usccs['甲机械']}")
    assert mine.status_code == 200
    other = await client.get(f"/admin/enterprises/{usccs['丙软件']}")
    assert other.status_code == 404
    assert "不在您的范围内" in other.text
    assert "丙软件" not in other.text
    messages = await client.get(f"/admin/enterprises/{usccs['乙商贸']}/messages")
    assert messages.status_code == 404


async def test_an_officer_sees_only_his_enterprises_tickets_and_visits(
    client: httpx.AsyncClient, db: Database, tickets: dict[str, str], world: VisitWorld
) -> None:
    usccs = await _usccs(db)
    dossier = await client.get(f"/admin/enterprises/{usccs['甲机械']}")
    assert set(re.findall(r"GD\d+", dossier.text)) == {tickets["甲机械"]}
    assert (await client.get("/admin/tickets")).status_code == 403  # the workbench is not his
    assert (await client.get(f"/admin/tickets/{tickets['丙软件']}")).status_code == 403

    visits = await client.get("/admin/visits")
    ids = {int(x) for x in re.findall(r'<tr id="visit-(\d+)"', visits.text)}
    assert ids == {world.visits[name] for name in MINE}

    figures = await _figures(client)
    assert figures["open"] == len(MINE)  # his enterprises' open tickets, not the city's
    assert figures["compliance"] is None  # the city-wide visit compliance is not his


async def test_an_officer_account_not_linked_sees_no_enterprise(
    client: httpx.AsyncClient, db: Database, tickets: dict[str, str]
) -> None:
    async with db.write() as session:  # an account from before the link (migration 0012)
        await session.execute(sa.update(Staff).where(Staff.username == "li-ming")
                              .values(officer_id=None))  # fmt: skip
    listed = await client.get("/admin/enterprises")
    assert _shown(listed.text, MINE + OTHERS) == set()
    usccs = await _usccs(db)
    assert (await client.get(f"/admin/enterprises/{usccs['甲机械']}")).status_code == 404
    assert (await _figures(client))["open"] == 0
    visits = await client.get("/admin/visits")
    assert visits.status_code == 422
    assert "您的账号未关联联络员" in visits.text
