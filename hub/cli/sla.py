"""``hub sla run`` and ``hub callbacks run|list|record``: the SLA pass and the monthly 回访."""

from __future__ import annotations

import typer

from hub.app.runtime import open_components, open_database, sla_pass_once
from hub.cli.common import out, print_json, print_table, run_async, settings_from
from hub.core.clock import SystemClock
from hub.core.errors import UsageError
from hub.core.vocab import CallbackMethod, CallbackStatus
from hub.tickets.callback_survey import (
    CallbackOutcome,
    SurveyView,
    list_surveys,
    month_label,
    parse_month,
    record_answer,
    run_monthly_callbacks,
)
from hub.tickets.sla.sweep import SlaPassReport

_STEP_LABELS = {
    "remind": "时限提醒",
    "escalate_1": "督办至部门负责人",
    "escalate_2": "督办至营商办",
    "sla_hit": "按时办结",
    "sla_missed": "超期办结",
    "rating_reminder": "评价提醒",
    "close_no_rating": "未评价销号",
}


def register(app: typer.Typer) -> None:
    sla_app = typer.Typer(
        help="时限督办 (SLA): 提醒、超期升级、未评价提醒与销号", no_args_is_help=True
    )
    app.add_typer(sla_app, name="sla")
    sla_app.command("run")(sla_run)
    callbacks_app = typer.Typer(help="月度回访 (callback survey)", no_args_is_help=True)
    app.add_typer(callbacks_app, name="callbacks")
    callbacks_app.command("run")(callbacks_run)
    callbacks_app.command("list")(callbacks_list)
    callbacks_app.command("record")(callbacks_record)


def sla_run(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print what the pass did as JSON"),
) -> None:
    """立即执行一次时限督办（调度进程每几分钟自动执行；重复执行不会重复提醒）。"""
    settings = settings_from(ctx)

    async def run() -> SlaPassReport:
        async with open_components(settings) as hub:
            return await sla_pass_once(hub)

    report = run_async(run())
    if as_json:
        print_json(report.as_dict())
        return
    if not report.steps:
        out.print("没有到期的督办事项")
    for step, count in sorted(report.steps.items()):
        out.print(f"{_STEP_LABELS.get(step, step)}：{count} 件")
    out.print(f"新增消息 {report.messages_created} 条；月度回访新增 {report.callbacks_added} 件")


def callbacks_run(
    ctx: typer.Context,
    month: str | None = typer.Option(
        None, "--month", help="回访月份 YYYY-MM（回访上月办结的工单；默认本月）"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the sample as JSON"),
) -> None:
    """抽取上月办结工单做回访（不低于 tickets.callback_coverage，差评件全部电话回访）。"""
    settings = settings_from(ctx)
    if month is not None:
        parse_month(month)

    async def run() -> CallbackOutcome:
        async with open_components(settings) as hub:
            return await run_monthly_callbacks(
                hub.db,
                hub.clock,
                settings,
                renderer=hub.renderer,
                policy=hub.outbox.planner.policy,
                queue=hub.queue,
                month=month,
            )

    outcome = run_async(run())
    if as_json:
        print_json(outcome.as_dict())
        return
    out.print(
        f"{outcome.month} 办结 {outcome.population} 件，已回访 {outcome.surveyed} 件"
        f"（{outcome.coverage:.0%}），本次新增 {outcome.added} 件，"
        f"其中电话回访 {outcome.by_phone} 件"
    )


def callbacks_list(
    ctx: typer.Context,
    resolved_month: str | None = typer.Option(
        None, "--resolved-month", help="工单办结月份 YYYY-MM"
    ),
    status: str | None = typer.Option(
        None, "--status", help="pending, sent, answered, unreachable"
    ),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出回访记录。"""
    settings = settings_from(ctx)
    wanted: CallbackStatus | None = None
    if status is not None:
        try:
            wanted = CallbackStatus(CallbackStatus.parse(status))
        except ValueError:
            raise UsageError(
                f"未知的回访状态“{status}”（可选：{CallbackStatus.choices()}）"
            ) from None
    if resolved_month is not None:
        resolved_month = month_label(*parse_month(resolved_month))

    async def run() -> list[SurveyView]:
        async with open_database(settings) as db:
            return await list_surveys(db, month=resolved_month, status=wanted)

    views = run_async(run())
    if as_json:
        print_json([v.as_dict() for v in views])
        return
    print_table(
        "回访 callback surveys",
        ["编号", "办结月份", "工单", "方式", "状态", "满意度", "答复", "记录人"],
        [
            (
                v.id,
                v.month,
                v.ticket_number,
                CallbackMethod(v.method).label,
                CallbackStatus(v.status).label,
                v.score,
                v.answer,
                v.recorded_by,
            )
            for v in views
        ],
    )


def callbacks_record(
    ctx: typer.Context,
    survey_id: int = typer.Argument(..., help="回访记录编号（hub callbacks list）"),
    score: int | None = typer.Option(None, "--score", help="满意度 1–5"),
    answer: str | None = typer.Option(None, "--answer", help="企业的答复、意见建议"),
    by: str = typer.Option(..., "--by", help="记录人（用户名）"),
    unreachable: bool = typer.Option(False, "--unreachable", help="电话无法联系"),
    as_json: bool = typer.Option(False, "--json", help="print the record as JSON"),
) -> None:
    """录入回访结果（电话回访由工作人员录入）。"""
    settings = settings_from(ctx)

    async def run() -> SurveyView:
        async with open_database(settings) as db:
            return await record_answer(
                db,
                SystemClock(),
                survey_id,
                score=score,
                answer=answer,
                by=by,
                unreachable=unreachable,
            )

    view = run_async(run())
    if as_json:
        print_json(view.as_dict())
        return
    out.print(
        f"已录入回访 {view.id}（工单 {view.ticket_number}）：{CallbackStatus(view.status).label}"
    )
