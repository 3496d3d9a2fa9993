"""``hub import faq FILE``: English and Chinese headers, CSV (UTF-8 with BOM, GBK) and XLSX, the
date spellings, rejects with row and field in Chinese, re-imports that change nothing, new
versions, retiring, the command's exit codes and ``--json``, and ``hub faq list|show``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.core.clock import FixedClock
from hub.importing.faq_rows import FAQ_COLUMNS
from hub.importing.service import ImportReport, import_file
from hub.store.db import Database
from hub.store.knowledge import FaqEntry, FaqEntryVersion
from hub.store.tickets import AuditLog
from tests.importing.factories import write_csv_file, write_xlsx_file
from tests.importing.test_enterprise_data_import import rejects

CHINESE = ["编号", "问题", "答案", "相似问法", "部门", "有效期至", "依据"]
ENGLISH = ["faq_id", "question", "answer", "alternates", "department", "valid_until", "source"]
ROWS = [
    ["FAQ-001", "营业执照丢了怎么补办？", "到政务服务中心登记窗口申请补领。",
     "执照丢了；营业执照遗失补领", "市市场监督管理局", "2027/6/30", "《市场主体登记管理条例》"],
    ["FAQ-002", "小规模纳税人增值税起征点是多少？", "月销售额10万元以下免征增值税。", "",
     "市税务局", "2027年6月30日", ""],
    ["FAQ-003", "社保断缴有什么影响？", "可能影响医保待遇与购房资格，请及时补缴。", "社保停缴",
     "", "", ""],
]  # fmt: skip


def counts(report: ImportReport) -> tuple[int, int, int, int, int]:
    """(valid, created, updated, unchanged, rejected)"""
    return report.valid, report.created, report.updated, report.unchanged, report.rejected


async def stored(db: Database) -> dict[str, FaqEntry]:
    async with db.read() as session:
        return {e.faq_id: e for e in (await session.scalars(sa.select(FaqEntry))).all()}


async def faq_audit(db: Database) -> list[tuple[str, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(AuditLog.action, AuditLog.target_id)
            .where(AuditLog.target_type == "faq")
            .order_by(AuditLog.id)
        )
        return [(action, target) for action, target in rows]


@pytest.mark.parametrize(
    ("header", "write"),
    [
        pytest.param(CHINESE, lambda p, rows: write_csv_file(p, rows, encoding="utf-8-sig"),
                     id="chinese-csv-bom"),
        pytest.param(CHINESE, lambda p, rows: write_csv_file(p, rows, encoding="gbk"),
                     id="chinese-csv-gbk"),
        pytest.param(ENGLISH, lambda p, rows: write_csv_file(p, rows), id="english-csv"),
        pytest.param(CHINESE, write_xlsx_file, id="chinese-xlsx"),
    ],
)  # fmt: skip
async def test_a_library_file_is_imported_once_and_a_repeat_changes_nothing(
    any_db: Database,
    tmp_path: Path,
    clock: FixedClock,
    header: list[str],
    write: Callable[[Path, list[list[str]]], Path],
) -> None:
    suffix = ".xlsx" if write is write_xlsx_file else ".csv"
    path = write(tmp_path / f"常见问题{suffix}", [header, *ROWS])
    report = await import_file(any_db, "faq", path, clock)
    assert counts(report) == (3, 3, 0, 0, 0)
    assert report.rejects_file is None
    entries = await stored(any_db)
    first = entries["FAQ-001"]
    assert (first.version, first.valid_until, first.department) == (
        1, date(2027, 6, 30), "市市场监督管理局"
    )  # fmt: skip
    assert first.alternates == "执照丢了;营业执照遗失补领"  # ； as well as ;
    assert entries["FAQ-002"].valid_until == date(2027, 6, 30)
    assert entries["FAQ-003"].department is None
    assert report.as_dict()["new"] == ["FAQ-001", "FAQ-002", "FAQ-003"]

    again = await import_file(any_db, "faq", path, clock)
    assert counts(again) == (3, 0, 0, 3, 0)
    assert await faq_audit(any_db) == [("faq.created", f"FAQ-00{n}") for n in (1, 2, 3)]


async def test_a_changed_row_is_a_new_version_and_a_row_may_retire_an_entry(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    path = write_csv_file(tmp_path / "faq.csv", [CHINESE, *ROWS])
    await import_file(any_db, "faq", path, clock)
    changed = [*ROWS[0][:2], "可网上申请补领，无需登报。", *ROWS[0][3:]]
    write_csv_file(
        path, [[*CHINESE, "停用"], [*changed, ""], ["FAQ-003", "", "", "", "", "", "", "是"]]
    )
    report = await import_file(any_db, "faq", path, clock)
    assert counts(report) == (2, 0, 2, 0, 0)
    assert report.as_dict()["changed"] == ["FAQ-001", "FAQ-003"]
    entries = await stored(any_db)
    assert (entries["FAQ-001"].version, entries["FAQ-001"].answer) == (
        2,
        "可网上申请补领，无需登报。",
    )
    assert (entries["FAQ-003"].version, entries["FAQ-003"].retired) == (2, True)
    assert entries["FAQ-003"].question == "社保断缴有什么影响？"  # retiring keeps the text
    async with any_db.read() as session:
        history = (
            await session.execute(
                sa.select(FaqEntryVersion.faq_id, FaqEntryVersion.version).order_by(
                    FaqEntryVersion.faq_id, FaqEntryVersion.version
                )
            )
        ).all()
    assert [tuple(row) for row in history] == [
        ("FAQ-001", 1), ("FAQ-001", 2), ("FAQ-002", 1), ("FAQ-003", 1), ("FAQ-003", 2),
    ]  # fmt: skip


async def test_bad_rows_are_rejected_naming_row_and_field_and_the_good_ones_are_kept(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    path = write_csv_file(
        tmp_path / "faq.csv",
        [
            [*CHINESE, "停用"],
            [*ROWS[0], ""],
            ["FAQ-010", "", "答案在此", "", "", "明年", "", ""],
            ["FAQ-011", "没有答案的问题", "", "", "", "", "", "也许"],
            ["FAQ-404", "", "", "", "", "", "", "是"],
            [*ROWS[1], ""],
            [ROWS[1][0], "另一个问题", *ROWS[1][2:], ""],
            ["policy:ZC-01#1", "问题", "答案", "", "", "", "", ""],
        ],
    )
    report = await import_file(any_db, "faq", path, clock)
    assert counts(report) == (2, 2, 0, 0, 5)
    assert sorted(await stored(any_db)) == ["FAQ-001", "FAQ-002"]
    assert rejects(report) == {
        3: "问题不能为空；有效期至“明年”不是有效的日期，应如 2026-11-23",
        4: "停用“也许”无效，应为 是 或 否；答案不能为空",
        5: "编号“FAQ-404”不存在，无法停用；新建条目须填写问题和答案",
        7: "编号“FAQ-002”与第 6 行重复且内容不一致",
        8: "编号“policy:ZC-01#1”只能含字母、数字、汉字和 - _ .",
    }


def test_the_command_exits_0_1_2_and_prints_json(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    path = write_csv_file(tmp_path / "faq.csv", [CHINESE, *ROWS])

    def hub(*args: str | Path) -> int:
        return main(["--config", str(config), *(str(arg) for arg in args)])

    assert hub("import", "faq", path) == 0
    assert "常见问题新建 3（created）" in capsys.readouterr().out
    assert hub("import", "faq", path, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["kind"], report["unchanged"], report["new"]) == ("faq", 3, [])

    write_csv_file(path, [CHINESE, ROWS[0], ["FAQ-009", "问题", "", "", "", "", ""]])
    assert hub("import", "faq", path) == 1
    out = capsys.readouterr().out
    assert "拒绝 1 行（rejected）" in out
    assert "faq.rejects.csv" in out

    write_csv_file(path, [["编号", "问题"], ["FAQ-001", "营业执照丢了怎么补办？"]])
    assert hub("import", "faq", path) == 2
    error = capsys.readouterr().err
    assert "faq.csv" in error
    assert "缺少必填列：“答案”" in error


def test_the_limits_are_the_columns_lengths() -> None:
    for field in ("faq_id", "department", "source"):
        stored = getattr(FaqEntry, field).type
        assert isinstance(stored, sa.String)
        assert FAQ_COLUMNS.column(field).max_length == stored.length, field


def test_hub_faq_list_and_show_read_the_library_back(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    clock = FixedClock(datetime(2027, 7, 1, 2, 0, tzinfo=UTC))  # FAQ-001 and -002 past 06-30

    def hub(*args: str | Path) -> int:
        return main(["--config", str(config), *(str(arg) for arg in args)], clock=clock)

    path = write_csv_file(tmp_path / "faq.csv", [CHINESE, *ROWS])
    assert hub("import", "faq", path) == 0
    write_csv_file(path, [CHINESE, [*ROWS[2][:2], "新的答案", *ROWS[2][3:]]])
    assert hub("import", "faq", path) == 0
    capsys.readouterr()

    assert hub("faq", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(e["faq_id"], e["version"], e["in_force"]) for e in listed] == [
        ("FAQ-001", 1, False), ("FAQ-002", 1, False), ("FAQ-003", 2, True),
    ]  # fmt: skip
    assert hub("faq", "list", "--valid", "--q", "社保") == 0
    table = capsys.readouterr().out
    assert "FAQ-003" in table
    assert "FAQ-001" not in table

    assert hub("faq", "show", "FAQ-003", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(v["version"], v["answer"]) for v in shown["versions"]] == [
        (1, ROWS[2][2]), (2, "新的答案"),
    ]  # fmt: skip
    assert hub("faq", "show", "FAQ-003") == 0
    assert "第 2 版" in capsys.readouterr().out
    assert hub("faq", "show", "FAQ-999") == 1
    assert "FAQ-999" in capsys.readouterr().err
