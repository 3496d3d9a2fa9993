"""An admin change and its audit entry commit together or not at all (hub.store.audit).

The admin's pages hand the feature function an AuditNote; the function adds it in the change's
own transaction. Here, for each such function: a change refused or failing leaves no entry, an
entry that cannot be written leaves no change, a successful change leaves exactly one entry,
and a change that changes nothing (the same version again, a fire already run) leaves none.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.core.errors import StorageError, TransitionError
from hub.core.keys import RedisKeys
from hub.core.vocab import TicketEventType
from hub.inbound.sandbox_reply import accept_sandbox_reply
from hub.infra.queue import Queue
from hub.queries.tickets import TicketScope
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.models import AuditLog, Contact, Ticket, TicketEvent
from hub.store.schedule_runs import claim_run
from hub.store.schedules import ScheduleContent, write_schedule_versions
from hub.store.templates import TemplateDraft, write_template_versions
from hub.tickets.desk import TicketDesk
from tests.ticket_support import new_ticket, seed_ticket_world

# A detail the JSON column cannot hold: writing the entry fails, inside the change's transaction.
UNWRITABLE = {"bad": object()}


async def _entries(db: Database) -> list[tuple[str, str | None, dict[str, object]]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(AuditLog.action, AuditLog.target_id, AuditLog.detail).order_by(AuditLog.id)
        )
        return [(a, t, d) for a, t, d in rows]


async def test_a_ticket_step_and_its_entry_commit_together(
    any_db: Database, clock: FixedClock
) -> None:
    world = await seed_ticket_world(any_db)
    ticket = await new_ticket(any_db, world, at=clock.now())
    desk = TicketDesk(any_db, Settings(), clock)
    scope = TicketScope.operator()
    note = AuditNote("gxj_a", "ticket.resolve", "ticket", detail={"answer": "已办理"})

    with pytest.raises(TransitionError):  # refused by the desk (not resolved yet): no entry
        await desk.audited(AuditNote("dispatcher", "ticket.reopen", "ticket")).reopen(
            scope, ticket.number, reason="重办"
        )
    # The entry cannot be written: no step either.
    with pytest.raises(StorageError, match="JSON serializable"):
        await desk.audited(AuditNote("gxj_a", "ticket.resolve", "ticket", detail=UNWRITABLE)
                           ).resolve(scope, ticket.number, answer="已办理")  # fmt: skip
    async with any_db.read() as session:
        stored = await session.get(Ticket, ticket.id)
        assert stored is not None
        assert stored.state is ticket.state
        of_ticket = sa.select(TicketEvent.type).where(TicketEvent.ticket_id == ticket.id)
        events = (await session.scalars(of_ticket)).all()
    assert TicketEventType.RESOLVED not in events
    assert await _entries(any_db) == []

    await desk.audited(note).resolve(scope, ticket.number, answer="已办理")
    assert await _entries(any_db) == [
        ("ticket.resolve", ticket.number, {"answer": "已办理", "state": "resolved"})
    ]


async def test_a_template_version_and_its_entry_commit_together(
    any_db: Database, clock: FixedClock
) -> None:
    note = AuditNote("admin", "template.save", "template", "notice/sandbox", {"from_version": 1})
    first = TemplateDraft("notice", "sandbox", "{{ text }}", {"variables": {}})
    await write_template_versions(any_db, [first], clock, "seed", only_new=False)
    edited = TemplateDraft("notice", "sandbox", "{{ text }}！", {"variables": {}})
    unknown = TemplateDraft("no_such_kind", "sandbox", "x", {})
    with pytest.raises(ValueError, match="no_such_kind"):  # the change fails after the entry
        await write_template_versions(any_db, [edited, unknown], clock, "admin", only_new=False,
                                      audit=note)  # fmt: skip
    with pytest.raises(StorageError, match="JSON serializable"):
        await write_template_versions(any_db, [edited], clock, "admin", only_new=False,
                                      audit=AuditNote("admin", "template.save", "template",
                                                      detail=UNWRITABLE))  # fmt: skip
    assert await _entries(any_db) == []

    written = await write_template_versions(any_db, [edited], clock, "admin", only_new=False,
                                            audit=note)  # fmt: skip
    assert written.updated == ["notice/sandbox v2"]
    again = await write_template_versions(any_db, [edited], clock, "admin", only_new=False,
                                          audit=note)  # fmt: skip
    assert again.updated == []  # the same text again: no version, no entry
    assert await _entries(any_db) == [
        ("template.save", "notice/sandbox", {"from_version": 1, "version": 2})
    ]


async def test_a_schedule_version_and_a_run_carry_their_entries(
    any_db: Database, clock: FixedClock
) -> None:
    note = AuditNote("dispatcher", "schedule.create", "schedule", "weekly", {"enabled": True})
    content = ScheduleContent("weekly", True, {"cron": "0 10 * * 1"})
    with pytest.raises(StorageError, match="JSON serializable"):
        await write_schedule_versions(any_db, [content], clock, "dispatcher",
                                      audit=AuditNote("dispatcher", "schedule.create",
                                                      "schedule", detail=UNWRITABLE))  # fmt: skip
    async with any_db.read() as session:
        assert await session.scalar(sa.text("SELECT count(*) FROM schedule")) == 0
    await write_schedule_versions(any_db, [content], clock, "dispatcher", audit=note)
    await write_schedule_versions(any_db, [content], clock, "dispatcher", audit=note)  # same
    async with any_db.read() as session:
        schedule_id = await session.scalar(sa.text("SELECT id FROM schedule"))

    run = AuditNote("dispatcher", "schedule.run", "schedule", "weekly", {"fire_time": "10:00"})
    run_id = await claim_run(any_db, clock, schedule_id, 1, clock.now(), audit=run)
    assert run_id is not None
    # The same fire again is someone's already: nothing claimed, no entry.
    assert await claim_run(any_db, clock, schedule_id, 1, clock.now(), audit=run) is None
    assert await _entries(any_db) == [
        ("schedule.create", "weekly", {"enabled": True, "version": 1}),
        ("schedule.run", "weekly", {"fire_time": "10:00", "run_id": run_id}),
    ]


async def test_a_sandbox_reply_and_its_entry_commit_together(
    any_db: Database, clock: FixedClock, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    world = await seed_ticket_world(any_db)
    async with any_db.read() as session:
        contact = await session.get(Contact, world.contacts["甲机械"])
        assert contact is not None
        mobile = contact.mobile
    note = AuditNote("admin", "sandbox.reply", "reply", detail={"text": "好的"})
    with pytest.raises(StorageError, match="JSON serializable"):
        await accept_sandbox_reply(any_db, queue, clock, mobile, "好的",
                                   audit=AuditNote("admin", "sandbox.reply", "reply",
                                                   detail=UNWRITABLE))  # fmt: skip
    async with any_db.read() as session:
        assert await session.scalar(sa.text("SELECT count(*) FROM inbound_reply")) == 0
    accepted = await accept_sandbox_reply(any_db, queue, clock, mobile, "好的", audit=note)
    assert await _entries(any_db) == [("sandbox.reply", str(accepted.reply_id), {"text": "好的"})]
