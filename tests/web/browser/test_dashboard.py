"""The dashboard in Chromium: ECharts draws its charts (canvas) from the page's own figures, the
quiet-hours banner shows at 22:00, and without JavaScript the same figures are in tables."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import Browser, Page, expect

from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.store.models import Enterprise, Message
from tests.web.browser.conftest import NOW, STAFF_PASSWORD, TIMEOUT_MS, LiveHub, screenshot

EVENING = NOW + timedelta(hours=12)  # Monday 22:00 in Shanghai: quiet hours
RELEASE = NOW + timedelta(hours=22)  # Tuesday 08:00
BANNER = "静默时段：3 条消息将于 08:00 发送"
CHARTS = ("chart-sends", "chart-ratings", "chart-ontime", "chart-tickets", "chart-visits")


@pytest_asyncio.fixture(loop_scope="package")
async def evening(live_hub: LiveHub) -> AsyncIterator[LiveHub]:
    """The hub at 22:00 with messages sent today and three held by quiet hours; the clock and
    the rows are put back afterwards (the served hub is shared by the package's tests)."""
    keys = [f"dashboard-{uuid.uuid4().hex}" for _ in range(9)]
    async with live_hub.hub.db.write() as s:
        enterprise = await s.scalar(sa.select(Enterprise.id).order_by(Enterprise.id).limit(1))
        statuses = [MessageStatus.DELIVERED] * 4 + [MessageStatus.SENT, MessageStatus.FAILED]
        statuses += [MessageStatus.HELD] * 3
        for key, status in zip(keys, statuses, strict=True):
            held = status is MessageStatus.HELD
            s.add(Message(
                idempotency_key=key, kind=MessageKind.NOTICE, enterprise_id=enterprise,
                channel=ChannelName.SANDBOX, address="+8613900009001", status=status,
                status_reason="免打扰时段（21:00–08:00），将于 11-24 08:00 发送" if held else None,
                body="通知", params={}, next_attempt_at=RELEASE if held else None,
                created_at=NOW, updated_at=NOW,
            ))  # fmt: skip
    live_hub.clock.set(EVENING)
    try:
        yield live_hub
    finally:
        live_hub.clock.set(NOW)
        async with live_hub.hub.db.write() as s:
            await s.execute(sa.delete(Message).where(Message.idempotency_key.in_(keys)))


async def _sign_in_to_the_dashboard(page: Page, username: str) -> None:
    await page.goto("/admin/login")
    await page.get_by_label("用户名").fill(username)
    await page.get_by_label("密码").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()
    await page.goto("/admin/dashboard")


async def test_the_dashboard_draws_its_charts_under_the_quiet_hours_banner(
    page: Page, evening: LiveHub
) -> None:
    await _sign_in_to_the_dashboard(page, "demo-admin")

    await expect(page.get_by_role("heading", name="仪表盘")).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text="静默时段")).to_have_text(BANNER)
    await expect(page.locator("#chart-sends canvas")).to_be_visible()
    await expect(page.locator("#chart-ratings canvas")).to_be_visible()
    # The visit count runs in the background on the first view; the next view shows it.
    for _ in range(TIMEOUT_MS // 500):
        if await page.locator("#chart-visits canvas").count():
            break
        await page.wait_for_timeout(500)
        await page.reload()
    await expect(page.locator("#chart-visits canvas")).to_be_visible()
    await expect(page.locator(".card.figure").first).to_contain_text("今天发送")
    await expect(page.locator(".card.figure").first).to_contain_text("送达率 66.7%")
    await screenshot(page, "admin-dashboard")


async def test_without_javascript_the_figures_are_tables(
    browser: Browser, evening: LiveHub
) -> None:
    context = await browser.new_context(
        base_url=evening.url, locale="zh-CN", java_script_enabled=False,
        viewport={"width": 1280, "height": 800},
    )  # fmt: skip
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = await context.new_page()
        await _sign_in_to_the_dashboard(page, "demo-admin")

        await expect(page.get_by_text(BANNER)).to_be_visible()
        for chart in CHARTS[:4]:
            await expect(page.locator(f"#{chart}")).to_be_hidden()  # empty: nothing drawn
        sends = page.locator("table.figures").first
        await expect(sends.locator("tr", has_text="今天").first).to_contain_text("沙箱")
        await screenshot(page, "admin-dashboard-no-js")
    finally:
        await context.close()
