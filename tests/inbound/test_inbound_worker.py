"""The inbound worker on both databases with real Redis: classify a stored reply, apply it once.

Replies are stored as webhooks store them (``accept_reply``) and handled by the production
InboundWorker; the tickets, ratings, opt-outs, visits and Message rows it writes are read
back from the database.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.app.config import load_settings
from hub.app.processes import _reconcile
from hub.app.runtime import open_components
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.errors import QueueError
from hub.core.keys import RedisKeys
from hub.core.vocab import (
    CallbackMethod,
    CallbackStatus,
    ChannelName,
    MessageKind,
    MessageStatus,
    ReplyClass,
    TicketState,
    VisitStatus,
)
from hub.inbound.accept import accept_reply
from hub.inbound.apply import ReplyApplier
from hub.inbound.worker import InboundWorker
from hub.infra.consumers import HEARTBEAT_TTL_S, Liveness
from hub.infra.queue import InboundEntry, Queue
from hub.outbound.quiet_hours import QUIET_EXEMPT_UNTIL
from hub.store.db import Database
from hub.store.models import CallbackSurvey, ContactOptOut, Message, Rating, Ticket, Visit
from tests.inbound_support import Loop, make_loop

JIA = "+8613900000001"  # 甲机械's contact (tests/seed.py)
YI = "+8613900000002"  # 乙商贸's first contact
STRANGER = "+8613700000099"
QUESTION = "营业执照变更需要什么材料？"


@pytest.fixture
def db(any_db: Database) -> Database:
    return any_db


@pytest.fixture
async def loop(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
               ) -> Loop:  # fmt: skip
    return await make_loop(db, redis_client, redis_keys, clock)


async def _resolved_ticket(loop: Loop, text: str = "企业用地手续办理遇到困难，需要协调",
                           sender: str = JIA) -> Ticket:  # fmt: skip
    reply_id = await loop.reply(text, sender=sender)
    await loop.drain()
    ticket_id = (await loop.stored(reply_id)).ticket_id
    assert ticket_id is not None
    await loop.resolve(ticket_id)
    return await loop.ticket(ticket_id)


async def test_free_text_opens_a_routed_ticket_and_acks_on_the_same_channel_with_its_number(
    loop: Loop,
) -> None:
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    [done] = await loop.drain()

    stored = await loop.stored(reply_id)
    assert (done.outcome, stored.classification) == ("applied", ReplyClass.REQUEST)
    assert stored.classified_at == loop.clock.now()
    ticket = await loop.ticket(stored.ticket_id or 0)
    assert ticket.number.startswith("GD20261123")
    assert (ticket.enterprise_id, ticket.contact_id) == (
        loop.world.enterprises["甲机械"],
        loop.world.contacts["甲机械"],
    )
    assert ticket.department_id == loop.world.departments["GXJ"]  # 制造业 → 工信局
    assert ticket.channel is ChannelName.SANDBOX
    assert await loop.events(ticket.id) == ["created", "assigned"]
    [ack] = await loop.messages(MessageKind.TICKET_ACK)
    assert (ack.channel, ack.address, ack.contact_id) == (
        ChannelName.SANDBOX,
        JIA,
        ticket.contact_id,
    )
    assert ticket.number in ack.body
    assert "已受理" in ack.body
    assert "11月30日（周一）24时前" in ack.body  # 5 working days after Mon 23 Nov
    assert stored.classification_detail is not None
    assert stored.classification_detail["class"] == "request"
    assert stored.classification_detail["detail"]["answers"][0]["message_id"] == ack.id
    # the ack is on the sandbox stream for the dispatcher
    assert {e.message_id for e in await loop.queue.claim("sandbox", "d", 10)} == {ack.id}


async def test_a_reply_at_night_is_answered_at_once_but_a_stale_one_waits_for_morning(
    loop: Loop,
) -> None:
    # Monday 22:30 Shanghai, inside the default quiet hours (21:00-08:00).
    loop.clock.advance(timedelta(hours=12, minutes=30))
    await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.drain()
    # A reply that waited an hour for a worker (the hub was down): the contact has moved on.
    await loop.reply("招工补贴怎么申请", sender="+8613900000002")
    loop.clock.advance(timedelta(hours=1))
    await loop.drain()

    fresh, stale = await loop.messages(MessageKind.TICKET_ACK)
    assert (fresh.status, fresh.next_attempt_at) == (MessageStatus.QUEUED, None)
    assert stale.status is MessageStatus.HELD
    assert stale.next_attempt_at is not None
    assert stale.next_attempt_at.astimezone(SHANGHAI) == datetime(2026, 11, 24, 8, 0,
                                                                  tzinfo=SHANGHAI)  # fmt: skip
    assert stale.status_reason == "免打扰时段（21:00–08:00），将于 11-24 08:00 发送"
    # A rate-limit retry of the fresh answer still goes while the contact waits
    # (hub.outbound.dispatch).
    exempt_until = datetime.fromisoformat(fresh.params[QUIET_EXEMPT_UNTIL])
    assert exempt_until == datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI)
    assert QUIET_EXEMPT_UNTIL not in stale.params


async def test_a_second_message_within_the_window_is_appended_to_the_open_ticket(
    loop: Loop,
) -> None:
    first = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.drain()
    loop.clock.advance(timedelta(hours=2))
    second = await loop.reply("补充：土地证复印件已准备好")
    await loop.drain()

    ticket_id = (await loop.stored(first)).ticket_id
    assert (await loop.stored(second)).ticket_id == ticket_id
    assert await loop.count(Ticket) == 1
    ticket = await loop.ticket(ticket_id or 0)
    assert "土地证复印件已准备好" in ticket.body
    assert (await loop.events(ticket.id))[-1] == "appended"
    acks = await loop.messages(MessageKind.TICKET_ACK)
    assert ["已受理" in a.body for a in acks] == [True, False]
    assert "已补充到原诉求" in acks[1].body


async def test_a_reply_handled_twice_or_reclaimed_after_a_crash_is_applied_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=0)
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    # A worker claims the entry and commits, then "crashes" before enqueueing and acking.
    [entry] = await loop.queue.claim_inbound("crashed", 10, None)
    assert (await loop.worker.process(entry.reply_id)).outcome == "applied"
    # Another consumer takes the stale entry over: nothing is applied again.
    other = InboundWorker(db, loop.queue, clock, loop.worker.applier, consumer="w2",
                          block_ms=1, reclaim_idle_ms=0)  # fmt: skip
    [again] = await other.reclaim_once()
    assert (again.reply_id, again.outcome) == (reply_id, "already")
    await loop.queue.push_inbound([reply_id])  # a duplicate entry, too
    assert [p.outcome for p in await loop.drain()] == ["already"]

    assert await loop.count(Ticket) == 1
    assert len(await loop.messages(MessageKind.TICKET_ACK)) == 1
    pending = await redis_client.xpending(redis_keys.inbound_stream(), RedisKeys.INBOUND_GROUP)
    assert pending["pending"] == 0


@pytest.mark.parametrize(
    ("text", "score", "state"),
    [("5", 5, TicketState.CLOSED), ("５", 5, TicketState.CLOSED),
     ("非常满意", 5, TicketState.CLOSED), ("不满意!", 2, TicketState.REOPENED)],
)  # fmt: skip
async def test_a_rating_reply_closes_or_reopens_the_ticket_awaiting_it(
    loop: Loop, text: str, score: int, state: TicketState
) -> None:
    ticket = await _resolved_ticket(loop)
    [feedback] = await loop.messages(MessageKind.TICKET_FEEDBACK)
    assert "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意" in feedback.body
    loop.clock.advance(timedelta(hours=1))
    reply_id = await loop.reply(text)
    await loop.drain()

    stored = await loop.stored(reply_id)
    assert (stored.classification, stored.ticket_id) == (ReplyClass.RATING, ticket.id)
    after = await loop.ticket(ticket.id)
    assert after.state is state
    async with loop.db.read() as session:
        [rating] = (await session.scalars(sa.select(Rating))).all()
    assert (rating.score, rating.source_reply_id, rating.source) == (score, reply_id, "reply")
    if state is TicketState.REOPENED:
        assert after.rectify_due_at is not None
        [alert] = await loop.messages(MessageKind.ESCALATION)  # the department head
        assert ticket.number in alert.body
        reopened = (await loop.messages(MessageKind.TICKET_ACK))[-1]
        assert "已重新交办" in reopened.body
        assert reopened.address == JIA


async def test_several_tickets_awaiting_a_rating_make_the_hub_ask_which_listing_them(
    loop: Loop,
) -> None:
    first = await _resolved_ticket(loop, "企业用地手续办理遇到困难")
    loop.clock.advance(timedelta(days=4))  # past the append window: a second ticket
    second = await _resolved_ticket(loop, "用电增容申请一直没有答复")
    reply_id = await loop.reply("5")
    await loop.drain()

    assert await loop.count(Rating) == 0
    detail = (await loop.stored(reply_id)).classification_detail or {}
    assert detail["detail"]["candidates"] == [first.number, second.number]
    [ask] = await loop.messages(MessageKind.RATING_REMINDER)
    assert first.number in ask.body
    assert second.number in ask.body
    assert "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意" in ask.body
    # naming the ticket rates that one
    await loop.reply(f"{second.number} 4")
    await loop.drain()
    assert (await loop.ticket(second.id)).state is TicketState.CLOSED
    assert (await loop.ticket(first.id)).state is TicketState.RESOLVED


@pytest.mark.parametrize("text", ["123", "2 个问题想咨询"])
async def test_numbers_that_are_not_ratings_become_requests_even_while_one_is_awaited(
    loop: Loop, text: str
) -> None:
    ticket = await _resolved_ticket(loop)
    loop.clock.advance(timedelta(hours=1))
    reply_id = await loop.reply(text)
    await loop.drain()

    stored = await loop.stored(reply_id)
    assert stored.classification is ReplyClass.REQUEST
    assert await loop.count(Rating) == 0
    assert (await loop.ticket(ticket.id)).state is TicketState.RESOLVED
    assert stored.ticket_id not in (None, ticket.id)  # a new ticket: the resolved one is not open


async def test_td_opts_the_contact_out_of_the_channel_it_came_on(loop: Loop) -> None:
    reply_id = await loop.reply("ＴＤ", channel=ChannelName.SMS)
    await loop.drain()

    assert (await loop.stored(reply_id)).classification is ReplyClass.UNSUBSCRIBE
    async with loop.db.read() as session:
        [opt_out] = (await session.scalars(sa.select(ContactOptOut))).all()
    assert (opt_out.contact_id, opt_out.channel) == (loop.world.contacts["甲机械"], ChannelName.SMS)
    assert opt_out.source == f"reply:{reply_id}"
    assert await loop.messages() == []


async def _visit(loop: Loop, at: datetime) -> int:
    async with loop.db.write() as session:
        visit = Visit(enterprise_id=loop.world.enterprises["甲机械"], period="2026Q4",
                      status=VisitStatus.PROPOSED, proposed_for=at, details={},
                      created_at=loop.clock.now(), updated_at=loop.clock.now())  # fmt: skip
        session.add(visit)
        await session.flush()
        return visit.id


async def test_a_visit_answer_with_another_time_moves_the_visit_to_it(loop: Loop) -> None:
    # Issue 14: a working-day time within the officer's hours is agreed at once (before, the
    # visit went back to planned and waited for the officer to propose again).
    visit_id = await _visit(loop, datetime(2026, 11, 26, 10, tzinfo=SHANGHAI))  # Thursday
    reply_id = await loop.reply("好的 下周二上午可以")
    await loop.drain()

    assert (await loop.stored(reply_id)).classification is ReplyClass.VISIT_ANSWER
    async with loop.db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    assert visit.status is VisitStatus.CONFIRMED
    assert visit.proposed_for == datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)  # next Tuesday
    asked = visit.details["reschedule_requested"]
    assert asked["proposed_date"] == "2026-12-01"
    assert asked["proposed_text"] == "下周二上午"
    assert asked["source"] == f"reply:{reply_id}"
    assert await loop.count(Ticket) == 0


async def test_a_visit_answer_on_the_proposed_day_confirms_it(loop: Loop) -> None:
    visit_id = await _visit(loop, datetime(2026, 12, 1, 10, tzinfo=SHANGHAI))  # that Tuesday
    await loop.reply("好的 下周二上午可以")
    await loop.drain()
    async with loop.db.read() as session:
        visit = await session.get(Visit, visit_id)
    assert visit is not None
    assert visit.status is VisitStatus.CONFIRMED


async def test_a_query_by_number_answers_with_the_state_and_deadline(loop: Loop) -> None:
    first = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.drain()
    ticket = await loop.ticket((await loop.stored(first)).ticket_id or 0)
    reply_id = await loop.reply(f"{ticket.number.lower()} 进度")
    await loop.drain()

    stored = await loop.stored(reply_id)
    assert (stored.classification, stored.ticket_id) == (ReplyClass.QUERY, ticket.id)
    answer = (await loop.messages(MessageKind.TICKET_ACK))[-1]
    assert f"当前状态：{TicketState.ASSIGNED.label}" in answer.body
    assert "11月30日（周一）24时前" in answer.body
    # another enterprise's number is not disclosed
    await loop.reply(f"{ticket.number} 进度", sender=YI)
    await loop.drain()
    refused = (await loop.messages(MessageKind.NOTICE))[-1]
    assert "未查到" in refused.body
    assert refused.address == YI


async def test_help_is_answered_where_free_text_can_go_and_recorded_on_sms(loop: Loop) -> None:
    on_sandbox = await loop.reply("帮助")
    on_sms = await loop.reply("帮助", channel=ChannelName.SMS)
    await loop.drain()

    [notice] = await loop.messages(MessageKind.NOTICE)
    assert notice.channel is ChannelName.SANDBOX
    assert "回复工单编号可查询办理进度" in notice.body
    detail = (await loop.stored(on_sms)).classification_detail or {}
    [answer] = detail["detail"]["answers"]
    assert "message_id" not in answer
    assert "短信" in answer["reason"]
    assert (await loop.stored(on_sandbox)).classification is ReplyClass.HELP


async def test_an_unknown_sender_gets_a_ticket_without_enterprise_and_the_ack(
    loop: Loop,
) -> None:
    reply_id = await loop.reply("我想咨询开办餐饮店需要哪些许可", sender=STRANGER,
                                channel=ChannelName.SMS)  # fmt: skip
    await loop.drain()

    stored = await loop.stored(reply_id)
    ticket = await loop.ticket(stored.ticket_id or 0)
    assert (ticket.enterprise_id, ticket.contact_id) == (None, None)
    [ack] = await loop.messages(MessageKind.TICKET_ACK)
    assert (ack.channel, ack.address, ack.contact_id) == (ChannelName.SMS, STRANGER, None)
    assert ack.params["values"][1] == ticket.number  # the approved SMS's {2}
    detail = stored.classification_detail or {}
    assert "需人工确认企业" in detail["detail"]["outcome"]


async def test_a_rating_from_an_unknown_sender_is_recorded_and_applies_to_nothing(
    loop: Loop,
) -> None:
    await _resolved_ticket(loop)
    reply_id = await loop.reply("非常满意", sender=STRANGER)
    await loop.drain()
    stored = await loop.stored(reply_id)
    assert (stored.classification, stored.ticket_id) == (ReplyClass.RATING, None)
    assert await loop.count(Rating) == 0


async def test_the_worker_runs_until_stopped_and_reclaims_what_a_dead_worker_left(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=50)
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.queue.claim_inbound("dead", 10, None)  # claimed, never processed
    stop = asyncio.Event()
    task = asyncio.create_task(loop.worker.run(stop))
    for _ in range(200):
        if (await loop.stored(reply_id)).classified_at is not None:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)
    stored = await loop.stored(reply_id)
    assert stored.ticket_id is not None
    assert stored.classified_at == clock.now()  # the injected clock stamped it


async def _run_until_classified(loop: Loop, reply_id: int) -> None:
    """Run the worker (as `hub worker` does) until the reply is classified, or ~4 s."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop.worker.run(stop))
    for _ in range(200):
        if (await loop.stored(reply_id)).classified_at is not None:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, 5)


