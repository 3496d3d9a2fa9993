"""The registry as read: ``hub enterprises list|show USCC``, ``hub officers list``,
``hub departments list``.

Numbers and ids are masked as in every other list; ``--json`` prints a JSON array (``show``:
an object). ``show`` of an unknown USCC exits 1 naming it; a malformed one is a usage error (2).
"""

from __future__ import annotations

from typing import Any

import typer

from hub.cli.common import out, print_json, print_table, settings_from, with_database
from hub.core.errors import NotFoundError, UsageError
from hub.core.identifiers import normalize_uscc
from hub.core.vocab import LabelledEnum, MessageStatus, TicketState, Tier
from hub.outbound.audience import parse_audience
from hub.queries.registry import (
    EnterpriseFilter,
    enterprise_dossier,
    list_departments,
    list_enterprises,
    list_officers,
)
from hub.queries.scope import Visibility

JSON_OPTION = typer.Option(False, "--json", help="print JSON")
# The console operator sees every enterprise, with numbers masked as in the other lists.
_CONSOLE = Visibility.everything()


def register(app: typer.Typer) -> None:
    enterprises_app = typer.Typer(help="企业名录（一企一档）(enterprises)", no_args_is_help=True)
    officers_app = typer.Typer(help="联络员 (liaison officers)", no_args_is_help=True)
    departments_app = typer.Typer(help="部门 (departments)", no_args_is_help=True)
    app.add_typer(enterprises_app, name="enterprises")
    app.add_typer(officers_app, name="officers")
    app.add_typer(departments_app, name="departments")
    enterprises_app.command("list")(enterprises_list)
    enterprises_app.command("show")(enterprises_show)
    officers_app.command("list")(officers_list)
    departments_app.command("list")(departments_list)


def _text(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    return cleaned or None


def enterprises_list(
    ctx: typer.Context,
    tier: str | None = typer.Option(None, "--tier", help="key/重点, general/一般, ordinary/普通"),
    industry: str | None = typer.Option(None, "--industry", help="行业，如 制造业"),
    region: str | None = typer.Option(None, "--region", help="区域，如 龙沙区"),
    officer: str | None = typer.Option(None, "--officer", help="联络员工号，如 LL001"),
    audience: str | None = typer.Option(
        None, "--audience", help="受众表达式，如 'tier=key,tags~专精特新'"
    ),
    before: int | None = typer.Option(None, "--before", help="only ids below this (paging)"),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000),
    as_json: bool = JSON_OPTION,
) -> None:
    """列出企业（最新导入在前），可按联络类别、行业、区域、联络员或受众表达式筛选。"""
    try:
        wanted_tier = Tier.parse(tier) if tier else None
    except ValueError:
        raise UsageError(f"未知的联络类别“{tier}”，可选：{Tier.choices()}") from None
    wanted = EnterpriseFilter(
        tier=wanted_tier,  # type: ignore[arg-type]
        industry=_text(industry),
        region=_text(region),
        officer_code=(_text(officer) or "").upper() or None,
        audience=parse_audience(audience) if audience is not None else None,
        before=before,
        limit=limit,
    )
    tz = settings_from(ctx).hub.tz
    rows = with_database(ctx, lambda db: list_enterprises(db, wanted, _CONSOLE, tz=tz))
    if as_json:
        print_json(rows)
        return
    print_table(
        f"企业（{len(rows)}）",
        ["统一社会信用代码", "名称", "类别", "行业", "区域", "阶段", "信用", "联络员", "联系人",
         "标签"],
        [
            (r["uscc"], r["name"], r["tier"]["label"], r["industry"], r["region"],
             r["stage"]["label"], r["credit"]["label"], (r["officer"] or {}).get("name"),
             r["contacts"], "、".join(r["tags"]))
            for r in rows
        ],
    )  # fmt: skip


def enterprises_show(
    ctx: typer.Context,
    uscc: str = typer.Argument(..., help="统一社会信用代码"),
    recent: int = typer.Option(5, "--recent", min=1, max=100, help="最近几条消息和工单"),
    as_json: bool = JSON_OPTION,
) -> None:
    """显示一家企业的档案：基本信息、联系人、联络员、部门、信用记录、证照、年报、消息和工单。"""
    try:
        code = normalize_uscc(uscc)
    except ValueError as exc:
        raise UsageError(f"统一社会信用代码“{uscc}”无效：{exc}") from None
    tz = settings_from(ctx).hub.tz
    dossier = with_database(
        ctx, lambda db: enterprise_dossier(db, code, _CONSOLE, tz=tz, recent=recent)
    )
    if dossier is None:
        raise NotFoundError(f"没有统一社会信用代码为 {code} 的企业")
    if as_json:
        print_json(dossier)
        return
    _print_dossier(dossier)


