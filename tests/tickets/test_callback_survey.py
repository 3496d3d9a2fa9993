"""Monthly callback survey: ≥70% of last month's resolved tickets, every bad rating by phone,
seeded and idempotent, answers recorded; on both databases."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import Settings
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import CallbackMethod, CallbackStatus, MessageKind, TicketEventType, TicketState
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import CallbackSurvey, Message, TicketEvent
from hub.tickets.callback_survey import (
    CallbackOutcome,
    choose_sample,
    list_surveys,
    record_answer,
    record_survey_answer,
    run_monthly_callbacks,
    survey_for_message,
)
from hub.tickets.settings import TicketsSettings
from tests.ticket_factory import Org, make_org, make_ticket, renderer, scratch_queue, staff_policy


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[Queue]:
    async with scratch_queue(tmp_path) as q:
        yield q


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


async def run(
    db: Database,
    queue: Queue,
    now: datetime,
    *,
    settings: Settings | None = None,
    month: str | None = None,
    first_workday: bool = False,
) -> CallbackOutcome:
    return await run_monthly_callbacks(
        db,
        FixedClock(now),
        settings or Settings(),
        renderer=renderer(),
        policy=staff_policy(),
        queue=queue,
        month=month,
        only_from_first_workday=first_workday,
    )


async def november(db: Database, org: Org) -> dict[str, int]:
    """10 tickets resolved in November 2026, one reopened, one resolved in October."""
    ids: dict[str, int] = {}
    for i in range(1, 11):
        ratings: list[tuple[int, datetime, bool]] = []
        if i == 1:
            ratings = [(1, at(2026, 11, 3, 10), False)]
        elif i == 2:  # bad, reopened, then good: had a bad rating all the same
            ratings = [(2, at(2026, 11, 3, 10), False), (5, at(2026, 11, 6, 10), False)]
        elif i == 3:  # a malicious bad rating does not force the ticket into the sample
            ratings = [(1, at(2026, 11, 3, 10), True)]
        number = f"GD2026110{i:02d}01"
        ids[number] = await make_ticket(
            db,
            org,
            number=number,
            received_at=at(2026, 11, i),
            deadline_at=at(2026, 11, 20),
            state=TicketState.CLOSED,
            resolutions=[at(2026, 11, i + 1, 15)],
            ratings=ratings,
            closed=(at(2026, 11, i + 2), "rated"),
            enterprise=i % 2,
        )
    await make_ticket(
        db,
        org,
        number="GD20261105R001",
        received_at=at(2026, 11, 5),
        deadline_at=at(2026, 11, 20),
        state=TicketState.REOPENED,
        resolutions=[],
    )
    await make_ticket(
        db,
        org,
        number="GD20261020O001",
        received_at=at(2026, 10, 20),
        deadline_at=at(2026, 10, 28),
        state=TicketState.CLOSED,
        resolutions=[at(2026, 10, 30, 9)],
        closed=(at(2026, 10, 31), "rated"),
    )
    return ids


def test_choose_sample_is_seeded_covers_and_keeps_bad_ones() -> None:
    numbers = {i: f"GD20261101{i:04d}" for i in range(1, 31)}
    first = choose_sample("2026-11", numbers, {7, 19}, set(), 0.7)
    assert first == choose_sample("2026-11", dict(reversed(numbers.items())), {19, 7}, set(), 0.7)
    assert len(first) == 21
    assert {7, 19} <= set(first)
    assert choose_sample("2026-11", numbers, {7, 19}, set(first), 0.7) == []
    assert choose_sample("2026-12", numbers, set(), set(), 0.7) != first  # the month seeds it
    # More bad ratings than the coverage needs: all of them all the same.
    assert len(choose_sample("2026-11", numbers, set(range(1, 26)), set(), 0.5)) == 25


async def test_monthly_sample_covers_70_percent_and_is_idempotent(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, at(2026, 1, 1))
    ids = await november(any_db, org)
    outcome = await run(any_db, queue, at(2026, 12, 1, 9))
    assert (outcome.month, outcome.population, outcome.added) == ("2026-11", 10, 7)
    assert outcome.coverage >= 0.7
    async with any_db.read() as s:
        surveys = list((await s.scalars(sa.select(CallbackSurvey))).all())
        sent = list(
            (
                await s.scalars(
                    sa.select(Message).where(Message.kind == MessageKind.CALLBACK_SURVEY)
                )
            ).all()
        )
        due = (
            await s.scalars(
                sa.select(TicketEvent).where(TicketEvent.type == TicketEventType.CALLBACK_DUE)
            )
        ).all()
    by_ticket = {s.ticket_id: s for s in surveys}
    assert len(by_ticket) == 7
    assert set(by_ticket) <= set(ids.values())  # November only, no reopened ticket
    for bad in ("GD2026110010" + "1", "GD2026110020" + "1"):
        survey = by_ticket[ids[bad]]
        assert (survey.method, survey.status) == (CallbackMethod.PHONE, CallbackStatus.PENDING)
    by_message = [s for s in surveys if s.method is CallbackMethod.MESSAGE]
    assert len(by_message) == 5
    assert {s.message_id for s in by_message} == {m.id for m in sent}
    assert all(s.status is CallbackStatus.SENT for s in by_message)
    assert all("5 非常满意" in m.body for m in sent)
    assert sorted(outcome.message_ids) == sorted(m.id for m in sent)
    assert len(due) == 7

    # A reply to a survey message: found by the message, recorded in the caller's transaction.
    async with any_db.write() as s:
        asked = await survey_for_message(s, by_message[0].message_id or 0)
        assert asked is not None
        assert asked.id == by_message[0].id
        record_survey_answer(s, asked, score=5, answer="5", by="reply", now=at(2026, 12, 2, 8))
    [answered] = await list_surveys(any_db, status=CallbackStatus.ANSWERED)
    assert (answered.id, answered.score, answered.recorded_by) == (by_message[0].id, 5, "reply")

    again = await run(any_db, queue, at(2026, 12, 2, 9))
    assert (again.added, again.surveyed, again.population) == (0, 7, 10)
    async with any_db.read() as s:
        assert await s.scalar(sa.select(sa.func.count()).select_from(CallbackSurvey)) == 7
        assert await s.scalar(sa.select(sa.func.count()).select_from(Message)) == 5


async def test_coverage_is_configurable(any_db: Database, queue: Queue) -> None:
    org = await make_org(any_db, at(2026, 1, 1))
    await november(any_db, org)
    settings = Settings(tickets=TicketsSettings(callback_coverage=0.85))
    outcome = await run(any_db, queue, at(2026, 12, 1, 9), settings=settings)
    assert outcome.added == math.ceil(0.85 * 10) == 9


async def test_started_from_the_first_working_day_of_the_month(
    any_db: Database, queue: Queue
) -> None:
    org = await make_org(any_db, at(2026, 1, 1))
    tid = await make_ticket(
        any_db,
        org,
        number="GD202609100001",
        received_at=at(2026, 9, 10),
        deadline_at=at(2026, 9, 18),
        state=TicketState.CLOSED,
        resolutions=[at(2026, 9, 15, 9)],
        closed=(at(2026, 9, 16), "no_rating"),
    )
    # October's first working day is Thu 8 Oct (National Day 1–7 Oct).
    assert (await run(any_db, queue, at(2026, 10, 7, 12), first_workday=True)).added == 0
    outcome = await run(any_db, queue, at(2026, 10, 8, 9), first_workday=True)
    assert (outcome.month, outcome.added) == ("2026-09", 1)
    [view] = await list_surveys(any_db, month="2026-09")
    assert view.ticket_number == "GD202609100001"
    assert view.status == "sent"
    answered = await record_answer(
        any_db,
        FixedClock(at(2026, 10, 9, 10)),
        view.id,
        score=4,
        answer="办理及时，满意",
        by="zhang",
    )
    assert (answered.status, answered.score, answered.recorded_by) == ("answered", 4, "zhang")
    assert answered.recorded_at == "2026-10-09T10:00:00+08:00"
    async with any_db.read() as s:
        [done] = (
            await s.scalars(
                sa.select(TicketEvent).where(
                    TicketEvent.ticket_id == tid, TicketEvent.type == TicketEventType.CALLBACK_DONE
                )
            )
        ).all()
    assert done.data["score"] == 4
    assert done.actor == "zhang"
    assert await list_surveys(any_db, status=CallbackStatus.PENDING) == []
    with pytest.raises(UsageError):
        await record_answer(
            any_db, FixedClock(at(2026, 10, 9)), view.id, score=6, answer=None, by="zhang"
        )
    with pytest.raises(NotFoundError):
        await record_answer(
            any_db, FixedClock(at(2026, 10, 9)), 999, score=3, answer=None, by="zhang"
        )
