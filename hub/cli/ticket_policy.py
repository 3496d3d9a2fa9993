"""``hub tickets rules show|set FILE`` and ``hub tickets classes show|set NAME=N ...``.

Admins' edits of the routing rules and the deadline classes, each saved as a new version in
the database (config.yaml is the seed; :mod:`hub.tickets.policy_store`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from hub.app.runtime import open_database
from hub.cli.common import out, print_json, print_table, run_async, settings_from
from hub.core.clock import SystemClock, local_iso
from hub.core.errors import UsageError
from hub.core.vocab import Urgency
from hub.tickets.policy_store import (
    CLASSES,
    RULES,
    classes_in_force,
    current,
    parse_rules,
    rules_body,
    rules_in_force,
    save_classes,
    save_rules,
)

ACTOR = "cli"


def register(tickets_app: typer.Typer) -> None:
    rules_app = typer.Typer(help="路由规则 (routing rules, versioned)", no_args_is_help=True)
    classes_app = typer.Typer(help="办理时限类别 (deadline classes)", no_args_is_help=True)
    tickets_app.add_typer(rules_app, name="rules")
    tickets_app.add_typer(classes_app, name="classes")
    rules_app.command("show")(rules_show)
    rules_app.command("set")(rules_set)
    classes_app.command("show")(classes_show)
    classes_app.command("set")(classes_set)


def _version_info(row: Any) -> dict[str, Any]:
    if row is None:
        return {"version": None, "source": "config", "created_at": None, "created_by": None}
    return {"version": row.version, "source": "database",
            "created_at": local_iso(row.created_at), "created_by": row.created_by}  # fmt: skip


def _rules_report(ctx: typer.Context) -> dict[str, Any]:
    settings = settings_from(ctx)

    async def run() -> dict[str, Any]:
        async with open_database(settings) as db, db.read() as session:
            rules, default = await rules_in_force(session, settings)
            return {**_version_info(await current(session, RULES)), **rules_body(rules, default)}

    return run_async(run())


def _print_rules(report: dict[str, Any]) -> None:
    where = f"第 {report['version']} 版" if report["version"] else "config.yaml"
    out.print(f"路由规则（{where}）；默认部门：{report['default_department'] or '无（待分派）'}")
    print_table(
        "规则（按顺序，第一条匹配的生效）",
        ["#", "关键词", "行业", "区域", "类别", "部门"],
        [[i, "、".join(r.get("keywords", [])), r.get("industry", ""), r.get("region", ""),
          r.get("category", ""), r["department"]] for i, r in enumerate(report["rules"])],
    )  # fmt: skip


def rules_show(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")
) -> None:
    """显示在用的路由规则。"""
    report = _rules_report(ctx)
    print_json(report) if as_json else _print_rules(report)


def rules_set(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="YAML: rules: [...], default_department: CODE"),
    note: str | None = typer.Option(None, "--note", help="这一版的说明"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """保存新一版路由规则（格式同 config.yaml 的 tickets.rules）。"""
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"无法读取规则文件 {file}：{exc}") from exc
    rules, default = parse_rules(raw)
    settings = settings_from(ctx)

    async def run() -> None:
        async with open_database(settings) as db, db.write() as session:
            await save_rules(session, settings, rules, default, actor=ACTOR,
                             now=SystemClock().now(), note=note)  # fmt: skip

    run_async(run())
    report = _rules_report(ctx)
    print_json(report) if as_json else _print_rules(report)


def _classes_report(ctx: typer.Context) -> dict[str, Any]:
    settings = settings_from(ctx)

    async def run() -> dict[str, Any]:
        async with open_database(settings) as db, db.read() as session:
            classes = await classes_in_force(session, settings)
            return {**_version_info(await current(session, CLASSES)), "classes": classes}

    return run_async(run())


def _print_classes(report: dict[str, Any]) -> None:
    where = f"第 {report['version']} 版" if report["version"] else "config.yaml"
    print_table(
        f"办理时限类别（{where}）",
        ["类别", "名称", "工作日"],
        [[name, _label(name), days]
         for name, days in report["classes"].items()],
    )  # fmt: skip


def _label(name: str) -> str:
    try:
        return Urgency(name).label
    except ValueError:
        return ""


def classes_show(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")
) -> None:
    """显示在用的办理时限类别。"""
    report = _classes_report(ctx)
    print_json(report) if as_json else _print_classes(report)


def classes_set(
    ctx: typer.Context,
    values: list[str] = typer.Argument(..., help="NAME=N, e.g. urgent=2 或 紧急=2"),
    note: str | None = typer.Option(None, "--note", help="这一版的说明"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """修改办理时限类别的工作日数（新受理的工单按新值计算，已有工单不变）。"""
    changes: dict[str, Any] = {}
    for value in values:
        name, sep, days = value.partition("=")
        if not sep or not days.strip().lstrip("-").isdigit():
            raise UsageError(f"应为 类别=工作日数，如 urgent=2，收到“{value}”")
        changes[name.strip()] = int(days)
    settings = settings_from(ctx)

    async def run() -> None:
        async with open_database(settings) as db, db.write() as session:
            await save_classes(session, settings, changes, actor=ACTOR, now=SystemClock().now(),
                               note=note)  # fmt: skip

    run_async(run())
    report = _classes_report(ctx)
    print_json(report) if as_json else _print_classes(report)
