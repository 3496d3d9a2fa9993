"""The visits page in Chromium: the demo's visits due (planned for the clock's day), one opened
from the filtered list and recorded done with a problem for a department; the ticket it became
is named in the flash and linked from the visit's page."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from tests.web.browser.conftest import LiveHub, screenshot, sign_in


async def test_record_a_visit_done_with_a_problem(page: Page, live_hub: LiveHub) -> None:
    await sign_in(page, "demo-dispatcher")
    await page.get_by_role("link", name="走访", exact=True).click()
    await page.locator("#visit-filters [name=state]").select_option("due")
    await page.get_by_role("button", name="筛选").click()
    rows = page.locator("#visits tbody tr")
    await expect(rows.first).to_contain_text("待走访")
    await screenshot(page, "admin-visits")

    await rows.first.locator("td").first.get_by_role("link").click()
    form = page.locator("#form-done")
    await form.locator("[name=notes]").fill("与企业负责人座谈，了解用电情况")
    await form.locator("[name=problem_0]").fill("厂区夜间频繁停电，影响生产")
    await form.locator("[name=department_0]").select_option(index=1)
    await screenshot(page, "admin-visit-form")
    await form.get_by_role("button", name="记录完成").click()

    await expect(page.get_by_role("status")).to_contain_text("已记录为完成，问题已转为工单")
    await expect(page.locator("#visit-state")).to_have_text("已走访")
    ticket_link = page.locator("#visit-problems a")
    await expect(ticket_link).to_have_count(1)
    number = await ticket_link.inner_text()
    await screenshot(page, "admin-visit-done")
    await ticket_link.click()
    await expect(page).to_have_url(re.compile(f"/admin/tickets/{number}$"))
    await expect(page.locator("h1")).to_contain_text(number)
