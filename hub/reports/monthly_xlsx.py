"""The monthly report as an .xlsx workbook (openpyxl): 汇总, 差评整改, 台账, the visit sheets
走访情况 and 重点企业联系 (:mod:`hub.reports.visits_xlsx`), 说明.

Sheet names and headers are Chinese (clerks read them); each sheet has its header in row 1
and one record per row below it, so it sorts and filters in a spreadsheet program.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Font

from hub.reports.monthly import DepartmentFigures, MonthlyReport
from hub.reports.visits_xlsx import MONTHLY_VISIT_NOTES, add_monthly_visit_sheets
from hub.reports.xlsx_sheets import save_workbook
from hub.reports.xlsx_sheets import table_sheet as _sheet

SUMMARY_SHEET = "汇总"
BAD_SHEET = "差评整改"
LEDGER_SHEET = "台账"
NOTES_SHEET = "说明"

SUMMARY_HEADERS = (
    "部门",
    "受理",
    "办结",
    "按时办结",
    "超期办结",
    "超期未办结",
    "延期",
    "非常满意(5)",
    "满意(4)",
    "基本满意(3)",
    "不满意(2)",
    "非常不满意(1)",
    "有效评价",
    "好评率",
    "恶意差评",
    "未评价销号",
    "差评",
    "已整改",
    "整改中",
    "逾期未整改",
    "上月办结",
    "已回访",
    "回访覆盖率",
)
BAD_HEADERS = (
    "工单编号",
    "部门",
    "评价时间",
    "评分",
    "评价内容",
    "整改期限",
    "整改状态",
    "再次办结时间",
    "再次评价",
)
LEDGER_HEADERS = (
    "工单编号",
    "受理时间",
    "企业名称",
    "联系人",
    "联系电话",
    "渠道",
    "类别",
    "承办部门",
    "承办人",
    "紧急程度",
    "办理时限",
    "状态",
    "办结时间",
    "是否按时",
    "延期次数",
    "评价",
    "恶意差评",
    "销号时间",
    "销号方式",
    "回访",
)
NOTES = (
    "受理：本月收到的诉求；办结：本月首次办结的工单，按首次办结时间与办理时限比较是否按时。",
    "超期未办结：截至月末（本月则截至生成时）已过办理时限仍未办结的工单。延期：本月批准的延期次数。",
    "评价：每件工单以最后一次评价为准（差评重办后的再次评价替代首次评价），计入评价所在月份；"
    "被标记为恶意差评的不计入各等级和好评率，单列。",
    "好评率 = 基本满意及以上的有效评价 ÷ 有效评价；未评价销号的工单单列，不计入好评率。",
    "差评：本月每一次差评（不含恶意差评）单独列出；再次办结即为已整改，超过整改期限未再次办结为逾期未整改。",
    "回访覆盖率 = 上月办结工单中已回访的件数 ÷ 上月办结件数（本月开展的月度回访）。",
    "联系电话已脱敏。",
)


def _summary_row(f: DepartmentFigures) -> list[Any]:
    return [
        f.department,
        f.received,
        f.resolved,
        f.on_time,
        f.resolved_late,
        f.overdue_open,
        f.extensions,
        *(f.ratings[s] for s in (5, 4, 3, 2, 1)),
        f.rated,
        f.good_rate if f.good_rate is not None else "—",
        f.malicious,
        f.closed_no_rating,
        f.bad_ratings,
        f.rectified,
        f.rectifying,
        f.rectify_overdue,
        f.previous_resolved,
        f.surveyed,
        f.callback_coverage if f.callback_coverage is not None else "—",
    ]


def build_workbook(report: MonthlyReport) -> Workbook:
    """The workbook for a report (not saved)."""
    wb = Workbook()
    summary = wb.active
    assert summary is not None
    summary.title = SUMMARY_SHEET
    rows = [_summary_row(f) for f in (*report.departments, report.total)]
    _sheet(summary, SUMMARY_HEADERS, rows)
    for column in (SUMMARY_HEADERS.index("好评率") + 1, SUMMARY_HEADERS.index("回访覆盖率") + 1):
        for r in range(2, len(rows) + 2):
            summary.cell(row=r, column=column).number_format = "0.0%"
    for cell in summary[len(rows) + 1]:
        cell.font = Font(bold=True)
    _sheet(
        wb.create_sheet(BAD_SHEET),
        BAD_HEADERS,
        [
            (
                b.ticket_number,
                b.department,
                b.rated_at,
                b.score,
                b.comment or "",
                b.rectify_due_at,
                b.status,
                b.resolved_again_at,
                b.later_score,
            )
            for b in report.bad_ratings
        ],
    )
    _sheet(
        wb.create_sheet(LEDGER_SHEET),
        LEDGER_HEADERS,
        [
            (
                r.number,
                r.received_at,
                r.enterprise,
                r.contact,
                r.mobile,
                r.channel,
                r.category,
                r.department,
                r.handler,
                r.urgency,
                r.deadline_at,
                r.state,
                r.resolved_at,
                r.on_time,
                r.extensions,
                r.rating,
                r.malicious,
                r.closed_at,
                r.close_reason,
                r.callback,
            )
            for r in report.ledger
        ],
    )
    if report.visits is not None:
        add_monthly_visit_sheets(wb, report.visits)
    notes = wb.create_sheet(NOTES_SHEET)
    notes.append([f"{report.month} 月度报表", f"生成时间 {report.generated_at}"])
    notes["A1"].font = Font(bold=True)
    for line in (*NOTES, *(MONTHLY_VISIT_NOTES if report.visits is not None else ())):
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    return wb


def write_workbook(report: MonthlyReport, path: Path) -> Path:
    """Save the report's workbook; ``UsageError`` naming the file when it cannot be written."""
    return save_workbook(build_workbook(report), path)
