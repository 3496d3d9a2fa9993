"""work_report: the half-yearly work report (工作报告) to the business-environment office.

Fired every working day of January and July (``schedules/work_report.yaml``). From the
``reports.work_report_workday``-th working day of the month on, a run writes the report of the
half-year just ended (January: the last year's H2; July: this year's H1) to
``<data_dir>/reports/work-report-2027H1.docx`` if it is not there yet, and notifies the office's
heads with a download link, once each (:mod:`.report_delivery`). Any other month, and the days
before that working day, it does nothing; so one report in January and one in July, and a
scheduler down on the day catches up on its next run within the month.
"""

from __future__ import annotations

from datetime import date
from typing import Final

from hub.reports.work_report import build_work_report, half_just_ended, half_title, report_day
from hub.scheduling.programs.base import Program, ProgramContext, ProgramFire, ProgramOutcome
from hub.scheduling.programs.report_delivery import (
    KIND,
    VARIABLES,
    ProducedReport,
    deliver_report,
    file_links,
)

NAME: Final = "work_report"
MONTHS: Final = (1, 7)
NOT_YET: Final = "未到工作报告生成日"


def work_report_file_name(label: str) -> str:
    """The report's file name in the reports folder: ``work-report-2027H1.docx``."""
    return f"work-report-{label}.docx"


def due(today: date, ctx: ProgramContext) -> bool:
    """True from the report's working day of January or July to the month's end."""
    settings = ctx.settings
    if today.month not in MONTHS:
        return False
    day = report_day(today.year, today.month, settings.calendar,
                     settings.reports.work_report_workday)  # fmt: skip
    return today >= day


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """Write and deliver the last half-year's work report when it is due (see above)."""
    settings = ctx.settings
    today = fire.fire_time.astimezone(settings.tz).date()
    outcome = ProgramOutcome()
    if not due(today, ctx):
        outcome.held_back(NOT_YET)
        return outcome
    links = file_links(ctx)  # before any file is written: no secret, nothing done
    half = half_just_ended(today)
    file_name = work_report_file_name(half.label)
    path = settings.reports_dir / file_name
    summary = ""
    if not path.exists():
        report = await build_work_report(
            ctx.db, half, ctx.clock.now(), tiers=settings.tiers, calendar=settings.calendar,
            tz=settings.tz,
        )  # fmt: skip
        # python-docx and matplotlib only in the run that writes a report.
        from hub.reports.work_report_docx import write_document

        write_document(report, path, ctx.outbox.planner.policy.hub_name)
        t = report.tickets
        summary = (
            f"消息{report.messages.messages}条，受理诉求{t.received}件，办结{t.resolved}件，"
            f"走访完成{report.visits.total.done if report.visits else 0}次"
        )
    title = half_title(half)
    produced = ProducedReport(program=NAME, key=f"work_report:{half.label}", file_name=file_name,
                              title=f"{title}工作报告", period=title, summary=summary)  # fmt: skip
    outcome.merge(await deliver_report(ctx, produced, links))
    return outcome


PROGRAM: Final = Program(label="工作报告", run=run, kinds=(KIND,), variables=VARIABLES)