async def _epoch_settled(redis: Redis, keys: RedisKeys, clock: FixedClock) -> None:
    """A dispatcher of the deployment beat a heartbeat's lifetime ago: heartbeats count."""
    await Liveness(redis, keys, clock).beat("dispatcher-1")
    clock.advance(timedelta(seconds=HEARTBEAT_TTL_S + 1))


async def _pending_by_consumer(redis: Redis, keys: RedisKeys) -> dict[str, int]:
    consumers = await redis.xinfo_consumers(keys.inbound_stream(), RedisKeys.INBOUND_GROUP)
    return {str(c["name"]): int(c["pending"]) for c in consumers}


async def test_a_started_worker_takes_a_dead_workers_replies_at_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    # Idle reclaim ten minutes away: only the dead worker's missing heartbeat can hand over.
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=600_000)
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.queue.claim_inbound("dead-1", 10, None)  # claimed, then SIGKILLed: no heartbeat
    await _epoch_settled(redis_client, redis_keys, clock)

    await _run_until_classified(loop, reply_id)

    assert (await loop.stored(reply_id)).ticket_id is not None
    assert await loop.count(Ticket) == 1
    assert "dead-1" not in await _pending_by_consumer(redis_client, redis_keys)  # gone
    pending = await redis_client.xpending(redis_keys.inbound_stream(), RedisKeys.INBOUND_GROUP)
    assert pending["pending"] == 0


