"""An officer in Chromium: ``demo-officer`` (``hub demo`` links it to the demo officer) signs in
and sees only his own enterprises, each naming him as their officer; another officer's dossier
is the Chinese 404 page."""

from __future__ import annotations

import sqlalchemy as sa
from playwright.async_api import Page, expect

from hub.devtools.demo_data import DEMO_OFFICER
from hub.store.models import Enterprise, Officer
from tests.web.browser.conftest import LiveHub, screenshot, sign_in


async def _enterprises(live: LiveHub) -> tuple[str, dict[str, str], str]:
    """The demo officer's name, his enterprises (USCC -> name) and another officer's one."""
    async with live.hub.db.read() as session:
        rows = (await session.execute(
            sa.select(Enterprise.uscc, Enterprise.name, Officer.code, Officer.name)
            .join(Officer, Enterprise.officer_id == Officer.id)
        )).all()  # fmt: skip
    mine = {uscc: name for uscc, name, code, _ in rows if code == DEMO_OFFICER}
    officer = next(officer for _, _, code, officer in rows if code == DEMO_OFFICER)
    other = next(uscc for uscc, _, code, _ in rows if code != DEMO_OFFICER)
    return officer, mine, other


async def test_an_officer_signs_in_and_sees_only_his_enterprises(
    page: Page, live_hub: LiveHub
) -> None:
    officer, mine, other = await _enterprises(live_hub)
    assert mine  # the demo gives him enterprises to see

    await sign_in(page, "demo-officer")
    await page.get_by_role("link", name="企业", exact=True).click()
    await expect(page.locator("#total")).to_have_text(str(len(mine)))
    rows = page.locator("table.grid tbody tr")
    await expect(rows).to_have_count(len(mine))
    for uscc in mine:
        await expect(page.get_by_role("link", name=mine[uscc], exact=True)).to_be_visible()
    for cell in await rows.locator("td:nth-child(9)").all_inner_texts():
        assert cell == officer  # every row is his
    await screenshot(page, "admin-officer-enterprises")

    first = next(iter(mine))
    await page.get_by_role("link", name=mine[first], exact=True).click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(mine[first])

    refused = await page.goto(f"/admin/enterprises/{other}")
    assert refused is not None
    assert refused.status == 404
    await expect(page.get_by_role("alert")).to_contain_text("不在您的范围内")
    await screenshot(page, "admin-officer-other-dossier")
