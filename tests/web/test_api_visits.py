"""``GET /api/v1/visits``: the visits with their state, filtered by period, officer and state,
scoped to the caller's enterprises; a bad query is a 4xx naming the value, never a 5xx."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import VisitStatus
from hub.store.db import Database
from hub.store.models import Enterprise, Officer, Visit
from hub.visits.plan import plan_visits
from hub.visits.settings import default_tiers
from tests.visits.plan_support import calendar_2027
from tests.web.api_support import World, api_client, seed_world

NOW = FixedClock(datetime(2027, 2, 1, 10, 0, tzinfo=SHANGHAI))


@pytest.fixture
async def world(any_db: Database, clock: FixedClock, tmp_path: Path) -> World:
    """tests/seed.py's registry, every enterprise with an officer (乙商贸 and 丁餐饮: LL002),
    planned on 2027-01-04: 甲机械 (key, 2027Q1), 乙商贸 and 丙软件 (general, 2027H1), 丁餐饮
    (ordinary, 2027); 戊建筑 is exiting. 甲机械's visit is done."""
    world = await seed_world(any_db, clock, tmp_path)
    async with any_db.write() as session:
        ll002 = await session.scalar(sa.select(Officer.id).where(Officer.code == "LL002"))
        await session.execute(
            sa.update(Enterprise).where(Enterprise.officer_id.is_(None)).values(officer_id=ll002)
        )
        await plan_visits(
            session, tiers=default_tiers(), calendar=calendar_2027(), today=date(2027, 1, 4)
        )
        await session.execute(
            sa.update(Visit)
            .where(Visit.enterprise_id == world.enterprises["甲机械"])
            .values(status=VisitStatus.DONE)
        )
    return world


async def listed(
    client: httpx.AsyncClient, world: World, username: str, query: str = ""
) -> list[dict]:
    response = await client.get(f"/api/v1/visits{query}", headers=world.auth(username))
    assert response.status_code == 200, response.text
    return list(response.json())


def names(visits: list[dict]) -> set[str]:
    return {v["enterprise"]["name"] for v in visits}


async def test_visits_list_with_their_state_and_filters(world: World, any_db: Database) -> None:
    async with api_client(any_db, NOW) as client:
        everything = await listed(client, world, "admin")
        by_officer = await listed(client, world, "admin", "?officer=LL001")
        done = await listed(client, world, "admin", "?state=done")
        due = await listed(client, world, "admin", "?state=待走访")
        year = await listed(client, world, "admin", "?period=2027")
        blank = await listed(client, world, "admin", "?period=&state=&officer=")

    assert names(everything) == {"甲机械", "乙商贸", "丙软件", "丁餐饮"}
    [jia] = by_officer
    assert jia["enterprise"]["id"] == world.enterprises["甲机械"]
    assert jia["officer"]["code"] == "LL001"
    assert (jia["tier"], jia["tier_label"], jia["period"]) == ("key", "重点", "2027Q1")
    assert (jia["state"], jia["state_label"]) == ("done", "已走访")
    assert date.fromisoformat(jia["due_on"]) >= date(2027, 1, 4)
    assert names(done) == {"甲机械"}
    assert names(due) == {"乙商贸", "丙软件", "丁餐饮"}
    assert names(year) == names(everything)
    assert blank == everything


async def test_a_scoped_reader_sees_only_their_enterprises_visits(
    world: World, any_db: Database
) -> None:
    async with api_client(any_db, NOW) as client:
        commerce = await listed(client, world, "swj_handler")  # 批发和零售业, 住宿和餐饮业
        longsha = await listed(client, world, "longsha_viewer")

    assert names(commerce) == {"乙商贸", "丁餐饮"}
    assert names(longsha) == {"甲机械", "丙软件"}


@pytest.mark.parametrize(
    ("query", "status", "named"),
    [
        ("?period=2027Q9", 422, "period"),
        ("?period=next", 422, "period"),
        ("?period=0000", 422, "period"),
        ("?state=late", 422, "late"),
        ("?officer=LL404", 404, "LL404"),
        ("?limit=0", 422, "limit"),
    ],
)
async def test_a_bad_query_is_a_4xx_naming_it(
    world: World, any_db: Database, query: str, status: int, named: str
) -> None:
    async with api_client(any_db, NOW) as client:
        response = await client.get(f"/api/v1/visits{query}", headers=world.auth("admin"))

    assert response.status_code == status, response.text
    assert named in response.text


async def test_visits_need_a_credential(world: World, any_db: Database) -> None:
    async with api_client(any_db, NOW) as client:
        response = await client.get("/api/v1/visits")

    assert response.status_code == 401
