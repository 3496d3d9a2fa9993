"""The phone simulator in Chromium: reply as an enterprise, see the hub's answer arrive (htmx
polling), press the rating button under the answer to the resolved request, see it applied.

The inbound worker and the dispatcher run between the steps, in the test, as ``hub worker``
would; the page is never reloaded: each answer appears through the phone's own polling.
"""

from __future__ import annotations

import sqlalchemy as sa
from playwright.async_api import Page, expect

from hub.app.runtime import Components
from hub.core.vocab import TicketState
from hub.store.models import InboundReply, Ticket
from tests.web.admin.simulator_support import resolve_and_ask_rating, settle
from tests.web.browser.conftest import LiveHub, screenshot, sign_in

REQUEST = "园区东门路灯不亮，请协调维修"


async def _resolve_ticket_of(hub: Components, reply_text: str) -> str:
    """The handler resolves the ticket the reply opened: the answer and the rating request go."""
    async with hub.db.read() as session:
        ticket_id = await session.scalar(
            sa.select(InboundReply.ticket_id).where(InboundReply.text == reply_text)
        )
    assert ticket_id is not None
    return await resolve_and_ask_rating(hub, ticket_id, "已协调供电所修复。")


async def test_reply_as_the_enterprise_and_rate_the_answer_in_the_simulator(
    page: Page, live_hub: LiveHub
) -> None:
    await sign_in(page, "demo-dispatcher")
    await page.goto("/admin/simulator")
    await expect(page.get_by_role("heading", name="模拟手机")).to_be_visible()
    contact = page.locator(".contacts a").first
    enterprise = (await contact.locator("strong").text_content()) or ""
    await page.get_by_label("企业名称 / 信用代码 / 联系人 / 手机号").fill(enterprise)
    await page.get_by_role("button", name="查找").click()
    await page.locator(".contacts a").first.click()
    await expect(page.locator(".phone-top")).to_contain_text(enterprise)

    await page.get_by_label("回复内容").fill(REQUEST)
    await page.get_by_role("button", name="发送").click()
    await expect(page.get_by_role("status")).to_contain_text(f"联系人的身份回复：{REQUEST}")
    phone = page.locator("#conversation")
    await expect(phone.locator(".bubble.out").last).to_contain_text("待处理")

    await settle(
        live_hub.hub, consumer="browser"
    )  # the worker opens a ticket; the phone polls the answer in
    await expect(phone.locator(".bubble.in").last).to_contain_text("已受理")
    await expect(phone.locator(".bubble.out").last).to_contain_text("已处理：诉求")
    await screenshot(page, "admin-simulator-request")

    number = await _resolve_ticket_of(live_hub.hub, REQUEST)
    rating_request = phone.locator(".bubble.in", has_text=number).last
    await expect(rating_request.get_by_role("button", name="5 非常满意")).to_be_visible()
    await screenshot(page, "admin-simulator-rating-buttons")

    await rating_request.get_by_role("button", name="5 非常满意").click()
    await expect(page.get_by_role("status")).to_contain_text("点击了按钮：［按钮］5 非常满意")
    await settle(live_hub.hub, consumer="browser")
    await expect(phone.locator(".bubble.out").last).to_contain_text("已处理：评价")
    await expect(phone.locator(".bubble.out").last).to_contain_text("［按钮］5 非常满意")
    await screenshot(page, "admin-simulator-rated")
    async with live_hub.hub.db.read() as session:
        state = await session.scalar(sa.select(Ticket.state).where(Ticket.number == number))
    assert state is TicketState.CLOSED
