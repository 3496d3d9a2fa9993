"""``hub report monthly --month YYYY-MM --out FILE.xlsx [--json]``: the monthly report;
``hub report visits --period P [--json] [--out FILE.xlsx]``: visit compliance."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from hub.app.runtime import open_database
from hub.cli import report_files
from hub.cli.common import clock_from, out, print_json, print_table, run_async, settings_from
from hub.core.errors import UsageError
from hub.reports.monthly import MonthlyReport, build_monthly_report
from hub.reports.visits import ContactMonth, VisitCompliance, VisitFigures, visit_compliance
from hub.tickets.policy import load_calendar
from hub.visits.periods import parse_period


def register(app: typer.Typer) -> None:
    report_app = typer.Typer(help="报表 (reports)", no_args_is_help=True)
    app.add_typer(report_app, name="report")
    report_app.command("monthly")(monthly)
    report_app.command("visits")(visits)
    report_files.register(report_app)  # ledger, work


def monthly(
    ctx: typer.Context,
    month: str = typer.Option(..., "--month", help="报表月份 YYYY-MM"),
    out_file: Path | None = typer.Option(None, "--out", help="写入的 .xlsx 文件"),
    as_json: bool = typer.Option(False, "--json", help="print the per-department figures"),
) -> None:
    """月度报表：各部门受理、办结、按时、超期、延期、好差评、差评整改、回访覆盖率，及工单台账。"""
    if out_file is None and not as_json:
        raise UsageError("请用 --out 指定报表文件（如 2026-11.xlsx），或用 --json 输出数据")
    if out_file is not None and out_file.suffix.lower() != ".xlsx":
        raise UsageError(f"报表文件须以 .xlsx 结尾：{out_file}")
    settings = settings_from(ctx)
    clock = clock_from(ctx)

    async def run() -> MonthlyReport:
        async with open_database(settings) as db:
            async with db.read() as session:
                calendar = await load_calendar(session, settings)
            return await build_monthly_report(db, month, clock.now(), settings.hub.tz,
                                              tiers=settings.tiers, calendar=calendar)  # fmt: skip

    report = run_async(run())
    if out_file is not None:
        # openpyxl (~12 MB) only in the process that writes a workbook, not in every `hub` one.
        from hub.reports.monthly_xlsx import write_workbook

        write_workbook(report, out_file)
    if as_json:
        data = report.as_dict()
        data["out"] = str(out_file) if out_file is not None else None
        print_json(data)
        return
    total = report.total
    rate = "—" if total.good_rate is None else f"{total.good_rate:.1%}"
    out.print(
        f"{report.month} 月度报表已写入 {out_file}：受理 {total.received} 件，"
        f"办结 {total.resolved} 件（按时 {total.on_time}），好评率 {rate}，"
        f"台账 {len(report.ledger)} 行"
    )
    if report.visits is not None:
        visits = report.visits
        contact = visits.contact.total if visits.contact is not None else None
        covered = "—" if contact is None else f"{contact.contacted}/{contact.total}"
        out.print(
            f"本月完成走访 {visits.done} 次；{visits.quarter.period.label} 截至"
            f" {visits.quarter.today.isoformat()} 应走访 {visits.quarter.total.due}，"
            f"已完成 {visits.quarter.total.done}；重点企业本月已联系 {covered}"
        )


def _xlsx_out(out_file: Path | None) -> None:
    if out_file is not None and out_file.suffix.lower() != ".xlsx":
        raise UsageError(f"报表文件须以 .xlsx 结尾：{out_file}")


def visits(
    ctx: typer.Context,
    period: str = typer.Option(..., "--period", help="统计期间：2027Q1、2027H1、2027 或 2027-03"),
    out_file: Path | None = typer.Option(None, "--out", help="写入的 .xlsx 文件"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
    today: str | None = typer.Option(None, "--today", help="统计截至日期 YYYY-MM-DD（默认今天）"),
) -> None:
    """走访完成情况：按类别、联络员、区域统计应走访、已完成、按时、逾期、未完成，及重点企业月度联系覆盖率。"""
    _xlsx_out(out_file)
    settings = settings_from(ctx)
    cut = _day(today) if today else clock_from(ctx).now().astimezone(settings.hub.tz).date()
    chosen = parse_period(period)

    async def run() -> VisitCompliance:
        async with open_database(settings) as db, db.read() as session:
            calendar = await load_calendar(session, settings)
            return await visit_compliance(
                session, chosen, tiers=settings.tiers, calendar=calendar, today=cut,
                tz=settings.hub.tz,
            )  # fmt: skip

    report = run_async(run())
    if out_file is not None:
        # openpyxl (~12 MB) only in the process that writes a workbook, not in every `hub` one.
        from hub.reports.visits_xlsx import write_compliance_workbook

        write_compliance_workbook(report, out_file)
    if as_json:
        print_json({**report.as_dict(), "out": str(out_file) if out_file is not None else None})
        return
    _print_compliance(report)
    if out_file is not None:
        out.print(f"已写入 {out_file}")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"无法识别的日期 {text!r}，应为 YYYY-MM-DD") from None


_FIGURE_COLUMNS = (
    "应走访",
    "已完成",
    "按时完成",
    "逾期完成",
    "未完成",
    "进行中",
    "未到期",
    "完成率",
)


def _rate(rate: float | None) -> str:
    return "—" if rate is None else f"{rate:.1%}"


def _figure_row(f: VisitFigures) -> list[object]:
    return [f.name, f.due, f.done, f.on_time, f.late, f.missed, f.in_progress, f.not_yet_due,
            _rate(f.done_rate)]  # fmt: skip


def _print_compliance(report: VisitCompliance) -> None:
    head = f"{report.period.label} 走访完成情况（截至 {report.today.isoformat()}）"
    for title, first, rows in (
        ("按类别", "类别", report.by_tier),
        ("按联络员", "联络员", report.by_officer),
        ("按区域", "区域", report.by_region),
    ):
        lines = [_figure_row(f) for f in (*rows, report.total)]
        print_table(f"{head} {title}", (first, *_FIGURE_COLUMNS), lines)
    print_table(
        "重点企业月度联系",
        ("月份", "重点企业数", "已联系", "覆盖率", "未联系企业"),
        [_contact_row(m) for m in report.contact],
    )


def _contact_row(month: ContactMonth) -> list[object]:
    t = month.total
    return [month.month, t.total, t.contacted, _rate(t.coverage), "、".join(t.not_contacted)]
