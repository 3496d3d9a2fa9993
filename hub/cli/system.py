"""Commands that set up and run the hub: config check, db upgrade, run, api, worker, demo."""

from __future__ import annotations

from typing import Any

import typer

from hub.app.config import Settings, load_settings
from hub.app.processes import serve
from hub.cli.common import clock_from, out, print_json, run_async, settings_from
from hub.devtools.demo_data import DEMO_PASSWORD
from hub.devtools.demo_load import load_demo
from hub.store.schema_version import head_revision


def register(app: typer.Typer) -> None:
    config_app = typer.Typer(help="配置 (config.yaml)", no_args_is_help=True)
    db_app = typer.Typer(help="数据库 (database schema)", no_args_is_help=True)
    app.add_typer(config_app, name="config")
    app.add_typer(db_app, name="db")
    config_app.command("check")(config_check)
    db_app.command("upgrade")(db_upgrade)
    app.command("run")(run)
    app.command("api")(api)
    app.command("worker")(worker)
    app.command("scheduler")(scheduler)
    app.command("demo")(demo)


def config_check(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """校验配置文件：只做校验，错误时指明文件、键和行号并以 2 退出。"""
    settings = load_settings(ctx.ensure_object(dict).get("config_path"))
    summary = _summary(settings)
    if as_json:
        print_json(summary)
        return
    out.print(f"配置有效 (config OK): {summary['file']}")
    out.print(f"  数据库 storage: {summary['storage']}")
    out.print(f"  Redis: {summary['redis']}")
    out.print(f"  启用的渠道 channels: {', '.join(summary['channels'])}")


def _summary(settings: Settings) -> dict[str, Any]:
    channels = settings.channels
    enabled = ["sandbox"] if channels.sandbox.enabled else []
    enabled += [
        f"sms.{name}"
        for name, p in (("tencent", channels.sms.tencent), ("aliyun", channels.sms.aliyun))
        if p.enabled
    ]
    enabled += [f"wechat.{name}" for name, a in channels.wechat.apps.items() if a.enabled]
    enabled += ["telegram"] if channels.telegram.enabled else []
    return {
        "file": str(settings.source),
        "storage": settings.database_url.split("@")[-1],  # never print credentials
        "redis": settings.redis.url.split("@")[-1],
        "channels": enabled,
        "default_channel": channels.default,
    }


def db_upgrade(ctx: typer.Context) -> None:
    """把数据库结构升级到最新版本（可重复执行）。"""
    settings = settings_from(ctx)
    # Alembic (~0.2 s to import) only in the process that migrates: every `hub` command checks
    # the schema without it (hub.store.schema_version).
    from hub.store.migrate import upgrade

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_async(upgrade(settings.database_url))
    out.print(f"数据库已是最新版本 (schema at {head_revision()})")


def run(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="listen address (default: web.host)"),
    port: int | None = typer.Option(None, help="listen port (default: web.port)"),
) -> None:
    """在一个进程里运行全部角色：Web/API、发送 worker、对账、定时任务。"""
    settings = settings_from(ctx)
    run_async(serve(settings, web=True, worker=True, scheduler=True, host=host, port=port))


def api(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="listen address (default: web.host)"),
    port: int | None = typer.Option(None, help="listen port (default: web.port)"),
) -> None:
    """只运行 Web/API 与 webhook。"""
    settings = settings_from(ctx)
    run_async(serve(settings, web=True, worker=False, host=host, port=port))


def worker(ctx: typer.Context) -> None:
    """只运行发送 worker（可水平扩展多个进程）。"""
    settings = settings_from(ctx)
    run_async(serve(settings, web=False, worker=True))


def scheduler(ctx: typer.Context) -> None:
    """只运行定时任务（多个进程中只有一个持有锁并调度）。"""
    settings = settings_from(ctx)
    run_async(serve(settings, web=False, worker=False, scheduler=True))


def demo(
    ctx: typer.Context,
    enterprises: int = typer.Option(300, min=1, help="how many demo enterprises"),
    as_json: bool = typer.Option(False, "--json", help="print the import report as JSON"),
) -> None:
    """载入演示数据：部门、联络员、企业，信用事件、政策、证照、年报、常见问题库，和演示工作人员（同一天重复执行不会改变）。"""
    settings = settings_from(ctx)
    report = run_async(load_demo(settings, enterprises=enterprises, clock=clock_from(ctx)))
    if as_json:
        print_json(report.as_dict())
        return
    for name, imported in report.imports.items():
        out.print(f"{name}: {imported.summary_line()}")
    out.print(
        f"staff: 新增 {len(report.staff_created)} 个演示账号，"
        f"已存在 {len(report.staff_existing)} 个（hub staff list 查看）"
    )
    out.print(f"visits: 新增 {report.visits.created} 次走访计划（hub visits due 查看）")
    base = f"http://{settings.web.host}:{settings.web.port}"
    out.print(f"管理后台：{base}/admin/ ，演示账号（demo-admin、demo-dispatcher、demo-handler、"
              f"demo-head、demo-officer、demo-viewer）的初始密码：{DEMO_PASSWORD}")  # fmt: skip
    out.print("演示账号的 API 令牌（每次签发都会使旧令牌失效）：")
    for username in ("demo-admin", "demo-dispatcher", "demo-handler", "demo-head", "demo-viewer"):
        out.print(f"  hub staff token {username}")
    out.print(f'  curl -H "Authorization: Bearer $(hub staff token demo-admin)" {base}/api/v1/me')
