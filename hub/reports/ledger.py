"""The monthly ledger (台账) handed in to the business-environment office by the 25th.

Seed 002 (十一): 市各涉企服务责任部门每月25日将**前一个月**营商环境问题的收集办理、会办交办、
督查通报等相关台账资料报送至市营商办. So the ledger delivered in month M covers month M-1, a
whole month (the 25th of M is late enough for every figure of M-1, callbacks included). It is
the monthly report's workbook (:mod:`hub.reports.monthly_xlsx`: 汇总, 差评整改, 台账 and the
sheets added to it) written to ``<reports folder>/ledger-YYYY-MM.xlsx``.

The delivery day is a working day before the due day (``reports.ledger_due_day``, 25):
``reports.ledger_workdays_before`` working days before it, or with 0 the due day itself when it
is a working day, else the last working day before it. Either way it is on or before the 25th.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.core.clock import SHANGHAI
from hub.core.workdays import WorkdayCalendar
from hub.reports.monthly import MonthlyReport, build_monthly_report
from hub.reports.settings import ReportsSettings
from hub.store.db import Database
from hub.tickets.callback_survey import month_label, previous_month
from hub.visits.settings import TierSettings

LEDGER_PREFIX = "ledger-"


def ledger_month(today: date) -> str:
    """The month (``YYYY-MM``) whose ledger is handed in during ``today``'s month: the one
    before."""
    return month_label(*previous_month(today.year, today.month))


def delivery_day(year: int, month: int, calendar: WorkdayCalendar, rules: ReportsSettings) -> date:
    """The working day of ``year``-``month`` on which that month's ledger is delivered."""
    due = date(year, month, rules.ledger_due_day)
    if rules.ledger_workdays_before == 0:
        return due if calendar.is_workday(due) else calendar.add_workdays(due, -1)[0]
    return calendar.add_workdays(due, -rules.ledger_workdays_before)[0]


def ledger_file_name(month: str) -> str:
    """The ledger's file name in the reports folder: ``ledger-2027-01.xlsx``."""
    return f"{LEDGER_PREFIX}{month}.xlsx"


async def write_ledger(
    db: Database,
    month: str,
    path: Path,
    now: datetime,
    tz: ZoneInfo = SHANGHAI,
    *,
    tiers: Mapping[str, TierSettings],
    calendar: WorkdayCalendar,
) -> MonthlyReport:
    """Build ``month``'s monthly report (its visit sheets by ``tiers`` and ``calendar``) and save
    its workbook at ``path`` (the folder is made); the report, for the caller's summary.
    ``UsageError`` for a bad month or an unwritable path."""
    report = await build_monthly_report(db, month, now, tz, tiers=tiers, calendar=calendar)
    # openpyxl (~12 MB) only where a workbook is written, not in every process importing this.
    from hub.reports.monthly_xlsx import write_workbook

    path.parent.mkdir(parents=True, exist_ok=True)
    write_workbook(report, path)
    return report
