"""Several replies of one enterprise in one chunk (hub/inbound/chunk.py): the same records as
handled one by one.

The worker reads what a chunk needs once (:class:`hub.inbound.chunk.ChunkFacts`) and applies
the replies in order; a reply whose enterprise or contact an earlier reply of the chunk touched
reads the database instead. Each scenario runs with ``per_transaction`` 1 (one reply per
transaction: one by one) and 20 (all in one chunk), and both must write the same records.
Real database (both), real Redis, the production InboundWorker, scripted verdicts.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.inbound import worker as inbound_worker
from hub.inbound.assistant import Assistant
from hub.store.db import Database
from hub.store.models import AutoAnswer, Message, Rating, Ticket, TicketEvent
from hub.store.models import InboundReply as StoredReply
from tests.inbound.test_assistant import BASE_URL, KNOWLEDGE, QUESTION, Scripted
from tests.inbound.test_inbound_worker import _Exploding
from tests.inbound_support import Loop, make_loop

YI = "+8613900000002"  # 乙商贸's first contact (tests/seed.py)
YI_2 = "+8613900000012"  # 乙商贸's second contact
JIA = "+8613900000001"
ROAD = "园区东门道路破损，请尽快维修"
_NUMBER = re.compile(r"GD\d{12}")


@pytest.fixture(params=[1, 20], ids=["one_by_one", "chunked"])
async def loop(
    request: pytest.FixtureRequest, any_db: Database, redis_client: Redis,
    redis_keys: RedisKeys, clock: FixedClock,
) -> Loop:  # fmt: skip
    loop = await make_loop(any_db, redis_client, redis_keys, clock)
    applier = loop.worker.applier
    applier.assistant = Assistant(Scripted(dict(KNOWLEDGE)), applier.answerer, BASE_URL)
    loop.worker.per_transaction = request.param
    loop.worker.transaction_budget_s = None  # exactly per_transaction replies a chunk
    return loop


async def _run(loop: Loop, script: list[tuple[str, str]]) -> list[int]:
    """Store every reply of the script first, then let the worker take them in one batch."""
    ids = [await loop.reply(text, sender=sender) for sender, text in script]
    done = await loop.drain()
    assert [p.reply_id for p in done] == ids
    return ids


async def _records(loop: Loop, reply_ids: list[int]) -> dict[str, Any]:
    """What the replies wrote, ticket numbers and ids replaced by their order of appearance."""
    numbers: dict[str, str] = {}

    def plain(text: str) -> str:
        return _NUMBER.sub(lambda m: numbers.setdefault(m.group(0), f"#{len(numbers) + 1}"), text)

    replies = []
    for reply_id in reply_ids:
        stored = await loop.stored(reply_id)
        detail = stored.classification_detail or {}
        replies.append((str(stored.classification), plain(str(detail.get("detail", {}).get(
            "outcome", detail.get("error", "")))), stored.ticket_id is not None))  # fmt: skip
    async with loop.db.read() as session:
        tickets = [
            (
                plain(t.number),
                t.enterprise_id,
                t.contact_id,
                t.department_id,
                t.handler_id,
                str(t.state),
                t.body.count("【补充"),
                t.reopen_count,
            )
            for t in (await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all()
        ]
        events = [
            (e.ticket_id, str(e.type), e.actor)
            for e in (
                await session.scalars(
                    sa.select(TicketEvent).order_by(
                        TicketEvent.ticket_id, TicketEvent.at, TicketEvent.id
                    )
                )
            ).all()
        ]
        messages = [
            (str(m.kind), m.address, str(m.status), plain(m.body))
            for m in (await session.scalars(sa.select(Message).order_by(Message.id))).all()
        ]
        ratings = [(r.score, r.source) for r in (await session.scalars(sa.select(Rating))).all()]
        answers = [
            (a.answered, a.handover_reason)
            for a in (await session.scalars(sa.select(AutoAnswer).order_by(AutoAnswer.id))).all()
        ]
    order = {ticket_id: n for n, ticket_id in enumerate(dict.fromkeys(e[0] for e in events))}
    return {
        "replies": replies, "tickets": tickets, "messages": messages, "ratings": ratings,
        "auto_answers": answers,
        "events": [(order[ticket_id], kind, actor) for ticket_id, kind, actor in events],
    }  # fmt: skip


async def test_two_requests_of_one_enterprise_make_one_ticket_the_second_appended(
    loop: Loop,
) -> None:
    ids = await _run(loop, [(YI, ROAD), (YI_2, "已经三天了，货车进不来"), (JIA, ROAD)])
    records = await _records(loop, ids)

    assert records["replies"] == [
        ("request", "新建工单 #1", True),
        ("request", "补充到工单 #1", True),
        ("request", "新建工单 #2", True),
    ]
    assert [(t[0], t[6]) for t in records["tickets"]] == [("#1", 1), ("#2", 0)]
    assert records["events"] == [(0, "created", "inbound"), (0, "assigned", "inbound"),
                                 (0, "appended", "inbound"), (1, "created", "inbound"),
                                 (1, "assigned", "inbound")]  # fmt: skip
    assert [(m[0], m[1], m[2]) for m in records["messages"]] == [
        ("ticket_ack", YI, "queued"), ("ticket_ack", YI_2, "queued"), ("ticket_ack", JIA, "queued")
    ]  # fmt: skip
    assert "#1" in records["messages"][1][3]
    assert "已补充到原诉求" in records["messages"][1][3]


async def test_a_chunk_reads_the_open_tickets_once_and_sees_its_own_changes(
    loop: Loop,
) -> None:
    first = await _run(loop, [(JIA, ROAD), (YI, ROAD)])
    # The first two read what the chunk loaded; the last two come after a change: read again.
    ids = await _run(loop, [(JIA, "查询进度"), (YI, "已经三天了，货车进不来"),
                            (YI_2, "查询进度"), (JIA, "再补充一点")])  # fmt: skip
    records = await _records(loop, first + ids)

    assert [r[:2] for r in records["replies"]] == [
        ("request", "新建工单 #1"), ("request", "新建工单 #2"),
        ("query", "答复办理中的工单进度（#1）"), ("request", "补充到工单 #2"),
        ("query", "答复办理中的工单进度（#2）"), ("request", "补充到工单 #1"),
    ]  # fmt: skip
    assert [(t[0], t[6]) for t in records["tickets"]] == [("#1", 1), ("#2", 1)]
    assert [m[0] for m in records["messages"]] == ["ticket_ack"] * 6


async def test_a_rating_after_the_answer_in_the_same_chunk_rates_it(loop: Loop) -> None:
    ids = await _run(loop, [(JIA, QUESTION), (JIA, "5")])
    records = await _records(loop, ids)

    assert records["replies"][0] == ("request", "新建工单 #1，智能答复（FAQ-REG-001）并办结", True)
    assert records["replies"][1] == ("rating", "工单 #1 评价 5 分，好评办结", True)
    assert records["tickets"][0][5] == "closed"
    assert records["ratings"] == [(5, "reply")]
    assert [e[1] for e in records["events"]] == [
        "created", "assigned", "resolved", "rating_requested", "rated", "closed"
    ]  # fmt: skip
    assert [m[0] for m in records["messages"]] == ["auto_answer"]


async def test_human_after_the_answer_in_the_same_chunk_hands_it_over(loop: Loop) -> None:
    ids = await _run(loop, [(JIA, QUESTION), (JIA, "人工"), (JIA, "营业执照补办要多久")])
    records = await _records(loop, ids)

    assert [r[:2] for r in records["replies"]] == [
        ("request", "新建工单 #1，智能答复（FAQ-REG-001）并办结"),
        ("handover", "工单 #1 转人工办理"),
        ("request", "补充到工单 #1"),  # reopened: an open ticket of the enterprise
    ]
    assert records["tickets"][0][5] == "reopened"
    assert records["auto_answers"] == [(True, "human")]
    assert [m[0] for m in records["messages"]] == ["auto_answer", "ticket_ack", "ticket_ack"]
    assert [e[1] for e in records["events"]] == [
        "created", "assigned", "resolved", "rating_requested", "reopened", "appended"
    ]  # fmt: skip


async def test_a_failing_reply_in_a_chunk_leaves_the_others_applied(loop: Loop) -> None:
    applier = loop.worker.applier
    loop.worker.applier = _Exploding(applier.settings, applier.answerer, applier.assistant)
    ids = await _run(loop, [(JIA, ROAD), (YI, "boom"), (YI_2, ROAD), (JIA, "再补充一点")])
    records = await _records(loop, ids)

    assert records["replies"] == [
        ("request", "新建工单 #1", True),
        ("None", "处理失败，需人工处理：RuntimeError: applier bug", False),
        # boom's ticket was rolled back with its savepoint: the enterprise has none open
        ("request", "新建工单 #2", True),
        ("request", "补充到工单 #1", True),
    ]
    assert [(t[0], t[6]) for t in records["tickets"]] == [("#1", 1), ("#2", 0)]
    assert [(e[0], e[1]) for e in records["events"]] == [
        (0, "created"), (0, "assigned"), (0, "appended"), (1, "created"), (1, "assigned")
    ]  # fmt: skip
    assert [m[0] for m in records["messages"]] == ["ticket_ack"] * 3


async def test_a_chunk_takes_savepoints_only_when_a_reply_fails(loop: Loop) -> None:
    """Applied first without a savepoint per reply; a failure runs the chunk again with one
    each (the records are the same: the test above)."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    engine = loop.db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        await _run(loop, [(JIA, ROAD), (YI, ROAD)])
        clean = sum(s.startswith("SAVEPOINT") for s in statements)
        applier = loop.worker.applier
        loop.worker.applier = _Exploding(applier.settings, applier.answerer, applier.assistant)
        statements.clear()
        ids = await _run(loop, [(JIA, "再补充一点"), (YI, "boom"), (YI_2, ROAD)])
        failing = sum(s.startswith("SAVEPOINT") for s in statements)
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert clean == 0
    # chunked: one attempt without, then one savepoint per reply; one by one: only boom's
    assert failing == (3 if loop.worker.per_transaction > 1 else 1)
    assert [(await loop.stored(i)).ticket_id is not None for i in ids] == [True, False, True]


