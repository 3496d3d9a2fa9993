"""An officer's scope (hub/queries/scope.py, hub/tickets/staff.py): the account linked to a liaison
officer sees that officer's enterprises only, their tickets and visits, on SQLite and
PostgreSQL; an officer account not linked sees none, not all."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.errors import UsageError
from hub.queries.registry import EnterpriseFilter, count_enterprises, list_enterprises
from hub.queries.scope import Visibility
from hub.queries.tickets import TicketFilter, TicketScope, list_tickets
from hub.store.db import Database
from hub.store.models import AuditLog, Staff
from hub.tickets.desk import scope_of_staff
from hub.tickets.staff import (
    NewStaff,
    StaffRole,
    StaffView,
    add_staff,
    set_officer,
    staff_by_id,
    visibility_for,
)
from hub.visits.status import list_visits
from tests.ticket_support import new_ticket
from tests.visits.record_support import NOW, VisitWorld, seed_visit_world

# tests/seed.py: LL001 serves 甲机械 and 戊建筑, LL002 丙软件; 乙商贸 and 丁餐饮 have none.
LL001_ENTERPRISES = {"甲机械", "戊建筑"}


@pytest.fixture
async def world(any_db: Database) -> VisitWorld:
    return await seed_visit_world(any_db)


async def _officer(db: Database, officer: str = "LL001", username: str = "li-ming") -> StaffView:
    new = NewStaff(username, "李明", StaffRole.OFFICER, officer=officer)
    return await add_staff(db, FixedClock(NOW), new, actor="admin")


def _ticket_scope(view: StaffView, visibility: Visibility) -> TicketScope:
    return scope_of_staff(
        role=StaffRole.OFFICER, username=view.username, department_id=view.department_id,
        department_role=view.department_role, visibility=visibility,
    )  # fmt: skip


async def _tickets(db: Database, world: VisitWorld) -> dict[str, int]:
    """A ticket for every enterprise: their ids by enterprise id."""
    return {
        enterprise: (await new_ticket(db, world.tickets, at=NOW, enterprise=name)).id
        for name, enterprise in world.tickets.enterprises.items()
    }


async def test_an_officer_sees_only_his_enterprises_tickets_and_visits(
    any_db: Database, world: VisitWorld
) -> None:
    view = await _officer(any_db)
    assert (view.officer_code, view.officer_label) == ("LL001", "李明（LL001）")
    visibility = visibility_for(view, StaffRole.OFFICER)
    assert visibility == Visibility.of_officer(world.officers["LL001"])
    assert not visibility.full_addresses  # an officer's addresses are masked, as a viewer's

    listed = await list_enterprises(any_db, EnterpriseFilter(limit=50), visibility)
    assert {row["name"] for row in listed} == LL001_ENTERPRISES
    assert await count_enterprises(any_db, EnterpriseFilter(), visibility) == 2

    tickets = await _tickets(any_db, world)
    mine = {tickets[world.tickets.enterprises[name]] for name in LL001_ENTERPRISES}
    scope = _ticket_scope(view, visibility)
    async with any_db.read() as session:
        assert {t.id for t in await list_tickets(session, TicketFilter(), scope)} == mine
        every = await list_tickets(session, TicketFilter(), TicketScope.operator())
        # The one-ticket rule (a ticket's page, its steps) agrees with the list.
        assert {t.id for t in every if await scope.sees(session, t)} == mine
        visits = await list_visits(session, period=None, officer_code=None, state=None,
                                   today=NOW.date(), visibility=visibility)  # fmt: skip
    assert {v.enterprise_name for v in visits} == LL001_ENTERPRISES


async def test_an_officer_account_not_linked_sees_nothing_not_everything(
    any_db: Database, world: VisitWorld
) -> None:
    view = await _officer(any_db)
    async with any_db.write() as session:  # an account from before the link (migration 0012)
        await session.execute(sa.update(Staff).values(officer_id=None))
    unlinked = await staff_by_id(any_db, view.id)
    assert unlinked is not None
    visibility = visibility_for(unlinked, StaffRole.OFFICER)
    assert visibility == Visibility.of_officer(None)
    assert await list_enterprises(any_db, EnterpriseFilter(), visibility) == []
    await _tickets(any_db, world)
    async with any_db.read() as session:
        scope = _ticket_scope(unlinked, visibility)
        assert await list_tickets(session, TicketFilter(), scope) == []
        assert await list_visits(session, period=None, officer_code=None, state=None,
                                 today=NOW.date(), visibility=visibility) == []  # fmt: skip


async def test_an_officer_account_needs_a_known_officer_and_relinking_is_audited(
    any_db: Database, world: VisitWorld
) -> None:
    clock = FixedClock(NOW)
    with pytest.raises(UsageError, match="必须指定联络员编码"):
        await add_staff(any_db, clock, NewStaff("x", "某", StaffRole.OFFICER), actor="admin")
    with pytest.raises(UsageError, match="没有编码为 LL999 的联络员"):
        await _officer(any_db, officer="LL999")
    with pytest.raises(UsageError, match="只有联络员（officer）账号可关联联络员"):
        await add_staff(any_db, clock, NewStaff("v", "某", StaffRole.VIEWER, officer="LL001"),
                        actor="admin")  # fmt: skip
    await _officer(any_db, officer="ll001")  # codes match ignoring case
    moved = await set_officer(any_db, clock, "li-ming", "LL002", actor="boss")
    assert moved.officer_code == "LL002"
    async with any_db.read() as session:
        entries = (await session.scalars(
            sa.select(AuditLog).where(AuditLog.target_id == "li-ming").order_by(AuditLog.id)
        )).all()  # fmt: skip
    assert [(e.action, e.actor, e.detail) for e in entries] == [
        ("staff.added", "admin", {"officer": "LL001"}),
        ("staff.officer_linked", "boss", {"officer": "LL002", "before": "LL001"}),
    ]
