"""An enterprise answers a visit proposal; the visit changes and the officer is told at once.

The inbound loop of :mod:`tests.inbound_support` (real SQLite and Redis, the shipped
templates, the worker as it runs): 甲机械's contact answers a proposal offering three slots
(Wednesday 2 December 14:30, Thursday 3 December 09:30, Friday 4 December 14:30); the clock is
Monday 23 November 2026 10:00 in Shanghai. Each answer writes a ``visit_update`` to the officer
and the worker enqueues it after the commit.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, ReplyClass, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.inbound.worker import Processed
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Enterprise, Message, Officer, Rating, Visit
from hub.visits.answers import VisitReply, apply_visit_answer
from hub.visits.settings import VisitsSettings
from tests.inbound_support import TEMPLATES, Loop, make_loop, planning_policy

JIA = "+8613900000001"  # 甲机械's contact (tests/seed.py)
OFFICER_MOBILE = "+8613800000009"
SLOTS = (
    datetime(2026, 12, 2, 14, 30, tzinfo=SHANGHAI),
    datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI),
    datetime(2026, 12, 4, 14, 30, tzinfo=SHANGHAI),
)


@pytest.fixture
async def loop(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
               ) -> Loop:  # fmt: skip
    return await make_loop(db, redis_client, redis_keys, clock)


async def _officer(loop: Loop) -> int:
    """甲机械's liaison officer."""
    async with loop.db.write() as session:
        now = loop.clock.now()
        officer = Officer(code="LY01", name="王联络", mobile=OFFICER_MOBILE, created_at=now,
                          updated_at=now)  # fmt: skip
        session.add(officer)
        await session.flush()
        enterprise = await session.get(Enterprise, loop.world.enterprises["甲机械"])
        assert enterprise is not None
        enterprise.officer_id = officer.id
        return officer.id


async def _proposed(loop: Loop, *, proposed_at: datetime | None = None) -> int:
    """A visit to 甲机械 proposed with the three slots (by default, an hour ago)."""
    officer_id = await _officer(loop)
    now = loop.clock.now()
    async with loop.db.write() as session:
        visit = Visit(enterprise_id=loop.world.enterprises["甲机械"], officer_id=officer_id,
                      period="2026Q4", status=VisitStatus.PROPOSED, details={},
                      slots=[at.isoformat() for at in SLOTS],
                      proposed_at=proposed_at or now - timedelta(hours=1),
                      created_at=now, updated_at=now)  # fmt: skip
        session.add(visit)
        await session.flush()
        return visit.id


async def _visit(loop: Loop, visit_id: int) -> Visit:
    async with loop.db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    return visit


async def _updates(loop: Loop) -> list[Message]:
    return await loop.messages(MessageKind.VISIT_UPDATE)


async def _enqueued(loop: Loop) -> list[int]:
    """The message ids waiting on the sandbox's outbound stream (the test policy's channel)."""
    return [e.message_id for e in await loop.queue.claim("sandbox", "test", 100)]


async def _answer(loop: Loop, text: str) -> list[Processed]:
    await loop.reply(text, sender=JIA)
    return await loop.drain()


async def test_a_slot_number_confirms_the_visit_at_that_slot(loop: Loop) -> None:
    visit_id = await _proposed(loop)
    [done] = await _answer(loop, "2")

    assert done.cls is ReplyClass.VISIT_ANSWER
    visit = await _visit(loop, visit_id)
    assert visit.status is VisitStatus.CONFIRMED
    assert visit.proposed_for == SLOTS[1]
    [answer] = visit.details["answers"]
    assert (answer["action"], answer["slot"]) == ("slot", 2)
    assert visit.details["confirmed"]["time"] == SLOTS[1].isoformat()
    [update] = await _updates(loop)
    assert update.address == OFFICER_MOBILE
    assert "甲机械" in update.body
    assert "选择第2个时间（12月3日（周四）上午9:30）" in update.body
    assert update.id in await _enqueued(loop)


async def test_another_time_moves_the_visit_and_the_officer_is_told(loop: Loop) -> None:
    visit_id = await _proposed(loop)
    await _answer(loop, "下周二上午可以")

    visit = await _visit(loop, visit_id)
    assert visit.status is VisitStatus.CONFIRMED  # a working day, within 09:00-17:30
    assert visit.proposed_for == datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)
    assert visit.details["reschedule_requested"]["proposed_text"] == "下周二上午"
    [update] = await _updates(loop)
    assert "提出改到12月1日（周二）上午9:00" in update.body
    assert "已按该时间确认走访" in update.body
    assert update.id in await _enqueued(loop)


@pytest.mark.parametrize(
    ("text", "at", "why"),
    [
        ("下周二晚上7点", datetime(2026, 12, 1, 19, tzinfo=SHANGHAI),
         "不在工作时间（09:00–17:30）内"),
        ("下周六上午", datetime(2026, 12, 5, 9, tzinfo=SHANGHAI), "该日不是工作日"),
    ],
)  # fmt: skip
async def test_another_time_outside_working_days_or_hours_is_left_for_the_officer(
    loop: Loop, text: str, at: datetime, why: str
) -> None:
    visit_id = await _proposed(loop)
    await _answer(loop, text)

    visit = await _visit(loop, visit_id)
    assert visit.status is VisitStatus.PLANNED
    assert visit.proposed_for == at  # the enterprise's wish, kept for the officer
    assert visit.details["reschedule_requested"]["not_confirmed"] == why
    assert "confirmed" not in visit.details
    [update] = await _updates(loop)
    assert why in update.body


