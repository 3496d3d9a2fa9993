"""The SLA pass over tickets made and moved by the ticket service (hub.tickets.lifecycle,
hub.tickets.ratings): routed, reminded, answered on time, rated bad and reopened, answered again,
reminded to rate, closed as no rating — every step an event; an unrouted ticket's reminder goes to
dispatchers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import Settings
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import ChannelName, MessageKind, TicketState
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import Message, Staff, Ticket, TicketEvent
from hub.tickets.lifecycle import open_ticket, resolve
from hub.tickets.policy import TicketPolicy
from hub.tickets.ratings import RatingNotifier, apply_rating
from hub.tickets.settings import TicketRule, TicketsSettings
from hub.tickets.sla.sweep import SlaPassReport, run_sla_pass
from tests.ticket_factory import Org, make_org, renderer, scratch_queue, staff_policy

SETTINGS = Settings(
    tickets=TicketsSettings(rules=(TicketRule(department="FGW", keywords=("用电",)),))
)


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    async with scratch_queue(tmp_path) as q:
        yield q


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def run(db: Database, queue: Queue, now: datetime) -> SlaPassReport:
    return await run_sla_pass(
        db,
        FixedClock(now),
        SETTINGS,
        renderer=renderer(),
        policy=staff_policy("wecom", "sms"),
        queue=queue,
        callbacks=False,
    )


async def opened(db: Database, org: Org, body: str, now: datetime) -> int:
    async with db.write() as s:
        ticket = await open_ticket(
            s,
            policy=TicketPolicy.from_settings(SETTINGS),
            now=now,
            body=body,
            channel=ChannelName.SMS,
            enterprise_id=org.enterprises[0],
            contact_id=org.contacts[0],
            urgency="urgent",
        )
        return ticket.id


async def act(
    db: Database,
    ticket_id: int,
    now: datetime,
    *,
    answer: str | None = None,
    score: int | None = None,
) -> None:
    async with db.write() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        if answer is not None:
            await resolve(s, ticket, answer=answer, actor="zhang", now=now)
        if score is not None:
            await apply_rating(
                s,
                ticket,
                policy=TicketPolicy.from_settings(SETTINGS),
                score=score,
                contact_id=ticket.contact_id,
                now=now,
                notifier=RatingNotifier(renderer(), staff_policy("wecom", "sms")),
            )


async def event_types(db: Database, ticket_id: int) -> list[str]:
    async with db.read() as s:
        rows = await s.scalars(
            sa.select(TicketEvent.type)
            .where(TicketEvent.ticket_id == ticket_id)
            .order_by(TicketEvent.id)
        )
        return [t.value for t in rows.all()]


async def test_closed_loop_with_the_ticket_service(any_db: Database, queue: Queue) -> None:
    org = await make_org(any_db, at(9, 1))
    # Mon 28 Sep, urgent (2 wd): due 24:00 Wed 30 Sep; routed to FGW by keyword, to its handler.
    tid = await opened(any_db, org, "厂区用电增容申请一直没有进展", at(9, 28, 9))
    async with any_db.read() as s:
        ticket = await s.get(Ticket, tid)
        assert ticket is not None
        assert (ticket.department_id, ticket.handler_id) == (org.fgw, org.handler)
        assert ticket.deadline_at == at(10, 1)
    assert (await run(any_db, queue, at(9, 30, 9))).steps == {"remind": 1}
    await act(any_db, tid, at(9, 30, 15), answer="已协调供电公司，10月上旬完成增容")
    assert (await run(any_db, queue, at(9, 30, 16))).steps == {"sla_hit": 1}

    # Rated 2 after the holiday: the rating service reopens and alerts the head itself.
    await act(any_db, tid, at(10, 8, 10), score=2)
    assert (await run(any_db, queue, at(10, 8, 11))).steps == {}
    await act(any_db, tid, at(10, 9, 10), answer="增容已完成")
    # 3 wd after Fri 9 Oct: Sat 10 (make-up), 12, 13 Oct -> reminded at 24:00 13 Oct.
    assert (await run(any_db, queue, at(10, 13, 23))).steps == {}
    assert (await run(any_db, queue, at(10, 14, 0, 10))).steps == {"rating_reminder": 1}
    # 10 wd (the default): 10, 12–16, 19–22 Oct -> closed as no rating at 24:00 22 Oct.
    assert (await run(any_db, queue, at(10, 22, 12))).steps == {}
    assert (await run(any_db, queue, at(10, 23, 0, 10))).steps == {"close_no_rating": 1}
    assert await event_types(any_db, tid) == [
        "created",
        "assigned",
        "reminded",
        "resolved",
        "sla",
        "rated",
        "reopened",
        "callback_due",
        "escalated",
        "resolved",
        "rating_reminded",
        "closed",
    ]
    async with any_db.read() as s:
        kinds = (await s.scalars(sa.select(Message.kind).order_by(Message.id))).all()
        closed = await s.get(Ticket, tid)
    assert list(kinds) == [
        MessageKind.DEADLINE_REMINDER,
        MessageKind.ESCALATION,
        MessageKind.RATING_REMINDER,
    ]
    assert closed is not None
    assert (closed.state, closed.close_reason) == (TicketState.CLOSED, "no_rating")


async def test_unrouted_ticket_reminder_goes_to_the_dispatchers(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, at(9, 1))
    async with any_db.write() as s:
        s.add(
            Staff(
                username="d1",
                name="孙分派",
                role="dispatcher",
                wecom_userid="sun",
                created_at=at(9, 1),
                updated_at=at(9, 1),
            )
        )
    tid = await opened(any_db, org, "想咨询一下出口退税政策", at(9, 28, 9))
    async with any_db.read() as s:
        ticket = await s.get(Ticket, tid)
        assert ticket is not None
        assert ticket.department_id is None
    assert (await run(any_db, queue, at(9, 30, 9))).steps == {"remind": 1}
    async with any_db.read() as s:
        [reminder] = (await s.scalars(sa.select(Message))).all()
    assert (reminder.channel, reminder.address) == (ChannelName.WECOM, "sun")
    assert "未分派部门" in reminder.body


@pytest.mark.parametrize(("hour", "unsent"), [(0, "held"), (10, "queued")])
async def test_a_rating_before_the_rating_reminder_went_out_cancels_the_reminder(
    any_db: Database, queue: Queue, hour: int, unsent: str
) -> None:
    org = await make_org(any_db, at(9, 1))
    tid = await opened(any_db, org, "厂区用电增容申请一直没有进展", at(10, 9, 9))
    await act(any_db, tid, at(10, 9, 10), answer="增容已完成")
    # 3 wd after Fri 9 Oct: reminded from 24:00 13 Oct; at 00:10 quiet hours hold it.
    assert (await run(any_db, queue, at(10, 14, hour, 10))).steps["rating_reminder"] == 1
    async with any_db.read() as s:
        [reminder] = (
            await s.scalars(sa.select(Message).where(Message.kind == MessageKind.RATING_REMINDER))
        ).all()
    assert reminder.status.value == unsent
    # the enterprise rates (a phone call, the page) before the reminder went out
    await act(any_db, tid, at(10, 14, hour, 30), score=5)

    async with any_db.read() as s:
        reminder = await s.get(Message, reminder.id)
        ticket = await s.get(Ticket, tid)
    assert reminder is not None
    assert ticket is not None
    assert ticket.state is TicketState.CLOSED
    assert reminder.status.value == "skipped"
    assert reminder.status_reason == "已评价，无需再发评价提醒"
    assert reminder.next_attempt_at is None
