"""The visits page (/admin/visits): the list with its filters, a visit's page, and its forms
(done with problems -> tickets, not done, the agreed time) through hub/visits/outcome.py as the
API records them, audit-logged; CSRF; a viewer reads only; refusals in Chinese, never a 5xx."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import VisitStatus
from hub.store.db import Database
from hub.store.models import AuditLog, Staff, Ticket, Visit
from hub.tickets.desk import TicketDesk
from hub.tickets.staff import StaffRole
from hub.tickets.staff_passwords import set_password
from hub.visits.outcome import record_not_done
from hub.visits.status import VisitState, list_visits
from hub.web.app import create_app
from tests.visits.record_support import NOW, VisitWorld, seed_visit_world, visit_settings
from tests.web.admin.admin_support import PASSWORD, add_user, admin_client, csrf_of, sign_in


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> VisitWorld:
    clock.set(NOW)  # Monday 2027-03-01 10:00 Shanghai; the 2027Q1 visits are open
    seeded = await seed_visit_world(db)
    for username in ("admin", "viewer", "dispatcher"):
        await set_password(db, clock, username, PASSWORD, actor="test", min_length=8)
    return seeded


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys,
    world: VisitWorld,
) -> FastAPI:  # fmt: skip
    # The deployment's ticket settings (routing rules, 2027 entered) reach the page by the desk.
    desk = TicketDesk(db, visit_settings(), clock)
    return create_app(db, redis_client, metrics=CollectorRegistry(), clock=clock,
                      keys=redis_keys, ticket_desk=desk)  # fmt: skip


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(app) as http:
        yield http


def _ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr id="visit-(\d+)"', html)]


async def _post(
    client: httpx.AsyncClient, visit_id: int, step: str, **fields: str
) -> httpx.Response:
    page = await client.get(f"/admin/visits/{visit_id}")
    return await client.post(
        f"/admin/visits/{visit_id}/{step}", data={"csrf_token": csrf_of(page.text), **fields}
    )


async def _status_of(db: Database, visit_id: int) -> VisitStatus:
    async with db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    return visit.status


def _refused(response: httpx.Response, status: int, text: str) -> None:
    """Refused with ``status``, the Chinese reason on the page."""
    assert response.status_code == status
    assert text in response.text


async def test_the_list_and_its_filters(
    client: httpx.AsyncClient, db: Database, world: VisitWorld
) -> None:
    async with db.write() as session:
        visit = await session.get(Visit, world.visits["丙软件"])
        assert visit is not None
        visit.slots = ["2027-03-02T01:30:00+00:00", "2027-03-03T06:00:00+00:00"]
    await sign_in(client, "viewer")
    everything = await client.get("/admin/visits")
    assert everything.status_code == 200
    assert sorted(_ids(everything.text)) == sorted(world.visits.values())
    assert "已确认" in everything.text
    assert re.search(r'<a href="/admin/enterprises/\d{8}\w{10}">甲机械</a>', everything.text)
    assert ">走访</a>" in everything.text  # the nav entry
    one_officer = await client.get("/admin/visits", params={"officer": "ll002"})
    assert _ids(one_officer.text) == [world.visits["丙软件"]]
    # the offered slots, in the hub's zone, in the order the enterprise answers them
    assert "1. 2027-03-02（周二）09:30" in one_officer.text
    assert "2. 2027-03-03（周三）14:00" in one_officer.text
    quarter = await client.get("/admin/visits", params={"period": "2027Q1", "state": "confirmed"})
    assert len(_ids(quarter.text)) == 3
    assert _ids((await client.get("/admin/visits", params={"state": "done"})).text) == []
    assert _ids((await client.get("/admin/visits", params={"period": "2027Q2"})).text) == []
    unknown = await client.get("/admin/visits", params={"officer": "XX999"})
    _refused(unknown, 422, "没有编码为“XX999”的联络员")
    bad_period = await client.get("/admin/visits", params={"period": "2027Q9"})
    assert bad_period.status_code == 422
    bad_state = await client.get("/admin/visits", params={"state": "nonsense"})
    assert bad_state.status_code == 422


async def test_done_with_a_problem_opens_a_ticket_shown_with_its_number(
    client: httpx.AsyncClient, db: Database, world: VisitWorld
) -> None:
    await sign_in(client, "admin")
    visit_id = world.visits["甲机械"]
    response = await _post(client, visit_id, "done", notes="座谈顺利", problem_0="厂区停电频繁",
                           department_0="FGW", problem_1="", department_1="")  # fmt: skip
    assert response.status_code == 303, response.text
    async with db.read() as session:
        ticket = (await session.scalars(sa.select(Ticket))).one()
        visit = await session.get(Visit, visit_id)
        entry = (await session.scalars(sa.select(AuditLog).where(
            AuditLog.action == "visit.done"))).one()  # fmt: skip
    assert ticket.source_visit_id == visit_id
    assert visit is not None
    assert visit.status is VisitStatus.DONE
    assert visit.notes == "座谈顺利"
    assert entry.actor == "admin"
    assert entry.detail["tickets"] == [ticket.number]
    page = await client.get(f"/admin/visits/{visit_id}")
    assert f'<a href="/admin/tickets/{ticket.number}">{ticket.number}</a>' in page.text
    assert f"问题已转为工单 {ticket.number}" in page.text  # the flash
    assert "已走访" in page.text
    assert 'id="form-done"' not in page.text
    # The completion's record in words, its time in Beijing (the clock's Monday 10:00), no JSON.
    assert "<dt>完成登记</dt><dd><div>时间：2027-03-01 10:00；登记人：admin</div></dd>" in page.text
    assert "+00:00" not in page.text
    again = await _post(client, visit_id, "not-done", reason="企业停产")
    _refused(again, 409, "已")


async def test_not_done_keeps_the_visit_due(
    client: httpx.AsyncClient, db: Database, world: VisitWorld
) -> None:
    await sign_in(client, "dispatcher")
    visit_id = world.visits["丙软件"]
    response = await _post(client, visit_id, "not-done", reason="企业负责人出差")
    assert response.status_code == 303
    assert await _status_of(db, visit_id) is VisitStatus.PLANNED
    # Listed missed (the period still open: recorded not done) until proposed again.
    assert _ids((await client.get("/admin/visits", params={"state": "missed"})).text) == [visit_id]
    assert visit_id not in _ids((await client.get("/admin/visits", params={"state": "due"})).text)
    page = await client.get(f"/admin/visits/{visit_id}")
    assert "企业负责人出差" in page.text
    assert 'id="form-schedule"' in page.text
    blank = await _post(client, visit_id, "not-done", reason=" ")
    _refused(blank, 409, "未完成原因")


async def test_an_agreed_time_on_a_holiday_is_refused_in_chinese(
    client: httpx.AsyncClient, db: Database, world: VisitWorld
) -> None:
    await sign_in(client, "admin")
    visit_id = world.visits["戊建筑"]
    holiday = await _post(client, visit_id, "schedule", at="2027-04-05T09:30")
    _refused(holiday, 409, "是休息日，请约在工作日")
    garbled = await _post(client, visit_id, "schedule", at="下周")
    _refused(garbled, 409, "无法识别")
    agreed = await _post(client, visit_id, "schedule", at="2027-04-06T09:30")
    assert agreed.status_code == 303
    page = await client.get(f"/admin/visits/{visit_id}")
    assert "2027-04-06（周二）09:30" in page.text


async def test_a_form_without_its_csrf_token_is_refused(
    client: httpx.AsyncClient, db: Database, world: VisitWorld
) -> None:
    await sign_in(client, "admin")
    visit_id = world.visits["甲机械"]
    refused = await client.post(f"/admin/visits/{visit_id}/not-done", data={"reason": "伪造"})
    assert refused.status_code == 403
    assert await _status_of(db, visit_id) is VisitStatus.CONFIRMED


async def test_a_viewer_reads_but_cannot_record(
    client: httpx.AsyncClient, db: Database, world: VisitWorld
) -> None:
    await sign_in(client, "viewer")
    visit_id = world.visits["甲机械"]
    page = await client.get(f"/admin/visits/{visit_id}")
    assert page.status_code == 200
    assert 'id="read-only"' in page.text
    assert 'id="form-done"' not in page.text
    refused = await client.post(
        f"/admin/visits/{visit_id}/done", data={"csrf_token": csrf_of(page.text), "notes": "x"}
    )
    _refused(refused, 403, "只能查看走访")
    assert await _status_of(db, visit_id) is VisitStatus.CONFIRMED
    for odd in ("abc", "9" * 30):
        _refused(await client.get(f"/admin/visits/{odd}"), 404, "的走访")
    missing = await client.get("/admin/visits/999999")
    _refused(missing, 404, "没有编号为 999999 的走访")


async def test_an_officer_sees_only_his_own_visits(
    client: httpx.AsyncClient, db: Database, clock: FixedClock, world: VisitWorld
) -> None:
    # An officer's account is linked to his officer row (Staff.officer_id), whatever its name.
    await add_user(db, clock, "li-ming", StaffRole.OFFICER, officer="LL001")
    await sign_in(client, "li-ming")
    own = {world.visits["甲机械"], world.visits["戊建筑"]}
    listed = await client.get("/admin/visits", params={"officer": "LL002"})  # ignored for him
    assert set(_ids(listed.text)) == own
    assert 'id="own-officer"' in listed.text
    _refused(await client.get(f"/admin/visits/{world.visits['丙软件']}"), 404, "不在您的范围内")
    mine = await client.get(f"/admin/visits/{world.visits['甲机械']}")
    assert mine.status_code == 200
    assert 'id="read-only"' in mine.text  # officers read, as the API lets them


async def test_an_officer_account_linked_to_no_officer_sees_no_visit(
    client: httpx.AsyncClient, db: Database, clock: FixedClock, world: VisitWorld
) -> None:
    await add_user(db, clock, "fu-xiaoli", StaffRole.OFFICER, officer="LL002")
    async with db.write() as session:  # an account from before the link (migration 0012)
        await session.execute(
            sa.update(Staff).where(Staff.username == "fu-xiaoli").values(officer_id=None)
        )
    await sign_in(client, "fu-xiaoli")
    listed = await client.get("/admin/visits")
    _refused(listed, 422, "您的账号未关联联络员")
    assert _ids(listed.text) == []


async def test_the_missed_filter_reads_not_done_on_either_database(any_db: Database) -> None:
    # list_visits narrows state=missed in SQL (details.not_done: ->> on PostgreSQL).
    seeded = await seed_visit_world(any_db)
    visit_id = seeded.visits["丙软件"]
    async with any_db.write() as session:
        await record_not_done(session, visit_id, reason="企业停产", by="admin", now=NOW)
    today = NOW.date()
    async with any_db.read() as session:
        missed = await list_visits(session, period=None, officer_code=None,
                                   state=VisitState.MISSED, today=today, limit=1)  # fmt: skip
        later = await list_visits(session, period=None, officer_code=None,
                                  state=VisitState.MISSED, today=date(2027, 4, 1))  # fmt: skip
    assert [r.visit_id for r in missed] == [visit_id]
    assert {r.visit_id for r in later} == set(seeded.visits.values())
