"""Entering a year's calendar recomputes provisional deadlines, with an event (both databases)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import Settings, load_settings
from hub.cli import main
from hub.core.clock import FixedClock
from hub.core.errors import UsageError
from hub.core.settings import YearCalendar
from hub.core.vocab import TicketEventType
from hub.store.db import Database
from hub.store.models import AuditLog, Ticket
from hub.tickets.deadlines.admin_calendar import enter_year_and_recompute, recompute_on_start
from hub.tickets.deadlines.rules import end_of_day
from hub.tickets.lifecycle import events_of
from tests.ticket_support import TicketWorld, new_ticket, seed_ticket_world, sh

NOW = sh(2026, 12, 30, 10)


@pytest.fixture
async def world(any_db: Database) -> TicketWorld:
    return await seed_ticket_world(any_db)


async def test_entering_2027_makes_the_deadline_firm_and_records_it(
    any_db: Database, world: TicketWorld
) -> None:
    december = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10))  # due 5 Jan, provisional
    november = await new_ticket(any_db, world, at=sh(2026, 11, 23, 10))  # all in 2026
    assert december.deadline_provisional is True
    async with any_db.write() as session:
        days, moved = await enter_year_and_recompute(
            session, Settings(), 2027, holidays=["2027-01-01"], workdays=[], actor="admin",
            now=NOW,
        )  # fmt: skip
    assert days.holidays == frozenset({date(2027, 1, 1)})
    assert [m.number for m in moved] == [december.number]
    assert moved[0].old_deadline_at == end_of_day(date(2027, 1, 5))
    assert moved[0].new_deadline_at == end_of_day(date(2027, 1, 6))
    async with any_db.read() as session:
        stored = await session.get(Ticket, december.id)
        assert stored is not None
        assert (stored.deadline_at, stored.deadline_provisional) == (
            end_of_day(date(2027, 1, 6)), False,
        )  # fmt: skip
        events = await events_of(session, december.id)
        untouched = await session.get(Ticket, november.id)
        audit = (await session.scalars(sa.select(AuditLog))).one()
    assert events[-1].type is TicketEventType.DEADLINE_RECOMPUTED
    assert events[-1].actor == "admin"
    assert untouched is not None
    assert untouched.deadline_at == november.deadline_at
    assert (audit.action, audit.target_id) == ("calendar_year", "2027")
    # entering the same year again moves nothing
    async with any_db.write() as session:
        _, again = await enter_year_and_recompute(
            session, Settings(), 2027, holidays=["2027-01-01"], workdays=[], actor="admin",
            now=NOW,
        )  # fmt: skip
    assert again == []


async def test_an_empty_year_means_plain_weekdays_and_is_firm(
    any_db: Database, world: TicketWorld
) -> None:
    ticket = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10))
    async with any_db.write() as session:
        _, moved = await enter_year_and_recompute(
            session, Settings(), 2027, holidays=[], workdays=[], actor="admin", now=NOW
        )
    assert [(m.number, m.provisional) for m in moved] == [(ticket.number, False)]
    assert moved[0].new_deadline_at == moved[0].old_deadline_at


async def test_a_bad_calendar_is_refused(any_db: Database, world: TicketWorld) -> None:
    async with any_db.write() as session:
        with pytest.raises(UsageError, match="2027 年工作日历有误"):
            await enter_year_and_recompute(
                session, Settings(), 2027, holidays=["2028-01-01"], workdays=[], actor="a",
                now=NOW,
            )  # fmt: skip


def test_hub_calendar_set_and_show(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()

    async def seed() -> str:
        db = Database.open(load_settings(config).database_url)
        try:
            world = await seed_ticket_world(db)
            return (await new_ticket(db, world, at=sh(2026, 12, 29, 10))).number
        finally:
            await db.aclose()

    number = asyncio.run(seed())
    capsys.readouterr()
    assert main(["--config", str(config), "calendar", "show", "2027", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "fallback"
    args = ["calendar", "set", "2027", "--holiday", "2027-01-01", "--workday", "2027-02-06"]
    assert main(["--config", str(config), *args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recomputed"] == [{
        "number": number, "old_deadline_at": "2027-01-06T00:00:00+08:00",
        "new_deadline_at": "2027-01-07T00:00:00+08:00", "provisional": False,
    }]  # fmt: skip
    assert main(["--config", str(config), "calendar", "show", "2027", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["source"] == "admin"
    assert shown["weekend_workdays"] == ["2027-02-06"]
    assert "2027-01-01" in shown["days_off"]
    assert (
        main(["--config", str(config), "calendar", "set", "2027", "--holiday", "2027-13-01"]) == 2
    )


async def test_a_year_added_to_config_is_applied_at_start(
    any_db: Database, world: TicketWorld
) -> None:
    ticket = await new_ticket(any_db, world, at=sh(2026, 12, 29, 10))
    settings = Settings(calendar={"years": {2027: YearCalendar(holidays=("2027-01-01",))}})
    moved = await recompute_on_start(any_db, settings, FixedClock(NOW))
    assert [(m.number, m.new_deadline_at) for m in moved] == [
        (ticket.number, end_of_day(date(2027, 1, 6)))
    ]
    assert await recompute_on_start(any_db, settings, FixedClock(NOW)) == []
