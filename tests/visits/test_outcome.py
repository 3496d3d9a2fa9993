"""Recording a visit's outcome (hub/visits/outcome.py): problems become routed tickets with the
visit as their source, a repeat opens none, not done keeps it due, agreed times on working days,
contacts recorded."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import ContactVia, TicketEventType, TicketState, VisitStatus
from hub.store.db import Database
from hub.store.models import Department, Enterprise, LiaisonContact, Ticket, TicketEvent, Visit
from hub.visits.outcome import (
    ProblemFound,
    VisitOutcome,
    record_agreed_time,
    record_contact,
    record_done,
    record_not_done,
)
from tests.visits.record_support import (
    CALENDAR_2027,
    NOW,
    VisitWorld,
    seed_visit_world,
    visit_policy,
)

PROBLEMS = (
    ProblemFound("厂区道路破损需维修", department="FGW"),
    ProblemFound("生产线扩建用地手续办理慢"),  # routed by industry: 制造业 -> GXJ
)


@pytest.fixture
async def world(db: Database) -> VisitWorld:
    return await seed_visit_world(db)


async def _done(
    db: Database,
    visit_id: int,
    problems: Sequence[ProblemFound] = PROBLEMS,
    notes: str = "座谈顺利",
) -> VisitOutcome:
    async with db.write() as session:
        return await record_done(
            session, visit_id, at=NOW - timedelta(minutes=20), notes=notes, problems=problems,
            by="officer:LL001", now=NOW, policy=visit_policy(),
        )  # fmt: skip


async def test_done_with_two_problems_opens_two_routed_tickets_from_the_visit(
    db: Database, world: VisitWorld
) -> None:
    visit_id = world.visits["甲机械"]
    outcome = await _done(db, visit_id)
    assert outcome.status is VisitStatus.DONE
    assert [t.department for t in outcome.tickets] == ["FGW", "GXJ"]
    async with db.read() as session:
        tickets = (await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all()
        visit = await session.get(Visit, visit_id)
        departments = dict((await session.execute(sa.select(Department.id, Department.code))).all())
        events = (
            await session.scalars(
                sa.select(TicketEvent).where(TicketEvent.type == TicketEventType.CREATED)
            )
        ).all()
    assert len(tickets) == 2
    assert {t.source_visit_id for t in tickets} == {visit_id}
    assert {t.enterprise_id for t in tickets} == {world.tickets.enterprises["甲机械"]}
    assert [departments[t.department_id] for t in tickets] == ["FGW", "GXJ"]
    assert all(t.state is TicketState.ASSIGNED for t in tickets)  # each department's handler
    assert tickets[0].contact_id == world.tickets.contacts["甲机械"]  # the answer reaches it
    # general urgency: 5 working days after Monday 2027-03-01, due 24:00 Monday 03-08
    assert {t.deadline_at for t in tickets} == {datetime(2027, 3, 8, 16, 0, tzinfo=UTC)}
    assert not tickets[0].deadline_provisional  # 2027 entered
    assert [e.data["routed_by"] for e in events] == ["named", "industry"]
    assert tickets[0].subject == "走访发现：厂区道路破损需维修"
    assert visit is not None
    assert visit.status is VisitStatus.DONE
    assert visit.visited_at == NOW - timedelta(minutes=20)
    assert visit.notes == "座谈顺利"
    assert [p["ticket"] for p in visit.details["problems"]] == [t.number for t in tickets]
    assert "FGW" in outcome.summary()
    assert tickets[0].number in outcome.summary()


async def test_recording_the_same_outcome_again_opens_no_ticket(
    db: Database, world: VisitWorld
) -> None:
    first = await _done(db, world.visits["甲机械"])
    again = await _done(db, world.visits["甲机械"])
    assert again.already
    assert [t.number for t in again.tickets] == [t.number for t in first.tickets]
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
    with pytest.raises(UsageError, match="已记录为完成"):
        await _done(db, world.visits["甲机械"], problems=(ProblemFound("另一个问题"),))


async def test_done_without_problems_opens_nothing_and_an_unknown_department_is_named(
    db: Database, world: VisitWorld
) -> None:
    with pytest.raises(NotFoundError, match="部门编码 XYZ 不存在"):
        await _done(db, world.visits["戊建筑"], problems=(ProblemFound("漏水", department="xyz"),))
    outcome = await _done(db, world.visits["戊建筑"], problems=())
    assert outcome.tickets == ()
    with pytest.raises(NotFoundError, match="没有编号为 9999 的走访"):
        await _done(db, 9999)


async def test_not_done_keeps_the_visit_due_with_the_reason(
    db: Database, world: VisitWorld
) -> None:
    visit_id = world.visits["丙软件"]
    async with db.write() as session:
        outcome = await record_not_done(
            session, visit_id, reason="企业负责人出差", by="cli", now=NOW
        )
    assert outcome.status is VisitStatus.PLANNED
    async with db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    assert visit.status is VisitStatus.PLANNED
    assert visit.proposed_for is None
    [entry] = visit.details["not_done"]
    assert entry["reason"] == "企业负责人出差"
    assert entry["by"] == "cli"
    assert entry["was_for"].startswith("2027-03-01T01:30")
    async with db.write() as session:
        with pytest.raises(UsageError, match="未完成原因"):
            await record_not_done(session, visit_id, reason="  ", by="cli", now=NOW)
    await _done(db, visit_id, problems=())
    async with db.write() as session:
        with pytest.raises(UsageError, match="已记录为完成"):
            await record_not_done(session, visit_id, reason="又没去", by="cli", now=NOW)


async def test_an_agreed_time_on_a_holiday_is_refused_and_a_working_day_confirms(
    db: Database, world: VisitWorld
) -> None:
    visit_id = world.visits["丙软件"]
    qingming = datetime(2027, 4, 5, 1, 30, tzinfo=UTC)  # Monday, a holiday entered for 2027
    async with db.write() as session:
        with pytest.raises(UsageError, match=r"2027-04-05（周一）09:30 是休息日.*2027-04-06"):
            await record_agreed_time(session, visit_id, at=qingming, by="cli", now=NOW,
                                     calendar=CALENDAR_2027)  # fmt: skip
        with pytest.raises(UsageError, match="已过"):
            await record_agreed_time(session, visit_id, at=NOW - timedelta(days=1), by="cli",
                                     now=NOW, calendar=CALENDAR_2027)  # fmt: skip
    makeup_saturday = datetime(2027, 2, 20, 1, 30, tzinfo=UTC)
    async with db.write() as session:
        outcome = await record_agreed_time(
            session, visit_id, at=datetime(2027, 3, 2, 1, 30, tzinfo=UTC), by="cli", now=NOW,
            calendar=CALENDAR_2027,
        )  # fmt: skip
    assert outcome.status is VisitStatus.CONFIRMED
    async with db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    assert visit.proposed_for == datetime(2027, 3, 2, 1, 30, tzinfo=UTC)
    assert visit.details["agreed"]["by"] == "cli"
    assert CALENDAR_2027.is_workday(makeup_saturday.date())  # the calendar the test relies on


async def test_a_contact_is_recorded_for_the_enterprise_and_its_officer(
    db: Database, world: VisitWorld
) -> None:
    async with db.write() as session:
        uscc = await session.scalar(
            sa.select(Enterprise.uscc).where(Enterprise.id == world.tickets.enterprises["甲机械"])
        )
        assert uscc is not None
        recorded = await record_contact(
            session, uscc.lower(), via=ContactVia.PHONE, at=None, notes="已电话了解用工需求",
            officer=None, source="cli", now=NOW,
        )  # fmt: skip
        with pytest.raises(NotFoundError, match="没有统一社会信用代码为 123 的企业"):
            await record_contact(session, "123", via=ContactVia.PHONE, at=None, notes=None,
                                 officer=None, source="cli", now=NOW)  # fmt: skip
    assert recorded.officer == "LL001"
    assert recorded.via is ContactVia.PHONE
    async with db.read() as session:
        [row] = (await session.scalars(sa.select(LiaisonContact))).all()
    assert (row.enterprise_id, row.officer_id) == (world.tickets.enterprises["甲机械"],
                                                   world.officers["LL001"])  # fmt: skip
    assert (row.at, row.notes, row.source) == (NOW, "已电话了解用工需求", "cli")
