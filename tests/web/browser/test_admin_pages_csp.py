"""Every page of the admin's nav in Chromium under the admin's Content-Security-Policy (scripts
only from the hub's own files): no page logs a refusal, ECharts still draws, an injected
``<script>`` does not run; and the admin's own pages (password, staff, audit log) as PNGs."""

from __future__ import annotations

from playwright.async_api import ConsoleMessage, Page, expect

from tests.web.browser.conftest import screenshot, sign_in


def _refusals(page: Page) -> list[str]:
    """The console's CSP refusals from now on (Chromium logs each as an error)."""
    seen: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(message.text)

    page.on("console", keep)
    return seen


async def test_every_nav_page_loads_without_a_csp_refusal(page: Page) -> None:
    refusals = _refusals(page)
    await sign_in(page, "demo-admin")
    links = page.get_by_role("navigation", name="主导航").get_by_role("link")
    paths = [await link.get_attribute("href") for link in await links.all()]

    assert "/admin/audit" in paths
    assert "/admin/staff" in paths
    for path in paths:
        assert path is not None
        await page.goto(path)
        await page.wait_for_load_state("networkidle")
        await expect(page.get_by_role("heading", level=1)).to_be_visible()
    if "/admin/dashboard" in paths:
        await page.goto("/admin/dashboard")
        await expect(page.locator("canvas").first).to_be_visible()  # ECharts ran under the CSP
    assert refusals == []


async def test_an_injected_inline_script_does_not_run(page: Page) -> None:
    await sign_in(page, "demo-admin")
    await page.goto("/admin/account/password")
    refusals = _refusals(page)

    # What a stored XSS would amount to: an inline script in the served page's DOM.
    ran = await page.evaluate("""() => {
        window.injectedRan = false;
        const script = document.createElement('script');
        script.textContent = 'window.injectedRan = true';
        document.body.appendChild(script);
        return window.injectedRan;
    }""")

    assert ran is False
    assert refusals  # refused by the policy, and said so


async def test_the_admins_own_pages_as_screenshots(page: Page) -> None:
    await sign_in(page, "demo-admin")
    for path, heading, name in (
        ("/admin/account/password", "修改密码", "admin-account-password"),
        ("/admin/staff", "工作人员", "admin-staff"),
        ("/admin/audit", "审计日志", "admin-audit"),
    ):
        await page.goto(path)
        await expect(page.get_by_role("heading", name=heading)).to_be_visible()
        await screenshot(page, name)
    await expect(page.get_by_role("cell", name="staff.signed_in").first).to_be_visible()
