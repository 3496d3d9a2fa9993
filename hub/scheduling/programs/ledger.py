"""ledger: the month's ledger (台账) to the business-environment office by the 25th.

Fired every working day (``schedules/ledger.yaml``). Before this month's delivery day
(:func:`hub.reports.ledger.delivery_day`: ``reports.ledger_workdays_before`` working days
before ``reports.ledger_due_day``) it does nothing. From that day to the month's end, a run
writes last month's ledger to ``<data_dir>/reports/ledger-YYYY-MM.xlsx`` if it is not there yet
(the file handed in is the one of the delivery day: a later run does not rewrite it) and
notifies the office's heads with a download link, once each (:mod:`.report_delivery`). So a
scheduler down on the delivery day delivers on its next run, still before the 25th when
``ledger_workdays_before`` leaves room, and a repeat run sends nothing twice.
"""

from __future__ import annotations

from typing import Final

from hub.reports.ledger import delivery_day, ledger_file_name, ledger_month, write_ledger
from hub.reports.monthly import MonthlyReport
from hub.scheduling.programs.base import Program, ProgramContext, ProgramFire, ProgramOutcome
from hub.scheduling.programs.report_delivery import (
    KIND,
    VARIABLES,
    ProducedReport,
    deliver_report,
    file_links,
)
from hub.tickets.callback_survey import parse_month

NAME: Final = "ledger"
NOT_YET: Final = "未到台账报送日"


def ledger_summary(report: MonthlyReport) -> str:
    """The notice's one line of figures: received, resolved (on time), 好评率, ledger rows."""
    total = report.total
    rate = "—" if total.good_rate is None else f"{total.good_rate:.1%}"
    return (
        f"受理诉求{total.received}件，办结{total.resolved}件（按时{total.on_time}件），"
        f"好评率{rate}，台账{len(report.ledger)}行"
    )


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """Write and deliver last month's ledger from this month's delivery day on (see above)."""
    settings = ctx.settings
    today = fire.fire_time.astimezone(settings.tz).date()
    outcome = ProgramOutcome()
    if today < delivery_day(today.year, today.month, settings.calendar, settings.reports):
        outcome.held_back(NOT_YET)
        return outcome
    links = file_links(ctx)  # before any file is written: no secret, nothing done
    month = ledger_month(today)
    file_name = ledger_file_name(month)
    path = settings.reports_dir / file_name
    summary = ""
    if not path.exists():
        report = await write_ledger(ctx.db, month, path, ctx.clock.now(), settings.tz,
                                    tiers=settings.tiers, calendar=settings.calendar)  # fmt: skip
        summary = ledger_summary(report)
    year, mon = parse_month(month)
    produced = ProducedReport(
        program=NAME,
        key=f"ledger:{month}",
        file_name=file_name,
        title=f"{year}年{mon}月台账（月度报表）",
        period=f"{year}年{mon}月",
        summary=summary,
    )
    outcome.merge(await deliver_report(ctx, produced, links))
    return outcome


PROGRAM: Final = Program(label="服务台账报送", run=run, kinds=(KIND,), variables=VARIABLES)
