"""The ticket service on SQLite and PostgreSQL: numbers, routing, deadlines, every step."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from hub.app.config import Settings
from hub.core.errors import TransitionError, UsageError
from hub.core.settings import YearCalendar
from hub.core.vocab import ChannelName, TicketCategory, TicketEventType, TicketState, Urgency
from hub.store.db import Database
from hub.store.models import (
    Department,
    Enterprise,
    InboundReply,
    Staff,
    Ticket,
    WorkdayOverride,
)
from hub.tickets.deadlines.rules import end_of_day
from hub.tickets.lifecycle import (
    append_to_ticket,
    assign,
    awaiting_rating,
    close,
    events_of,
    extend,
    find_appendable_ticket,
    open_ticket,
    reopen,
    resolve,
    return_to_dispatcher,
    start,
    ticket_by_number,
    transfer,
)
from hub.tickets.policy import TicketPolicy, load_ticket_policy
from hub.tickets.routing import RoutingCache
from tests.ticket_support import TicketWorld, new_ticket, policy, seed_ticket_world, sh

NOW = sh(2026, 11, 23, 10)


@pytest.fixture
async def world(any_db: Database) -> TicketWorld:
    return await seed_ticket_world(any_db)


async def _get(db: Database, ticket_id: int) -> Ticket:
    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


async def _types(db: Database, ticket_id: int) -> list[TicketEventType]:
    async with db.read() as session:
        return [e.type for e in await events_of(session, ticket_id)]


async def test_numbers_count_per_local_receipt_day(any_db: Database, world: TicketWorld) -> None:
    first = await new_ticket(any_db, world, at=sh(2026, 11, 23, 9))
    second = await new_ticket(any_db, world, at=sh(2026, 11, 23, 23, 59))
    # 00:30 in Shanghai is still the 23rd in UTC: the local day decides
    third = await new_ticket(any_db, world, at=sh(2026, 11, 24, 0, 30))
    assert [first.number, second.number, third.number] == [
        "GD202611230001", "GD202611230002", "GD202611240001",
    ]  # fmt: skip


async def test_concurrent_tickets_get_distinct_numbers(
    any_db: Database, world: TicketWorld
) -> None:
    tickets = await asyncio.gather(*(new_ticket(any_db, world, at=NOW) for _ in range(8)))
    numbers = sorted(t.number for t in tickets)
    assert numbers == [f"GD20261123{n:04d}" for n in range(1, 9)]
    # the round-robin cursor is locked per transaction: the two present handlers take 4 each
    handlers = [t.handler_id for t in tickets]
    assert sorted(handlers.count(world.staff[u]) for u in ("gxj_a", "gxj_c")) == [4, 4]


async def test_routing_rule_then_industry_then_default_then_none(
    any_db: Database, world: TicketWorld
) -> None:
    by_keyword = await new_ticket(any_db, world, at=NOW, body="厂区频繁停电，影响生产")
    by_category = await new_ticket(
        any_db, world, at=NOW, enterprise="乙商贸", body="投诉：检查太多"
    )
    by_industry = await new_ticket(any_db, world, at=NOW, enterprise="乙商贸", body="想了解补贴")
    default = await new_ticket(
        any_db, world, at=NOW, enterprise="戊建筑", pol=policy(default_department="FGW")
    )
    unrouted = await new_ticket(any_db, world, at=NOW, enterprise="戊建筑")
    d = world.departments
    assert by_keyword.department_id == d["FGW"]
    assert by_category.department_id == d["GXJ"]
    assert by_category.category is TicketCategory.COMPLAINT
    assert by_industry.department_id == d["SWJ"]
    assert default.department_id == d["FGW"]
    assert (unrouted.department_id, unrouted.handler_id, unrouted.state) == (
        None, None, TicketState.NEW,
    )  # fmt: skip
    assert await _types(any_db, unrouted.id) == [TicketEventType.CREATED]


async def test_round_robin_skips_absent_handlers(any_db: Database, world: TicketWorld) -> None:
    tickets = [await new_ticket(any_db, world, at=NOW) for _ in range(4)]
    s = world.staff
    # gxj_b is absent; gxj_head is not a handler
    assert [t.handler_id for t in tickets] == [s["gxj_a"], s["gxj_c"], s["gxj_a"], s["gxj_c"]]
    assert all(t.state is TicketState.ASSIGNED for t in tickets)
    assert await _types(any_db, tickets[0].id) == [
        TicketEventType.CREATED, TicketEventType.ASSIGNED,
    ]  # fmt: skip


async def test_a_handler_back_from_absence_is_in_the_rotation_again(
    any_db: Database, world: TicketWorld
) -> None:
    async with any_db.write() as session:
        await session.execute(
            sa.update(Staff).where(Staff.username == "gxj_b").values(absent=False)
        )
    tickets = [await new_ticket(any_db, world, at=NOW) for _ in range(3)]
    s = world.staff
    assert [t.handler_id for t in tickets] == [s["gxj_a"], s["gxj_b"], s["gxj_c"]]


async def test_deadline_across_national_day_2026(any_db: Database, world: TicketWorld) -> None:
    # Mon 28 Sep, general (5 wd): 29, 30 Sep, then 1–7 Oct off, 8, 9 and Sat 10 Oct (make-up)
    ticket = await new_ticket(any_db, world, at=sh(2026, 9, 28, 15))
    assert ticket.deadline_at == end_of_day(date(2026, 10, 10))
    assert ticket.deadline_provisional is False
    # Sat 19 Sep: Sun 20 Sep is a make-up workday and counts first
    early = await new_ticket(any_db, world, at=sh(2026, 9, 19, 11))
    assert early.deadline_at == end_of_day(date(2026, 9, 24))


async def test_december_ticket_lands_in_2027_without_and_with_a_calendar(
    any_db: Database, world: TicketWorld
) -> None:
    # Tue 29 Dec 2026, general: 30, 31 Dec, then 2027 — no data: Mon–Fri, provisional
    without = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10))
    assert without.deadline_at == end_of_day(date(2027, 1, 5))
    assert without.deadline_provisional is True
    # 2027 entered in config: 1 Jan is a holiday, the deadline is a day later and firm
    settings = Settings(calendar={"years": {2027: YearCalendar(holidays=("2027-01-01",))}})
    entered = TicketPolicy.from_settings(settings)
    with_config = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10), pol=entered)
    assert with_config.deadline_at == end_of_day(date(2027, 1, 6))
    assert with_config.deadline_provisional is False
    # the same from days an admin entered in the database
    async with any_db.write() as session:
        for day, workday in ((date(2027, 1, 1), False), (date(2027, 1, 4), False)):
            session.add(WorkdayOverride(day=day, is_workday=workday, entered_by="admin",
                                        entered_at=NOW))  # fmt: skip
    async with any_db.read() as session:
        from_db = await load_ticket_policy(session, Settings())
    with_db = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10), pol=from_db)
    assert with_db.deadline_at == end_of_day(date(2027, 1, 7))
    assert with_db.deadline_provisional is False


async def test_urgency_classes_come_from_settings(any_db: Database, world: TicketWorld) -> None:
    custom = TicketPolicy.from_settings(Settings(deadlines={Urgency.URGENT: 1}))
    ticket = await new_ticket(any_db, world, at=NOW, urgency="紧急", pol=custom)
    assert ticket.urgency is Urgency.URGENT
    assert ticket.deadline_at == end_of_day(date(2026, 11, 24))
    with pytest.raises(UsageError, match="未知的办理时限类别"):
        await new_ticket(any_db, world, at=NOW, urgency="hard", pol=custom)


async def test_transfer_keeps_the_deadline_and_round_robins(
    any_db: Database, world: TicketWorld
) -> None:
    ticket = await new_ticket(any_db, world, at=NOW)
    async with any_db.write() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        swj = await session.get(Department, world.departments["SWJ"])
        assert swj is not None
        with pytest.raises(UsageError, match="转办必须填写原因"):
            await transfer(session, row, swj, reason=" ", actor="t", now=NOW)
        await transfer(session, row, swj, reason="属商务局职责", actor="gxj_a",
                       now=NOW + timedelta(days=3))  # fmt: skip
    after = await _get(any_db, ticket.id)
    assert after.deadline_at == ticket.deadline_at
    assert after.department_id == world.departments["SWJ"]
    assert after.handler_id == world.staff["swj_a"]
    async with any_db.read() as session:
        events = await events_of(session, ticket.id)
    moved = next(e for e in events if e.type is TicketEventType.TRANSFERRED)
    assert (moved.actor, moved.reason, moved.data["to_department"]) == (
        "gxj_a",
        "属商务局职责",
        "SWJ",
    )
    assert moved.data["from_department_id"] == world.departments["GXJ"]


async def test_return_extend_start_resolve_and_illegal_steps(
    any_db: Database, world: TicketWorld
) -> None:
    pol = policy()
    ticket = await new_ticket(any_db, world, at=NOW)
    async with any_db.write() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        await return_to_dispatcher(session, row, reason="非本部门事项", actor="gxj_a", now=NOW)
        assert (row.state, row.department_id, row.handler_id) == (TicketState.NEW, None, None)
        with pytest.raises(TransitionError, match="当前状态为“新建”，不能办结"):
            await resolve(session, row, answer="x", actor="t", now=NOW)
        with pytest.raises(TransitionError, match="不能开始办理"):
            await start(session, row, actor="t", now=NOW)
        handler = await session.get(Staff, world.staff["gxj_c"])
        assert handler is not None
        await assign(session, row, handler, actor="dispatcher", now=NOW)
        await start(session, row, actor="gxj_c", now=NOW)
        old_due = row.deadline_at
        deadline = await extend(session, row, policy=pol, working_days=5, reason="需现场核查",
                                actor="gxj_c", now=NOW)  # fmt: skip
        # Mon 23 Nov + 5 wd = Mon 30 Nov; +5 more = Mon 7 Dec
        assert old_due == end_of_day(date(2026, 11, 30))
        assert row.deadline_at == deadline.due_at == end_of_day(date(2026, 12, 7))
        assert row.deadline_extensions == [5]
        with pytest.raises(UsageError, match="延期必须填写原因"):
            await extend(session, row, policy=pol, working_days=1, reason="", actor="t", now=NOW)
        await resolve(session, row, answer="已协调解决", actor="gxj_c", now=NOW)
        assert row.state is TicketState.RESOLVED
        assert row.resolved_at == NOW
        swj = await session.get(Department, world.departments["SWJ"])
        assert swj is not None
        with pytest.raises(TransitionError, match="已办结待评价"):
            await transfer(session, row, swj, reason="r", actor="t", now=NOW)
        with pytest.raises(UsageError, match="rated 或 no_rating"):
            await close(session, row, reason="done", actor="t", now=NOW)
        await close(session, row, reason="no_rating", actor="system", now=NOW)
        with pytest.raises(TransitionError, match="已销号"):
            await resolve(session, row, answer="x", actor="t", now=NOW)
        await reopen(session, row, reason="企业再次反映", actor="dispatcher", now=NOW)
        assert (row.state, row.reopen_count, row.closed_at) == (TicketState.REOPENED, 1, None)
    assert await _types(any_db, ticket.id) == [
        TicketEventType.CREATED, TicketEventType.ASSIGNED, TicketEventType.RETURNED,
        TicketEventType.ASSIGNED, TicketEventType.STARTED, TicketEventType.EXTENDED,
        TicketEventType.RESOLVED, TicketEventType.CLOSED, TicketEventType.REOPENED,
    ]  # fmt: skip


async def test_assign_refuses_absent_and_non_handlers(any_db: Database, world: TicketWorld) -> None:
    ticket = await new_ticket(any_db, world, at=NOW)
    async with any_db.write() as session:
        row = await session.get(Ticket, ticket.id)
        absent = await session.get(Staff, world.staff["gxj_b"])
        head = await session.get(Staff, world.staff["gxj_head"])
        assert row is not None
        assert absent is not None
        assert head is not None
        with pytest.raises(UsageError, match="不在岗"):
            await assign(session, row, absent, actor="t", now=NOW)
        with pytest.raises(UsageError, match="只能分派给经办人"):
            await assign(session, row, head, actor="t", now=NOW)


async def test_append_window_and_reply_links(any_db: Database, world: TicketWorld) -> None:
    pol = policy(append_window_hours=72)
    async with any_db.write() as session:
        reply = InboundReply(
            channel=ChannelName.SMS, provider="tencent", provider_msg_id="m1",
            sender="+8613900000001", text="用地问题", raw={}, received_at=NOW,
        )  # fmt: skip
        session.add(reply)
        await session.flush()
        ticket = await open_ticket(
            session, policy=pol, now=NOW, body="用地问题", channel=ChannelName.SMS,
            enterprise_id=world.enterprises["甲机械"], contact_id=world.contacts["甲机械"],
            source_reply_id=reply.id,
        )  # fmt: skip
        assert reply.id is not None
        reply_id = reply.id
    async with any_db.read() as session:
        stored = await session.get(InboundReply, reply_id)
        assert stored is not None
        assert stored.ticket_id == ticket.id
        found = await find_appendable_ticket(
            session, policy=pol, enterprise_id=world.enterprises["甲机械"], contact_id=None,
            now=NOW + timedelta(hours=71),
        )  # fmt: skip
        late = await find_appendable_ticket(
            session, policy=pol, enterprise_id=world.enterprises["甲机械"], contact_id=None,
            now=NOW + timedelta(hours=73),
        )  # fmt: skip
        other = await find_appendable_ticket(
            session, policy=pol, enterprise_id=world.enterprises["乙商贸"], contact_id=None,
            now=NOW,
        )  # fmt: skip
    assert found is not None
    assert found.id == ticket.id
    assert late is None
    assert other is None
    async with any_db.write() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        await append_to_ticket(session, row, body="补充材料已备好", source_reply_id=None,
                               now=NOW + timedelta(hours=1))  # fmt: skip
        assert row.body.startswith("用地问题")
        assert "补充材料已备好" in row.body
        assert row.deadline_at == ticket.deadline_at
        # the append moved the window on
        again = await find_appendable_ticket(
            session, policy=pol, enterprise_id=world.enterprises["甲机械"], contact_id=None,
            now=NOW + timedelta(hours=73),
        )  # fmt: skip
        assert again is not None
        assert again.id == ticket.id


async def test_open_ticket_without_enterprise_or_contact(
    any_db: Database, world: TicketWorld
) -> None:
    async with any_db.write() as session:
        ticket = await open_ticket(session, settings=Settings(), now=NOW, body="请问怎么办理",
                                   channel=ChannelName.WECHAT)  # fmt: skip
    assert (ticket.enterprise_id, ticket.contact_id, ticket.department_id) == (None, None, None)
    assert ticket.category is TicketCategory.CONSULTATION
    async with any_db.read() as session:
        assert await find_appendable_ticket(
            session, enterprise_id=None, contact_id=None, now=NOW
        ) is None  # fmt: skip
        assert (await ticket_by_number(session, ticket.number.lower())) is not None


async def test_tickets_opened_without_flushing_are_written_by_one_flush(
    any_db: Database, world: TicketWorld
) -> None:
    """``flush=False`` (the inbound worker's chunk): the tickets wait for the session's next
    flush, their events refer to them by relationship, and that flush writes them all in order
    with the same numbers, events and handlers as tickets flushed one by one."""
    async with any_db.write() as session:
        # As the worker's chunk: routing and the enterprise read before (a query autoflushes).
        routing = await RoutingCache.load(session)
        enterprise = await session.get(Enterprise, world.enterprises["甲机械"])
        assert enterprise is not None
        opened = []
        for i in range(3):
            ticket = await open_ticket(
                session, policy=policy(), now=NOW, body=f"用地手续问题 {i}",
                channel=ChannelName.SMS, enterprise_id=enterprise.id,
                contact_id=world.contacts["甲机械"], routing=routing, link_reply=False,
                flush=False,
            )  # fmt: skip
            opened.append(ticket)
        assert [t.id for t in opened] == [None, None, None]  # nothing written yet
        assert [t.number for t in opened] == [f"GD20261123{n:04d}" for n in (1, 2, 3)]
        await session.flush()
        ids = [t.id for t in opened]
        assert None not in ids
    for ticket_id in ids:
        assert await _types(any_db, ticket_id) == [TicketEventType.CREATED,
                                                   TicketEventType.ASSIGNED]  # fmt: skip
    handlers = [(await _get(any_db, i)).handler_id for i in ids]
    assert set(handlers) <= {world.staff["gxj_a"], world.staff["gxj_c"]}


async def test_awaiting_rating_lists_the_contacts_resolved_tickets(
    any_db: Database, world: TicketWorld
) -> None:
    first = await new_ticket(any_db, world, at=NOW)
    second = await new_ticket(any_db, world, at=NOW)
    async with any_db.write() as session:
        for ticket_id in (second.id, first.id):
            row = await session.get(Ticket, ticket_id)
            assert row is not None
            await resolve(
                session, row, answer="已办", actor="t", now=NOW + timedelta(hours=ticket_id)
            )
    async with any_db.read() as session:
        waiting = await awaiting_rating(session, world.contacts["甲机械"])
        nobody = await awaiting_rating(session, world.contacts["乙商贸"])
    assert [t.id for t in waiting] == [first.id, second.id]
    assert nobody == []
