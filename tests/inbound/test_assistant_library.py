"""The assistant with the real knowledge base: the demo FAQ library saved through the FAQ import,
the worker's Library (hub/knowledge/library.py) built from the database and rebuilt when an
entry changes; SQLite and Redis, the production InboundWorker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.app.config import load_settings
from hub.app.runtime import inbound_worker, open_components
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, TicketState
from hub.inbound.assistant import Assistant
from hub.knowledge.faq import FaqRow, save_faq_entries
from hub.knowledge.library import Library
from hub.knowledge.settings import AnswerSettings
from hub.store.db import Database
from hub.store.models import AutoAnswer
from tests.inbound.assistant_support import ENTRY, OUT_OF_SCOPE, QUESTION, seed_demo_faq
from tests.inbound_support import Loop, make_loop

SETTINGS = AnswerSettings(refresh_s=30)


@pytest.fixture
async def loop(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Loop:
    loop = await make_loop(db, redis_client, redis_keys, clock)
    assert await seed_demo_faq(db, clock.now()) >= 100
    applier = loop.worker.applier
    applier.assistant = Assistant(Library(SETTINGS), applier.answerer, "https://hub.example.cn")
    return loop


async def _asked(loop: Loop, text: str) -> AutoAnswer:
    reply_id = await loop.reply(text)
    await loop.drain()
    async with loop.db.read() as session:
        row = await session.scalar(sa.select(AutoAnswer).where(AutoAnswer.reply_id == reply_id))
    assert row is not None
    return row


async def test_a_library_question_is_answered_from_its_entry_naming_the_source(
    loop: Loop,
) -> None:
    row = await _asked(loop, QUESTION)

    assert (row.answered, row.entry_id, row.entry_version) == (True, ENTRY, 1)
    assert row.score > row.margin > 0
    [message] = await loop.messages()
    assert message.kind is MessageKind.AUTO_ANSWER
    assert row.answer is not None
    assert row.answer in message.body
    assert "依据：《高新技术企业认定管理办法》" in message.body
    ticket = await loop.ticket(row.ticket_id or 0)
    assert ticket.state is TicketState.RESOLVED


async def test_a_question_outside_the_library_is_a_ticket_with_suggestions(loop: Loop) -> None:
    row = await _asked(loop, OUT_OF_SCOPE)

    assert row.answered is False
    assert len(row.suggestions) <= 3
    [ack] = await loop.messages()
    assert ack.kind is MessageKind.TICKET_ACK


async def test_a_changed_entry_answers_from_its_new_version(loop: Loop) -> None:
    await _asked(loop, QUESTION)
    await loop.reply("5")  # rated: the next question is not a follow-up of the first
    await loop.drain()
    new_answer = "自2027年起按新办法认定：须同时满足注册一年以上、拥有核心自主知识产权等条件。"
    async with loop.db.write() as session:
        saved = await save_faq_entries(
            session, [FaqRow(1, ENTRY, "申请高新技术企业认定需要满足哪些条件？", new_answer,
                             source="《高新技术企业认定管理办法》（2027年修订）")],
            actor="test", now=loop.clock.now(),
        )  # fmt: skip
    assert saved.version_of(ENTRY) == 2
    loop.clock.advance(timedelta(seconds=SETTINGS.refresh_s + 1))  # the library looks again

    row = await _asked(loop, QUESTION)

    assert (row.answered, row.entry_id, row.entry_version, row.answer) == (
        True, ENTRY, 2, new_answer)  # fmt: skip
    body = (await loop.messages(MessageKind.AUTO_ANSWER))[-1].body
    assert "（2027年修订）" in body


async def test_an_expired_entry_never_answers(loop: Loop) -> None:
    # FAQ-SUB-017 (2026年春季促消费活动) ended on 2026-04-30; the clock is 2026-11-23.
    row = await _asked(loop, "2026年春季促消费活动，企业怎么报名？")

    assert row.entry_id != "FAQ-SUB-017"
    assert "FAQ-SUB-017" not in [s["entry_id"] for s in row.suggestions]


async def test_the_workers_of_a_process_share_its_library_and_answers_enabled_is_read(
    write_config: Callable[..., Path], clock: FixedClock
) -> None:
    settings = load_settings(write_config(answers={"enabled": False}))
    async with open_components(settings, clock=clock) as hub:
        first, second = (inbound_worker(hub, consumer=name) for name in ("a", "b"))
        assistants = [first.applier.assistant, second.applier.assistant]

    assert all(a is not None and a.library is hub.library for a in assistants)
    assert [a.enabled if a else None for a in assistants] == [False, False]
    assert hub.library.settings.enabled is False


async def test_a_started_worker_builds_the_index_before_the_first_question(loop: Loop) -> None:
    assistant = loop.worker.applier.assistant
    assert assistant is not None
    library = assistant.library
    assert isinstance(library, Library)
    stop = asyncio.Event()
    running = asyncio.create_task(loop.worker.run(stop))
    for _ in range(400):  # the build takes about 2 s with jieba's dictionary loaded cold
        if library.builds:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(running, 5)

    assert library.builds == 1
    assert await loop.count(AutoAnswer) == 0  # nothing was asked yet
