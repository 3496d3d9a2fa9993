"""The issue's reply examples, end to end through the sandbox and its CLI.

Each reply goes in with ``hub sandbox reply`` (the same inbound path as a provider webhook),
the production inbound worker and dispatcher run (``open_components``, the wall clock, as
``hub worker`` would), and what the enterprise gets back is read with ``hub sandbox inbox``:

"5", "５", "非常满意" close the ticket awaiting a rating; "不满意!" reopens it; "TD" opts the
contact out; "好的 下周二上午可以" moves the proposed visit to next Tuesday morning;
"123" and "2 个问题想咨询" are not ratings — they become requests while a rating is awaited.

Run on a SQLite file and the Redis 7 server, and on PostgreSQL and the Redis Cluster
(``drill_setup``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from hub.app.config import Settings, load_settings
from hub.app.runtime import feedback_sender, inbound_worker, open_components
from hub.cli import main
from hub.core.clock import SHANGHAI
from hub.core.vocab import ChannelName, ReplyClass, TicketState, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.outbound.dispatch import Dispatcher
from hub.outbound.notify import enqueue_notified
from hub.store.db import Database
from hub.store.models import ContactOptOut, InboundReply, Rating, Ticket, Visit
from hub.tickets.feedback import send_feedback
from hub.tickets.lifecycle import resolve
from tests.drill_setup import DrillSetup
from tests.ticket_support import seed_ticket_world
from tests.wall_clock import NEVER_QUIET

MOBILE = "+8613900000001"  # 甲机械


def _settle(settings: Settings) -> None:
    """What ``hub worker`` does: handle the inbound stream, then send what it queued."""

    async def run() -> None:
        async with open_components(settings) as hub:
            worker = inbound_worker(hub, consumer="t")
            while await worker.run_once():
                pass
            dispatcher = Dispatcher(hub.db, hub.queue, hub.channels, hub.clock,
                                    settings.dispatch, hub.metrics, consumer="t")  # fmt: skip
            while await dispatcher.run_once("sandbox", block_ms=1):
                pass

    asyncio.run(run())


def _db(settings: Settings, action: Callable[[Any, Any], Any]) -> Any:
    async def run() -> Any:
        async with open_components(settings) as hub:
            return await action(hub, hub.db)

    return asyncio.run(run())


def _last_reply(settings: Settings) -> InboundReply:
    async def read(_hub: Any, db: Database) -> InboundReply:
        async with db.read() as session:
            return (await session.scalars(sa.select(InboundReply).order_by(InboundReply.id.desc())
                                          .limit(1))).one()  # fmt: skip

    found = _db(settings, read)
    assert found is not None
    return cast(InboundReply, found)


def _resolve(settings: Settings, ticket_id: int) -> None:
    async def act(hub: Any, db: Database) -> None:
        async with db.write() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            now = hub.clock.now()
            await resolve(session, ticket, answer="已协调办结。", actor="handler", now=now)
            results = await send_feedback(session, ticket, answer="已协调办结。", now=now,
                                          sender=feedback_sender(hub))  # fmt: skip
        await enqueue_notified(hub.queue, results)

    _db(settings, act)
    _settle(settings)


def _ticket(settings: Settings, ticket_id: int) -> Ticket:
    async def read(_hub: Any, db: Database) -> Ticket | None:
        async with db.read() as session:
            return await session.get(Ticket, ticket_id)

    found = _db(settings, read)
    assert found is not None
    return cast(Ticket, found)


def test_the_issue_examples_are_applied_end_to_end_through_the_sandbox(
    write_config: Callable[..., Path], drill_setup: DrillSetup, capsys: pytest.CaptureFixture[str]
) -> None:
    config = drill_setup.config(
        write_config, tickets={"default_department": "FGW"}, quiet_hours=NEVER_QUIET
    )
    settings = load_settings(config)
    _db(settings, lambda _hub, db: seed_ticket_world(db))

    def reply(text: str) -> InboundReply:
        assert main(["--config", str(config), "sandbox", "reply", MOBILE, text]) == 0
        _settle(settings)
        return _last_reply(settings)

    def inbox() -> list[str]:
        capsys.readouterr()
        assert main(["--config", str(config), "sandbox", "inbox", MOBILE, "--json"]) == 0
        return [str(item["body"]) for item in json.loads(capsys.readouterr().out)]

    def new_resolved(text: str) -> int:
        stored = reply(text)
        assert stored.classification is ReplyClass.REQUEST
        assert stored.ticket_id is not None
        number = _ticket(settings, stored.ticket_id).number
        assert number in inbox()[0]
        assert "已受理" in inbox()[0]
        _resolve(settings, stored.ticket_id)
        assert "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意" in inbox()[0]
        return stored.ticket_id

    ratings = (("5", TicketState.CLOSED), ("５", TicketState.CLOSED),
               ("非常满意", TicketState.CLOSED), ("不满意!", TicketState.REOPENED))  # fmt: skip
    for text, state in ratings:
        ticket_id = new_resolved(f"第{text}件事：厂区道路破损需要维修")
        stored = reply(text)
        assert (stored.classification, stored.ticket_id) == (ReplyClass.RATING, ticket_id), text
        assert _ticket(settings, ticket_id).state is state, text
    assert "已重新交办" in inbox()[0]  # the enterprise is told the bad rating reopened it

    # not ratings, even while a rating is awaited (the reopened one is resolved again)
    _resolve(settings, ticket_id)
    for text in ("123", "2 个问题想咨询"):
        stored = reply(text)
        assert stored.classification is ReplyClass.REQUEST, text
        assert _ticket(settings, ticket_id).state is TicketState.RESOLVED
    scores = _db(settings, lambda _h, db: _all(db, Rating.score))
    assert scores == [5, 5, 5, 2]

    stored = reply("TD")
    assert stored.classification is ReplyClass.UNSUBSCRIBE
    assert _db(settings, lambda _h, db: _all(db, ContactOptOut.channel)) == [ChannelName.SANDBOX]

    visit_id = _db(settings, _propose_visit)
    stored = reply("好的 下周二上午可以")
    assert stored.classification is ReplyClass.VISIT_ANSWER
    visit = _db(settings, lambda _h, db: _get(db, Visit, visit_id))
    tuesday = visit.proposed_for.astimezone(SHANGHAI)
    assert (tuesday.weekday(), tuesday.hour) == (1, 9)
    assert visit.details["reschedule_requested"]["proposed_text"] == "下周二上午"
    # Agreed at once on a working day (the wall clock's next Tuesday may be a holiday).
    calendar = WorkdayCalendar.from_years(settings.calendar.years)
    agreed = VisitStatus.CONFIRMED if calendar.is_workday(tuesday.date()) else VisitStatus.PLANNED
    assert visit.status is agreed


async def _all(db: Any, column: Any) -> list[Any]:
    async with db.read() as session:
        return list((await session.scalars(sa.select(column))).all())


async def _get(db: Any, model: Any, key: int) -> Any:
    async with db.read() as session:
        return await session.get(model, key)


async def _propose_visit(hub: Any, db: Any) -> int:
    """A visit proposed for a month from now (never "next Tuesday": that would confirm it)."""
    async with db.write() as session:
        enterprise_id = (await session.scalars(
            sa.select(Ticket.enterprise_id).where(Ticket.enterprise_id.is_not(None)).limit(1)
        )).one()  # fmt: skip
        now = hub.clock.now()
        visit = Visit(enterprise_id=enterprise_id, period="2026Q4", status=VisitStatus.PROPOSED,
                      proposed_for=now + timedelta(days=30), details={}, created_at=now,
                      updated_at=now)  # fmt: skip
        session.add(visit)
        await session.flush()
        return int(visit.id)
