"""What the periodic reports read from config.yaml: ``reports:`` (when the monthly ledger and the
half-yearly work report are produced and how long their download links stay valid).

- ``ledger_due_day``: the day of the month the ledger (台账) is handed in by (seed 002 (十一):
  每月25日将前一个月……台账资料报送至市营商办);
- ``ledger_workdays_before``: the ledger is produced and delivered this many working days
  before the due day (0: on the due day itself when it is a working day, else the last working
  day before it), so it arrives on or before the due day whatever the calendar;
- ``work_report_workday``: the half-yearly work report (工作报告) is produced on this working
  day of January and July (1 = the first working day of the month), for the half-year just
  ended;
- ``link_valid_days``: how long a delivered report's download link opens the file.
"""

from __future__ import annotations

from pydantic import Field

from hub.core.settings import FrozenSettings


class ReportsSettings(FrozenSettings):
    """``reports:`` (defaults follow the seeds: the ledger by the 25th, a day early)."""

    ledger_due_day: int = Field(default=25, ge=1, le=28)
    ledger_workdays_before: int = Field(default=1, ge=0, le=15)
    work_report_workday: int = Field(default=3, ge=1, le=15)
    link_valid_days: int = Field(default=30, ge=1, le=366)