async def test_a_chunk_ends_early_for_a_writer_waiting_for_sqlites_lock(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A webhook of another process waiting for SQLite's lock (its mark on the lock board,
    hub/store/lock_board.py) ends the worker's chunk after the replies done; the next chunks
    take the rest, and every reply is applied once, in order."""
    loop = await make_loop(db, redis_client, redis_keys, clock)
    loop.worker.per_transaction = 20
    loop.worker.transaction_budget_s = None
    monkeypatch.setattr(inbound_worker, "YIELD_MIN_HOLD_S", 0.0)  # yield after any reply
    board = db.lock_board
    assert board is not None
    ids = [await loop.reply(f"{ROAD}（{n}号路段）", sender=sender)
           for n, sender in enumerate((JIA, YI, YI_2))]  # fmt: skip
    board.waiting()  # as a webhook's connection marks itself while it polls for the lock
    await asyncio.sleep(2 * inbound_worker.YIELD_AFTER_S)
    first = await loop.worker.process_many(ids)
    assert [p.reply_id for p in first] == ids[:1]  # one reply, then the chunk committed
    done = await loop.drain()  # the webhook still waits: a chunk a reply, all of them
    assert [p.reply_id for p in done] == ids
    assert [p.outcome for p in done] == ["already", "applied", "applied"]
    board.done_waiting()
    async with db.read() as session:
        classified = await session.scalars(
            sa.select(StoredReply.id).where(StoredReply.classified_at.is_not(None))
        )
        assert sorted(classified) == ids
        assert await session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
