"""Browser tests: the real hub web app on a loopback port, driven by Debian's Chromium.

``live_hub`` serves the app as ``hub run`` builds it (``hub.app.processes.web_app`` over
``open_components``: a migrated SQLite file, the test Redis 7 under a key prefix of its own,
the sandbox channel) with demo data (``hub demo``'s loader: departments, officers, staff,
enterprises) and a fixed clock, Monday 2026-11-23 10:00 in Shanghai, so nothing depends on the
hour the tests run. uvicorn serves it on a socket bound to a free 127.0.0.1 port.

``browser`` is Playwright driving ``/usr/bin/chromium`` (``make test`` installs Debian's
package; Playwright never downloads a browser). Both are shared by the package's tests and
run in the package's event loop: Playwright's sync API marks its loop as running in the main
thread, which would break every async test after it, so the async API is used, and the tests
here are moved to the package loop by :func:`pytest_collection_modifyitems`. An async fixture
of a test here needs ``@pytest_asyncio.fixture(loop_scope="package")`` too (the database and
Redis connections belong to that loop). The hub is shared by the package's tests: a test that
changes data makes its own (``new_staff``, its own enterprise or reply) and asserts on it.

Every demo account (``demo-admin``, ``demo-handler``, ...: ``hub demo``'s staff) has the
demo's password (:data:`STAFF_PASSWORD`, set by ``hub demo``'s loader); :func:`sign_in` signs a
page in through the sign-in form, and :func:`new_staff` makes an account of a test's own (for a
test that changes it, e.g. locks it).

``page`` is a fresh browser context (no cookies) per test; :func:`screenshot` writes a PNG to
``var/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from playwright.async_api import Browser, Page, async_playwright, expect
from pytest_asyncio import is_async_test

from hub.app.config import load_settings
from hub.app.processes import web_app
from hub.app.runtime import PROJECT_ROOT, Components, open_components
from hub.core.clock import FixedClock
from hub.devtools.demo_data import DEMO_PASSWORD
from hub.devtools.demo_load import load_demo_into
from hub.tickets.staff import NewStaff, StaffRole, add_staff
from hub.tickets.staff_passwords import set_password
from hub.web.server import web_server
from tests.conftest import required_env

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # root in CI's container: Chromium's sandbox needs user namespaces
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Monday 2026-11-23 10:00 in Shanghai: a working day, outside quiet hours.
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
#: Demo enterprises loaded (``hub demo`` loads 300; a few dozen fill every page).
ENTERPRISES = 40
SCREENSHOTS = PROJECT_ROOT / "var" / "screenshots"
#: How long a page action or an expectation waits before the test fails.
TIMEOUT_MS = 10_000
HERE = Path(__file__).resolve().parent
#: Every demo account's password (``hub demo``'s), and that of :func:`new_staff`'s accounts.
STAFF_PASSWORD = DEMO_PASSWORD
ACTOR = "browser-test"
LOOP = pytest.mark.asyncio(loop_scope="package")

# On a loaded CI machine a page can take longer than expect()'s default 5 s.
expect.set_options(timeout=TIMEOUT_MS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this package's async tests in the package's loop, where the server and browser live."""
    for item in items:
        if is_async_test(item) and HERE in Path(item.path).parents:
            item.add_marker(LOOP, append=False)


@dataclass(frozen=True)
class LiveHub:
    """The served hub: its address and its open components (same loop as the tests)."""

    url: str
    hub: Components
    clock: FixedClock
    #: Seconds from the fixture's start until /healthz answered 200.
    started_in: float


def _config(folder: Path, sqlite_template: Path) -> Path:
    db_path = folder / "hub.db"
    shutil.copy(sqlite_template, db_path)
    config: dict[str, Any] = {
        "hub": {"data_dir": str(folder / "var")},
        "storage": {"url": f"sqlite+aiosqlite:///{db_path}"},
        "redis": {
            "url": required_env("HUB_TEST_REDIS_URL"),
            "key_prefix": f"browser-{uuid.uuid4().hex[:12]}",
        },
        "channels": {"default": "sandbox"},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


def _loopback_socket() -> socket.socket:
    """A listening socket on a free loopback port (bound here: no race for the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


async def _wait_healthy(url: str, server_task: asyncio.Task[None]) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2.0) as client:
        for _ in range(200):
            if server_task.done():
                server_task.result()  # raises the server's error
                pytest.fail("the hub's web server stopped before it answered /healthz")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    pytest.fail(f"{url}/healthz did not answer 200 within 10 s")


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def live_hub(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LiveHub]:
    """The hub's web app with demo data, served on 127.0.0.1 until the package's tests end."""
    started = time.perf_counter()
    folder = tmp_path_factory.mktemp("live-hub")
    settings = load_settings(_config(folder, sqlite_template))
    clock = FixedClock(NOW)
    async with open_components(settings, clock=clock) as hub:
        await load_demo_into(hub.db, folder / "demo", clock, enterprises=ENTERPRISES,
                             tz=settings.hub.tz, tiers=settings.tiers)  # fmt: skip
        sock = _loopback_socket()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        server = web_server(web_app(settings, hub, None), host="127.0.0.1", port=0,
                            log_level="warning")  # fmt: skip
        task = asyncio.create_task(server.serve(sockets=[sock]), name="browser-hub")
        try:
            await _wait_healthy(url, task)
            yield LiveHub(url, hub, clock, time.perf_counter() - started)
        finally:
            server.should_exit = True
            await task
            sock.close()
            doomed = [k async for k in hub.redis.scan_iter(match=hub.keys.pattern(), count=1000)]
            if doomed:
                await hub.redis.unlink(*doomed)


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, launched once for the package."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="package")
async def page(browser: Browser, live_hub: LiveHub) -> AsyncIterator[Page]:
    """A new tab in a new context (no cookies, no storage), at the hub's address."""
    context = await browser.new_context(
        base_url=live_hub.url, locale="zh-CN", timezone_id="Asia/Shanghai",
        viewport={"width": 1280, "height": 800},
    )  # fmt: skip
    context.set_default_timeout(TIMEOUT_MS)
    tab = await context.new_page()
    try:
        yield tab
    finally:
        await context.close()


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """The page (the whole of it, or the window's view) as ``var/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path


async def sign_in(page: Page, username: str, password: str = STAFF_PASSWORD) -> None:
    """Sign ``page`` in through the sign-in form, as a person does; ends on the page the admin
    opens after sign-in (the role's home)."""
    await page.goto("/admin/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(password)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(lambda url: "/admin/login" not in url)


async def new_staff(live: LiveHub, role: StaffRole, *, department: str | None = None) -> str:
    """A new account of ``role`` with :data:`STAFF_PASSWORD`, for one test; its username."""
    username = f"browser-{role.value}-{uuid.uuid4().hex[:8]}"
    account = NewStaff(username, "测试用户", role, department=department)
    await add_staff(live.hub.db, live.clock, account, actor=ACTOR)
    await set_password(live.hub.db, live.clock, username, STAFF_PASSWORD, actor=ACTOR,
                       min_length=len(STAFF_PASSWORD))  # fmt: skip
    return username
