"""The live index: built from the database, rebuilt only when entries change, checked at most
every refresh_s."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from hub.knowledge.corpus import load_entries
from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.library import Library
from hub.knowledge.settings import AnswerSettings
from hub.knowledge.verdict import Entry
from hub.store.db import Database
from hub.store.enterprise_data import Policy
from hub.store.knowledge import FaqEntry

NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 7)
SETTINGS = AnswerSettings(min_score=0.3, min_margin=0.05, refresh_s=30)


def _faq(faq_id: str, question: str, answer: str, *, retired: bool = False) -> FaqEntry:
    return FaqEntry(
        faq_id=faq_id,
        version=1,
        question=question,
        alternates="",
        answer=answer,
        department="市场监督管理局",
        source="《办事指南》",
        retired=retired,
        created_at=NOW,
        updated_at=NOW,
    )


async def _seed(db: Database) -> None:
    async with db.write() as session:
        session.add_all(
            [
                _faq("FAQ-001", "营业执照丢失了怎么补办", "登报声明后补领"),
                _faq("FAQ-002", "增值税专用发票怎么申领", "在电子税务局申领"),
                _faq("FAQ-003", "企业名称怎么变更", "已不再使用", retired=True),
                Policy(
                    policy_id="ZC-1",
                    title="稳岗返还",
                    summary="按失业保险费的60%返还",
                    department="人社局",
                    apply_by=date(2026, 12, 31),
                    text="稳岗返还\n人社局\n一、支持内容：返还失业保险费的60%。\n二、办理方式：无需申请。",
                    created_at=NOW,
                    updated_at=NOW,
                ),
            ]
        )


async def test_entries_are_faqs_in_force_and_policy_passages(db: Database) -> None:
    await _seed(db)
    async with db.read() as session:
        entries = await load_entries(session)
    ids = [e.entry_id for e in entries]
    assert ids == ["FAQ-001", "FAQ-002", "policy:ZC-1#1", "policy:ZC-1#2"]
    passage = entries[2]
    assert passage.title == "稳岗返还"
    assert passage.answer == "一、支持内容：返还失业保险费的60%。"
    assert passage.valid_until == date(2026, 12, 31)
    assert passage.source == "《稳岗返还》"


async def test_the_index_is_rebuilt_only_when_entries_change(db: Database) -> None:
    await _seed(db)
    library = Library(SETTINGS)
    async with db.read() as session:
        first = await library.current(session, now=NOW)
    assert library.builds == 1
    verdict = first.ask("专票怎么申领", today=TODAY)
    assert verdict.best is not None
    assert (verdict.best.entry.entry_id, verdict.best.entry.version) == ("FAQ-002", 1)

    # Nothing changed: past refresh_s the fingerprint is read, the index kept.
    async with db.read() as session:
        same = await library.current(session, now=NOW + timedelta(seconds=31))
    assert same is first
    assert library.builds == 1

    # A new version under a clock that did not move: still a change.
    async with db.write() as session:
        await session.execute(
            sa.update(FaqEntry)
            .where(FaqEntry.faq_id == "FAQ-002")
            .values(version=2, answer="在电子税务局申领（新）")
        )
    async with db.read() as session:
        held = await library.current(session, now=NOW + timedelta(seconds=40))
    assert held is first  # within refresh_s of the last check: not even read
    async with db.read() as session:
        rebuilt = await library.current(session, now=NOW + timedelta(seconds=62))
    assert library.builds == 2
    verdict = rebuilt.ask("专票怎么申领", today=TODAY)
    assert verdict.best is not None
    assert (verdict.best.entry.version, verdict.best.entry.answer) == (2, "在电子税务局申领（新）")


async def test_retiring_an_entry_or_adding_a_policy_rebuilds(db: Database) -> None:
    await _seed(db)
    library = Library(SETTINGS)
    async with db.read() as session:
        await library.current(session, now=NOW)
    async with db.write() as session:
        await session.execute(
            sa.update(FaqEntry).where(FaqEntry.faq_id == "FAQ-001").values(retired=True)
        )
    library.invalidate()
    async with db.read() as session:
        index = await library.current(session, now=NOW)
    assert library.builds == 2
    assert [e.entry_id for e in index.entries if e.kind == "faq"] == ["FAQ-002"]


async def test_questions_asked_during_a_rebuild_use_the_index_in_force(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _seed(db)
    library = Library(SETTINGS)
    async with db.read() as session:
        first = await library.current(session, now=NOW)
    async with db.write() as session:
        await session.execute(
            sa.update(FaqEntry).where(FaqEntry.faq_id == "FAQ-002").values(version=2)
        )
    started, release = threading.Event(), threading.Event()
    real_build = KnowledgeIndex.build

    def slow_build(entries: Sequence[Entry], settings: AnswerSettings) -> KnowledgeIndex:
        started.set()
        release.wait(timeout=10)
        return real_build(entries, settings)

    monkeypatch.setattr(KnowledgeIndex, "build", slow_build)
    later = NOW + timedelta(seconds=60)
    async with db.read() as rebuilding, db.read() as asking:
        rebuild = asyncio.create_task(library.current(rebuilding, now=later))
        assert await asyncio.to_thread(started.wait, 10)
        assert await library.current(asking, now=later) is first
        release.set()
        rebuilt = await rebuild
    assert rebuilt is not first
    assert library.builds == 2
