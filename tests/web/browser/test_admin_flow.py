"""The issue's whole loop in Chromium, as an admin does it, page by page: sign in; edit a template,
preview it, save it, see the new version, roll it back; create a schedule, dry run it, run it;
watch its campaign finish; reply as the enterprise on the phone simulator; find the ticket the
reply opened in the workbench and resolve it (a forged resolve without its CSRF token is refused
first); rate the answer on the phone; see the dashboard's figures change.

The served hub is shared by the package's tests, so the flow makes its own enterprise (tagged
with a tag of its own, the schedule's audience) and edits a template no other browser test edits
(the notice's sandbox template, rolled back before the campaign sends with it). The hub runs no
worker nor dispatcher: :func:`settle` does their step between the pages, as ``hub worker`` would.
The other checks of the issue's list are in their pages' tests: another department's ticket is
refused (test_ticket_workbench), a forged sign-out without its token and five wrong passwords
(test_admin_sign_in).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest_asyncio
import sqlalchemy as sa
from playwright.async_api import Locator, Page, expect

from hub.core.vocab import Tier
from hub.store.models import Contact, Enterprise, EnterpriseTag, InboundReply, Ticket
from tests.web.admin.simulator_support import settle
from tests.web.browser.conftest import NOW, LiveHub, screenshot, sign_in
from tests.web.browser.schedule_form import start_a_notice_schedule

EDITOR = "/admin/templates/notice/sandbox"
ADDED = "（全流程测试）"
ANSWER = "已协调市政部门，本周内完成维修。"
#: Friday 2026-11-20 10:00 in Shanghai, a working day: the flow's day (see own_enterprise).
FRIDAY = NOW - timedelta(days=3)


@dataclass(frozen=True)
class FlowEnterprise:
    """The flow's own enterprise: its name, its tag (the schedule's audience), its contact."""

    name: str
    tag: str
    contact_id: int


@pytest_asyncio.fixture(loop_scope="package")
async def own_enterprise(live_hub: LiveHub) -> AsyncIterator[FlowEnterprise]:
    """An enterprise of the flow's own with one contact on the sandbox phone, under the same
    officer as the first demo enterprise (so its requests reach a department); the hub's clock
    is on the Friday before the package's Monday until the flow ends, so its messages, reply and
    rating stay out of the Monday other tests count (test_dashboard's 今天)."""
    token = uuid.uuid4().hex[:8]
    live_hub.clock.set(FRIDAY)
    now = FRIDAY
    async with live_hub.hub.db.write() as session:
        demo = await session.scalar(sa.select(Enterprise).order_by(Enterprise.id).limit(1))
        assert demo is not None
        enterprise = Enterprise(
            uscc=f"91FLOW{token.upper()}0000", name=f"全流程测试{token}有限公司", tier=Tier.KEY,
            industry=demo.industry, region=demo.region, officer_id=demo.officer_id,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(enterprise)
        await session.flush()
        session.add(EnterpriseTag(enterprise_id=enterprise.id, tag=f"flow{token}"))
        contact = Contact(
            enterprise_id=enterprise.id, natural_key=f"flow-{token}", name="周全",
            mobile=f"1390{int(token, 16) % 10**7:07d}", created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(contact)
        await session.flush()
        mine = FlowEnterprise(enterprise.name, f"flow{token}", contact.id)
    try:
        yield mine
    finally:
        live_hub.clock.set(NOW)


async def _figure(card: Locator, label: str) -> int:
    """The number after ``label`` in a dashboard card's text."""
    text = await card.inner_text()
    found = re.search(rf"{label}\s*(\d+)", text)
    assert found, f"{label} not in {text!r}"
    return int(found.group(1))


async def _dashboard_figures(page: Page) -> tuple[int, int]:
    """Today's replies and the valid ratings, as the dashboard's cards show them."""
    await page.goto("/admin/dashboard")
    today = page.locator(".card.figure", has_text="今天发送")
    ratings = page.locator(".card.figure", has_text="好评率")
    await expect(ratings).to_be_visible()
    return await _figure(today, "回复"), await _figure(ratings, "有效评价")


async def _edit_and_roll_back_a_template(page: Page) -> None:
    await page.goto("/admin/templates")
    await screenshot(page, "flow-02-templates")
    await page.locator(f'a[href="{EDITOR}"]').click()
    heading = (await page.locator("h1").inner_text()) or ""
    current = int(re.search(r"当前第 (\d+) 版", heading).group(1))  # type: ignore[union-attr]
    form = page.locator("#template-form")
    await form.get_by_label("预览企业（联系人）").select_option(index=1)
    body = form.get_by_label("正文")
    before = await body.input_value()
    await body.fill(before.replace("{{ text }}", "{{ text }}" + ADDED))
    await form.get_by_role("button", name="检查并预览").click()
    await expect(page.locator("#preview .preview")).to_contain_text(ADDED)
    await screenshot(page, "flow-03-template-preview")
    await form.get_by_role("button", name="保存为新版本").click()
    await expect(page.get_by_role("status")).to_have_text(
        f"已保存为新版本 notice/sandbox v{current + 1}"
    )
    versions = page.locator("table.versions")
    await expect(versions).to_contain_text(f"第 {current + 1} 版（当前）")
    await screenshot(page, "flow-04-template-saved")
    row = versions.locator("tr", has_text=f"第 {current} 版")
    await row.get_by_role("button", name="回滚到此版").click()
    await expect(page.get_by_role("status")).to_contain_text(f"已回滚到第 {current} 版")
    await expect(versions).to_contain_text(f"第 {current + 2} 版（当前）")
    await expect(page.locator("#template-form").get_by_label("正文")).to_have_value(before)
    await screenshot(page, "flow-05-template-rolled-back")


async def _schedule_and_run(page: Page, mine: FlowEnterprise) -> None:
    name = f"flow_{mine.tag}"
    form = await start_a_notice_schedule(page, name, "全流程测试：通知本企业", f"tags~{mine.tag}")
    await expect(page.locator("#audience-count")).to_have_text("1")
    await form.locator("[name=variables]").fill("text: 园区道路维修，请留意通行")
    await screenshot(page, "flow-06-schedule-new")
    await form.get_by_role("button", name="保存（版本 1）").click()
    await expect(page.get_by_role("status")).to_have_text(f"已新建定时计划 {name}（版本 1）")

    # The dry run reaches the flow's one enterprise, on the sandbox, and sends nothing.
    await page.get_by_role("button", name="预演（不发送）").click()
    planned = "企业 1 家，消息 1 条，沙箱 1 条，暂缓 0 条，不发送 0 条。未发送任何消息。"
    await expect(page.locator("#dry-run")).to_contain_text(planned)
    await screenshot(page, "flow-07-schedule-dry-run")
    await page.get_by_role("button", name="确认执行").click()
    await expect(page.get_by_role("status")).to_contain_text(f"已执行 {name}")
    campaign = page.locator("#history tr.run").get_by_role("link")
    await screenshot(page, "flow-08-schedule-run")
    await campaign.click()


async def _watch_the_campaign_finish(page: Page, live: LiveHub) -> None:
    await page.wait_for_url("**/admin/campaigns*")
    fragment = page.url.rsplit("#", 1)[1]
    row = page.locator(f"#{fragment}")
    await expect(row).to_contain_text("排队中 1")
    await screenshot(page, "flow-09-campaign-queued")
    await settle(live.hub, consumer="flow")  # the dispatcher sends it to the sandbox phone
    # The page polls its live part: the campaign's one message is sent, the campaign finished.
    await expect(row).to_contain_text("1/1")
    await expect(row).to_contain_text("已完成")
    await screenshot(page, "flow-10-campaign-finished")


async def _reply_on_the_phone(page: Page, live: LiveHub, mine: FlowEnterprise) -> str:
    request = f"园区东门道路破损，请尽快维修（{mine.tag}）"
    await page.goto("/admin/simulator")
    await page.get_by_label("企业名称 / 信用代码 / 联系人 / 手机号").fill(mine.name)
    await page.get_by_role("button", name="查找").click()
    await page.locator(".contacts a").first.click()
    await expect(page.locator(".phone-top")).to_contain_text(mine.name)
    phone = page.locator("#conversation")
    await expect(phone.locator(".bubble.in").last).to_contain_text("园区道路维修")
    await page.get_by_label("回复内容").fill(request)
    await page.get_by_role("button", name="发送").click()
    await expect(page.get_by_role("status")).to_contain_text(request)
    await settle(live.hub, consumer="flow")  # the worker opens a ticket and acknowledges it
    await expect(phone.locator(".bubble.in").last).to_contain_text("已受理")
    await screenshot(page, "flow-11-simulator-request")
    async with live.hub.db.read() as session:
        number = await session.scalar(
            sa.select(Ticket.number)
            .join(InboundReply, InboundReply.ticket_id == Ticket.id)
            .where(InboundReply.text == request)
        )
    assert number is not None
    return number


async def _forge_a_resolve(page: Page, number: str) -> None:
    """The resolve form posted without its CSRF token (as another site's page would): refused."""
    async with page.expect_response(f"**/admin/tickets/{number}/**") as answer:
        await page.evaluate(
            """([number, text]) => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = `/admin/tickets/${number}/resolve`;
            const answer = document.createElement("input");
            answer.name = "answer";
            answer.value = text;
            form.append(answer);
            document.body.append(form);
            form.submit();
        }""",
            [number, "伪造的答复"],
        )
    assert (await answer.value).status == 403
    await expect(page.get_by_text("安全校验未通过")).to_be_visible()


async def _resolve_in_the_workbench(page: Page, number: str) -> None:
    await page.goto("/admin/tickets")
    row = page.locator("table.tickets tbody tr", has_text=number)
    await expect(row).to_be_visible()
    await screenshot(page, "flow-12-tickets")
    await row.get_by_role("link", name=number).click()
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"工单 {number}")
    await _forge_a_resolve(page, number)
    await page.goto(f"/admin/tickets/{number}")
    await expect(page.locator("#events")).not_to_contain_text("伪造的答复")
    await page.get_by_label("答复企业").fill(ANSWER)
    await page.get_by_role("button", name="办结并答复").click()
    await expect(page.get_by_role("status")).to_contain_text(f"工单 {number}：已办结")
    await expect(page.locator(".ticket-head .state")).to_have_text("已办结待评价")
    await screenshot(page, "flow-13-ticket-resolved")


async def _rate_on_the_phone(page: Page, live: LiveHub, mine: FlowEnterprise, number: str) -> None:
    await settle(live.hub, consumer="flow")  # the answer and the rating request are sent
    await page.goto(f"/admin/simulator/{mine.contact_id}")
    phone = page.locator("#conversation")
    await expect(phone).to_contain_text(ANSWER)
    rating_request = phone.locator(".bubble.in", has_text=number).last
    await rating_request.get_by_role("button", name="5 非常满意").click()
    await expect(page.get_by_role("status")).to_contain_text("［按钮］5 非常满意")
    await settle(live.hub, consumer="flow")
    await expect(phone.locator(".bubble.out").last).to_contain_text("已处理：评价")
    await screenshot(page, "flow-14-simulator-rated")


async def test_the_admin_runs_the_whole_loop_in_the_browser(
    page: Page, live_hub: LiveHub, own_enterprise: FlowEnterprise
) -> None:
    await sign_in(page, "demo-admin")
    replies, ratings = await _dashboard_figures(page)
    await screenshot(page, "flow-01-dashboard-before")

    await _edit_and_roll_back_a_template(page)
    await _schedule_and_run(page, own_enterprise)
    await _watch_the_campaign_finish(page, live_hub)
    number = await _reply_on_the_phone(page, live_hub, own_enterprise)
    await _resolve_in_the_workbench(page, number)
    await _rate_on_the_phone(page, live_hub, own_enterprise, number)

    # The reply and the rating are counted (the rating card's figure is a count of tickets
    # rated in the last 30 days: this ticket's 5 adds one).
    assert await _dashboard_figures(page) == (replies + 2, ratings + 1)
    # The on-time chart's 100% label sits in room above the plot, not over a legend: the card's
    # title names its one series, so it has none.
    ontime = await page.evaluate("""() => {
        const option = echarts.getInstanceByDom(document.getElementById("chart-ontime"))
            .getOption();
        return {legend: option.legend[0].show, top: option.grid[0].top};
    }""")
    assert ontime == {"legend": False, "top": 32}
    await screenshot(page, "flow-15-dashboard-after")
