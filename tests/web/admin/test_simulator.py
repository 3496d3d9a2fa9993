"""The phone simulator (``/admin/simulator``): a contact's sandbox inbox with its buttons, and a
typed reply or a pressed button entering as ``hub sandbox reply`` does, applied by the worker.

The hub runs as ``hub run`` builds it (``open_components`` over a config.yaml: the sandbox
channel, the templates, the ticket desk), on the fixed clock (Monday 10:00 Shanghai); the inbound
worker and the dispatcher are run by hand between requests, as ``hub worker`` would.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from channels.base import Choices
from channels.telegram.keyboards import keyboard_for
from hub.app.config import load_settings
from hub.app.processes import web_app
from hub.app.runtime import Components, open_components
from hub.core.clock import FixedClock
from hub.core.vocab import ReplyClass, TicketState, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.models import (
    AuditLog,
    Contact,
    Enterprise,
    InboundReply,
    Officer,
    Rating,
    Ticket,
    Visit,
)
from hub.tickets.staff_passwords import set_password
from hub.visits.proposals import send_proposals
from hub.visits.slots import parse_slots
from hub.web.admin.phone_view import buttons_for, shown_reply
from tests.ticket_support import seed_ticket_world
from tests.web.admin.admin_support import PASSWORD, admin_client, csrf_of, sign_in
from tests.web.admin.simulator_support import resolve_and_ask_rating, settle

MOBILE = "+8613900000001"  # 甲机械's contact (tests/seed.py)


@dataclass
class Simulated:
    hub: Components
    app: FastAPI
    contact_id: int


@pytest.fixture
async def simulated(
    write_config: Callable[..., Path], clock: FixedClock
) -> AsyncIterator[Simulated]:
    settings = load_settings(write_config(tickets={"default_department": "FGW"}))
    async with open_components(settings, clock=clock) as hub:
        world = await seed_ticket_world(hub.db)
        for username in ("admin", "dispatcher", "gxj_a"):
            await set_password(hub.db, clock, username, PASSWORD, actor="test", min_length=8)
        try:
            yield Simulated(hub, web_app(settings, hub, None), world.contacts["甲机械"])
        finally:
            doomed = [k async for k in hub.redis.scan_iter(match=hub.keys.pattern(), count=1000)]
            if doomed:
                await hub.redis.unlink(*doomed)


async def _reply(client: httpx.AsyncClient, contact_id: int, **form: str) -> None:
    page = await client.get(f"/admin/simulator/{contact_id}")
    answer = await client.post(f"/admin/simulator/{contact_id}/reply",
                               data={"csrf_token": csrf_of(page.text), **form})  # fmt: skip
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/admin/simulator/{contact_id}"


async def _last_reply(sim: Simulated) -> InboundReply:
    async with sim.hub.db.read() as session:
        return (await session.scalars(
            sa.select(InboundReply).order_by(InboundReply.id.desc()).limit(1))).one()  # fmt: skip


async def _ticket(sim: Simulated, ticket_id: int) -> Ticket:
    async with sim.hub.db.read() as session:
        found = await session.get(Ticket, ticket_id)
    assert found is not None
    return found


async def test_a_typed_reply_opens_a_ticket_and_the_phone_shows_the_answer(
    simulated: Simulated,
) -> None:
    sim = simulated
    async with admin_client(sim.app) as client:
        await sign_in(client, "dispatcher")
        picker = await client.get("/admin/simulator", params={"q": "甲机械"})
        assert picker.status_code == 200
        assert f'href="/admin/simulator/{sim.contact_id}?q=' in picker.text
        async with sim.hub.db.read() as session:
            uscc = await session.scalar(sa.select(Enterprise.uscc).join(Contact).where(
                Contact.id == sim.contact_id))  # fmt: skip
        by_code = await client.get("/admin/simulator", params={"q": str(uscc).lower()})
        assert f'href="/admin/simulator/{sim.contact_id}?q=' in by_code.text
        phone = await client.get(f"/admin/simulator/{sim.contact_id}")
        assert "收件箱为空" in phone.text

        await _reply(client, sim.contact_id, text="厂区门口道路破损，需要维修")
        stored = await _last_reply(sim)
        assert (stored.provider, stored.sender, stored.contact_id) == (
            "sandbox", MOBILE, sim.contact_id)  # fmt: skip
        waiting = await client.get(f"/admin/simulator/{sim.contact_id}/conversation")
        assert "厂区门口道路破损，需要维修" in waiting.text
        assert "待处理" in waiting.text

        await settle(sim.hub)
        stored = await _last_reply(sim)
        assert stored.classification is ReplyClass.REQUEST
        assert stored.ticket_id is not None
        number = (await _ticket(sim, stored.ticket_id)).number
        answered = await client.get(f"/admin/simulator/{sim.contact_id}/conversation")
        assert "已处理：诉求" in answered.text
        assert number in answered.text
        assert "已受理" in answered.text
        # Newest at the bottom: the hub's answer comes after the reply it answers.
        assert answered.text.index("厂区门口道路破损") < answered.text.index(number)
    async with sim.hub.db.read() as session:
        audit = (await session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "sandbox.reply"))).one()  # fmt: skip
    assert (audit.actor, audit.target_id) == ("dispatcher", str(stored.id))


async def test_the_rating_request_shows_its_buttons_and_a_press_rates_the_ticket(
    simulated: Simulated,
) -> None:
    sim = simulated
    async with admin_client(sim.app) as client:
        await sign_in(client, "admin")
        await _reply(client, sim.contact_id, text="园区路灯不亮，请协调")
        await settle(sim.hub)
        ticket_id = (await _last_reply(sim)).ticket_id
        assert ticket_id is not None
        number = await resolve_and_ask_rating(sim.hub, ticket_id, "已协调办结。")

        phone = await client.get(f"/admin/simulator/{sim.contact_id}")
        buttons = re.findall(
            r'<button type="submit" name="button" value="([^"]+)">([^<]+)</button>', phone.text
        )
        assert buttons == [(f"rating:{n}:{number}", f"{n} {label}")
                           for n, label in ((5, "非常满意"), (4, "满意"), (3, "基本满意"),
                                            (2, "不满意"), (1, "非常不满意"))]  # fmt: skip

        await _reply(client, sim.contact_id, button=f"rating:5:{number}")
        await settle(sim.hub)
        stored = await _last_reply(sim)
        assert (stored.text, stored.classification, stored.ticket_id) == (
            f"rating:5:{number}", ReplyClass.RATING, ticket_id)  # fmt: skip
        assert (await _ticket(sim, ticket_id)).state is TicketState.CLOSED
        async with sim.hub.db.read() as session:
            assert (await session.scalars(sa.select(Rating.score))).all() == [5]
        after = await client.get(f"/admin/simulator/{sim.contact_id}/conversation")
        assert "［按钮］5 非常满意" in after.text
        assert "已处理：评价" in after.text


async def test_a_visit_proposal_shows_its_slots_and_a_press_confirms_the_visit(
    simulated: Simulated,
) -> None:
    sim, hub = simulated, simulated.hub
    async with hub.db.write() as session:
        enterprise_id = await session.scalar(
            sa.select(Contact.enterprise_id).where(Contact.id == sim.contact_id)
        )
        officer_id = await session.scalar(sa.select(Officer.id).where(Officer.code == "LL001"))
        now = hub.clock.now()
        visit = Visit(enterprise_id=enterprise_id, officer_id=officer_id, period="2026Q4",
                      status=VisitStatus.PLANNED, due_on=date(2026, 12, 4), details={},
                      slots=[], created_at=now, updated_at=now)  # fmt: skip
        session.add(visit)
        await session.flush()
        visit_id = visit.id
    calendar = WorkdayCalendar.from_years(hub.settings.calendar.years)
    proposed = await send_proposals(hub.db, hub.outbox, settings=hub.settings.visits,
                                    calendar=calendar, now=hub.clock.now())  # fmt: skip
    assert proposed.visit_ids == [visit_id]
    await settle(hub)
    async with admin_client(sim.app) as client:
        await sign_in(client, "dispatcher")
        phone = await client.get(f"/admin/simulator/{sim.contact_id}")
        payloads = re.findall(r'name="button" value="([^"]+)"', phone.text)
        assert payloads[-1] == f"visit:reschedule:{visit_id}"
        assert f"visit:slot:2:{visit_id}" in payloads
        await _reply(client, sim.contact_id, button=f"visit:slot:2:{visit_id}")
        await settle(hub)
        after = await client.get(f"/admin/simulator/{sim.contact_id}/conversation")
        assert "［按钮］选择第 2 个时间" in after.text
        assert "已处理：走访答复" in after.text
    async with hub.db.read() as session:
        answered = await session.get(Visit, visit_id)
    assert answered is not None
    assert answered.status is VisitStatus.CONFIRMED
    assert answered.proposed_for == parse_slots(answered.slots)[1]


async def test_only_admins_and_dispatchers_may_speak_for_an_enterprise(
    simulated: Simulated,
) -> None:
    sim = simulated
    async with admin_client(sim.app) as client:
        await sign_in(client, "gxj_a")
        assert (await client.get("/admin/simulator")).status_code == 403
        page = await client.get("/admin/account/password")
        form = {"csrf_token": csrf_of(page.text), "text": "5"}
        refused = await client.post(f"/admin/simulator/{sim.contact_id}/reply", data=form)
        assert refused.status_code == 403
    async with admin_client(sim.app) as client:
        await sign_in(client, "admin")
        forged = await client.post(f"/admin/simulator/{sim.contact_id}/reply", data={"text": "5"})
        assert forged.status_code == 403  # no CSRF token
        assert (await client.get("/admin/simulator/999999")).status_code == 404
    async with sim.hub.db.read() as session:
        assert (await session.scalars(sa.select(InboundReply.id))).all() == []


def test_the_buttons_are_the_ones_telegram_draws_for_the_same_choices() -> None:
    for choices in (Choices("rating", ref="GD202611230001"), Choices("visit", visit_id=42),
                    Choices("visit", visit_id=42, slots=("12月8日（周二）上午9:30",
                                                          "12月9日（周三）下午2:30"))):  # fmt: skip
        keyboard = keyboard_for({"choices": choices.to_params()})
        assert keyboard is not None
        drawn = [[b.text for b in row] for row in keyboard.inline_keyboard]
        assert [[b.label for b in row] for row in buttons_for(choices)] == drawn
    slots = buttons_for(Choices("visit", visit_id=42, slots=("a", "b")))
    assert [[b.payload for b in row] for row in slots] == [
        ["visit:slot:1:42"], ["visit:slot:2:42"], ["visit:reschedule:42"]]  # fmt: skip
    assert shown_reply("visit:slot:2:42") == "［按钮］选择第 2 个时间"
    assert shown_reply("visit:confirm:42") == "［按钮］确认走访"
    assert shown_reply("rating:6") == "rating:6"
