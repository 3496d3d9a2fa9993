"""Ratings on a ticket (好差评), on SQLite and PostgreSQL: close, reopen, escalate, flag."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from hub.app.runtime import PROJECT_ROOT
from hub.core.errors import NotFoundError, TransitionError, UsageError
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketEventType, TicketState
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Message, Rating, Ticket
from hub.tickets.deadlines.rules import end_of_day
from hub.tickets.lifecycle import events_of, resolve
from hub.tickets.ratings import (
    RatingNotifier,
    RatingOutcome,
    apply_rating,
    bad_ratings_count,
    flag_malicious,
)
from tests.ticket_support import TicketWorld, new_ticket, policy, seed_ticket_world, sh

NOW = sh(2026, 11, 23, 10)  # Monday
LATER = NOW + timedelta(hours=3)


@pytest.fixture
async def world(any_db: Database) -> TicketWorld:
    return await seed_ticket_world(any_db)


async def _resolved(db: Database, world: TicketWorld) -> int:
    ticket = await new_ticket(db, world, at=NOW)
    await _resolve(db, ticket.id)
    return ticket.id


async def _resolve(db: Database, ticket_id: int) -> None:
    async with db.write() as session:
        row = await session.get(Ticket, ticket_id)
        assert row is not None
        await resolve(session, row, answer="已协调", actor="gxj_a", now=NOW + timedelta(hours=1))


async def _rate(
    db: Database, world: TicketWorld, ticket_id: int, score: int, **kw: object
) -> RatingOutcome:
    async with db.write() as session:
        row = await session.get(Ticket, ticket_id)
        assert row is not None
        return await apply_rating(
            session, row, policy=policy(), score=score, contact_id=world.contacts["甲机械"],
            now=NOW + timedelta(hours=2), **kw,  # type: ignore[arg-type]
        )  # fmt: skip


@pytest.mark.parametrize("score", [3, 4, 5])
async def test_a_good_rating_closes(any_db: Database, world: TicketWorld, score: int) -> None:
    ticket_id = await _resolved(any_db, world)
    outcome = await _rate(any_db, world, ticket_id, score)
    assert (outcome.closed, outcome.reopened, outcome.escalated) == (True, False, False)
    async with any_db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.state, ticket.close_reason) == (TicketState.CLOSED, "rated")
        events = await events_of(session, ticket_id)
    assert [e.type for e in events][-2:] == [TicketEventType.RATED, TicketEventType.CLOSED]
    assert events[-1].reason == "好评办结"


async def test_bad_rating_reopens_then_the_second_one_escalates(
    any_db: Database, world: TicketWorld
) -> None:
    ticket_id = await _resolved(any_db, world)
    first = await _rate(any_db, world, ticket_id, 2, comment="没解决")
    assert (first.closed, first.reopened, first.escalated) == (False, True, False)
    # Monday 23 Nov: callback within 1 wd (Tue 24), rectification within 15 wd (Mon 14 Dec)
    assert first.callback_due_at == end_of_day(date(2026, 11, 24))
    assert first.rectify_due_at == end_of_day(date(2026, 12, 14))
    async with any_db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.state, ticket.reopen_count, ticket.escalation_level) == (
            TicketState.REOPENED, 1, 1,
        )  # fmt: skip
        assert ticket.callback_due_at == first.callback_due_at
        assert ticket.rectify_due_at == first.rectify_due_at
        events = await events_of(session, ticket_id)
    assert [e.type for e in events][-4:] == [
        TicketEventType.RATED, TicketEventType.REOPENED, TicketEventType.CALLBACK_DUE,
        TicketEventType.ESCALATED,
    ]  # fmt: skip
    assert events[-1].data["level"] == 1
    assert events[-1].data["cause"] == "bad_rating"
    assert events[-3].reason == "差评重办（不满意）"

    with pytest.raises(TransitionError, match="不在待评价状态"):
        await _rate(any_db, world, ticket_id, 5)
    await _resolve(any_db, ticket_id)
    second = await _rate(any_db, world, ticket_id, 1)
    assert (second.reopened, second.escalated) == (True, True)
    async with any_db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.reopen_count, ticket.escalation_level) == (2, 2)
        events = await events_of(session, ticket_id)
        ratings = (await session.scalars(sa.select(Rating).order_by(Rating.id))).all()
    assert events[-1].type is TicketEventType.ESCALATED
    assert (events[-1].data["level"], events[-1].data["cause"]) == (2, "second_bad_rating")
    # each rating is its own record
    assert [(r.score, r.comment) for r in ratings] == [(2, "没解决"), (1, None)]

    await _resolve(any_db, ticket_id)
    third = await _rate(any_db, world, ticket_id, 5)
    assert third.closed is True


async def test_flagging_a_rating_keeps_it_and_it_no_longer_counts(
    any_db: Database, world: TicketWorld
) -> None:
    ticket_id = await _resolved(any_db, world)
    bad = await _rate(any_db, world, ticket_id, 1)
    async with any_db.write() as session:
        with pytest.raises(UsageError, match="必须填写原因"):
            await flag_malicious(session, bad.rating_id, reason="", actor="reviewer", now=NOW)
        with pytest.raises(NotFoundError):
            await flag_malicious(session, 99999, reason="r", actor="reviewer", now=NOW)
        flagged = await flag_malicious(
            session, bad.rating_id, reason="与办理无关的恶意评价", actor="reviewer", now=LATER
        )
        assert (flagged.malicious, flagged.flagged_by) == (True, "reviewer")
    async with any_db.write() as session:
        with pytest.raises(UsageError, match="已于此前标记"):
            await flag_malicious(session, bad.rating_id, reason="r", actor="reviewer", now=NOW)
    async with any_db.read() as session:
        assert await bad_ratings_count(session, ticket_id) == 0
        kept = await session.get(Rating, bad.rating_id)
        assert kept is not None
        assert kept.malicious_reason == "与办理无关的恶意评价"
        events = await events_of(session, ticket_id)
    assert events[-1].type is TicketEventType.RATING_FLAGGED
    # the next bad rating is the first that counts: head, not 营商办
    await _resolve(any_db, ticket_id)
    again = await _rate(any_db, world, ticket_id, 2)
    assert again.escalated is False


async def test_scores_outside_one_to_five_are_refused(any_db: Database, world: TicketWorld) -> None:
    ticket_id = await _resolved(any_db, world)
    with pytest.raises(UsageError, match="1 至 5"):
        await _rate(any_db, world, ticket_id, 6)
    with pytest.raises(UsageError, match="来源"):
        await _rate(any_db, world, ticket_id, 5, source="email")


async def test_the_head_is_alerted_and_the_office_on_the_second_bad_rating(
    any_db: Database, world: TicketWorld
) -> None:
    notifier = RatingNotifier(
        TemplateRenderer(PROJECT_ROOT / "templates"),
        PlanningPolicy(
            default_channel=ChannelName.SANDBOX, enabled_channels=frozenset({"sandbox"})
        ),
    )
    ticket_id = await _resolved(any_db, world)
    first = await _rate(any_db, world, ticket_id, 2, notifier=notifier)
    await _resolve(any_db, ticket_id)
    second = await _rate(any_db, world, ticket_id, 1, notifier=notifier)
    async with any_db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.staff_id, Message.kind, Message.body, Message.status).order_by(
                    Message.id
                )
            )
        ).all()
    staff = world.staff
    assert [(r.staff_id, r.kind) for r in rows] == [
        (staff["gxj_head"], MessageKind.ESCALATION),
        (staff["gxj_head"], MessageKind.ESCALATION),
        (staff["ysb_head"], MessageKind.ESCALATION),
    ]
    assert all(r.status is MessageStatus.QUEUED for r in rows)
    assert "差评重办" in rows[0].body
    assert len(first.notified) == 1
    assert len(second.notified) == 2
