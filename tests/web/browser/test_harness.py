"""The harness itself: Chromium renders a page of the served hub, and the page reaches nothing
beyond the hub (no CDN: a government intranet has no internet)."""

from __future__ import annotations

from playwright.async_api import Page, Request, expect

from tests.web.browser.conftest import LiveHub, screenshot


async def test_the_api_docs_render_in_chromium_from_the_hubs_own_assets(
    page: Page, live_hub: LiveHub
) -> None:
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)
    await page.goto("/api/docs")

    # Swagger UI is a script: its title appears only once the bundle ran and read the schema.
    await expect(page.locator(".swagger-ui .info .title")).to_contain_text("Hub 0.1.0")
    await expect(page.locator(".opblock-summary-path").first).to_be_visible()
    await screenshot(page, "api-docs", full_page=False)  # 5,700 px tall
    assert requested
    assert [url for url in requested if not url.startswith(live_hub.url)] == []
