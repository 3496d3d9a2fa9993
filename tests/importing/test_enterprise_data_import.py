"""Enterprise-data imports end to end (credit, policies, licences, annual reports): each file
format and header language, rejects with row and reason, idempotency, the audit log, what each
import returns for the programs, and the credit status the events give an enterprise."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.credit import CreditEventStatus, CreditEventType, credit_status_of
from hub.core.vocab import CreditStatus
from hub.importing.service import ImportReport, import_file
from hub.store.db import Database
from hub.store.models import AnnualReport, AuditLog, CreditEvent, Enterprise, Licence, Policy
from tests.importing.factories import make_uscc, write_csv_file, write_xlsx_file
from tests.seed import seed_registry

# tests/seed.py: serial 1 甲机械 (good), 2 乙商贸 (good), 3 丙软件 (warning), 4 丁餐饮 (dishonest)
JIA, YI, BING, DING = (make_uscc(n) for n in (1, 2, 3, 4))
UNKNOWN = make_uscc(99)
CREDIT_HEADER = ["event_id", "uscc", "type", "authority", "decided_on", "summary", "status",
                 "repaired_on"]  # fmt: skip
CREDIT_ROWS = [
    ["XY001", JIA, "dishonest_debtor", "龙沙区人民法院", "2026-03-02", "未履行生效判决", "active",
     ""],
    ["XY002", YI, "行政处罚", "市市场监督管理局", "2026/4/5", "虚假宣传", "有效", ""],
    ["XY003", BING, "abnormal_operation", "市市场监督管理局", "2025-06-30", "未按期年报",
     "repaired", "2026-01-15"],
]  # fmt: skip


def counts(report: ImportReport) -> tuple[int, int, int, int, int]:
    """(valid, created, updated, unchanged, rejected)"""
    return report.valid, report.created, report.updated, report.unchanged, report.rejected


async def credit_of(db: Database) -> dict[str, CreditStatus]:
    async with db.read() as session:
        rows = await session.execute(sa.select(Enterprise.uscc, Enterprise.credit_status))
        return {uscc: status for uscc, status in rows}


async def audit(db: Database, action_prefix: str) -> list[AuditLog]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    sa.select(AuditLog)
                    .where(AuditLog.action.startswith(action_prefix))
                    .order_by(AuditLog.id)
                )
            ).all()
        )


def rejects(report: ImportReport) -> dict[int, str]:
    """Row number -> reason, as the rejects file gives them."""
    assert report.rejects_file is not None
    with open(report.rejects_file, encoding="utf-8-sig", newline="") as file:
        return {int(row["行号"]): row["原因"] for row in csv.DictReader(file)}


def test_active_events_decide_the_credit_status() -> None:
    assert credit_status_of([]) is CreditStatus.GOOD
    assert credit_status_of([CreditEventType.ADMIN_PENALTY]) is CreditStatus.WARNING
    assert credit_status_of([CreditEventType.ABNORMAL_OPERATION]) is CreditStatus.WARNING
    assert credit_status_of([CreditEventType.DISHONEST_DEBTOR]) is CreditStatus.DISHONEST
    assert (
        credit_status_of([CreditEventType.ADMIN_PENALTY, CreditEventType.SERIOUS_DISHONESTY])
        is CreditStatus.DISHONEST
    )


async def test_credit_import_sets_status_is_idempotent_and_audits_changes(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await seed_registry(any_db)
    path = write_csv_file(tmp_path / "credit.csv", [CREDIT_HEADER, *CREDIT_ROWS])

    first = await import_file(any_db, "credit", path, clock, actor="clerk")
    assert counts(first) == (3, 3, 0, 0, 0)
    assert first.changes is not None
    assert [c.key for c in first.changes.created] == ["XY001", "XY002", "XY003"]
    statuses = await credit_of(any_db)
    # 丙软件 was seeded `warning`; its only event is repaired, so it is good now
    assert (statuses[JIA], statuses[YI], statuses[BING], statuses[DING]) == (
        CreditStatus.DISHONEST, CreditStatus.WARNING, CreditStatus.GOOD, CreditStatus.DISHONEST
    )  # fmt: skip
    assert {(c.uscc, c.after) for c in first.changes.credit_status} == {
        (JIA, CreditStatus.DISHONEST), (YI, CreditStatus.WARNING), (BING, CreditStatus.GOOD)
    }  # fmt: skip
    async with any_db.read() as session:
        yi = await session.scalar(sa.select(CreditEvent).where(CreditEvent.event_id == "XY002"))
    assert yi is not None
    assert (yi.type, yi.status, yi.decided_on) == (
        CreditEventType.ADMIN_PENALTY, CreditEventStatus.ACTIVE, date(2026, 4, 5)
    )  # fmt: skip
    created = await audit(any_db, "credit_event.")
    assert [(a.action, a.target_id, a.actor) for a in created] == [
        ("credit_event.created", key, "clerk") for key in ("XY001", "XY002", "XY003")
    ]
    assert len(await audit(any_db, "enterprise.credit_status")) == 3

    again = await import_file(any_db, "credit", path, clock, actor="clerk")
    assert counts(again) == (3, 0, 0, 3, 0)
    assert again.changes is not None
    assert not again.changes.changed
    assert len(await audit(any_db, "credit_event.")) == 3

    repaired = [list(row) for row in CREDIT_ROWS]
    repaired[0][6:8] = ["已修复", "2026-11-20"]
    write_csv_file(path, [CREDIT_HEADER, *repaired])
    third = await import_file(any_db, "credit", path, clock, actor="clerk")
    assert counts(third) == (3, 0, 1, 2, 0)
    assert third.changes is not None
    (change,) = third.changes.updated
    assert change.key == "XY001"
    assert change.changes == {
        "status": (CreditEventStatus.ACTIVE, CreditEventStatus.REPAIRED),
        "repaired_on": (None, date(2026, 11, 20)),
    }
    assert (await credit_of(any_db))[JIA] is CreditStatus.GOOD
    updated = (await audit(any_db, "credit_event.updated"))[0]
    assert updated.detail["changes"] == {
        "status": ["active", "repaired"], "repaired_on": [None, "2026-11-20"]
    }  # fmt: skip


async def test_credit_rows_are_rejected_with_row_and_reason(
    db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await seed_registry(db)
    header = ["事件编号", "统一社会信用代码", "类型", "认定机关", "认定日期", "状态"]
    path = write_csv_file(
        tmp_path / "credit.csv",
        [
            header,
            ["XY010", JIA, "经营异常名录", "市市场监督管理局", "2026年3月1日", "有效"],
            ["XY011", UNKNOWN, "行政处罚", "市税务局", "2026-02-30", ""],
            ["XY012", YI, "黑名单", "", "2026-01-01", "作废"],
            ["XY010", JIA, "经营异常名录", "市市场监督管理局", "2026-03-02", "有效"],
        ],
    )
    report = await import_file(db, "credit", path, clock)
    assert counts(report) == (1, 1, 0, 0, 3)
    reasons = rejects(report)
    assert set(reasons) == {3, 4, 5}
    assert f"统一社会信用代码“{UNKNOWN}”不存在，请先导入企业" in reasons[3]
    assert "认定日期“2026-02-30”不是有效的日期" in reasons[3]
    assert "类型“黑名单”无效" in reasons[4]
    assert "认定机关不能为空" in reasons[4]
    assert "状态“作废”无效" in reasons[4]
    assert "事件编号“XY010”与第 2 行重复且内容不一致" in reasons[5]
    assert (await credit_of(db))[JIA] is CreditStatus.WARNING


POLICY_HEADER_ZH = ["政策编号", "政策名称", "摘要", "发布部门", "申报截止", "免申即享", "链接",
                    "行业", "联络类别", "区域", "阶段", "标签", "正文"]  # fmt: skip


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
async def test_policies_in_chinese_headers_and_gbk(
    db: Database, tmp_path: Path, clock: FixedClock, encoding: str
) -> None:
    rows = [
        POLICY_HEADER_ZH,
        ["ZC2026-01", "制造业数字化改造补贴", "设备投资额10%补贴", "市工业和信息化局",
         "2026-12-31", "否", "https://www.qqhr.gov.cn/zc/1", "制造业", "重点;一般", "",
         "运营", "专精特新", "第一条 为推动……"],
        ["ZC2026-02", "稳岗返还", "", "市人社局", "", "是", "", "", "", "龙沙区；建华区", "", "",
         ""],
    ]  # fmt: skip
    path = write_csv_file(tmp_path / "policies.csv", rows, encoding=encoding)
    report = await import_file(db, "policies", path, clock)
    assert counts(report) == (2, 2, 0, 0, 0)
    async with db.read() as session:
        stored = {p.policy_id: p for p in (await session.scalars(sa.select(Policy))).all()}
    first, second = stored["ZC2026-01"], stored["ZC2026-02"]
    assert (first.tiers, first.stages, first.industries, first.tags) == (
        "general;key", "operating", "制造业", "专精特新"
    )  # fmt: skip
    assert (first.apply_by, first.free_apply, first.text) == (
        date(2026, 12, 31), False, "第一条 为推动……"
    )  # fmt: skip
    assert (second.free_apply, second.regions, second.tiers, second.url) == (
        True, "建华区;龙沙区", "", None
    )  # fmt: skip
    assert counts(await import_file(db, "policies", path, clock)) == (2, 0, 0, 2, 0)


async def test_policy_rows_are_rejected_naming_the_column(
    db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    path = write_csv_file(
        tmp_path / "policies.csv",
        [
            ["policy_id", "title", "free_apply", "url", "tiers", "stages"],
            ["P1", "好政策", "也许", "www.example.com", "vip", "开办;成长"],
            ["P2", "", "是", "", "", ""],
        ],
    )
    report = await import_file(db, "policies", path, clock)
    assert counts(report) == (0, 0, 0, 0, 2)
    reasons = rejects(report)
    assert "free_apply“也许”无效，应为 是 或 否" in reasons[2]
    assert "url“www.example.com”不是有效的链接" in reasons[2]
    assert "tiers中的“vip”无效" in reasons[2]
    assert "stages中的“成长”无效" in reasons[2]
    assert "title不能为空" in reasons[3]


async def test_licences_from_xlsx_with_chinese_headers(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await seed_registry(any_db)
    rows: list[list[Any]] = [
        ["统一社会信用代码", "证照类型", "证照编号", "有效期至", "发证机关", "已换证日期"],
        [JIA, "排污许可证", "PW-001", date(2027, 3, 1), "市生态环境局", None],
        [YI, "食品经营许可证", "JY123", "2027-01-15", "", None],
        [UNKNOWN, "食品经营许可证", "JY999", "2027-01-15", "", None],
    ]
    path = write_xlsx_file(tmp_path / "licences.xlsx", rows)
    report = await import_file(any_db, "licences", path, clock)
    assert counts(report) == (2, 2, 0, 0, 1)
    assert set(rejects(report)) == {4}
    rows[1][5] = date(2026, 12, 20)
    write_xlsx_file(path, rows)
    again = await import_file(any_db, "licences", path, clock)
    assert counts(again) == (2, 0, 1, 1, 1)
    assert again.changes is not None
    assert [c.key for c in again.changes.updated] == [f"{JIA}/排污许可证/PW-001"]
    async with any_db.read() as session:
        licence = await session.scalar(sa.select(Licence).where(Licence.number == "PW-001"))
    assert licence is not None
    assert (licence.expires_on, licence.renewed_on) == (date(2027, 3, 1), date(2026, 12, 20))


async def test_annual_reports_from_xlsx_with_english_headers(
    db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await seed_registry(db)
    path = write_xlsx_file(
        tmp_path / "annual.xlsx",
        [
            ["uscc", "year", "filed_on"],
            [JIA, 2025, date(2026, 3, 10)],
            [YI, "2025年", "2026-06-30"],
            [BING, "25", "2026-05-01"],
        ],
    )
    report = await import_file(db, "annual-reports", path, clock)
    assert counts(report) == (2, 2, 0, 0, 1)
    assert "year“25”不是有效的年度" in rejects(report)[4]
    async with db.read() as session:
        years = (await session.execute(sa.select(AnnualReport.year, AnnualReport.filed_on))).all()
    assert sorted(years) == [(2025, date(2026, 3, 10)), (2025, date(2026, 6, 30))]
    assert counts(await import_file(db, "annual-reports", path, clock))[1:4] == (0, 0, 2)


async def test_a_long_text_is_audited_by_its_start_and_length(
    db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    text = "第一条" + "政" * 2000
    path = write_csv_file(
        tmp_path / "policies.csv", [["policy_id", "title", "text"], ["P1", "好政策", text]]
    )
    assert counts(await import_file(db, "policies", path, clock)) == (1, 1, 0, 0, 0)
    (entry,) = await audit(db, "policy.created")
    audited = entry.detail["values"]["text"]
    assert audited.startswith("第一条政")
    assert audited.endswith(f"…（共 {len(text)} 字）")
    assert len(audited) < 600
    async with db.read() as session:
        assert await session.scalar(sa.select(Policy.text)) == text
