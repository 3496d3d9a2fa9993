"""Migration 0013: tickets are found by enterprise or contact together with their state.

The inbound worker reads, per chunk of replies, the chunk's enterprises' open tickets and its
contacts' resolved ones. With an index on the id alone SQLite's planner took the state index
and read every open ticket of the city per chunk; the composite indexes make it search by both.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command

from hub.core.vocab import TicketState
from hub.store.db import Database
from hub.store.migrate import alembic_config, upgrade_sync
from hub.store.models import Ticket
from hub.store.schema_version import current_revision, head_revision
from hub.tickets.lifecycle import OPEN_STATES
from tests.store.test_visits_schema import _execute, fresh_url  # noqa: F401 (a fixture)


async def _plan(db: Database, statement: sa.Select[Any]) -> str:
    compiled = statement.compile(db.engine, compile_kwargs={"literal_binds": True})
    async with db.engine.connect() as connection:
        rows = await connection.execute(sa.text(f"EXPLAIN QUERY PLAN {compiled}"))
        return " / ".join(str(row[-1]) for row in rows)


async def test_an_enterprises_and_a_contacts_tickets_are_searched_by_id_and_state(
    db: Database,
) -> None:
    open_of_enterprises = sa.select(Ticket).where(
        Ticket.enterprise_id.in_([1, 2, 3]), Ticket.state.in_(OPEN_STATES)
    )
    resolved_of_contacts = sa.select(Ticket).where(
        Ticket.contact_id.in_([4, 5]), Ticket.state == TicketState.RESOLVED
    )
    assert "ix_ticket_enterprise_state (enterprise_id=? AND state=?)" in await _plan(
        db, open_of_enterprises
    )
    assert "ix_ticket_contact_state (contact_id=? AND state=?)" in await _plan(
        db, resolved_of_contacts
    )


async def test_0013_goes_up_and_down(
    fresh_url: str,  # noqa: F811 (the fixture imported above)
) -> None:
    upgrade_sync(fresh_url, "0012")
    upgrade_sync(fresh_url)
    command.downgrade(alembic_config(fresh_url), "0012")
    upgrade_sync(fresh_url)
    db = Database.open(fresh_url)
    try:
        assert await current_revision(db) == head_revision() == "0013"
        async with db.engine.connect() as connection:
            indexes = await connection.run_sync(
                lambda sync: {i["name"] for i in sa.inspect(sync).get_indexes("ticket")}
            )
    finally:
        await db.aclose()
    assert {"ix_ticket_enterprise_state", "ix_ticket_contact_state"} <= indexes
    assert not {"ix_ticket_enterprise_id", "ix_ticket_contact_id"} & indexes
