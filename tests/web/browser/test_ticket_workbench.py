"""The tickets workbench in Chromium: a handler opens the list, opens a ticket of their
department and resolves it with an answer through the form; another department's ticket is
refused with the 403 page. Screenshots of the list and the ticket before and after."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from playwright.async_api import Page, expect

from hub.core.clock import SHANGHAI
from hub.devtools.demo_data import DEMO_DEPARTMENT
from hub.store.models import Contact, Department
from hub.tickets.lifecycle import open_ticket
from tests.web.browser.conftest import LiveHub, screenshot, sign_in


async def _ticket_for(
    live: LiveHub, department_code: str, body: str, received_at: datetime | None = None
) -> str:
    """A ticket from the first demo contact's enterprise, named to ``department_code`` (as a visit's
    problem is); the department's handler gets it by round-robin."""
    async with live.hub.db.write() as session:
        department = await session.scalar(
            sa.select(Department).where(Department.code == department_code)
        )
        contact = await session.scalar(sa.select(Contact).order_by(Contact.id))
        assert contact is not None
        ticket = await open_ticket(
            session, now=live.clock.now(), settings=live.hub.settings, body=body,
            enterprise_id=contact.enterprise_id, contact_id=contact.id, department=department,
            received_at=received_at,
        )  # fmt: skip
        return ticket.number


async def test_a_handler_resolves_a_ticket_from_the_workbench(
    page: Page, live_hub: LiveHub
) -> None:
    number = await _ticket_for(live_hub, DEMO_DEPARTMENT, "厂区门前道路破损，货车进出困难")
    other = await _ticket_for(live_hub, "FGW", "用电报装进度咨询")
    # General class, 5 working days: received Mon 16 Nov -> last day today; 9 Nov -> overdue.
    due_today = await _ticket_for(
        live_hub, DEMO_DEPARTMENT, "租金补贴申请进度", datetime(2026, 11, 16, 9, tzinfo=SHANGHAI)
    )
    overdue = await _ticket_for(
        live_hub, DEMO_DEPARTMENT, "技改项目备案材料退回", datetime(2026, 11, 9, 9, tzinfo=SHANGHAI)
    )
    await sign_in(page, "demo-handler")
    await page.goto("/admin/tickets")
    row = page.locator("table.tickets tbody tr", has_text=number)
    await expect(row).to_contain_text("厂区门前道路破损")
    await expect(page.locator("table.tickets")).not_to_contain_text(other)
    await expect(page.locator("tr.due-today", has_text=due_today)).to_contain_text("今日到期")
    await expect(page.locator("tr.overdue", has_text=overdue)).to_contain_text("已超期")
    await screenshot(page, "admin-tickets-list")

    await row.get_by_role("link", name=number).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"工单 {number}")
    await expect(page.locator("#events")).to_contain_text("受理")
    await screenshot(page, "admin-ticket")
    await page.get_by_label("答复企业").fill("已联系交通局，本周五前修复路面")
    await page.get_by_role("button", name="办结并答复").click()
    await expect(page.get_by_role("status")).to_contain_text(f"工单 {number}：已办结")
    await expect(page.locator(".ticket-head .state")).to_have_text("已办结待评价")
    await expect(page.locator("#events")).to_contain_text("已联系交通局，本周五前修复路面")
    await screenshot(page, "admin-ticket-resolved")

    refused = await page.goto(f"/admin/tickets/{other}")
    assert refused is not None
    assert refused.status == 403
    await expect(page.get_by_role("alert")).to_contain_text("不在您的部门范围内")