async def test_a_live_workers_replies_are_left_to_it(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=600_000)
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.queue.claim_inbound("busy-2", 10, None)
    await _epoch_settled(redis_client, redis_keys, clock)
    await Liveness(redis_client, redis_keys, clock).beat("busy-2", epoch=False)

    assert await loop.worker.take_over_dead() == []
    assert (await loop.stored(reply_id)).classified_at is None
    assert (await _pending_by_consumer(redis_client, redis_keys))["busy-2"] == 1


async def test_a_restarted_worker_of_the_same_name_handles_what_it_left(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    # A container restarts with the same host name and pid: its heartbeat looks alive and
    # XREADGROUP never hands back its own pending entries.
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=600_000)
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.queue.claim_inbound(loop.worker.consumer, 10, None)
    await _epoch_settled(redis_client, redis_keys, clock)

    await _run_until_classified(loop, reply_id)

    assert (await loop.stored(reply_id)).ticket_id is not None
    pending = await redis_client.xpending(redis_keys.inbound_stream(), RedisKeys.INBOUND_GROUP)
    assert pending["pending"] == 0


class _Exploding(ReplyApplier):
    """An applier that fails on one text after writing a ticket (a bug's stand-in)."""

    async def apply(self, session: Any, reply: Any, contact: Any, found: Any, now: Any,
                    facts: Any = None) -> Any:  # fmt: skip
        applied = await super().apply(session, reply, contact, found, now, facts)
        if reply.text == "boom":
            raise RuntimeError("applier bug")
        return applied


