"""The staff page links an officer's account to its liaison officer (admins only, audited with
the admin as actor); an unknown code is refused in Chinese on the page; the account then sees
that officer's enterprises."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.store.models import AuditLog
from hub.tickets.staff import StaffRole, list_staff
from tests.seed import seed_registry
from tests.web.admin.admin_support import add_user, admin_app, admin_client, csrf_of, sign_in


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> FastAPI:
    await seed_registry(db)  # officers LL001 (甲机械, 戊建筑) and LL002 (丙软件)
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    await add_user(db, clock, "li-ming", StaffRole.OFFICER, officer="LL002")
    await add_user(db, clock, "watcher", StaffRole.VIEWER)
    return admin_app(db, redis_client, clock, redis_keys)


async def test_an_admin_links_an_officer_account_and_it_is_audited(
    app: FastAPI, db: Database
) -> None:
    async with admin_client(app) as boss:
        await sign_in(boss, "boss")
        page = await boss.get("/admin/staff")
        token = csrf_of(page.text)
        unknown = await boss.post("/admin/staff/li-ming/officer",
                                  data={"csrf_token": token, "officer": "LL404"})  # fmt: skip
        viewer = await boss.post("/admin/staff/watcher/officer",
                                 data={"csrf_token": token, "officer": "LL001"})  # fmt: skip
        linked = await boss.post("/admin/staff/li-ming/officer",
                                 data={"csrf_token": token, "officer": "LL001"})  # fmt: skip
        after = await boss.get("/admin/staff")

    assert "张丽娟（LL002）" in page.text
    assert 'action="/admin/staff/li-ming/officer"' in page.text
    assert 'action="/admin/staff/watcher/officer"' not in page.text  # officers only
    assert unknown.status_code == 400
    assert "没有编码为 LL404 的联络员" in unknown.text
    assert viewer.status_code == 400
    assert "只有联络员（officer）账号可关联联络员" in viewer.text
    assert linked.status_code == 303
    assert "已将 li-ming 关联到联络员 李明（LL001）" in after.text
    views = {v.username: v for v in await list_staff(db)}
    assert views["li-ming"].officer_code == "LL001"
    async with db.read() as session:
        entry = (await session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "staff.officer_linked")
        )).one()  # fmt: skip
    assert (entry.actor, entry.target_id) == ("boss", "li-ming")
    assert entry.detail == {"officer": "LL001", "before": "LL002"}

    async with admin_client(app) as officer:  # he now sees LL001's enterprises, not LL002's
        await sign_in(officer, "li-ming")
        listed = await officer.get("/admin/enterprises")
    assert "甲机械" in listed.text
    assert "丙软件" not in listed.text


async def test_a_viewer_cannot_link_an_officer(app: FastAPI, db: Database) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "watcher")
        token = csrf_of((await client.get("/admin/account/password")).text)
        forged = await client.post("/admin/staff/li-ming/officer",
                                   data={"csrf_token": token, "officer": "LL001"})  # fmt: skip

    assert forged.status_code == 403
    views = {v.username: v for v in await list_staff(db)}
    assert views["li-ming"].officer_code == "LL002"
