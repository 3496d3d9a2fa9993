"""Smart answers in Chromium: a handler opens a ticket whose question the assistant was unsure of
and reads the suggested answers (参考答案) from the demo library; the enterprise opens an
automatic answer's page on a phone-sized screen. The suggestions are the real index's, built
from the demo FAQ library and policies the live hub holds. Screenshots admin-ticket-suggestions
and answer-page."""

from __future__ import annotations

import sqlalchemy as sa
from playwright.async_api import Page, expect

from hub.devtools.demo_data import DEMO_DEPARTMENT
from hub.knowledge.answer_links import new_answer_token
from hub.knowledge.corpus import load_entries
from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.settings import AnswerSettings
from hub.knowledge.verdict import Verdict
from hub.store.models import AutoAnswer, Contact, Department
from hub.tickets.lifecycle import open_ticket
from tests.web.browser.conftest import LiveHub, screenshot, sign_in

UNSURE = "我们公司想问问税务登记和发票的事，具体怎么弄"


async def _asked(live: LiveHub, question: str, *, answered: bool) -> tuple[str, Verdict, str]:
    """A ticket of the demo department for ``question`` with the assistant's row: its number,
    what the demo library's index said, and the answer page's token."""
    now = live.clock.now()
    async with live.hub.db.read() as session:
        index = KnowledgeIndex.build(await load_entries(session), AnswerSettings())
    verdict = index.ask(question, today=now.date())
    assert verdict.best is not None
    token = new_answer_token()
    async with live.hub.db.write() as session:
        department = await session.scalar(
            sa.select(Department).where(Department.code == DEMO_DEPARTMENT)
        )
        contact = await session.scalar(sa.select(Contact).order_by(Contact.id))
        assert contact is not None
        ticket = await open_ticket(
            session, now=now, settings=live.hub.settings, body=question,
            enterprise_id=contact.enterprise_id, contact_id=contact.id, department=department,
        )  # fmt: skip
        session.add(AutoAnswer(
            ticket_id=ticket.id, question=question, entry_id=verdict.best.entry.entry_id,
            entry_version=verdict.best.entry.version, score=verdict.score, margin=verdict.margin,
            answered=answered, answer=verdict.best.entry.answer if answered else None,
            suggestions=verdict.suggestions, token=token if answered else None, created_at=now,
        ))  # fmt: skip
        return ticket.number, verdict, token


async def test_a_handler_reads_the_suggested_answers(page: Page, live_hub: LiveHub) -> None:
    number, verdict, _ = await _asked(live_hub, UNSURE, answered=False)
    await sign_in(page, "demo-handler")
    await page.goto(f"/admin/tickets/{number}")
    section = page.locator("#suggestions")
    await expect(section.get_by_role("heading", level=2)).to_have_text("参考答案")
    await expect(section.locator("article.suggestion")).to_have_count(len(verdict.candidates))
    best = verdict.candidates[0].entry
    first = section.locator("article.suggestion").first
    await expect(first).to_contain_text(best.entry_id)
    await expect(first).to_contain_text(best.answer[:20])
    await screenshot(page, "admin-ticket-suggestions")


async def test_the_answer_page_on_a_phone(page: Page, live_hub: LiveHub) -> None:
    _, verdict, token = await _asked(
        live_hub, "小规模纳税人每月卖多少钱以内免增值税", answered=True
    )
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(f"/a/{token}")
    await expect(page.get_by_role("heading", level=1)).to_have_text("智能答复")
    assert verdict.best is not None
    await expect(page.locator(".answer")).to_contain_text(verdict.best.entry.answer[:20])
    await expect(page.locator("body")).to_contain_text("回复 人工 转人工服务")
    await screenshot(page, "answer-page")
