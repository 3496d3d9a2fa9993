"""What the tickets workbench reads, on SQLite and PostgreSQL: the search (number, part of an
enterprise's name, USCC; LIKE wildcards taken literally), the state counts by scope, a ticket's
source and callback surveys, the assign and transfer choices."""

from __future__ import annotations

import sqlalchemy as sa

from hub.core.vocab import CallbackMethod, CallbackStatus, TicketState
from hub.queries.scope import Visibility
from hub.queries.ticket_workbench import (
    assignable_handlers,
    departments,
    load_references,
    state_counts,
    ticket_origin,
)
from hub.queries.tickets import TicketFilter, TicketScope, list_tickets
from hub.store.db import Database
from hub.store.models import CallbackSurvey, Enterprise, Ticket
from hub.tickets.staff import StaffRole
from tests.ticket_support import new_ticket, seed_ticket_world, sh
from tests.web.api_support import store_reply

NOW = sh(2026, 11, 23, 10)


def _handler_scope(department_id: int) -> TicketScope:
    return TicketScope.for_staff(
        role=StaffRole.HANDLER, username="gxj_a", department_id=department_id,
        business_office=False, visibility=Visibility(),
    )  # fmt: skip


async def test_search_counts_origin_and_choices(any_db: Database) -> None:
    world = await seed_ticket_world(any_db)
    reply = await store_reply(any_db, NOW, sender="+8613900000001", text="用地手续请帮忙")
    gxj = await new_ticket(any_db, world, at=NOW, source_reply_id=reply)
    swj = await new_ticket(any_db, world, at=NOW, enterprise="乙商贸", body="想了解补贴政策")
    async with any_db.write() as session:
        session.add(CallbackSurvey(
            month="2026-11", ticket_id=gxj.id, method=CallbackMethod.MESSAGE,
            status=CallbackStatus.SENT, created_at=NOW,
        ))  # fmt: skip
        uscc = await session.scalar(
            sa.select(Enterprise.uscc).where(Enterprise.id == world.enterprises["乙商贸"])
        )
    assert uscc is not None
    everyone = TicketScope.operator()

    async with any_db.read() as session:

        async def found(text: str, scope: TicketScope = everyone) -> list[str]:
            rows = await list_tickets(session, TicketFilter(search=text), scope)
            return [t.number for t in rows]

        assert await found("乙商") == [swj.number]
        assert await found(uscc.lower()) == [swj.number]
        assert await found(f" {gxj.number.lower()} ") == [gxj.number]
        assert await found("%") == []  # a wildcard is a character, not "anything"
        assert await found("乙商", _handler_scope(world.departments["GXJ"])) == []

        counts = await state_counts(session, everyone)
        assert counts[TicketState.ASSIGNED] == 2
        assert counts[TicketState.NEW] == 0
        mine = await state_counts(session, _handler_scope(world.departments["GXJ"]), "甲")
        assert sum(mine.values()) == 1

        tickets = list((await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all())
        loaded = await load_references(session, tickets)
        assert len(loaded) == 2 + 2 + 2  # two enterprises, two departments, two handlers

        origin = await ticket_origin(session, gxj.number.lower())
        assert origin is not None
        assert origin.reply is not None
        assert origin.reply.text == "用地手续请帮忙"
        assert origin.visit is None
        assert [(s.method, s.status) for s in origin.surveys] == [
            (CallbackMethod.MESSAGE, CallbackStatus.SENT)
        ]
        assert await ticket_origin(session, "GD000") is None

        handlers = await assignable_handlers(session, _handler_scope(world.departments["GXJ"]))
        assert [c.value for c in handlers] == ["gxj_a", "gxj_c"]  # gxj_b is absent
        every = await assignable_handlers(session, everyone)
        assert {c.value for c in every} == {"gxj_a", "gxj_c", "swj_a", "fgw_a"}
        assert [c.value for c in await departments(session)] == ["FGW", "GXJ", "SWJ", "YSB"]
