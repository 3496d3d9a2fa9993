"""The schedule editor's form as the browser tests fill it (tests/web/browser)."""

from __future__ import annotations

from playwright.async_api import Locator, Page


async def start_a_notice_schedule(
    page: Page, name: str, description: str, audience: str
) -> Locator:
    """From the schedules list, a new notice schedule every working day at 09:30 for
    ``audience``, filled in up to its variables (not saved); the editor's form."""
    await page.goto("/admin/schedules")
    await page.get_by_role("link", name="＋ 新建定时计划").click()
    form = page.locator("#editor")
    await form.locator("[name=name]").fill(name)
    await form.locator("[name=description]").fill(description)
    await form.locator("[name=preset]").select_option("workdays")
    await form.locator("[name=at]").fill("09:30")
    await form.locator("[name=kind]").select_option("notice")
    await form.locator("[name=audience]").fill(audience)
    return form
