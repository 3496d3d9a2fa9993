"""Signing in to /admin/: passwords, lockout (an injected clock), sessions in Redis, cookie flags,
CSRF on every POST, sign-out, the password change, roles, and their audit entries."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.store.models import AuditLog, Staff
from hub.tickets.staff import StaffRole
from hub.web.admin import account, audit, shell
from hub.web.admin import routes as admin_routes
from hub.web.admin.context import AdminContext
from hub.web.admin.settings import AdminSettings
from tests.web.admin.admin_support import (
    PASSWORD,
    add_user,
    admin_app,
    admin_client,
    csrf_of,
    post_login,
    sign_in,
)

CSRF_REFUSED = "安全校验未通过"
ACCOUNT = "/admin/account/password"  # a page every role may open


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> FastAPI:
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    await add_user(db, clock, "watcher", StaffRole.VIEWER)
    return admin_app(db, redis_client, clock, redis_keys)


async def _actions(db: Database, username: str) -> list[str]:
    async with db.read() as session:
        rows = await session.scalars(
            sa.select(AuditLog.action).where(AuditLog.target_id == username).order_by(AuditLog.id)
        )
        return list(rows)


async def test_signed_out_pages_redirect_to_the_sign_in_page(app: FastAPI) -> None:
    async with admin_client(app) as client:
        home = await client.get("/admin/")
        audit = await client.get("/admin/audit?actor=boss")
        login = await client.get("/admin/login")

    assert home.status_code == 303
    assert home.headers["location"] == "/admin/login"
    assert audit.status_code == 303
    assert audit.headers["location"] == "/admin/login?next=%2Fadmin%2Faudit%3Factor%3Dboss"
    assert login.status_code == 200
    assert "登录" in login.text
    assert 'name="password"' in login.text


async def test_the_right_password_signs_in_with_a_strict_httponly_cookie(app: FastAPI) -> None:
    async with admin_client(app) as client:
        response = await post_login(client, "boss")
        home = await client.get(ACCOUNT)

    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hub_admin="))
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/admin" in cookie
    assert "Secure" not in cookie  # plain HTTP on an intranet still works
    assert home.status_code == 200
    assert "boss姓名（管理员）" in home.text
    assert 'aria-current="page">修改密码' in home.text
    assert "审计日志" in home.text
    assert "修改密码" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert home.headers["x-frame-options"] == "DENY"
    assert "script-src 'self';" in home.headers["content-security-policy"]


async def test_over_https_the_cookie_is_secure(app: FastAPI) -> None:
    async with admin_client(app, base_url="https://hub") as client:
        response = await post_login(client, "boss")

    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hub_admin="))
    assert "Secure" in cookie


async def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(app: FastAPI) -> None:
    async with admin_client(app) as client:
        back = await post_login(client, "boss", next_path="/admin/audit?actor=boss")
    async with admin_client(app) as client:
        off_site = await post_login(client, "boss", next_path="//evil.example/admin/")

    assert back.headers["location"] == "/admin/audit?actor=boss"
    assert off_site.headers["location"] == "/admin/"


@pytest.mark.parametrize(
    ("username", "password"), [("boss", "wrong-password"), ("nobody", PASSWORD)]
)
async def test_a_wrong_password_or_unknown_user_is_refused_alike(
    app: FastAPI, username: str, password: str
) -> None:
    async with admin_client(app) as client:
        response = await post_login(client, username, password)
        home = await client.get(ACCOUNT)

    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "hub_admin" not in client.cookies
    assert home.status_code == 303


async def test_five_wrong_passwords_lock_the_account_until_the_lock_ends(
    app: FastAPI, db: Database, clock: FixedClock
) -> None:
    async with admin_client(app) as client:
        answers = [await post_login(client, "boss", f"guess-{n}") for n in range(5)]
        right_while_locked = await post_login(client, "boss")
        clock.advance(timedelta(minutes=14, seconds=59))
        still_locked = await post_login(client, "boss")
        clock.advance(timedelta(seconds=1))
        after = await post_login(client, "boss")

    assert [a.status_code for a in answers] == [401, 401, 401, 401, 423]
    assert "再错 1 次账号将被锁定" in answers[3].text
    # Locked at 10:00 Shanghai (the fixture's clock) for 15 minutes.
    assert "账号已锁定至 2026-11-23 10:15" in answers[4].text
    assert right_while_locked.status_code == 423
    assert still_locked.status_code == 423
    assert after.status_code == 303
    actions = await _actions(db, "boss")
    assert actions.count("staff.sign_in_failed") == 4
    assert actions.count("staff.locked") == 1
    assert actions[-1] == "staff.signed_in"
    async with db.read() as session:
        staff = (await session.scalars(sa.select(Staff).where(Staff.username == "boss"))).one()
    assert (staff.failed_logins, staff.locked_until) == (0, None)


async def test_the_lockout_follows_the_settings(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> None:
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    settings = AdminSettings(max_failed_logins=2, lockout_minutes=1)
    app = admin_app(db, redis_client, clock, redis_keys, settings)
    async with admin_client(app) as client:
        first, second = [await post_login(client, "boss", "nope-nope") for _ in range(2)]
        clock.advance(timedelta(minutes=1))
        after = await post_login(client, "boss")

    assert (first.status_code, second.status_code, after.status_code) == (401, 423, 303)


async def test_a_post_without_its_csrf_token_or_with_another_is_refused(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await client.get("/admin/login")
        login_forged = await client.post(
            "/admin/login", data={"username": "boss", "password": PASSWORD, "csrf_token": "x"}
        )
        login_missing = await client.post(
            "/admin/login", data={"username": "boss", "password": PASSWORD}
        )
        await sign_in(client, "boss")
        change = {"old_password": PASSWORD, "new_password": "a-new-secret-1",
                  "confirm_password": "a-new-secret-1"}  # fmt: skip
        missing = await client.post("/admin/account/password", data=change)
        forged = await client.post("/admin/account/password",
                                   data={**change, "csrf_token": "forged-token"})  # fmt: skip
        logout = await client.post("/admin/logout")
        still_in = await client.get(ACCOUNT)

    for refused in (login_forged, login_missing, missing, forged, logout):
        assert refused.status_code == 403
        assert CSRF_REFUSED in refused.text
    assert still_in.status_code == 200
    async with admin_client(app) as client:
        await sign_in(client, "boss")  # the password did not change


async def test_htmx_sends_the_token_in_a_header(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        token = csrf_of((await client.get("/admin/account/password")).text)
        logout = await client.post("/admin/logout", headers={"X-CSRF-Token": token})

    assert logout.status_code == 303


async def test_signing_in_starts_a_new_session_and_ends_the_old(
    app: FastAPI, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    async with admin_client(app) as client:
        client.cookies.set("hub_admin", "planted-by-someone", domain="hub.local", path="/admin")
        await sign_in(client, "boss")
        first = client.cookies["hub_admin"]
        # Signing in again from the same browser (the form's double-submit token set by hand:
        # the form itself redirects a signed-in browser home).
        client.cookies.set("hub_admin_login", "again", domain="hub.local", path="/admin")
        again = await client.post("/admin/login", data={
            "csrf_token": "again", "username": "boss", "password": PASSWORD})  # fmt: skip
        second = client.cookies["hub_admin"]
        client.cookies.set("hub_admin", first, domain="hub.local", path="/admin")
        with_first = await client.get(ACCOUNT)

    assert first != "planted-by-someone"
    assert again.status_code == 303
    assert first != second
    assert with_first.status_code == 303
    # Redis holds the session by the digest of the cookie, never the cookie itself.
    keys = [key async for key in redis_client.scan_iter(match=redis_keys.pattern())]
    assert keys
    assert not any(second in key for key in keys)


async def test_sign_out_ends_the_session(app: FastAPI, db: Database) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        cookie = client.cookies["hub_admin"]
        token = csrf_of((await client.get(ACCOUNT)).text)
        logout = await client.post("/admin/logout", data={"csrf_token": token})
        client.cookies.set("hub_admin", cookie, domain="hub.local", path="/admin")
        replayed = await client.get(ACCOUNT)
        bye = await client.get("/admin/login?bye=1")

    assert logout.status_code == 303
    assert logout.headers["location"] == "/admin/login?bye=1"
    assert replayed.status_code == 303
    assert "您已安全退出" in bye.text
    assert (await _actions(db, "boss"))[-1] == "staff.signed_out"


async def test_a_session_ends_after_its_hours_however_busy(app: FastAPI, clock: FixedClock) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        busy = []
        for _ in range(7 * 4 + 3):  # a page every 15 minutes up to 7:45
            clock.advance(timedelta(minutes=15))
            busy.append((await client.get(ACCOUNT)).status_code)
        clock.advance(timedelta(minutes=14))
        before = await client.get(ACCOUNT)
        clock.advance(timedelta(minutes=1))
        after = await client.get(ACCOUNT)

    assert set(busy) == {200}
    assert before.status_code == 200
    assert after.status_code == 303


async def test_a_session_left_idle_for_half_an_hour_ends(app: FastAPI, clock: FixedClock) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        clock.advance(timedelta(minutes=29))
        kept = await client.get(ACCOUNT)  # a request moves the idle limit on
        clock.advance(timedelta(minutes=29))
        still = await client.get(ACCOUNT)
        clock.advance(timedelta(minutes=30))
        idle = await client.get(ACCOUNT)
        again = await client.get(ACCOUNT)

    assert (kept.status_code, still.status_code) == (200, 200)
    assert idle.status_code == 303
    assert again.status_code == 303  # ended, not merely refused once


async def test_the_idle_limit_follows_the_settings(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> None:
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    app = admin_app(db, redis_client, clock, redis_keys, AdminSettings(idle_minutes=5))
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        clock.advance(timedelta(minutes=4, seconds=59))
        before = await client.get(ACCOUNT)
        clock.advance(timedelta(minutes=5))
        after = await client.get(ACCOUNT)

    assert (before.status_code, after.status_code) == (200, 303)


async def test_an_unknown_username_is_warned_and_locked_like_an_account(
    app: FastAPI, clock: FixedClock
) -> None:
    async with admin_client(app) as client:
        real = [await post_login(client, "boss", f"guess-{n}") for n in range(5)]
        unknown = [await post_login(client, "nobody", f"guess-{n}") for n in range(5)]
        locked = await post_login(client, "nobody", PASSWORD)
        clock.advance(timedelta(minutes=15))
        after_lock = await post_login(client, "nobody", "guess-again")

    assert [r.status_code for r in unknown] == [r.status_code for r in real]
    assert [r.status_code for r in unknown] == [401, 401, 401, 401, 423]
    assert "再错 4 次账号将被锁定" in unknown[0].text
    assert "再错 1 次账号将被锁定" in unknown[3].text
    assert "账号已锁定至 2026-11-23 10:15" in unknown[4].text
    assert locked.status_code == 423
    assert after_lock.status_code == 401
    assert "再错 4 次账号将被锁定" in after_lock.text  # the count starts again


async def test_changing_the_password_needs_the_old_one_and_a_long_new_one(
    app: FastAPI, db: Database
) -> None:
    async def change(client: httpx.AsyncClient, old: str, new: str, again: str) -> httpx.Response:
        token = csrf_of((await client.get("/admin/account/password")).text)
        return await client.post("/admin/account/password", data={
            "csrf_token": token, "old_password": old, "new_password": new,
            "confirm_password": again,
        })  # fmt: skip

    async with admin_client(app) as client:
        await sign_in(client, "watcher")
        wrong_old = await change(client, "not-it-at-all", "brand-new-pass", "brand-new-pass")
        short = await change(client, PASSWORD, "short", "short")
        mismatch = await change(client, PASSWORD, "brand-new-pass", "brand-new-pasS")
        done = await change(client, PASSWORD, "brand-new-pass", "brand-new-pass")
        shown = await client.get(done.headers["location"])
        shown_again = await client.get(done.headers["location"])

    assert (wrong_old.status_code, short.status_code, mismatch.status_code) == (400, 400, 400)
    assert "原密码不正确" in wrong_old.text
    assert "密码至少 10 个字符" in short.text
    assert "两次输入的新密码不一致" in mismatch.text
    assert done.status_code == 303
    assert "密码已修改" in shown.text
    assert "密码已修改" not in shown_again.text  # a flash is shown once
    async with admin_client(app) as client:
        assert (await post_login(client, "watcher")).status_code == 401
        await sign_in(client, "watcher", "brand-new-pass")
    assert "staff.password_changed" in await _actions(db, "watcher")


async def test_a_viewer_cannot_open_the_audit_log(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "watcher")
        home = await client.get(ACCOUNT)
        audit = await client.get("/admin/audit")

    assert home.status_code == 200
    assert "审计日志" not in home.text
    assert audit.status_code == 403
    assert "无权访问" in audit.text


async def test_the_static_assets_come_from_the_hub(app: FastAPI) -> None:
    async with admin_client(app) as client:
        htmx = await client.get("/admin/static/htmx.min.js")
        echarts = await client.get("/admin/static/echarts.min.js")
        css = await client.get("/admin/static/admin.css")
        unknown = await client.get("/admin/static/nothing.js")
        hidden = await client.get("/admin/static/..%2F..%2Fauth.py")

    assert htmx.status_code == 200
    assert htmx.headers["content-type"].startswith("text/javascript")
    assert "htmx" in htmx.text[:2000]
    assert echarts.status_code == 200
    assert len(echarts.content) > 500_000
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert unknown.status_code == 404
    assert hidden.status_code == 404


async def test_signed_in_the_admin_root_opens_the_dashboard_or_the_sections(
    app: FastAPI, db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> None:
    bare = FastAPI()  # the admin alone: no dashboard page mounted
    admin_routes.mount(bare, AdminContext(db, redis_client, clock, keys=redis_keys),
                       page_modules=(account, audit))  # fmt: skip
    async with admin_client(bare) as client:
        await sign_in(client, "watcher")
        sections = await client.get("/admin/")
    async with admin_client(app) as client:
        await sign_in(client, "watcher")
        full = await client.get("/admin/")

    assert sections.status_code == 200
    assert "欢迎，watcher姓名" in sections.text
    assert "审计日志" not in sections.text  # admins only
    if shell.serves_path(app, "/admin/dashboard"):
        assert full.status_code == 303
        assert full.headers["location"] == "/admin/dashboard"


async def test_a_password_change_ends_the_other_sessions_but_not_this_one(app: FastAPI) -> None:
    async with admin_client(app) as laptop, admin_client(app) as phone:
        await sign_in(laptop, "watcher")
        await sign_in(phone, "watcher")
        before = laptop.cookies["hub_admin"]
        token = csrf_of((await laptop.get(ACCOUNT)).text)
        done = await laptop.post(ACCOUNT, data={
            "csrf_token": token, "old_password": PASSWORD, "new_password": "brand-new-pass",
            "confirm_password": "brand-new-pass"})  # fmt: skip
        laptop_after = await laptop.get(ACCOUNT)
        phone_after = await phone.get(ACCOUNT)

    assert done.status_code == 303
    assert laptop.cookies["hub_admin"] != before  # a new id for the new password
    assert laptop_after.status_code == 200
    assert "其他设备上的登录已退出" in laptop_after.text
    assert phone_after.status_code == 303


async def test_an_unknown_admin_page_is_a_chinese_404_and_the_api_keeps_its_own(
    app: FastAPI,
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "watcher")
        missing = await client.get("/admin/no-such-page")
        logout_opened = await client.get("/admin/logout")
        api_missing = await client.get("/api/v1/no-such-thing")

    assert missing.status_code == 404
    assert "您访问的页面不存在" in missing.text
    assert logout_opened.status_code == 405
    assert "此地址不能直接打开" in logout_opened.text
    assert api_missing.status_code == 404
    assert api_missing.headers["content-type"].startswith("application/json")


async def test_htmx_is_told_to_load_the_sign_in_page(app: FastAPI) -> None:
    async with admin_client(app) as client:
        response = await client.get("/admin/audit", headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert response.headers["hx-redirect"] == "/admin/login?next=%2Fadmin%2Faudit"
