"""The half-yearly work report from known rows of 2027 H1, written as DOCX and read back with
python-docx: the figures the data implies in its tables, and its charts as pictures.

The data is :func:`tests.reports.work_report_support.seed`'s (its docstring says what).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from docx import Document

from hub.core.errors import UsageError
from hub.reports.work_report import (
    build_work_report,
    half_just_ended,
    parse_half,
    report_day,
)
from hub.reports.work_report_docx import write_document
from hub.store.db import Database
from hub.visits.settings import default_tiers
from tests.reports.work_report_support import CALENDAR, NOW, seed


def test_the_half_year_and_its_working_day() -> None:
    assert half_just_ended(date(2027, 1, 6)).label == "2026H2"
    assert half_just_ended(date(2027, 7, 30)).label == "2027H1"
    assert parse_half("2027h2").first == date(2027, 7, 1)
    with pytest.raises(UsageError, match="2027H1"):
        parse_half("2027Q1")
    assert report_day(2027, 1, CALENDAR, 3) == date(2027, 1, 6)  # 1–3 January off
    assert report_day(2027, 7, CALENDAR, 3) == date(2027, 7, 5)  # Thu 1, Fri 2, Mon 5
    assert report_day(2027, 7, CALENDAR, 1) == date(2027, 7, 1)


def _table_after(document: object, header: str) -> list[list[str]]:
    """The rows (header first) of the first table whose first header cell is ``header``."""
    for table in document.tables:  # type: ignore[attr-defined]
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        if rows and rows[0][0] == header:
            return rows
    raise AssertionError(f"no table headed {header}")


async def test_the_document_holds_the_figures_the_data_implies(
    any_db: Database, tmp_path: Path
) -> None:
    db = any_db  # the grouped counts and the policy reach on SQLite and PostgreSQL
    await seed(db)
    report = await build_work_report(db, parse_half("2027H1"), NOW, tiers=default_tiers(),
                                     calendar=CALENDAR)  # fmt: skip
    path = write_document(report, tmp_path / "reports" / "work-report-2027H1.docx")

    doc = Document(str(path))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "工作情况报告（2027年上半年）" in text
    assert "报告期：2027年1月1日至2027年6月30日" in text
    for heading in ("一、消息触达", "二、诉求办理", "三、走访联系", "四、信用监测与修复",
                    "五、政策推送", "六、说明"):  # fmt: skip
        assert heading in text
    assert (
        "共生成消息6条，已发出4条，送达2条，失败1条，未发送1条；发送成功率80.0%，送达率50.0%"
        in text
    )
    assert "收到企业回复3条，回复率33.3%" in text
    assert "新认定信用事件2条，发出信用警示及修复指引消息1条；完成信用修复1条，移出名录1条" in text
    assert "报告期内推送政策1项，覆盖企业2家次，收到企业回复2条" in text

    assert _table_after(doc, "渠道") == [
        ["渠道", "消息数", "已发出", "送达", "失败", "未发送", "发送成功率", "送达率"],
        ["短信", "4", "3", "2", "1", "0", "75.0%", "66.7%"],
        ["企业微信", "2", "1", "0", "0", "1", "100.0%", "0.0%"],
        ["合计", "6", "4", "2", "1", "1", "80.0%", "50.0%"],
    ]
    kinds = {row[0]: row[1:3] for row in _table_after(doc, "消息类型")[1:]}
    assert kinds == {"政策推送": ["2", "2"], "信用警示": ["2", "1"], "督办升级": ["2", "1"]}

    tickets = _table_after(doc, "受理")
    assert dict(zip(tickets[0], tickets[1], strict=True)) == {
        "受理": "3", "办结": "2", "按时办结": "1", "按时办结率": "50.0%", "超期办结": "1",
        "超期未办结": "1", "延期": "0", "有效评价": "2", "好评率": "50.0%", "差评": "1",
        "已整改": "0", "回访": "0",
    }  # fmt: skip
    assert _table_after(doc, "月份")[1:] == [
        ["2027-01", "1", "1"], ["2027-02", "0", "0"], ["2027-03", "1", "1"],
        ["2027-04", "0", "0"], ["2027-05", "1", "0"], ["2027-06", "0", "0"],
    ]  # fmt: skip

    visits = {row[0]: row[1:] for row in _table_after(doc, "企业层级")[1:]}
    # key: Q1 done on time, Q2 missed; general: its half-year's visit missed; none ordinary.
    assert visits["重点"][:4] == ["2", "1", "0", "1"]
    assert visits["一般"][:4] == ["1", "0", "0", "1"]
    assert visits["合计"][:4] == ["3", "1", "0", "2"]
    assert visits["合计"][5] == "33.3%"

    credit = dict(_table_after(doc, "事件类型")[1:])  # type: ignore[arg-type]
    assert credit["行政处罚"] == "1"
    assert credit["经营异常名录"] == "1"
    assert credit["失信被执行人"] == "0"
    assert (credit["合计"], credit["已修复"], credit["已移出"]) == ("2", "1", "1")

    assert _table_after(doc, "政策编号")[1:] == [["ZC-2027-01", "技术改造专项补贴", "2", "2", "2"]]
    # Three charts: messages by channel, requests by month, visits by tier.
    assert len(doc.inline_shapes) == 3
    assert "图1 各渠道已发出（sent）与失败（failed）消息数（sms为短信，wecom为企业微信）" in text


def test_a_document_path_must_end_in_docx(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"\.docx"):
        write_document(object(), tmp_path / "report.pdf")  # type: ignore[arg-type]