async def test_a_decline_keeps_the_visit_due_and_tells_the_officer(loop: Loop) -> None:
    visit_id = await _proposed(loop)
    await _answer(loop, "暂不需要走访")

    visit = await _visit(loop, visit_id)
    assert visit.status is VisitStatus.PLANNED
    assert visit.proposed_for is None
    assert visit.details["declined"]["text"] == "暂不需要走访"
    [update] = await _updates(loop)
    assert "表示不需要走访" in update.body
    assert "暂不需要走访" in update.body
    assert update.id in await _enqueued(loop)


async def test_agreement_without_a_slot_changes_nothing_and_asks_the_officer_to_call(
    loop: Loop,
) -> None:
    visit_id = await _proposed(loop)
    await _answer(loop, "好的")

    visit = await _visit(loop, visit_id)
    assert visit.status is VisitStatus.PROPOSED
    assert visit.details["answers"][0]["action"] == "confirm"
    [update] = await _updates(loop)
    assert "同意走访，但未选择时间" in update.body


async def _resolved_ticket(loop: Loop) -> int:
    """A ticket of 甲机械's contact, resolved now: the feedback asks for a rating."""
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调", sender=JIA)
    await loop.drain()
    ticket_id = (await loop.stored(reply_id)).ticket_id
    assert ticket_id is not None
    await loop.resolve(ticket_id)
    return ticket_id


async def test_a_bare_digit_picks_the_slot_when_the_proposal_came_after_the_rating_request(
    loop: Loop,
) -> None:
    await _resolved_ticket(loop)
    loop.clock.advance(timedelta(hours=1))
    visit_id = await _proposed(loop, proposed_at=loop.clock.now())
    loop.clock.advance(timedelta(minutes=5))
    [done] = await _answer(loop, "3")

    assert done.cls is ReplyClass.VISIT_ANSWER
    assert (await _visit(loop, visit_id)).proposed_for == SLOTS[2]
    assert await loop.count(Rating) == 0


async def test_a_bare_digit_rates_the_ticket_when_the_rating_request_came_after_the_proposal(
    loop: Loop,
) -> None:
    visit_id = await _proposed(loop, proposed_at=loop.clock.now() - timedelta(days=1))
    await _resolved_ticket(loop)
    loop.clock.advance(timedelta(minutes=5))
    [done] = await _answer(loop, "3")

    assert done.cls is ReplyClass.RATING
    async with loop.db.read() as session:
        assert list((await session.scalars(sa.select(Rating.score))).all()) == [3]
    assert (await _visit(loop, visit_id)).status is VisitStatus.PROPOSED
    # the explicit form still picks the slot
    [done] = await _answer(loop, "第三个")
    assert done.cls is ReplyClass.VISIT_ANSWER
    assert (await _visit(loop, visit_id)).proposed_for == SLOTS[2]


async def test_a_late_answer_to_a_visit_done_changes_nothing(loop: Loop) -> None:
    visit_id = await _proposed(loop)
    async with loop.db.write() as session:
        visit = await session.get(Visit, visit_id)
        assert visit is not None
        visit.status = VisitStatus.DONE
        answer = VisitReply("slot", source="reply:1", slot=1)
        applied = await apply_visit_answer(
            session, visit, answer, loop.clock.now(), calendar=WorkdayCalendar(),
            settings=VisitsSettings(), renderer=TemplateRenderer(TEMPLATES),
            policy=_policy(),
        )  # fmt: skip
    assert applied.status is VisitStatus.DONE
    assert applied.notified == []
    assert (await _visit(loop, visit_id)).proposed_for is None


def _policy() -> PlanningPolicy:
    return planning_policy()


async def test_a_bare_number_answers_the_proposal_sent_last_when_two_are_open(
    loop: Loop,
) -> None:
    # Last quarter's visit, never answered, was proposed again an hour ago (a new round);
    # this quarter's, created after it, was proposed yesterday. "2" answers the question
    # asked last, not the visit created last.
    officer_id = await _officer(loop)
    now = loop.clock.now()
    ids = {}
    async with loop.db.write() as session:
        for period, proposed_at in (("2026Q3", now - timedelta(hours=1)),
                                    ("2026Q4", now - timedelta(days=1))):  # fmt: skip
            visit = Visit(enterprise_id=loop.world.enterprises["甲机械"], officer_id=officer_id,
                          period=period, status=VisitStatus.PROPOSED, details={},
                          slots=[at.isoformat() for at in SLOTS], proposed_at=proposed_at,
                          created_at=now, updated_at=now)  # fmt: skip
            session.add(visit)
            await session.flush()
            ids[period] = visit.id
    assert ids["2026Q3"] < ids["2026Q4"]

    [done] = await _answer(loop, "2")

    assert done.cls is ReplyClass.VISIT_ANSWER
    answered = await _visit(loop, ids["2026Q3"])
    assert answered.status is VisitStatus.CONFIRMED
    assert answered.proposed_for == SLOTS[1]
    untouched = await _visit(loop, ids["2026Q4"])
    assert untouched.status is VisitStatus.PROPOSED
    assert "answers" not in untouched.details
