"""The tickets workbench (/admin/tickets): the list by state with deadline colours (an injected
clock), search and pages; the ticket page (events, masked contact, source, callback records);
every step through its form (the desk's own path) with its audit row; CSRF; a handler kept to
their department; refusals shown in Chinese, never a 5xx."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import (
    CallbackMethod,
    CallbackStatus,
    TicketEventType,
    TicketState,
    VisitStatus,
)
from hub.store.db import Database
from hub.store.models import AuditLog, CallbackSurvey, Rating, Ticket, TicketEvent, Visit
from hub.tickets.staff_passwords import set_password
from hub.web.admin import tickets as workbench
from tests.queries.answer_rows import add_auto_answer, add_faq
from tests.ticket_support import TicketWorld, new_ticket, seed_ticket_world, sh
from tests.web.admin.admin_support import PASSWORD, admin_app, admin_client, csrf_of, sign_in
from tests.web.api_support import store_reply

NOW = sh(2026, 11, 23, 10)  # Monday; the conftest clock's instant
USERS = ("admin", "dispatcher", "gxj_a", "gxj_head", "swj_a", "viewer")


@pytest.fixture
async def world(db: Database, clock: FixedClock) -> TicketWorld:
    seeded = await seed_ticket_world(db)
    for username in USERS:
        await set_password(db, clock, username, PASSWORD, actor="test", min_length=8)
    return seeded


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys,
    world: TicketWorld,
) -> FastAPI:  # fmt: skip
    return admin_app(db, redis_client, clock, redis_keys)


@pytest.fixture
async def tickets(db: Database, world: TicketWorld) -> dict[str, str]:
    """Four tickets, general class (5 working days): due today, overdue, later, and SWJ's."""
    made = {
        # Mon 16 Nov -> last day Mon 23 Nov (today); Mon 9 Nov -> Mon 16 Nov (overdue)
        "due_today": await new_ticket(db, world, at=sh(2026, 11, 16, 9)),
        "overdue": await new_ticket(
            db, world, at=sh(2026, 11, 9, 9), enterprise="丙软件", body="软件著作权登记咨询"
        ),
        "later": await new_ticket(db, world, at=NOW, body="厂房消防验收需要协调"),
        "swj": await new_ticket(db, world, at=NOW, enterprise="乙商贸", body="想了解补贴政策"),
    }
    return {key: ticket.number for key, ticket in made.items()}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(app) as http:
        yield http


def _row_tone(html: str, number: str) -> str | None:
    found = re.search(rf'<tr class="([^"]*)">\s*<td><a href="/admin/tickets/{number}">', html)
    return found.group(1) if found else None


def _numbers(html: str) -> list[str]:
    return re.findall(r'<td><a href="/admin/tickets/(GD\d+)">', html)


async def _post(client: httpx.AsyncClient, number: str, step: str, **fields: str) -> httpx.Response:
    page = await client.get(f"/admin/tickets/{number}")
    assert page.status_code == 200, page.text
    data = {"csrf_token": csrf_of(page.text), **fields}
    return await client.post(f"/admin/tickets/{number}/{step}", data=data)


async def _ticket(db: Database, number: str) -> Ticket:
    async with db.read() as session:
        return (await session.scalars(sa.select(Ticket).where(Ticket.number == number))).one()


async def _audit_actions(db: Database, number: str) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(AuditLog.action, AuditLog.actor)
            .where(AuditLog.target_type == "ticket", AuditLog.target_id == number)
            .order_by(AuditLog.id)
        )
        return [(action, actor) for action, actor in rows.all()]


async def test_the_list_colours_deadlines_by_the_clock(
    client: httpx.AsyncClient, tickets: dict[str, str], clock: FixedClock
) -> None:
    await sign_in(client, "dispatcher")
    page = await client.get("/admin/tickets")
    assert page.status_code == 200
    assert _numbers(page.text) == [tickets[k] for k in ("swj", "later", "overdue", "due_today")]
    assert _row_tone(page.text, tickets["due_today"]) == "due-today"
    assert _row_tone(page.text, tickets["overdue"]) == "overdue"
    assert _row_tone(page.text, tickets["later"]) == ""
    assert "2026-11-23（周一）24时前 <strong>今日到期</strong>" in page.text
    # The tabs count what the reader sees: all four routed and assigned on receipt.
    assert re.search(r'>全部 <span class="count">4</span>', page.text)
    assert re.search(r'>已分派 <span class="count">4</span>', page.text)
    assert re.search(r'>新 <span class="count">0</span>', page.text)

    clock.set(sh(2026, 11, 24, 9))  # the next morning: yesterday's last day has passed
    await sign_in(client, "dispatcher")  # (a session lasts a working day)
    later = await client.get("/admin/tickets")
    assert _row_tone(later.text, tickets["due_today"]) == "overdue"
    assert _row_tone(later.text, tickets["later"]) == ""
    clock.set(sh(2026, 11, 30, 9))
    await sign_in(client, "dispatcher")
    assert _row_tone((await client.get("/admin/tickets")).text, tickets["later"]) == "due-today"


