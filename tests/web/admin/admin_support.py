"""What the web admin tests share: the app with the admin mounted, staff with passwords, and a
browser-like client that signs in through the real form (its CSRF token and cookies).

Use: ``app = admin_app(db, redis_client, clock, redis_keys)``; ``await add_user(db, clock,
"admin", StaffRole.ADMIN)``; ``async with admin_client(app) as client: await sign_in(client,
"admin")``; then ``csrf_of(page_html)`` for the token a POST needs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.tickets.staff import NewStaff, StaffRole, add_staff
from hub.tickets.staff_passwords import set_password
from hub.web.admin.settings import AdminSettings
from hub.web.app import create_app

PASSWORD = "correct-horse-42"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def admin_app(
    db: Database, redis: Redis, clock: FixedClock, keys: RedisKeys,
    settings: AdminSettings | None = None,
) -> FastAPI:  # fmt: skip
    """The hub's app (the admin mounted), sessions under the test's Redis prefix."""
    return create_app(db, redis, metrics=CollectorRegistry(), clock=clock, keys=keys,
                      admin_settings=settings)  # fmt: skip


async def add_user(
    db: Database, clock: FixedClock, username: str, role: StaffRole, *,
    department: str | None = None, password: str = PASSWORD, officer: str | None = None,
) -> None:  # fmt: skip
    """A staff account with a password (``department``, ``officer``: codes already imported)."""
    new = NewStaff(username, f"{username}姓名", role, department, officer=officer)
    await add_staff(db, clock, new, actor="test")
    await set_password(db, clock, username, password, actor="test", min_length=8)


@contextlib.asynccontextmanager
async def admin_client(
    app: FastAPI, base_url: str = "http://hub"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client that keeps cookies and does not follow redirects (tests look at them)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def csrf_of(html: str) -> str:
    """The CSRF token in a page's form."""
    found = _CSRF.search(html)
    assert found is not None, "no csrf_token field on the page"
    return found.group(1)


async def post_login(
    client: httpx.AsyncClient, username: str, password: str = PASSWORD, next_path: str = ""
) -> httpx.Response:
    """The sign-in form filled in and sent, as a browser does (GET the form, then POST it)."""
    form = await client.get("/admin/login")
    return await client.post("/admin/login", data={
        "csrf_token": csrf_of(form.text), "username": username, "password": password,
        "next": next_path,
    })  # fmt: skip


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> None:
    """Sign in (asserting it worked): the client then holds the session cookie."""
    response = await post_login(client, username, password)
    assert response.status_code == 303, response.text
    assert "hub_admin" in client.cookies
