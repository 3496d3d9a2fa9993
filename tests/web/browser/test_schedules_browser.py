"""The schedules pages in Chromium: create a schedule from a preset (the audience counted live as
it is typed), see its next fire times, dry run it, run it, and find the run in its history."""

from __future__ import annotations

import uuid

from playwright.async_api import Page, expect

from tests.web.browser.conftest import LiveHub, screenshot, sign_in
from tests.web.browser.schedule_form import start_a_notice_schedule


async def test_create_dry_run_and_run_a_schedule(page: Page, live_hub: LiveHub) -> None:
    name = f"browser_{uuid.uuid4().hex[:8]}"
    await sign_in(page, "demo-dispatcher")
    form = await start_a_notice_schedule(page, name, "浏览器测试：重点企业通知", "tier=key")
    # htmx counts the audience as it is typed (the demo has key enterprises).
    await expect(page.locator("#audience-live")).to_contain_text("匹配企业")
    await expect(page.locator("#audience-count")).not_to_have_text("0")
    await form.locator("[name=variables]").fill("text: 请于月底前完成年报公示")
    await screenshot(page, "admin-schedule-new")
    await form.get_by_role("button", name="保存（版本 1）").click()

    await expect(page.get_by_role("status")).to_have_text(f"已新建定时计划 {name}（版本 1）")
    # The hub's clock is Monday 2026-11-23 10:00: the next working-day 09:30 is Tuesday's.
    fires = page.locator("#upcoming li.fire")
    await expect(fires).to_have_count(5)
    await expect(fires.first).to_have_text("2026-11-24 09:30（周二）")

    await page.get_by_role("button", name="预演（不发送）").click()
    dry_run = page.locator("#dry-run")
    await expect(dry_run).to_contain_text("未发送任何消息")
    await expect(page.locator("#history")).to_contain_text("还没有执行记录")
    await screenshot(page, "admin-schedule-dry-run")

    await page.get_by_role("button", name="确认执行").click()
    await expect(page.get_by_role("status")).to_contain_text(f"已执行 {name} @ 2026-11-23 10:00")
    run = page.locator("#history tr.run")
    await expect(run).to_have_count(1)
    await expect(run).to_contain_text("已完成")
    await expect(run).to_contain_text("2026-11-23 10:00")
    await screenshot(page, "admin-schedule-history")

    await page.goto("/admin/schedules")
    await expect(page.locator(f"#schedule-{name}")).to_contain_text("2026-11-23 10:00（已完成）")
    await screenshot(page, "admin-schedules")
