"""``hub report monthly --month YYYY-MM --out FILE.xlsx [--json]``: the monthly report."""

from __future__ import annotations

from pathlib import Path

import typer

from hub.app.runtime import open_database
from hub.cli.common import out, print_json, run_async, settings_from
from hub.core.clock import SystemClock
from hub.core.errors import UsageError
from hub.reports.monthly import MonthlyReport, build_monthly_report


def register(app: typer.Typer) -> None:
    report_app = typer.Typer(help="报表 (reports)", no_args_is_help=True)
    app.add_typer(report_app, name="report")
    report_app.command("monthly")(monthly)


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

    async def run() -> MonthlyReport:
        async with open_database(settings) as db:
            return await build_monthly_report(db, month, SystemClock().now(), settings.hub.tz)

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
