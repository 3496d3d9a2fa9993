"""The SLA pass on both databases: reminders and escalations are messages on record, every
step is an event, nothing happens twice; unrated tickets reminded once, then closed."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.app.config import Settings
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketEventType, TicketState
from hub.infra.queue import Queue
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Message, Staff, Ticket, TicketEvent
from hub.tickets.settings import TicketsSettings
from hub.tickets.sla.sweep import SlaPassReport, run_sla_pass
from tests.conftest import PROJECT_ROOT
from tests.pipeline import build, setup, statuses
from tests.ticket_factory import make_org, make_ticket, renderer, scratch_queue, staff_policy


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    async with scratch_queue(tmp_path) as q:
        yield q


T0 = datetime(2026, 9, 1, tzinfo=SHANGHAI)


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def run(
    db: Database,
    queue: Queue,
    now: datetime,
    settings: Settings | None = None,
    channels: tuple[str, ...] = ("wecom", "sms"),
) -> SlaPassReport:
    return await run_sla_pass(
        db,
        FixedClock(now),
        settings or Settings(),
        renderer=renderer(),
        policy=staff_policy(*channels),
        queue=queue,
        callbacks=False,
    )


async def messages(db: Database, kind: MessageKind | None = None) -> list[Message]:
    async with db.read() as s:
        query = sa.select(Message).order_by(Message.id)
        if kind is not None:
            query = query.where(Message.kind == kind)
        return list((await s.scalars(query)).all())


async def events(db: Database, ticket_id: int, *types: TicketEventType) -> list[TicketEvent]:
    async with db.read() as s:
        rows = await s.scalars(
            sa.select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket_id, TicketEvent.type.in_(types))
            .order_by(TicketEvent.id)
        )
        return list(rows.all())


async def ticket(db: Database, ticket_id: int) -> Ticket:
    async with db.read() as s:
        found = await s.get(Ticket, ticket_id)
        assert found is not None
        return found


async def test_reminder_then_head_then_business_office_each_once(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, T0)
    # Received Tue 29 Sep, general: due 24:00 Mon 12 Oct (across National Day).
    tid = await make_ticket(
        any_db, org, number="GD202609290001", received_at=at(9, 29, 10), deadline_at=at(10, 13)
    )
    assert (await run(any_db, queue, at(10, 11, 23))).steps == {}

    report = await run(any_db, queue, at(10, 12, 8))
    assert report.steps == {"remind": 1}
    [reminder] = await messages(any_db, MessageKind.DEADLINE_REMINDER)
    assert (reminder.staff_id, reminder.channel, reminder.address) == (
        org.handler,
        ChannelName.WECOM,
        "zhang",
    )
    assert reminder.status is MessageStatus.QUEUED
    assert "GD202609290001" in reminder.body
    assert "2026年10月12日24时" in reminder.body
    assert reminder.id in await queue.waiting_ids("wecom")
    assert (await ticket(any_db, tid)).reminded_at == at(10, 12, 8)
    [event] = await events(any_db, tid, TicketEventType.REMINDED)
    assert event.actor == "sla"
    assert event.data["message_ids"] == [reminder.id]

    again = await run(any_db, queue, at(10, 12, 20))
    assert again.steps == {}
    assert again.messages_created == 0
    assert len(await messages(any_db)) == 1

    # Overdue from 24:00 12 Oct: the FGW head (WeCom), SLA missed at level 1.
    report = await run(any_db, queue, at(10, 13, 9))
    assert report.steps == {"escalate_1": 1}
    [to_head] = await messages(any_db, MessageKind.ESCALATION)
    assert (to_head.staff_id, to_head.channel, to_head.address) == (
        org.head,
        ChannelName.WECOM,
        "zhao",
    )
    assert "部门负责人" in to_head.body
    assert (await ticket(any_db, tid)).escalation_level == 1
    [sla1] = await events(any_db, tid, TicketEventType.SLA)
    assert sla1.data["result"] == "missed"
    assert sla1.data["level"] == 1
    [esc1] = await events(any_db, tid, TicketEventType.ESCALATED)
    assert esc1.data["level"] == 1
    assert esc1.data["to"] == "head"

    # Two more working days (13, 14 Oct) overdue: 营商办 at 24:00 14 Oct, by SMS.
    assert (await run(any_db, queue, at(10, 14, 23, 59))).steps == {}
    report = await run(any_db, queue, at(10, 15, 0, 5))
    assert report.steps == {"escalate_2": 1}
    office = (await messages(any_db, MessageKind.ESCALATION))[-1]
    assert (office.staff_id, office.channel, office.address) == (
        org.office_head,
        ChannelName.SMS,
        "+8613800000004",
    )
    assert (
        office.params["values"][-1] == "已超过办理时限2026年10月12日24时仍未办结，已超期2个工作日"
    )
    assert office.status is MessageStatus.QUEUED  # escalations bypass quiet hours
    assert (await ticket(any_db, tid)).escalation_level == 2
    levels = [e.data["level"] for e in await events(any_db, tid, TicketEventType.SLA)]
    assert levels == [1, 2]

    assert (await run(any_db, queue, at(10, 20, 9))).steps == {}
    assert len(await messages(any_db)) == 3


async def test_absent_handler_reminder_goes_to_the_head_and_missing_heads_are_recorded(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, T0)
    async with any_db.write() as s:
        handler = await s.get(Staff, org.handler)
        assert handler is not None
        handler.absent = True
        office_head = await s.get(Staff, org.office_head)
        assert office_head is not None
        office_head.role = "handler"  # 营商办 without a head on record
    absent = await make_ticket(
        any_db, org, number="GD202610120001", received_at=at(10, 9), deadline_at=at(10, 13)
    )
    # SJJ has no head account: its head on the department row (mobile) gets it.
    sjj = await make_ticket(
        any_db,
        org,
        number="GD202610120002",
        received_at=at(10, 9),
        deadline_at=at(10, 13),
        department=org.sjj,
        handler=None,
    )
    report = await run(any_db, queue, at(10, 12, 9))
    assert report.steps == {"remind": 2}
    by_key = {m.address: m for m in await messages(any_db, MessageKind.DEADLINE_REMINDER)}
    assert set(by_key) == {"zhao", "+8613700000009"}
    assert by_key["zhao"].staff_id == org.head
    assert by_key["+8613700000009"].staff_id is None
    await run(any_db, queue, at(10, 15, 9))
    [esc2] = [
        e for e in await events(any_db, absent, TicketEventType.ESCALATED) if e.data["level"] == 2
    ]
    assert esc2.data["unreachable"] is True
    assert esc2.data["message_ids"] == []
    assert (await ticket(any_db, sjj)).escalation_level == 2


async def test_sla_hit_or_missed_recorded_once_for_resolved_tickets(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, T0)
    hit = await make_ticket(
        any_db,
        org,
        number="GD202610090001",
        received_at=at(10, 9),
        deadline_at=at(10, 17),
        state=TicketState.RESOLVED,
        resolutions=[at(10, 12, 15)],
    )
    late = await make_ticket(
        any_db,
        org,
        number="GD202610090002",
        received_at=at(10, 9),
        deadline_at=at(10, 13),
        state=TicketState.CLOSED,
        resolutions=[at(10, 13, 10)],
        ratings=[(5, at(10, 13, 11), False)],
        closed=(at(10, 13, 11), "rated"),
    )
    # Reopened after an on-time answer: judged by the first answer, not escalated now.
    reopened = await make_ticket(
        any_db,
        org,
        number="GD202610090003",
        received_at=at(10, 9),
        deadline_at=at(10, 13),
        state=TicketState.REOPENED,
        resolutions=[at(10, 12, 9), at(10, 12, 9)],
        ratings=[(1, at(10, 12, 10), False)],
    )
    async with any_db.write() as s:
        row = await s.get(Ticket, reopened)
        assert row is not None
        row.resolved_at = None  # as the ticket service's reopen leaves it
    report = await run(any_db, queue, at(10, 14, 9))
    assert report.steps == {"sla_hit": 2, "sla_missed": 1}
    results = {
        tid: [
            (e.data["result"], e.data["level"])
            for e in await events(any_db, tid, TicketEventType.SLA)
        ]
        for tid in (hit, late, reopened)
    }
    assert results == {hit: [("hit", 0)], late: [("missed", 0)], reopened: [("hit", 0)]}
    assert await messages(any_db) == []
    assert (await run(any_db, queue, at(10, 14, 20))).steps == {}


async def test_unrated_ticket_reminded_once_after_three_workdays_then_closed_no_rating(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, T0)
    settings = Settings(tickets=TicketsSettings(no_rating_close_after_workdays=7))
    tid = await make_ticket(
        any_db,
        org,
        number="GD202609290002",
        received_at=at(9, 29, 10),
        deadline_at=at(10, 13),
        state=TicketState.RESOLVED,
        resolutions=[at(9, 30, 15)],
    )
    rated = await make_ticket(
        any_db,
        org,
        number="GD202609290003",
        received_at=at(9, 29, 10),
        deadline_at=at(10, 13),
        state=TicketState.RESOLVED,
        resolutions=[at(9, 30, 15)],
        ratings=[(4, at(9, 30, 16), False)],
        enterprise=1,
    )
    # 3 working days after 30 Sep: 8, 9 and Sat 10 Oct (make-up) -> due at 24:00 10 Oct.
    report = await run(any_db, queue, at(10, 10, 12), settings, channels=("sandbox",))
    assert report.steps == {"sla_hit": 2}
    report = await run(any_db, queue, at(10, 11, 0, 10), settings, channels=("sandbox",))
    assert report.steps == {"rating_reminder": 1}
    [reminder] = await messages(any_db, MessageKind.RATING_REMINDER)
    assert reminder.contact_id == org.contacts[0]
    assert reminder.staff_id is None
    assert reminder.channel is ChannelName.SANDBOX
    assert reminder.address == "+8613900009001"
    assert "GD202609290002" in reminder.body
    assert "5 非常满意" in reminder.body
    # Sent at night: held until the quiet window ends at 08:00.
    assert reminder.status is MessageStatus.HELD
    assert reminder.next_attempt_at == at(10, 11, 8)
    assert len(await events(any_db, tid, TicketEventType.RATING_REMINDED)) == 1

    assert (await run(any_db, queue, at(10, 15, 12), settings, channels=("sandbox",))).steps == {}
    # 7 working days: 8, 9, 10, 12, 13, 14, 15 Oct -> closed as no rating at 24:00 15 Oct.
    report = await run(any_db, queue, at(10, 16, 0, 10), settings, channels=("sandbox",))
    assert report.steps == {"close_no_rating": 1}
    closed = await ticket(any_db, tid)
    assert (closed.state, closed.close_reason) == (TicketState.CLOSED, "no_rating")
    [event] = await events(any_db, tid, TicketEventType.CLOSED)
    assert event.actor == "sla"
    assert event.data["close_reason"] == "no_rating"
    assert (await ticket(any_db, rated)).state is TicketState.RESOLVED  # rated: left alone
    assert len(await messages(any_db, MessageKind.RATING_REMINDER)) == 1
    assert (await run(any_db, queue, at(10, 30, 9), settings, channels=("sandbox",))).steps == {}


def test_escalation_template_names_a_bad_rating_cause_instead_of_the_overdue_days() -> None:
    values = {
        "hub_name": "主动服务",
        "enterprise": {"name": "甲机械有限公司"},
        "contact": {"name": ""},
        "ticket_number": "GD202611230012",
        "subject": "用电增容",
        "deadline": "2026年12月14日24时",
        "department": "市发展改革委",
        "handler_name": "张承办",
        "level_label": "部门负责人",
        "overdue_workdays": 0,
        "cause": "企业评价“不满意”，差评重办",
    }
    sms = renderer().render_message("escalation", "sms", values)
    assert sms.params[-1] == "企业评价“不满意”，差评重办，整改期限2026年12月14日24时"
    wecom = renderer().render_message("escalation", "wecom", values).body
    assert "原因：企业评价“不满意”，差评重办" in wecom
    assert "超期" not in wecom


async def test_reminders_go_out_through_the_dispatcher(
    db: Database, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    clock = FixedClock(at(10, 12, 9))
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    org = await make_org(db, T0)
    await make_ticket(
        db, org, number="GD202610090001", received_at=at(10, 9), deadline_at=at(10, 13)
    )
    await make_ticket(
        db,
        org,
        number="GD202609300001",
        received_at=at(9, 29),
        enterprise=1,
        deadline_at=at(10, 13),
        state=TicketState.RESOLVED,
        resolutions=[at(10, 6, 15)],
    )
    report = await run_sla_pass(
        db,
        clock,
        Settings(),
        renderer=renderer(),
        policy=staff_policy(),
        queue=hub.queue,
        callbacks=False,
    )
    assert report.steps == {"remind": 1, "sla_hit": 1, "rating_reminder": 1}
    assert report.enqueued == 2
    assert await hub.dispatcher.run_once("sandbox") == 2
    assert set((await statuses(db)).values()) == {MessageStatus.SENT}
    [to_staff] = await hub.sandbox.inbox(0)
    assert to_staff["kind"] == "deadline_reminder"
    assert to_staff["address"] == "+8613800000001"
    [to_contact] = await hub.sandbox.inbox(org.contacts[1])
    assert to_contact["kind"] == "rating_reminder"


async def test_a_ticket_whose_step_fails_does_not_hold_up_the_others(
    any_db: Database, queue: Queue, tmp_path: Path
) -> None:
    # A template folder without escalation: the overdue ticket's step cannot be written.
    folder = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates" / "deadline_reminder", folder / "deadline_reminder")
    org = await make_org(any_db, T0)
    overdue = await make_ticket(
        any_db, org, number="GD202610080001", received_at=at(10, 8), deadline_at=at(10, 10)
    )
    due_soon = await make_ticket(
        any_db, org, number="GD202610090001", received_at=at(10, 9), deadline_at=at(10, 13)
    )
    report = await run_sla_pass(
        any_db,
        FixedClock(at(10, 12, 9)),
        Settings(),
        renderer=TemplateRenderer(folder),
        policy=staff_policy(),
        queue=queue,
        callbacks=False,
    )
    assert report.failed == [overdue]
    assert report.steps == {"remind": 1}
    assert (await ticket(any_db, overdue)).escalation_level == 0  # rolled back: retried later
    assert (await ticket(any_db, due_soon)).reminded_at == at(10, 12, 9)


async def test_a_deadline_at_a_time_of_day_is_named_with_that_time_not_24_00(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, T0)
    # A deadline set at 17:30 (not the usual 24:00): the reminder names 17:30 of that day.
    await make_ticket(
        any_db, org, number="GD202609290002", received_at=at(9, 29, 10),
        deadline_at=at(10, 12, 17, 30),
    )  # fmt: skip
    assert (await run(any_db, queue, at(10, 11, 18))).steps == {"remind": 1}
    [reminder] = await messages(any_db, MessageKind.DEADLINE_REMINDER)
    assert "办理时限：2026年10月12日17:30" in reminder.body
    assert "24时" not in reminder.body