async def test_a_reply_that_fails_is_recorded_and_rolled_back_alone_in_its_batch(
    loop: Loop,
) -> None:
    applier = loop.worker.applier
    loop.worker.applier = _Exploding(applier.settings, applier.answerer)
    ids = [await loop.reply("企业用地手续办理遇到困难"), await loop.reply("boom", sender=YI),
           await loop.reply("招工难，希望帮忙对接职业院校", sender="+8613900000003")]  # fmt: skip
    done = await loop.drain()

    assert [p.outcome for p in done] == ["applied", "failed", "applied"]
    failed = await loop.stored(ids[1])
    assert failed.classified_at == loop.clock.now()
    assert failed.ticket_id is None
    assert "applier bug" in (failed.classification_detail or {})["error"]
    assert await loop.count(Ticket) == 2  # boom's ticket was rolled back with its savepoint
    assert len(await loop.messages(MessageKind.TICKET_ACK)) == 2
    assert [p.outcome for p in await loop.worker.reclaim_once()] == []


async def test_a_rating_answering_a_callback_survey_is_recorded_on_the_survey(
    loop: Loop,
) -> None:
    ticket = await _resolved_ticket(loop)
    await loop.reply("5")
    await loop.drain()  # rated and closed
    now = loop.clock.now()
    async with loop.db.write() as session:
        message = Message(
            idempotency_key="survey-1", kind=MessageKind.CALLBACK_SURVEY,
            enterprise_id=ticket.enterprise_id, contact_id=ticket.contact_id,
            channel=ChannelName.SANDBOX, address=JIA, status=MessageStatus.SENT, body="回访",
            params={}, attempts=1, sent_at=now, created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(message)
        await session.flush()
        survey = CallbackSurvey(month="2026-11", ticket_id=ticket.id,
                                method=CallbackMethod.MESSAGE, status=CallbackStatus.SENT,
                                message_id=message.id, created_at=now)  # fmt: skip
        session.add(survey)
        await session.flush()
        survey_id = survey.id
    loop.clock.advance(timedelta(minutes=5))
    reply_id = await loop.reply("4")
    await loop.drain()

    stored = await loop.stored(reply_id)
    assert (stored.classification, stored.ticket_id) == (ReplyClass.RATING, ticket.id)
    async with loop.db.read() as session:
        answered = await session.get(CallbackSurvey, survey_id)
    assert answered is not None
    assert (answered.status, answered.score) == (CallbackStatus.ANSWERED, 4)
    assert [r.score for r in await _ratings(loop)] == [5]  # the ticket's own rating stands
    assert (await loop.events(ticket.id))[-1] == "callback_done"


async def _ratings(loop: Loop) -> list[Rating]:
    async with loop.db.read() as session:
        return list((await session.scalars(sa.select(Rating).order_by(Rating.id))).all())


class _PushLost(Queue):
    """A queue whose inbound entries vanish: replies accepted just before a FLUSHALL."""

    async def push_inbound(self, reply_ids: Sequence[int]) -> list[str]:
        return []


async def _flush(redis: Redis, keys: RedisKeys) -> None:
    """What a FLUSHALL does to the hub (the shared test server keeps other tests' keys)."""
    doomed = [key async for key in redis.scan_iter(match=keys.pattern(), count=1000)]
    await redis.delete(*doomed)


async def _accept_questions(loop: Loop, queue: Queue, count: int) -> list[int]:
    """One question from each of ``count`` senders (each opens a ticket of its own)."""
    ids = []
    for n in range(count):
        reply = InboundReply(provider="sandbox", provider_msg_id=f"flush-{n}",
                             sender=f"+861370000{n:04d}", text=QUESTION)  # fmt: skip
        accepted = await accept_reply(loop.db, queue, loop.clock, ChannelName.SANDBOX, reply)
        ids.append(accepted.reply_id)
    return ids


async def _classified_once(loop: Loop, reply_ids: list[int]) -> None:
    """Every reply classified, each applied once: a ticket and an acknowledgement each."""
    stored = [await loop.stored(reply_id) for reply_id in reply_ids]
    assert all(reply.classified_at is not None for reply in stored)
    assert len({reply.ticket_id for reply in stored}) == len(reply_ids)
    assert await loop.count(Ticket) == len(reply_ids)
    assert len(await loop.messages(MessageKind.TICKET_ACK)) == len(reply_ids)
    await loop.queue.push_inbound(reply_ids)  # on the stream again: nothing applied twice
    assert {p.outcome for p in await loop.drain()} == {"already"}


async def _until_classified(loop: Loop, reply_ids: list[int], seconds: float) -> None:
    for _ in range(int(seconds / 0.05)):
        if all([(await loop.stored(r)).classified_at is not None for r in reply_ids]):
            return
        await asyncio.sleep(0.05)


async def test_replies_accepted_before_a_flushall_are_classified_once_by_the_running_worker(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=600_000)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.worker.run(stop))
    try:
        await _until(lambda: redis_client.exists(redis_keys.redis_epoch()))  # first beat
        # Stored in SQL (answered 200), their stream entries gone with the flush.
        reply_ids = await _accept_questions(loop, _PushLost(redis_client, redis_keys), 5)
        await _flush(redis_client, redis_keys)
        started = time.monotonic()
        await _until_classified(loop, reply_ids, 5.0)  # a heartbeat or two
        took = time.monotonic() - started
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    await _classified_once(loop, reply_ids)
    assert took < 5.0


