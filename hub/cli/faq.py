"""The FAQ library as read: ``hub faq list`` and ``hub faq show FAQ_ID`` (``hub import faq`` writes
it).

``--json`` prints what ``GET /api/v1/faq`` and ``GET /api/v1/faq/{faq_id}`` answer. ``show`` of an
unknown id exits 1 naming it.
"""

from __future__ import annotations

import typer

from hub.cli.common import clock_from, out, print_json, print_table, settings_from, with_database
from hub.core.errors import NotFoundError
from hub.queries.faq import (
    FaqDetail,
    FaqFilter,
    entry_dict,
    faq_entry,
    list_faq_entries,
    version_dict,
)

_SHOWN = 40  # characters of a question or an answer in the list's table


def register(app: typer.Typer) -> None:
    faq_app = typer.Typer(
        help="常见问题库 (the FAQ library smart answers use)", no_args_is_help=True
    )
    app.add_typer(faq_app, name="faq")
    faq_app.command("list")(faq_list)
    faq_app.command("show")(faq_show)


def _short(text: str) -> str:
    return text if len(text) <= _SHOWN else text[:_SHOWN] + "…"


def faq_list(
    ctx: typer.Context,
    q: str | None = typer.Option(None, "--q", help="编号、问题、相似问法或答案中包含"),
    department: str | None = typer.Option(None, "--department", help="部门"),
    valid: bool | None = typer.Option(
        None, "--valid/--not-valid", help="只列今天有效的 / 只列已停用或已过期的"
    ),
    after: str | None = typer.Option(None, "--after", help="只列编号排在它之后的（翻页）"),
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """常见问题，按编号排序（含停用和过期的，除非以 --valid/--not-valid 筛选）。"""
    tz = settings_from(ctx).hub.tz
    today = clock_from(ctx).now().astimezone(tz).date()
    wanted = FaqFilter(
        today=today, text=(q or "").strip() or None, department=(department or "").strip() or None,
        valid=valid, after=after, limit=limit,
    )  # fmt: skip
    found = with_database(ctx, lambda db: list_faq_entries(db, wanted))
    entries = [entry_dict(entry, today, tz) for entry in found]
    if as_json:
        print_json(entries)
        return
    rows = [
        (e["faq_id"], e["version"], _short(e["question"]), e["department"] or "",
         e["valid_until"] or "", "有效" if e["in_force"] else ("停用" if e["retired"] else "过期"))
        for e in entries
    ]  # fmt: skip
    print_table(
        f"常见问题（{len(rows)} 条）", ("编号", "版本", "问题", "部门", "有效期至", "状态"), rows
    )


def faq_show(
    ctx: typer.Context,
    faq_id: str = typer.Argument(..., help="条目编号，如 FAQ-001"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """一条常见问题及其全部版本（最早的在前）。"""
    tz = settings_from(ctx).hub.tz
    today = clock_from(ctx).now().astimezone(tz).date()
    detail: FaqDetail | None = with_database(ctx, lambda db: faq_entry(db, faq_id.strip()))
    if detail is None:
        raise NotFoundError(f"没有编号为 {faq_id.strip()} 的常见问题")
    shown = {**entry_dict(detail.entry, today, tz),
             "versions": [version_dict(v, tz) for v in detail.versions]}  # fmt: skip
    if as_json:
        print_json(shown)
        return
    state = "有效" if shown["in_force"] else ("停用" if shown["retired"] else "已过期")
    out.print(f"{shown['faq_id']}（第 {shown['version']} 版，{state}）", markup=False)
    for label, key in (("问题", "question"), ("答案", "answer"), ("部门", "department"),
                       ("有效期至", "valid_until"), ("依据", "source")):  # fmt: skip
        out.print(f"{label}：{shown[key] or '—'}", markup=False)
    out.print(f"相似问法：{'；'.join(shown['alternates']) or '—'}", markup=False)
    rows = [
        (v["version"], v["created_at"], v["created_by"], _short(v["question"]),
         _short(v["answer"]), "是" if v["retired"] else "否")
        for v in shown["versions"]
    ]  # fmt: skip
    print_table("版本", ("版本", "保存时间", "保存人", "问题", "答案", "停用"), rows)
