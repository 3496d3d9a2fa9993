"""The staff accounts page: admins see who is locked and reset a password (lifting the lock,
ending the account's sessions, audited with the admin as actor); a viewer can neither open it
nor POST to it, even with a valid CSRF token."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.store.models import AuditLog
from hub.tickets.staff import StaffRole
from tests.web.admin.admin_support import (
    PASSWORD,
    add_user,
    admin_app,
    admin_client,
    csrf_of,
    post_login,
    sign_in,
)

ACCOUNT = "/admin/account/password"
NEW = "reset-by-the-admin"


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> FastAPI:
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    await add_user(db, clock, "watcher", StaffRole.VIEWER)
    return admin_app(db, redis_client, clock, redis_keys)


async def test_an_admin_resets_a_locked_password_and_ends_its_sessions(
    app: FastAPI, db: Database
) -> None:
    async with admin_client(app) as watcher:
        await sign_in(watcher, "watcher")
        async with admin_client(app) as guesser:
            for n in range(5):
                await post_login(guesser, "watcher", f"guess-number-{n}")
        async with admin_client(app) as boss:
            await sign_in(boss, "boss")
            page = await boss.get("/admin/staff")
            reset = await boss.post("/admin/staff/watcher/password", data={
                "csrf_token": csrf_of(page.text), "new_password": NEW,
                "confirm_password": NEW})  # fmt: skip
            after = await boss.get("/admin/staff")
        watcher_after = await watcher.get(ACCOUNT)

    assert page.status_code == 200
    assert "已锁定至 11-23 10:15" in page.text
    assert reset.status_code == 303
    assert "已重置 watcher 的密码" in after.text
    assert "已锁定至" not in after.text
    assert watcher_after.status_code == 303  # the session begun with the old password ended
    async with admin_client(app) as client:
        assert (await post_login(client, "watcher")).status_code == 401
        await sign_in(client, "watcher", NEW)
    async with db.read() as session:
        entry = (await session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "staff.password_set",
                                      AuditLog.target_id == "watcher")
            .order_by(AuditLog.id.desc()))).first()  # fmt: skip
    assert entry is not None
    assert entry.actor == "boss"


async def test_a_short_or_mismatched_reset_is_refused(app: FastAPI) -> None:
    async with admin_client(app) as boss:
        await sign_in(boss, "boss")
        token = csrf_of((await boss.get("/admin/staff")).text)
        short = await boss.post("/admin/staff/watcher/password", data={
            "csrf_token": token, "new_password": "short", "confirm_password": "short"})  # fmt: skip
        mismatch = await boss.post("/admin/staff/watcher/password", data={
            "csrf_token": token, "new_password": NEW, "confirm_password": NEW + "x"})  # fmt: skip
        unknown = await boss.post("/admin/staff/nobody/password", data={
            "csrf_token": token, "new_password": NEW, "confirm_password": NEW})  # fmt: skip

    assert short.status_code == 400
    assert "密码至少 10 个字符" in short.text
    assert mismatch.status_code == 400
    assert unknown.status_code == 400
    assert "没有用户名为 nobody 的工作人员" in unknown.text


async def test_a_viewer_cannot_open_the_page_nor_post_a_reset(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "watcher")
        token = csrf_of((await client.get(ACCOUNT)).text)
        page = await client.get("/admin/staff")
        forged = await client.post("/admin/staff/boss/password", data={
            "csrf_token": token, "new_password": NEW, "confirm_password": NEW})  # fmt: skip

    assert page.status_code == 403
    assert forged.status_code == 403
    assert "无权访问" in forged.text
    async with admin_client(app) as client:
        await sign_in(client, "boss", PASSWORD)  # unchanged
