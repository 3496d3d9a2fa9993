"""Visit compliance as an .xlsx workbook (``hub report visits --out``): 按类别, 按联络员,
按区域, 重点企业月度联系, 说明; and the monthly report's visit sheets (走访情况, 重点企业联系).

As in the monthly workbook (:mod:`hub.reports.monthly_xlsx`), each sheet has its Chinese header
in row 1 and one record per row, rates as percentages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from openpyxl import Workbook
from openpyxl.styles import Font

from hub.reports.visits import ContactMonth, MonthlyVisits, VisitCompliance, VisitFigures
from hub.reports.xlsx_sheets import percent_columns, save_workbook, table_sheet

TIER_SHEET: Final = "按类别"
OFFICER_SHEET: Final = "按联络员"
REGION_SHEET: Final = "按区域"
CONTACT_SHEET: Final = "重点企业月度联系"
NOTES_SHEET: Final = "说明"
#: The monthly report's sheets.
MONTH_VISITS_SHEET: Final = "走访情况"
MONTH_CONTACT_SHEET: Final = "重点企业联系"

FIGURE_HEADERS: Final = (
    "应走访", "已完成", "按时完成", "逾期完成", "未完成", "进行中", "未到期", "完成率", "按时率",
)  # fmt: skip
CONTACT_HEADERS: Final = (
    "月份",
    "联络员",
    "重点企业数",
    "已联系",
    "未联系",
    "覆盖率",
    "未联系企业",
)
MONTH_VISITS_HEADERS: Final = ("分组", "名称", "本月完成走访", *FIGURE_HEADERS)
RATES: Final = ("完成率", "按时率", "覆盖率")
COUNTING_NOTES: Final = (
    "应走访：各类别按走访周期（重点企业每季度、一般企业每半年、普通企业每年）"
    "与统计期间重叠的每个周期各计一次；如半年报表中重点企业计两个季度，"
    "季度报表中普通企业计其所在年度的一次。",
    "按时完成：在所属周期内走访；逾期完成：周期结束后补访；"
    "未完成：周期已结束仍未走访，或联络员登记未走访；"
    "进行中：周期未结束且尚未走访；未到期：周期尚未开始。已完成 = 按时完成 + 逾期完成。",
    "完成率 = 已完成 ÷ 应走访；按时率 = 按时完成 ÷ 应走访。"
    "联络员按走访记录（未生成的按企业当前联络员），类别和区域按企业当前登记。",
    "重点企业月度联系：当月有走访、联络员登记的电话/会面/线上联系或企业任一回复即为已联系，"
    "同一企业只计一次。",
)
MONTHLY_VISIT_NOTES: Final = (
    "走访情况：本月完成走访为本月实际走访次数；"
    "其余各列为本月所在季度截至月末（当月截至生成日）的走访完成情况。",
    *COUNTING_NOTES[1:],
)


def _figures(f: VisitFigures) -> list[Any]:
    rates = [r if r is not None else "—" for r in (f.done_rate, f.on_time_rate)]
    return [f.due, f.done, f.on_time, f.late, f.missed, f.in_progress, f.not_yet_due, *rates]


def _contact_rows(months: Iterable[ContactMonth]) -> list[list[Any]]:
    return [
        [month.month, who.name, who.total, who.contacted, who.total - who.contacted,
         who.coverage if who.coverage is not None else "—",
         "、".join(who.not_contacted) if who is not month.total else ""]
        for month in months
        for who in (*month.by_officer, month.total)
    ]  # fmt: skip


def _table(wb: Workbook, title: str, headers: tuple[str, ...], rows: list[list[Any]]) -> None:
    ws = wb.create_sheet(title)
    table_sheet(ws, headers, rows)
    percent_columns(ws, headers, [h for h in headers if h in RATES])


def build_compliance_workbook(report: VisitCompliance) -> Workbook:
    """The compliance workbook (not saved)."""
    wb = Workbook()
    default = wb.active
    assert default is not None
    wb.remove(default)
    for title, first, rows in (
        (TIER_SHEET, "类别", report.by_tier),
        (OFFICER_SHEET, "联络员", report.by_officer),
        (REGION_SHEET, "区域", report.by_region),
    ):
        lines = [[f.name, *_figures(f)] for f in (*rows, report.total)]
        _table(wb, title, (first, *FIGURE_HEADERS), lines)
        ws = wb[title]
        for cell in ws[ws.max_row]:
            cell.font = Font(bold=True)
    _table(wb, CONTACT_SHEET, CONTACT_HEADERS, _contact_rows(report.contact))
    notes = wb.create_sheet(NOTES_SHEET)
    notes.append([f"{report.period.label} 走访完成情况", f"统计截至 {report.today.isoformat()}"])
    notes["A1"].font = Font(bold=True)
    for line in COUNTING_NOTES:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    return wb


def write_compliance_workbook(report: VisitCompliance, path: Path) -> Path:
    """Save the compliance workbook; ``UsageError`` naming the file when it cannot be written."""
    return save_workbook(build_compliance_workbook(report), path)


def add_monthly_visit_sheets(wb: Workbook, visits: MonthlyVisits) -> None:
    """The monthly report's 走访情况 (the month's visits done, the quarter to date by tier and
    officer) and 重点企业联系 (the month's contact coverage by officer) sheets."""
    quarter = visits.quarter
    rows: list[list[Any]] = []
    groups: tuple[tuple[str, list[VisitFigures], Mapping[str, int]], ...] = (
        ("类别", quarter.by_tier, visits.done_by_tier),
        ("联络员", quarter.by_officer, visits.done_by_officer),
    )
    for group, figures, done in groups:
        rows.extend([group, f.name, done.get(f.code, 0), *_figures(f)] for f in figures)
    rows.append(["合计", quarter.total.name, visits.done, *_figures(quarter.total)])
    _table(wb, MONTH_VISITS_SHEET, MONTH_VISITS_HEADERS, rows)
    contact = [visits.contact] if visits.contact is not None else []
    _table(wb, MONTH_CONTACT_SHEET, CONTACT_HEADERS, _contact_rows(contact))
