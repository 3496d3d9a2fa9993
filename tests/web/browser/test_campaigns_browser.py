"""The campaigns page in Chromium: a campaign's live counts, paused, resumed and cancelled through
its buttons, each step shown on the page (and its messages held, queued, skipped)."""

from __future__ import annotations

import sqlalchemy as sa
from playwright.async_api import Page, expect

from hub.core.vocab import MessageKind
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import SendRequest
from hub.store.models import Enterprise
from tests.web.browser.conftest import LiveHub, screenshot, sign_in


async def _campaign_of_two(live: LiveHub) -> tuple[int, int]:
    """A notice to two demo enterprises' contacts, queued (no dispatcher runs here): its
    campaign and how many messages it has."""
    async with live.hub.db.read() as session:
        usccs = (await session.scalars(sa.select(Enterprise.uscc).order_by(Enterprise.id)
                                       .limit(2))).all()  # fmt: skip
    outcome = await live.hub.outbox.submit(SendRequest(
        kind=MessageKind.NOTICE, audience=parse_audience("uscc=" + "|".join(usccs)),
        variables={"text": "请于月底前完成年报公示"},
    ))  # fmt: skip
    assert outcome.campaign_id is not None
    assert outcome.queued >= 2  # the app's outbox counts what it queued
    return outcome.campaign_id, outcome.queued


async def test_pause_resume_and_cancel_a_campaign_on_the_page(
    page: Page, live_hub: LiveHub
) -> None:
    campaign_id, n = await _campaign_of_two(live_hub)
    await sign_in(page, "demo-admin")
    await page.goto("/admin/campaigns")
    row = page.locator(f"#campaign-{campaign_id}")
    await expect(row).to_contain_text("进行中")
    await expect(row).to_contain_text(f"排队中 {n}")
    await screenshot(page, "admin-campaigns")

    await row.get_by_role("button", name="暂停").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"批次 {campaign_id} 已暂停，暂缓 {n} 条消息"
    )
    await expect(row).to_contain_text("已暂停")
    await expect(row).to_contain_text(f"暂缓 {n}")
    await expect(page.locator("table.held")).to_contain_text("批次恢复后发送")
    await screenshot(page, "admin-campaigns-paused")

    await row.get_by_role("button", name="恢复").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"批次 {campaign_id} 已恢复，重新排队 {n} 条消息"
    )
    await row.get_by_role("button", name="取消").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"批次 {campaign_id} 已取消，停止 {n} 条消息"
    )
    await expect(row).to_contain_text("已取消")
    await expect(row).to_contain_text(f"未发送 {n}")
    await expect(row.get_by_role("button")).to_have_count(0)
