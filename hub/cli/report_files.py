"""``hub report ledger --month YYYY-MM --out FILE.xlsx`` and ``hub report work --half 2027H1
--out FILE.docx``: the ledger and the half-yearly work report on demand, as the ``ledger`` and
``work_report`` programs write them on their days (registered onto ``hub report``)."""

from __future__ import annotations

from pathlib import Path

import typer

from hub.app.config import Settings
from hub.app.runtime import open_database
from hub.cli.common import clock_from, out, run_async, settings_from
from hub.core.errors import UsageError
from hub.core.workdays import WorkdayCalendar
from hub.reports.ledger import write_ledger
from hub.reports.monthly import MonthlyReport
from hub.reports.work_report import WorkReport, build_work_report, parse_half
from hub.store.db import Database
from hub.tickets.policy import load_calendar


def register(report_app: typer.Typer) -> None:
    """Add ``ledger`` and ``work`` to the ``hub report`` group."""
    report_app.command("ledger")(ledger)
    report_app.command("work")(work)


def _out(out_file: Path, suffix: str) -> None:
    if out_file.suffix.lower() != suffix:
        raise UsageError(f"报表文件须以 {suffix} 结尾：{out_file}")


async def _calendar(db: Database, settings: Settings) -> WorkdayCalendar:
    async with db.read() as session:
        return await load_calendar(session, settings)


def ledger(
    ctx: typer.Context,
    month: str = typer.Option(..., "--month", help="台账月份 YYYY-MM（每月 25 日前报送上月的）"),
    out_file: Path = typer.Option(..., "--out", help="写入的 .xlsx 文件"),
) -> None:
    """月度台账：该月的月度报表工作簿（含走访），即 ledger 程序报送营商办的文件。"""
    _out(out_file, ".xlsx")
    settings = settings_from(ctx)
    now = clock_from(ctx).now()

    async def run() -> MonthlyReport:
        async with open_database(settings) as db:
            calendar = await _calendar(db, settings)
            return await write_ledger(db, month, out_file, now, settings.hub.tz,
                                      tiers=settings.tiers, calendar=calendar)  # fmt: skip

    report = run_async(run())
    out.print(f"{report.month} 台账已写入 {out_file}：台账 {len(report.ledger)} 行")


def work(
    ctx: typer.Context,
    half: str = typer.Option(..., "--half", help="半年 2027H1 或 2027H2"),
    out_file: Path = typer.Option(..., "--out", help="写入的 .docx 文件"),
) -> None:
    """半年工作报告：消息触达、诉求办理、走访、信用、政策推送的数据与图表（Word 文档）。"""
    _out(out_file, ".docx")
    period = parse_half(half)
    settings = settings_from(ctx)
    now = clock_from(ctx).now()

    async def run() -> WorkReport:
        async with open_database(settings) as db:
            calendar = await _calendar(db, settings)
            return await build_work_report(db, period, now, tiers=settings.tiers,
                                           calendar=calendar, tz=settings.hub.tz)  # fmt: skip

    report = run_async(run())
    # python-docx and matplotlib only in the command that writes the document.
    from hub.reports.work_report_docx import write_document

    write_document(report, out_file)
    t = report.tickets
    out.print(
        f"{report.title}工作报告已写入 {out_file}：消息 {report.messages.messages} 条，"
        f"受理诉求 {t.received} 件，办结 {t.resolved} 件"
    )
