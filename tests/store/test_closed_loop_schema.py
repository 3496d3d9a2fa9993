"""Migration 0002 (closed loop): new event types, numbering table, reply -> ticket link."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from hub.core.errors import StorageError
from hub.core.vocab import (
    CallbackMethod,
    CallbackStatus,
    ChannelName,
    TicketCategory,
    TicketEventType,
    TicketState,
    Urgency,
)
from hub.store.db import Database
from hub.store.migrate import alembic_config, upgrade_sync
from hub.store.models import CallbackSurvey, InboundReply, Ticket, TicketEvent, TicketNumberSeq
from hub.store.schema_version import current_revision, head_revision

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


async def _ticket(db: Database) -> int:
    async with db.write() as session:
        ticket = Ticket(
            number="GD202612020001",
            subject="s",
            body="b",
            urgency=Urgency.GENERAL,
            state=TicketState.NEW,
            received_at=T0,
            deadline_at=T0,
            created_at=T0,
            updated_at=T0,
        )
        session.add(ticket)
        await session.flush()
        return ticket.id


async def test_every_event_type_is_accepted_and_others_refused(any_db: Database) -> None:
    ticket_id = await _ticket(any_db)
    async with any_db.write() as session:
        for kind in TicketEventType:
            session.add(TicketEvent(ticket_id=ticket_id, type=kind, actor="t", at=T0, data={}))
    async with any_db.engine.begin() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                sa.text(
                    "INSERT INTO ticket_event (ticket_id, type, actor, at, data) "
                    "VALUES (:t, 'deleted', 'x', :at, '{}')"
                ),
                {"t": ticket_id, "at": T0},
            )
    async with any_db.read() as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(TicketEvent))
    assert count == len(TicketEventType)


async def test_new_ticket_columns_default(any_db: Database) -> None:
    ticket_id = await _ticket(any_db)
    async with any_db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
    assert ticket is not None
    assert ticket.category is TicketCategory.REQUEST
    assert (ticket.reopen_count, ticket.escalation_level, ticket.deadline_extensions) == (0, 0, [])


async def test_reply_links_to_its_ticket_and_a_missing_ticket_is_refused(any_db: Database) -> None:
    ticket_id = await _ticket(any_db)

    def reply(provider_id: str, ticket: int) -> InboundReply:
        return InboundReply(
            channel=ChannelName.SANDBOX, provider="sandbox", provider_msg_id=provider_id,
            sender="x", text="t", raw={}, received_at=T0, ticket_id=ticket,
            classification_detail={"class": "request", "detail": {}}, classified_at=T0,
        )  # fmt: skip

    async with any_db.write() as session:
        session.add(reply("p1", ticket_id))
    with pytest.raises(StorageError):
        async with any_db.write() as session:
            session.add(reply("p2", ticket_id + 999))


async def test_one_survey_per_ticket_and_month(any_db: Database) -> None:
    ticket_id = await _ticket(any_db)

    def survey() -> CallbackSurvey:
        return CallbackSurvey(
            month="2026-11", ticket_id=ticket_id, method=CallbackMethod.PHONE,
            status=CallbackStatus.PENDING, created_at=T0,
        )  # fmt: skip

    async with any_db.write() as session:
        session.add(survey())
    with pytest.raises(StorageError):
        async with any_db.write() as session:
            session.add(survey())


async def test_number_sequence_row_per_day(any_db: Database) -> None:
    async with any_db.write() as session:
        session.add(TicketNumberSeq(day=date(2026, 12, 2), last=1))
    with pytest.raises(StorageError):
        async with any_db.write() as session:
            session.add(TicketNumberSeq(day=date(2026, 12, 2), last=2))


async def test_downgrade_and_upgrade_again_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
    upgrade_sync(url)
    command.downgrade(alembic_config(url), "0001")
    upgrade_sync(url)
    db = Database.open(url)
    try:
        assert await current_revision(db) == head_revision()
    finally:
        await db.aclose()
