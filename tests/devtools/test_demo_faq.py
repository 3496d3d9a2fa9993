"""The demo FAQ library (hub/devtools/demo_faq.csv): well formed, routed to demo departments,
one entry expired; ``hub demo`` saves it versioned and audit-logged, and a second load on the
same day changes nothing. The demo policies' texts say conditions, amounts, materials and
deadlines, so passages can answer such questions."""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.devtools.demo_data import demo_departments
from hub.devtools.demo_load import DEMO_FAQ, load_demo_into
from hub.devtools.demo_records import demo_policies
from hub.knowledge.corpus import split_passages
from hub.store.db import Database
from hub.store.knowledge import FaqEntry, FaqEntryVersion
from hub.store.models import AuditLog

DAY = date(2026, 12, 6)
NOW = datetime(2026, 12, 6, 9, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
HEADER = ["faq_id", "question", "answer", "alternates", "department", "valid_until", "source"]


def library() -> list[dict[str, str]]:
    rows = list(csv.DictReader(DEMO_FAQ.read_text(encoding="utf-8").splitlines()))
    assert rows
    assert list(rows[0]) == HEADER
    return rows


def chinese(text: str) -> int:
    return len(re.findall(r"[\u4e00-\u9fff]", text))


def test_the_library_has_at_least_120_distinct_entries_in_every_area() -> None:
    rows = library()
    assert len(rows) >= 120
    assert len({row["faq_id"] for row in rows}) == len(rows)
    assert len({row["question"] for row in rows}) == len(rows)
    everything = [row["question"] for row in rows]
    everything += [alt for row in rows for alt in row["alternates"].split(";")]
    assert len(set(everything)) == len(everything)  # no phrasing belongs to two entries
    areas = Counter(row["faq_id"].split("-")[1] for row in rows)
    assert all(areas[area] >= 10 for area in ("REG", "TAX", "SOC", "PER", "CRD", "SUB"))
    assert all(areas[area] >= 3 for area in ("IPR", "LAB", "FIN"))


def test_every_entry_answers_with_a_source_and_names_a_demo_department() -> None:
    departments = {row["name"] for row in demo_departments()}
    for row in library():
        assert re.fullmatch(r"FAQ-[A-Z]{3}-\d{3}", row["faq_id"]), row["faq_id"]
        assert 60 <= chinese(row["answer"]) <= 220, row["faq_id"]
        assert 2 <= len(row["alternates"].split(";")) <= 4, row["faq_id"]
        assert row["department"] in departments, row["faq_id"]
        assert row["source"], row["faq_id"]


def test_exactly_one_entry_has_expired_and_yearly_ones_run_into_2027() -> None:
    until = {row["faq_id"]: row["valid_until"] for row in library() if row["valid_until"]}
    expired = [faq_id for faq_id, day in until.items() if date.fromisoformat(day) < DAY]
    assert expired == ["FAQ-SUB-017"]
    assert sum(day.startswith("2027") for day in until.values()) >= 5


async def test_demo_saves_the_library_versioned_and_audited_once(
    db: Database, tmp_path: Path
) -> None:
    first = await load_demo_into(db, tmp_path / "demo", FixedClock(NOW), enterprises=30)
    count = len(library())
    faq = first.imports["faq"]
    assert (faq.created, faq.updated, faq.rejected) == (count, 0, 0)
    async with db.read() as session:
        entries = (await session.scalars(sa.select(FaqEntry))).all()
        versions = await session.scalar(sa.select(sa.func.count()).select_from(FaqEntryVersion))
        audited = await session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "faq.created", AuditLog.actor == "demo")
        )
    assert len(entries) == versions == audited == count
    assert {e.version for e in entries} == {1}
    assert next(e for e in entries if e.faq_id == "FAQ-SUB-017").valid_until == date(2026, 4, 30)
    again = await load_demo_into(db, tmp_path / "demo", FixedClock(NOW), enterprises=30)
    assert (again.imports["faq"].created, again.imports["faq"].updated) == (0, 0)
    assert again.imports["faq"].unchanged == count


def test_policy_texts_say_conditions_amounts_materials_and_deadline() -> None:
    for row in demo_policies(DAY):
        passages = split_passages(row["text"], skip=(row["title"], row["department"]))
        assert len(passages) >= 7, row["policy_id"]
        text = row["text"]
        for heading in ("申报条件", "支持标准", "申报材料", "办理流程和时限", "申报期限"):
            assert heading in text, (row["policy_id"], heading)
        if row["apply_by"]:
            deadline = date.fromisoformat(row["apply_by"])
            assert f"{deadline.year}年{deadline.month}月{deadline.day}日" in text
        # The first two passages are what they were, so their passage numbers hold.
        assert passages[0] == f"一、支持内容：{row['summary']}。"
        assert passages[1].startswith("二、办理方式：")
