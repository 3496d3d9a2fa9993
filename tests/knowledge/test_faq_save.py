"""``save_faq_entries``: versions, audit, idempotency, retiring, and the rows it refuses, on
SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from hub.knowledge.faq import FaqRow, FaqSaved, save_faq_entries
from hub.store.db import Database
from hub.store.knowledge import FaqEntry, FaqEntryVersion
from hub.store.tickets import AuditLog

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
LICENCE = FaqRow(
    1, "FAQ-001", "营业执照丢了怎么补办？", "携带身份证到政务服务中心登记窗口申请补领。",
    alternates=("执照遗失补办", "营业执照补领"), department="市市场监督管理局",
    valid_until=date(2027, 6, 30), source="《市场主体登记管理条例》",
)  # fmt: skip
TAX = FaqRow(2, "FAQ-002", "小规模纳税人增值税起征点是多少？", "月销售额10万元以下免征。")


async def save(db: Database, rows: list[FaqRow], *, at: datetime = NOW) -> FaqSaved:
    async with db.write() as session:
        return await save_faq_entries(session, rows, actor="admin", now=at, source="faq.csv")


def counts(saved: FaqSaved) -> tuple[int, int, int, int, int]:
    return saved.valid, saved.created, saved.updated, saved.unchanged, saved.rejected


async def entries(db: Database) -> dict[str, FaqEntry]:
    async with db.read() as session:
        return {e.faq_id: e for e in (await session.scalars(sa.select(FaqEntry))).all()}


async def versions(db: Database, faq_id: str) -> list[FaqEntryVersion]:
    async with db.read() as session:
        found = await session.scalars(
            sa.select(FaqEntryVersion)
            .where(FaqEntryVersion.faq_id == faq_id)
            .order_by(FaqEntryVersion.version)
        )
        return list(found.all())


async def audit(db: Database) -> list[AuditLog]:
    async with db.read() as session:
        found = await session.scalars(
            sa.select(AuditLog).where(AuditLog.action.startswith("faq.")).order_by(AuditLog.id)
        )
        return list(found.all())


async def test_new_entries_are_version_one_with_their_history_and_audit(any_db: Database) -> None:
    saved = await save(any_db, [LICENCE, TAX])
    assert counts(saved) == (2, 2, 0, 0, 0)
    stored = await entries(any_db)
    assert stored["FAQ-001"].version == 1
    assert stored["FAQ-001"].alternates == "执照遗失补办;营业执照补领"
    assert stored["FAQ-001"].valid_until == date(2027, 6, 30)
    assert stored["FAQ-002"].retired is False
    [first] = await versions(any_db, "FAQ-001")
    assert (first.version, first.created_by) == (1, "admin")
    assert first.body == {
        "question": "营业执照丢了怎么补办？",
        "answer": "携带身份证到政务服务中心登记窗口申请补领。",
        "alternates": ["执照遗失补办", "营业执照补领"], "department": "市市场监督管理局",
        "valid_until": "2027-06-30", "source": "《市场主体登记管理条例》", "retired": False,
    }  # fmt: skip
    logged = await audit(any_db)
    assert [(a.action, a.target_id, a.actor) for a in logged] == [
        ("faq.created", "FAQ-001", "admin"), ("faq.created", "FAQ-002", "admin"),
    ]  # fmt: skip
    assert logged[0].detail["source"] == "faq.csv"


async def test_saving_the_same_rows_again_changes_nothing(any_db: Database) -> None:
    await save(any_db, [LICENCE, TAX])
    again = await save(any_db, [LICENCE, TAX], at=NOW + timedelta(days=1))
    assert counts(again) == (2, 0, 0, 2, 0)
    assert len(await versions(any_db, "FAQ-001")) == 1
    assert len(await audit(any_db)) == 2


async def test_a_changed_entry_gets_the_next_version_and_the_audit_names_the_fields(
    any_db: Database,
) -> None:
    await save(any_db, [LICENCE, TAX])
    changed = dataclasses.replace(LICENCE, answer="可在网上办理补领，无需登报。")
    saved = await save(any_db, [changed, TAX], at=NOW + timedelta(days=1))
    assert counts(saved) == (2, 0, 1, 1, 0)
    assert saved.version_of("FAQ-001") == 2
    assert (await entries(any_db))["FAQ-001"].answer == "可在网上办理补领，无需登报。"
    history = await versions(any_db, "FAQ-001")
    assert [(v.version, v.body["answer"]) for v in history] == [
        (1, "携带身份证到政务服务中心登记窗口申请补领。"), (2, "可在网上办理补领，无需登报。"),
    ]  # fmt: skip
    update = (await audit(any_db))[-1]
    assert (update.action, update.target_id) == ("faq.updated", "FAQ-001")
    assert sorted(update.detail["changes"]) == ["answer", "version"]
    assert update.detail["changes"]["version"] == [1, 2]


async def test_a_row_may_retire_an_entry_and_a_row_without_the_flag_keeps_it(
    any_db: Database,
) -> None:
    await save(any_db, [LICENCE])
    retire = FaqRow(5, "FAQ-001", None, None, retired=True)
    saved = await save(any_db, [retire])
    assert counts(saved) == (1, 0, 1, 0, 0)
    stored = (await entries(any_db))["FAQ-001"]
    assert (stored.retired, stored.version, stored.question) == (True, 2, LICENCE.question)
    # re-importing the library file (no retired column) neither revives nor changes it
    assert counts(await save(any_db, [LICENCE])) == (1, 0, 0, 1, 0)
    assert (await entries(any_db))["FAQ-001"].retired is True
    revived = await save(any_db, [dataclasses.replace(LICENCE, retired=False)])
    assert counts(revived) == (1, 0, 1, 0, 0)
    assert (await entries(any_db))["FAQ-001"].retired is False
    assert [v.body["retired"] for v in await versions(any_db, "FAQ-001")] == [False, True, False]


async def test_rows_it_cannot_save_are_errors_and_the_others_are_saved(any_db: Database) -> None:
    unknown = FaqRow(3, "FAQ-404", None, None, retired=True)
    clash = dataclasses.replace(TAX, row_number=4, answer="另一个答案")
    saved = await save(
        any_db, [LICENCE, TAX, unknown, clash, dataclasses.replace(TAX, row_number=5)]
    )
    assert counts(saved) == (3, 2, 0, 0, 2)
    assert [(e.row_number, e.faq_id, e.field) for e in saved.errors] == [
        (3, "FAQ-404", "faq_id"), (4, "FAQ-002", "faq_id"),
    ]  # fmt: skip
    assert "不存在" in saved.errors[0].reason
    assert "与第 2 项重复且内容不一致" in saved.errors[1].reason
    assert sorted(await entries(any_db)) == ["FAQ-001", "FAQ-002"]