async def test_a_worker_started_on_an_empty_redis_classifies_the_replies_sql_holds(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    loop = await make_loop(db, redis_client, redis_keys, clock, reclaim_idle_ms=600_000)
    reply_ids = await _accept_questions(loop, loop.queue, 5)
    await _flush(redis_client, redis_keys)  # Redis replaced by an empty one, say
    stop = asyncio.Event()
    task = asyncio.create_task(loop.worker.run(stop))
    try:
        await _until_classified(loop, reply_ids, 5.0)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    await _classified_once(loop, reply_ids)


async def _until(condition: Callable[[], Awaitable[object]], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


class _RedisAway(Queue):
    """Redis refuses the push that follows the reply's commit (restarting, say)."""

    async def push_inbound(self, reply_ids: Sequence[int]) -> list[str]:
        raise QueueError("Redis: pushing replies: ConnectionError")


async def test_a_reply_whose_push_failed_after_the_commit_is_put_on_the_stream_by_the_reconciler(
    write_config: Callable[..., Path],
) -> None:
    dispatch = {"block_ms": 50, "reclaim_idle_seconds": 1, "reconcile_every_seconds": 0.1}
    async with open_components(load_settings(write_config(dispatch=dispatch))) as hub:
        reply = InboundReply(provider="sandbox", provider_msg_id="push-failed", sender=STRANGER,
                             text=QUESTION)  # fmt: skip
        with pytest.raises(QueueError):  # committed, then the webhook answers 5xx
            await accept_reply(hub.db, _RedisAway(hub.redis, hub.keys), hub.clock,
                               ChannelName.SANDBOX, reply)  # fmt: skip
        # The provider's redelivery finds the reply stored: answered 200, nothing pushed.
        again = await accept_reply(hub.db, hub.queue, hub.clock, ChannelName.SANDBOX, reply)
        assert again.duplicate
        assert await hub.queue.claim_inbound("w", 10) == []
        stop = asyncio.Event()
        reconciler = asyncio.create_task(_reconcile(hub, stop))  # as `hub worker` runs it
        try:
            entries: list[InboundEntry] = []
            for _ in range(100):  # received over reclaim_idle_seconds (1 s) ago: put back
                if entries := await hub.queue.claim_inbound("w", 10):
                    break
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await asyncio.wait_for(reconciler, 5)
        assert [e.reply_id for e in entries] == [again.reply_id]
