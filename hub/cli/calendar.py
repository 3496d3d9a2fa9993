"""``hub calendar set|show|recompute``: working-day calendars for years chinese-calendar lacks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from hub.app.runtime import open_database
from hub.cli.common import out, print_json, print_table, run_async, settings_from
from hub.core.clock import SystemClock
from hub.tickets.deadlines.admin_calendar import (
    enter_year_and_recompute,
    recompute_deadlines,
    year_report,
)
from hub.tickets.deadlines.rules import deadline_text
from hub.tickets.policy import load_ticket_policy

ACTOR = "cli"


def register(app: typer.Typer) -> None:
    calendar_app = typer.Typer(help="工作日历 (working-day calendar)", no_args_is_help=True)
    app.add_typer(calendar_app, name="calendar")
    calendar_app.command("set")(set_year)
    calendar_app.command("show")(show_year)
    calendar_app.command("recompute")(recompute)


def set_year(
    ctx: typer.Context,
    year: int = typer.Argument(..., help="e.g. 2027"),
    holiday: list[str] = typer.Option([], "--holiday", help="放假日 YYYY-MM-DD（可多次）"),
    workday: list[str] = typer.Option([], "--workday", help="调休上班日 YYYY-MM-DD（可多次）"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """录入（替换）一年的节假日和调休上班日，并重新计算该年的临时办理时限。"""
    settings = settings_from(ctx)

    async def run() -> dict[str, Any]:
        async with open_database(settings) as db, db.write() as session:
            days, moved = await enter_year_and_recompute(
                session, settings, year, holidays=holiday, workdays=workday, actor=ACTOR,
                now=SystemClock().now(),
            )  # fmt: skip
        return {
            "year": year,
            "holidays": [d.isoformat() for d in sorted(days.holidays)],
            "workdays": [d.isoformat() for d in sorted(days.workdays)],
            "recomputed": [m.as_dict() for m in moved],
        }

    report = run_async(run())
    if as_json:
        print_json(report)
        return
    out.print(f"{year} 年工作日历已录入：放假 {len(report['holidays'])} 天，"
              f"调休上班 {len(report['workdays'])} 天")  # fmt: skip
    _print_moved(report["recomputed"])


def _print_moved(moved: list[dict[str, Any]]) -> None:
    if not moved:
        out.print("没有需要重新计算的办理时限")
        return
    print_table(
        f"重新计算的办理时限（{len(moved)}）",
        ["工单", "原时限", "新时限", "仍为临时"],
        [[m["number"], _last_day(m["old_deadline_at"]), _last_day(m["new_deadline_at"]),
          "是" if m["provisional"] else ""] for m in moved],
    )  # fmt: skip


def _last_day(instant: str) -> str:
    """A deadline as its last day (hub.tickets.deadlines.rules.deadline_text), from the JSON's
    instant."""
    return deadline_text(datetime.fromisoformat(instant))


def show_year(
    ctx: typer.Context,
    year: int = typer.Argument(..., help="e.g. 2027"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """显示一年的日历来源与全部休息日（含周末）和调休上班日。"""
    settings = settings_from(ctx)

    async def run() -> dict[str, Any]:
        async with open_database(settings) as db, db.read() as session:
            calendar = (await load_ticket_policy(session, settings)).calendar
        return year_report(calendar, year)

    report = run_async(run())
    if as_json:
        print_json(report)
        return
    labels = {"admin": "管理员录入", "chinese_calendar": "chinese-calendar（法定节假日）",
              "fallback": "无数据，按周一至周五临时计算"}  # fmt: skip
    out.print(f"{year} 年：{labels[report['source']]}；休息日 {len(report['days_off'])} 天；"
              f"调休上班：{'、'.join(report['weekend_workdays']) or '无'}")  # fmt: skip


def recompute(
    ctx: typer.Context,
    year: int | None = typer.Option(None, "--year", help="only deadlines that count this year"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """按当前日历（配置 calendar.years 与已录入的年份）重新计算临时办理时限。"""
    settings = settings_from(ctx)

    async def run() -> list[dict[str, Any]]:
        async with open_database(settings) as db, db.write() as session:
            policy = await load_ticket_policy(session, settings)
            moved = await recompute_deadlines(session, policy, actor=ACTOR,
                                              now=SystemClock().now(), year=year)  # fmt: skip
        return [m.as_dict() for m in moved]

    moved = run_async(run())
    if as_json:
        print_json(moved)
    else:
        _print_moved(moved)