async def test_tabs_search_overdue_and_pages(
    client: httpx.AsyncClient,
    tickets: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await sign_in(client, "dispatcher")
    assert _numbers((await client.get("/admin/tickets?state=new")).text) == []
    assigned = await client.get("/admin/tickets?state=assigned")
    assert len(_numbers(assigned.text)) == 4
    by_name = await client.get("/admin/tickets", params={"q": "乙商"})
    assert _numbers(by_name.text) == [tickets["swj"]]
    assert re.search(r'>全部 <span class="count">1</span>', by_name.text)
    by_number = await client.get("/admin/tickets", params={"q": tickets["later"].lower()})
    assert _numbers(by_number.text) == [tickets["later"]]
    overdue = await client.get("/admin/tickets?overdue=1")
    assert _numbers(overdue.text) == [tickets["overdue"]]
    wrong = await client.get("/admin/tickets?state=bogus")
    assert wrong.status_code == 422
    assert "没有“bogus”这一状态" in wrong.text
    assert (await client.get("/admin/tickets?before=x")).status_code == 422

    monkeypatch.setattr(workbench, "PAGE_SIZE", 3)
    first = await client.get("/admin/tickets?state=assigned")
    assert _numbers(first.text) == [tickets[k] for k in ("swj", "later", "overdue")]
    next_link = re.search(r'<a href="([^"]+)">下一页', first.text)
    assert next_link is not None
    second = await client.get(next_link.group(1).replace("&amp;", "&"))
    assert _numbers(second.text) == [tickets["due_today"]]
    assert "下一页" not in second.text
    assert "« 第一页" in second.text


async def test_the_ticket_page_shows_events_contact_source_and_callbacks(
    db: Database, client: httpx.AsyncClient, world: TicketWorld
) -> None:
    reply_id = await store_reply(db, NOW - timedelta(minutes=5), sender="+8613900000001",
                                 text="我们的用地手续卡住了，请帮忙")  # fmt: skip
    from_reply = await new_ticket(db, world, at=NOW, source_reply_id=reply_id)
    from_visit = await new_ticket(db, world, at=NOW, body="走访发现：厂区道路破损")
    async with db.write() as session:
        visit = Visit(
            enterprise_id=world.enterprises["甲机械"], period="2026Q4", status=VisitStatus.DONE,
            visited_at=NOW, created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        session.add(visit)
        await session.flush()
        ticket = await session.get(Ticket, from_visit.id)
        assert ticket is not None
        ticket.source_visit_id = visit.id
        session.add(CallbackSurvey(
            month="2026-11", ticket_id=from_reply.id, method=CallbackMethod.PHONE,
            status=CallbackStatus.ANSWERED, score=5, answer="很满意", recorded_by="dispatcher",
            recorded_at=NOW, created_at=NOW,
        ))  # fmt: skip

    await sign_in(client, "gxj_a")
    page = await client.get(f"/admin/tickets/{from_reply.number}")
    assert page.status_code == 200
    assert "受理" in page.text
    assert "分派" in page.text
    assert "甲机械" in page.text
    assert "我们的用地手续卡住了，请帮忙" in page.text  # the source reply
    assert "电话回访" in page.text
    assert "很满意" in page.text
    # A handler sees the contact's mobile masked, as the API shows it.
    assert "13900000001" not in page.text
    assert "139****0001" in page.text
    visit_page = await client.get(f"/admin/tickets/{from_visit.number}")
    assert "走访发现的问题" in visit_page.text
    assert "2026Q4 走访" in visit_page.text
    assert "/admin/enterprises/" in visit_page.text
    assert "#visits" in visit_page.text

    await client.post("/admin/logout", data={"csrf_token": csrf_of(page.text)})
    await sign_in(client, "dispatcher")
    full = await client.get(f"/admin/tickets/{from_reply.number}")
    assert "+8613900000001" in full.text  # a dispatcher calls back: in full


async def test_the_ticket_page_names_who_acted_by_name_and_the_hub_in_chinese(
    db: Database, client: httpx.AsyncClient, world: TicketWorld
) -> None:
    # Opened and assigned by the hub itself (round robin); a callback recorded by the
    # dispatcher; a bad rating from the enterprise's contact, flagged by the dispatcher.
    ticket = await new_ticket(db, world, at=NOW)
    async with db.write() as session:
        session.add(CallbackSurvey(
            month="2026-11", ticket_id=ticket.id, method=CallbackMethod.PHONE,
            status=CallbackStatus.ANSWERED, score=5, answer="很满意", recorded_by="dispatcher",
            recorded_at=NOW, created_at=NOW,
        ))  # fmt: skip
        contact = f"contact:{world.contacts['甲机械']}"
        session.add(TicketEvent(ticket_id=ticket.id, type=TicketEventType.RATED, at=NOW,
                                actor=contact, data={"score": 1}))  # fmt: skip
        session.add(Rating(ticket_id=ticket.id, score=1, at=NOW, malicious=True, source="button",
                           malicious_reason="与诉求无关", flagged_by="dispatcher"))  # fmt: skip

    await sign_in(client, "gxj_a")
    page = await client.get(f"/admin/tickets/{ticket.number}")

    assert page.status_code == 200
    events = page.text.split("<h2>办理过程</h2>")[1].split("</table>")[0]
    actors = re.findall(r'<td class="when">[^<]*</td><td>[^<]*</td><td>([^<]*)</td>', events)
    assert actors == ["系统", "系统", "企业联系人"]
    [handler] = [u for u, i in world.staff.items() if i == ticket.handler_id]
    assert f"承办人：{handler}姓名（{handler}），轮派" in events
    assert "<td>按钮</td>" in page.text  # the rating's source
    assert "已标记：与诉求无关（dispatcher姓名（dispatcher））" in page.text
    assert "<td>dispatcher姓名（dispatcher）</td>" in page.text  # the callback's recorder
    assert "system" not in events
    assert "contact:" not in events


async def test_every_step_through_its_form_with_its_audit_row(
    db: Database, app: FastAPI, tickets: dict[str, str]
) -> None:
    number = tickets["later"]

    async def as_user(username: str) -> httpx.AsyncClient:
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")
        await sign_in(http, username)
        return http

    handler, head, dispatcher = [await as_user(u) for u in ("gxj_a", "gxj_head", "dispatcher")]
    steps = [
        (handler, "start", {}, TicketState.IN_PROGRESS),
        (head, "extend", {"days": "2", "reason": "需现场核查"}, TicketState.IN_PROGRESS),
        (handler, "resolve", {"answer": "已协调消防大队于周三验收"}, TicketState.RESOLVED),
        (head, "reopen", {"reason": "企业反映仍未验收"}, TicketState.REOPENED),
        (dispatcher, "transfer", {"department": "SWJ", "reason": "属商务局职责"},
         TicketState.REOPENED),
        (dispatcher, "assign", {"handler": "gxj_a"}, TicketState.REOPENED),
        (handler, "return", {"reason": "非本部门职责"}, TicketState.NEW),
    ]  # fmt: skip
    for http, step, fields, state in steps:
        done = await _post(http, number, step, **fields)
        assert done.status_code == 303, (step, done.text)
        ticket = await _ticket(db, number)
        assert ticket.state is state, step
    assert done.headers["location"] == "/admin/tickets"  # returned: no longer the handler's
    shown = await dispatcher.get(f"/admin/tickets/{number}")
    assert f"工单 {number}：已退单" not in shown.text  # the flash went to the handler's session
    for label in ("开始办理", "延期", "办结", "重办", "转办", "退单"):
        assert label in shown.text
    assert "需现场核查" in shown.text
    assert "已协调消防大队于周三验收" in shown.text
    assert await _audit_actions(db, number) == [
        ("ticket.start", "gxj_a"), ("ticket.extend", "gxj_head"), ("ticket.resolve", "gxj_a"),
        ("ticket.reopen", "gxj_head"), ("ticket.transfer", "dispatcher"),
        ("ticket.assign", "dispatcher"), ("ticket.return", "gxj_a"),
    ]  # fmt: skip
    async with db.read() as session:
        returned = await session.scalar(
            sa.select(AuditLog.detail).where(AuditLog.action == "ticket.return")
        )
        assert returned == {"reason": "非本部门职责", "state": "new"}
        actors = (await session.scalars(
            sa.select(TicketEvent.actor).where(TicketEvent.ticket_id == ticket.id)
        )).all()  # fmt: skip
    assert {"gxj_a", "gxj_head", "dispatcher"} <= set(actors)

    # A bad rating flagged from the ratings table (heads and dispatchers only).
    async with db.write() as session:
        rating = Rating(ticket_id=ticket.id, score=1, comment="乱说", at=NOW, source="reply")
        session.add(rating)
        await session.flush()
        rating_id = rating.id
    flagged = await _post(dispatcher, number, "flag_rating", rating_id=str(rating_id),
                          reason="与诉求无关的辱骂")  # fmt: skip
    assert flagged.status_code == 303
    after = await dispatcher.get(f"/admin/tickets/{number}")
    assert f"工单 {number}：已标记为恶意差评" in after.text
    assert "已标记：与诉求无关的辱骂" in after.text
    assert (await _audit_actions(db, number))[-1] == ("ticket.flag_rating", "dispatcher")
    for http in (handler, head, dispatcher):
        await http.aclose()


async def test_a_form_without_its_csrf_token_is_refused(
    db: Database, client: httpx.AsyncClient, tickets: dict[str, str]
) -> None:
    await sign_in(client, "gxj_a")
    number = tickets["later"]
    forged = await client.post(f"/admin/tickets/{number}/start", data={})
    assert forged.status_code == 403
    assert "安全校验未通过" in forged.text
    wrong = await client.post(f"/admin/tickets/{number}/start", data={"csrf_token": "x" * 43})
    assert wrong.status_code == 403
    assert (await _ticket(db, number)).state is TicketState.ASSIGNED
    assert await _audit_actions(db, number) == []


async def test_a_handler_cannot_open_or_work_another_departments_ticket(
    db: Database, client: httpx.AsyncClient, tickets: dict[str, str]
) -> None:
    await sign_in(client, "gxj_a")
    mine = await client.get("/admin/tickets")
    assert tickets["swj"] not in _numbers(mine.text)
    assert len(_numbers(mine.text)) == 3
    other = await client.get(f"/admin/tickets/{tickets['swj']}")
    assert other.status_code == 403
    assert "不在您的部门范围内" in other.text
    assert "想了解补贴政策" not in other.text
    own = await client.get(f"/admin/tickets/{tickets['later']}")
    forged = await client.post(f"/admin/tickets/{tickets['swj']}/start",
                               data={"csrf_token": csrf_of(own.text)})  # fmt: skip
    assert forged.status_code == 403
    assert "不在您的部门范围内" in forged.text
    assert (await _ticket(db, tickets["swj"])).state is TicketState.ASSIGNED
    missing = await client.get("/admin/tickets/GD202611239999")
    assert missing.status_code == 404
    assert "没有编号为 GD202611239999 的工单" in missing.text


async def test_refusals_are_shown_in_chinese_on_the_page(
    db: Database, app: FastAPI, client: httpx.AsyncClient, tickets: dict[str, str]
) -> None:
    number = tickets["later"]
    await sign_in(client, "gxj_a")
    empty = await _post(client, number, "resolve", answer="   ")
    assert empty.status_code == 422
    assert "请填写答复内容" in empty.text
    assert "<h1>工单 " + number in empty.text  # the ticket page again, the error on it
    bad_days = await _post(client, number, "extend", days="abc", reason="x")
    assert bad_days.status_code == 422  # the form's fields are read before the role
    assert "延长的工作日数应为 1 到 365 之间的整数" in bad_days.text
    not_mine = await _post(client, number, "extend", days="2", reason="需核查")
    assert not_mine.status_code == 403
    assert "承办人无权批准延期" in not_mine.text
    resolved = await _post(client, number, "resolve", answer="已办理")
    assert resolved.status_code == 303
    again = await _post(client, number, "start")
    assert again.status_code == 409
    assert "当前状态为“已办结待评价”，不能开始办理" in again.text
    unknown = await _post(client, number, "close")
    assert unknown.status_code == 422
    assert "不支持的操作" in unknown.text

    async with admin_client(app) as viewer:
        await sign_in(viewer, "viewer")
        page = await viewer.get(f"/admin/tickets/{tickets['swj']}")
        assert page.status_code == 200
        assert 'id="steps"' not in page.text  # a viewer reads only: no forms
        refused = await _post(viewer, tickets["swj"], "start")
        assert refused.status_code == 403
        assert "查看者无权开始办理" in refused.text


async def test_the_ticket_page_shows_the_suggested_answers_as_they_are_now(
    db: Database, client: httpx.AsyncClient, world: TicketWorld
) -> None:
    ticket = await new_ticket(db, world, at=NOW, body="执照丢了怎么办")
    plain = await new_ticket(db, world, at=NOW)
    await add_faq(db, "FAQ-REG-002", "营业执照遗失怎么补办？", "声明作废后<b>补领</b>。", now=NOW,
                  version=2, source="登记管理条例实施细则")  # fmt: skip
    await add_faq(db, "FAQ-OLD", "稳岗补贴怎么申请？", "2025年度申报。", now=NOW,
                  valid_until=NOW.date() - timedelta(days=1))  # fmt: skip
    await add_auto_answer(db, "执照丢了怎么办", at=NOW, ticket_id=ticket.id, suggestions=[
        {"entry_id": "FAQ-REG-002", "version": 1, "title": "执照遗失", "score": 0.52},
        {"entry_id": "FAQ-OLD", "version": 1, "title": "稳岗补贴", "score": 0.31},
    ])  # fmt: skip

    await sign_in(client, "gxj_a")
    page = (await client.get(f"/admin/tickets/{ticket.number}")).text
    assert "参考答案" in page
    assert "营业执照遗失怎么补办？" in page
    assert "FAQ-REG-002 · 得分 0.52" in page
    assert "声明作废后&lt;b&gt;补领&lt;/b&gt;。" in page  # the answer in force, escaped
    assert "依据：登记管理条例实施细则" in page
    assert "建议时为第 1 版，现为第 2 版" in page
    assert "已过有效期" in page
    assert page.index("营业执照遗失怎么补办？") < page.index("稳岗补贴怎么申请？")
    assert "参考答案" not in (await client.get(f"/admin/tickets/{plain.number}")).text


async def test_a_suggestion_in_force_fills_the_answer_form_and_an_expired_one_cannot(
    db: Database, client: httpx.AsyncClient, world: TicketWorld
) -> None:
    ticket = await new_ticket(db, world, at=NOW, body="执照丢了怎么办")
    await add_faq(db, "FAQ-REG-002", "营业执照遗失怎么补办？", "声明作废后补领。", now=NOW,
                  source="登记管理条例实施细则")  # fmt: skip
    await add_faq(db, "FAQ-OLD", "稳岗补贴怎么申请？", "2025年度申报。", now=NOW,
                  valid_until=NOW.date() - timedelta(days=1))  # fmt: skip
    await add_auto_answer(db, "执照丢了怎么办", at=NOW, ticket_id=ticket.id, suggestions=[
        {"entry_id": "FAQ-REG-002", "version": 1, "title": "执照遗失", "score": 0.52},
        {"entry_id": "FAQ-OLD", "version": 1, "title": "稳岗补贴", "score": 0.31},
    ])  # fmt: skip

    await sign_in(client, "gxj_a")
    page = (await client.get(f"/admin/tickets/{ticket.number}")).text
    used = (await client.get(f"/admin/tickets/{ticket.number}?use=FAQ-REG-002")).text
    expired = (await client.get(f"/admin/tickets/{ticket.number}?use=FAQ-OLD")).text
    unknown = (await client.get(f"/admin/tickets/{ticket.number}?use=FAQ-NONE")).text

    assert page.count("用此答复") == 1  # the expired entry offers no link
    assert f"/admin/tickets/{ticket.number}?use=FAQ-REG-002#steps" in page
    answer_box = '<textarea name="answer" rows="4" maxlength="2000" required>'
    assert f"{answer_box}声明作废后补领。（依据：登记管理条例实施细则）</textarea>" in used
    assert f"{answer_box}</textarea>" in expired
    assert f"{answer_box}</textarea>" in unknown
