"""``hub tickets list|show|assign|start|transfer|return|resolve|extend|reopen|flag-rating``.

The console operator works every ticket; ``--as USERNAME`` acts as that staff member (their
role and department are checked, the events name them). Steps that tell the enterprise
(``resolve``: the answer and the rating request; ``extend``: the extension notice) open the
whole hub (Redis, channels) to queue the message; the others need only the database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import typer

from hub.app.runtime import open_components, open_database, ticket_desk
from hub.cli import ticket_policy
from hub.cli.common import clock_from, out, print_json, print_table, run_async, settings_from
from hub.core.errors import UsageError
from hub.core.vocab import TicketCategory, TicketState
from hub.queries.tickets import TicketFilter, TicketScope
from hub.tickets.desk import TicketDesk

_Act = Callable[[TicketDesk, TicketScope], Awaitable[Any]]

AS_OPTION = typer.Option(None, "--as", help="act as this staff member (role and scope apply)")
JSON_OPTION = typer.Option(False, "--json", help="print JSON")
REASON_OPTION = typer.Option(..., "--reason", help="原因（必填，记入工单事件）")


def register(app: typer.Typer) -> None:
    tickets_app = typer.Typer(help="诉求工单 (tickets)", no_args_is_help=True)
    app.add_typer(tickets_app, name="tickets")
    tickets_app.command("list")(tickets_list)
    tickets_app.command("show")(show)
    tickets_app.command("assign")(assign)
    tickets_app.command("start")(start)
    tickets_app.command("transfer")(transfer)
    tickets_app.command("return")(return_)
    tickets_app.command("resolve")(resolve)
    tickets_app.command("extend")(extend)
    tickets_app.command("reopen")(reopen)
    tickets_app.command("flag-rating")(flag_rating)
    ticket_policy.register(tickets_app)


def _run(ctx: typer.Context, act: _Act, *, as_user: str | None, messaging: bool = False) -> Any:
    settings = settings_from(ctx)
    clock = clock_from(ctx)

    async def run() -> Any:
        if messaging:
            async with open_components(settings, clock=clock) as hub:
                desk = ticket_desk(hub)
                return await act(desk, await desk.scope_as(as_user))
        async with open_database(settings) as db:
            desk = TicketDesk(db, settings, clock)
            return await act(desk, await desk.scope_as(as_user))

    return run_async(run())


def _enum(enum: Any, value: str | None, what: str) -> Any:
    if value is None:
        return None
    try:
        return enum.parse(value)
    except ValueError as exc:
        raise UsageError(f"未知的{what}“{value}”，可选：{enum.choices()}") from exc


def tickets_list(
    ctx: typer.Context,
    state: str | None = typer.Option(None, "--state", help="new, assigned, ... 或中文名"),
    open_only: bool = typer.Option(False, "--open", help="only tickets not resolved or closed"),
    overdue: bool = typer.Option(False, "--overdue", help="only open tickets past the deadline"),
    department: str | None = typer.Option(None, "--department", help="部门编码"),
    handler: str | None = typer.Option(None, "--handler", help="承办人用户名"),
    category: str | None = typer.Option(None, "--category", help="咨询/求助/投诉/建议"),
    before: int | None = typer.Option(None, "--before", help="only ids below this (paging)"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """列出工单（最新在前）。"""
    wanted = TicketFilter(
        state=_enum(TicketState, state, "工单状态"), open_only=open_only,
        department_code=department.strip().upper() if department else None,
        handler_username=handler, category=_enum(TicketCategory, category, "诉求类别"),
        overdue_at=clock_from(ctx).now() if overdue else None, before=before, limit=limit,
    )  # fmt: skip
    rows: list[dict[str, Any]] = _run(
        ctx, lambda desk, scope: desk.list_tickets(scope, wanted), as_user=as_user
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        f"工单（{len(rows)}）",
        ["编号", "状态", "类别", "企业", "部门", "承办人", "办理时限", "摘要"],
        [
            [
                r["number"],
                r["state_label"] + ("（超期）" if r["overdue"] else ""),
                r["category_label"],
                (r["enterprise"] or {}).get("name", ""),
                (r["department"] or {}).get("name", "待分派"),
                (r["handler"] or {}).get("name", ""),
                r["deadline"] + ("（临时）" if r["deadline_provisional"] else ""),
                r["subject"],
            ]
            for r in rows
        ],
    )


def _print_ticket(view: dict[str, Any], as_json: bool, headline: str = "") -> None:
    if as_json:
        print_json(view)
        return
    if headline:
        out.print(headline)
    department = (view["department"] or {}).get("name", "待分派")
    handler = (view["handler"] or {}).get("name", "未分派")
    out.print(f"工单 {view['number']}  {view['state_label']}  {view['category_label']}  "
              f"{view['urgency_label']}")  # fmt: skip
    out.print(f"企业：{(view['enterprise'] or {}).get('name', '（未识别）')}  部门：{department}  "
              f"承办人：{handler}")  # fmt: skip
    provisional = "（临时时限，待录入工作日历）" if view["deadline_provisional"] else ""
    out.print(f"受理：{view['received_at']}  办理时限：{view['deadline']}{provisional}")
    out.print(f"诉求：{view['body']}")
    if view.get("suggestions"):
        print_table(
            "智能答复参考（最接近的条目）",
            ["条目", "标题", "得分"],
            [[s["entry_id"], s["title"], f"{s['score']:.2f}"] for s in view["suggestions"]],
        )
    print_table(
        "办理过程",
        ["时间", "事件", "操作人", "原因"],
        [[e["at"], e["type_label"], e["actor"], e["reason"] or ""] for e in view["events"]],
    )
    if view["ratings"]:
        print_table(
            "评价",
            ["编号", "时间", "评价", "恶意差评"],
            [[r["id"], r["at"], f"{r['score']} {r['label']}",
              f"是：{r['malicious_reason']}" if r["malicious"] else ""]
             for r in view["ratings"]],
        )  # fmt: skip


def show(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号 GD…"),
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """显示一张工单及其全部事件和评价。"""
    view = _run(ctx, lambda desk, scope: desk.show(scope, number), as_user=as_user)
    _print_ticket(view, as_json)


def assign(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    handler: str = typer.Argument(..., help="承办人用户名"),
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """分派给承办人。"""
    view = _run(ctx, lambda d, s: d.assign(s, number, handler), as_user=as_user)
    _print_ticket(view, as_json, f"已分派给 {handler}")


def start(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """开始办理。"""
    view = _run(ctx, lambda d, s: d.start(s, number), as_user=as_user)
    _print_ticket(view, as_json, "已开始办理")


def transfer(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    department: str = typer.Argument(..., help="转办至的部门编码"),
    reason: str = REASON_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """转办到其他部门（办理时限不重新计算）。"""
    view = _run(ctx, lambda d, s: d.transfer(s, number, department, reason=reason),
                as_user=as_user)  # fmt: skip
    _print_ticket(view, as_json, f"已转办至 {department}")


def return_(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    reason: str = REASON_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """退回派单员（退单）。"""
    view = _run(ctx, lambda d, s: d.return_(s, number, reason=reason), as_user=as_user)
    _print_ticket(view, as_json, "已退单")


def resolve(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    answer: str = typer.Option(..., "--answer", help="答复企业的办理结果"),
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """办结：答复企业并请其评价。"""
    view = _run(ctx, lambda d, s: d.resolve(s, number, answer=answer), as_user=as_user,
                messaging=True)  # fmt: skip
    _print_ticket(view, as_json, f"已办结，{feedback_delivery(view)}")


def feedback_delivery(view: dict[str, Any]) -> str:
    """What became of the answer and rating request of the latest resolve."""
    requested = [e for e in view["events"] if e["type"] == "rating_requested"]
    if not requested:
        return message_delivery("答复与评价邀请", None)
    return message_delivery("答复与评价邀请", requested[-1]["data"], requested[-1]["reason"])


def extension_delivery(view: dict[str, Any]) -> str:
    """What became of the extension notice of the latest extension."""
    extended = [e for e in view["events"] if e["type"] == "extended"]
    notice = (extended[-1]["data"] or {}).get("notice") if extended else None
    return message_delivery("延期告知", notice)


def message_delivery(what: str, data: dict[str, Any] | None, fallback: str | None = None) -> str:
    """What became of a message a step wrote, as the operator needs to know it: queued to go
    now, held (quiet hours) until a time, or not sent and why; ``data`` is what the step
    recorded on its event (``status``, ``reason``)."""
    data = data or {}
    status, reason = data.get("status"), data.get("reason")
    if status == "held":
        return f"{what}已暂缓：{reason}"
    if status in ("queued", "sending", "sent", "delivered"):
        return f"{what}已排队发送"
    return f"{what}未发送：{reason or fallback or '未找到发送记录'}"


def extend(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    days: int = typer.Option(..., "--days", min=1, help="延长的工作日数"),
    reason: str = REASON_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """批准延期并告知企业新的办理时限。"""
    view = _run(ctx, lambda d, s: d.extend(s, number, days=days, reason=reason),
                as_user=as_user, messaging=True)  # fmt: skip
    _print_ticket(view, as_json, f"已延期 {days} 个工作日，新的办理时限 {view['deadline']}；"
                                 f"{extension_delivery(view)}")  # fmt: skip


def reopen(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="工单编号"),
    reason: str = REASON_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """重新办理已办结或已销号的工单。"""
    view = _run(ctx, lambda d, s: d.reopen(s, number, reason=reason), as_user=as_user)
    _print_ticket(view, as_json, "已重新办理")


def flag_rating(
    ctx: typer.Context,
    rating_id: int = typer.Argument(..., help="评价编号（hub tickets show 列出）"),
    reason: str = REASON_OPTION,
    as_user: str | None = AS_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """标记恶意差评（记录原因，评价不删除，不计入好评率）。"""
    view = _run(ctx, lambda d, s: d.flag_rating(s, rating_id, reason=reason), as_user=as_user)
    _print_ticket(view, as_json, f"评价 {rating_id} 已标记为恶意差评")