def _print_dossier(d: dict[str, Any]) -> None:
    officer, department = d["officer"] or {}, d["department"] or {}
    out.print(f"{d['name']}  {d['uscc']}")
    out.print(f"类别：{d['tier']['label']}  行业：{d['industry']}  区域：{d['region']}  "
              f"阶段：{d['stage']['label']}  信用：{d['credit']['label']}")  # fmt: skip
    out.print(f"标签：{'、'.join(d['tags']) or '无'}")
    out.print(
        f"联络员：{officer.get('name', '无')}"
        + (f"（{officer['code']}，{officer.get('mobile') or '无手机'}）" if officer else "")
        + f"  诉求承办部门：{department.get('name', '无（待分派）')}"
    )
    out.print(f"建档：{d['created_at']}  更新：{d['updated_at']}")
    print_table(
        f"联系人（{len(d['contacts'])}）",
        ["姓名", "手机", "微信 openid", "企业微信", "Telegram", "首选渠道", "已退订"],
        [
            (c["name"], c["mobile"], c["wechat_openid"], c["wecom_userid"],
             c["telegram_chat_id"], c["preferred_channel"], "、".join(c["opted_out"]))
            for c in d["contacts"]
        ],
    )  # fmt: skip
    if d["credit_records"]:
        print_table(
            "信用记录",
            ["认定日期", "类型", "认定机关", "事由", "状态", "修复日期"],
            [(c["decided_on"], c["type_label"], c["authority"], c["summary"], c["status_label"],
              c["repaired_on"]) for c in d["credit_records"]],
        )  # fmt: skip
    if d["licences"]:
        print_table(
            "证照",
            ["证照类型", "证照编号", "有效期至", "发证机关", "已换证日期"],
            [(c["kind"], c["number"], c["expires_on"], c["authority"], c["renewed_on"])
             for c in d["licences"]],
        )  # fmt: skip
    if d["annual_reports"]:
        out.print("年报公示：" + "；".join(
            f"{r['year']} 年度（{r['filed_on']} 公示）" for r in d["annual_reports"]
        ))  # fmt: skip
    messages, tickets = d["messages"], d["tickets"]
    headline = f"消息 共 {messages['total']} 条{_counts(messages['by_status'], MessageStatus)}"
    if messages["recent"]:
        print_table(
            headline,
            ["id", "类型", "渠道", "状态", "创建时间", "原因"],
            [(m["id"], m["kind_label"], m["channel"], m["status_label"], m["created_at"],
              m["reason"]) for m in messages["recent"]],
        )  # fmt: skip
    else:
        out.print(headline)
    headline = f"工单 共 {tickets['total']} 件，未办结 {tickets['open']} 件" + _counts(
        tickets["by_state"], TicketState
    )
    if tickets["recent"]:
        print_table(
            headline,
            ["编号", "状态", "部门", "受理", "办理时限", "摘要"],
            [(t["number"], t["state_label"], (t["department"] or {}).get("name", "待分派"),
              t["received_at"], t["deadline_at"], t["subject"]) for t in tickets["recent"]],
        )  # fmt: skip
    else:
        out.print(headline)


def _counts(by: dict[str, int], enum: type[LabelledEnum]) -> str:
    """``（已发送 3，失败 1）`` in the enum's order; empty without any."""
    parts = [f"{member.label} {by[member.value]}" for member in enum if member.value in by]
    return "（" + "，".join(parts) + "）" if parts else ""


def officers_list(
    ctx: typer.Context,
    region: str | None = typer.Option(None, "--region", help="区域"),
    department: str | None = typer.Option(None, "--department", help="部门编码"),
    as_json: bool = JSON_OPTION,
) -> None:
    """列出联络员（按工号），含所属部门和联络的企业数。"""
    code = (_text(department) or "").upper() or None
    rows = with_database(
        ctx, lambda db: list_officers(db, _CONSOLE, region=_text(region), department_code=code)
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        f"联络员（{len(rows)}）",
        ["工号", "姓名", "手机", "企业微信", "区域", "部门", "联络企业"],
        [
            (r["code"], r["name"], r["mobile"], r["wecom_userid"], r["region"],
             (r["department"] or {}).get("name"), r["enterprises"])
            for r in rows
        ],
    )  # fmt: skip


def departments_list(ctx: typer.Context, as_json: bool = JSON_OPTION) -> None:
    """列出部门：负责的行业、负责人、工作人员、在岗承办人、企业数和未办结工单。"""
    rows = with_database(ctx, lambda db: list_departments(db, _CONSOLE))
    if as_json:
        print_json(rows)
        return
    print_table(
        f"部门（{len(rows)}）",
        ["编码", "名称", "类型", "行业", "负责人", "工作人员", "在岗承办人", "企业", "未办结工单"],
        [
            (r["code"], r["name"], r["role"]["label"], "、".join(r["industries"]),
             r["head_name"], r["staff"], r["handlers_present"], r["enterprises"],
             r["open_tickets"])
            for r in rows
        ],
    )  # fmt: skip
