"""``hub schedules {list,next,run,sync}``: the schedules stored in the database.

``sync`` loads ``schedules/*.yaml`` (beside config.yaml) into the database; the other commands
read the database, which is what the scheduler runs. ``run`` fires one schedule now, exactly as
the scheduler would: running the same fire time twice creates no new run and no new message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import typer

from hub.app.config import Settings
from hub.app.runtime import hub_scheduler, open_components, open_database, templates_folder
from hub.cli.common import out, print_json, print_table, run_async, settings_from
from hub.core.clock import SystemClock, local_iso
from hub.core.errors import UsageError
from hub.queries.schedule_runs import latest_runs
from hub.rendering.templates import load_folder
from hub.scheduling.schedule_store import StoredSchedule, stored_schedules, sync_schedules
from hub.scheduling.scheduler import RunResult
from hub.scheduling.schedules import (
    ScheduleSpec,
    load_schedules,
    next_fire_times,
    schedules_folder,
    template_needs,
)
from hub.store.db import Database
from hub.store.schedules import SyncReport


def register(app: typer.Typer) -> None:
    schedules_app = typer.Typer(help="定时计划 (schedules)", no_args_is_help=True)
    app.add_typer(schedules_app, name="schedules")
    schedules_app.command("list")(schedules_list)
    schedules_app.command("next")(schedules_next)
    schedules_app.command("run")(schedules_run)
    schedules_app.command("sync")(schedules_sync)


def parse_time(text: str, tz: ZoneInfo) -> datetime:
    """ISO 8601; a time without an offset is taken in the hub's zone (Asia/Shanghai)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise UsageError(f"时间“{text}”应为 ISO 8601 格式，如 2026-12-01T09:00+08:00") from exc
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def schedules_list(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出数据库中的定时计划：版本、cron、下次触发时间、最近一次运行及其状态。"""
    settings = settings_from(ctx)
    items = run_async(_list(settings))
    if as_json:
        print_json(items)
        return
    print_table(
        "定时计划 schedules",
        ["名称", "启用", "版本", "cron", "时区", "下次触发", "最近触发", "状态", "说明"],
        [
            (
                i["name"], "是" if i["enabled"] else "否", i["version"], i["cron"],
                i["timezone"], i["next_fire_time"], i["last_fire_time"], i["last_status"],
                i["description"],
            )
            for i in items
        ],
    )  # fmt: skip


async def _list(settings: Settings) -> list[dict[str, Any]]:
    tz = settings.hub.tz
    now = SystemClock().now()
    async with open_database(settings) as db:
        stored = await stored_schedules(db)
        last_runs = await latest_runs(db)
    items = []
    for s in stored:
        upcoming = next_fire_times(s.spec, now, 1) if s.spec.enabled else []
        last = last_runs.get(s.id)
        items.append(
            {
                "name": s.spec.name,
                "description": s.spec.description,
                "enabled": s.spec.enabled,
                "version": s.version,
                "cron": s.spec.cron,
                "timezone": s.spec.timezone,
                "program": s.spec.program,
                "kind": s.spec.kind.value,
                "audience": s.spec.audience,
                "channels": [c.value for c in s.spec.channels],
                "next_fire_time": local_iso(upcoming[0], tz) if upcoming else None,
                "last_fire_time": local_iso(last.fire_time, tz) if last else None,
                "last_status": last.status if last else None,
                "last_detail": last.detail if last else None,
                "last_campaign_id": last.campaign_id if last else None,
            }
        )
    return items


def schedules_next(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="schedule name"),
    count: int = typer.Option(5, "--count", "-n", min=1, max=1000, help="how many"),
    after: str | None = typer.Option(None, "--after", help="from this time (default: now)"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出某个计划接下来的触发时间（按数据库中的当前版本计算）。"""
    settings = settings_from(ctx)
    tz = settings.hub.tz
    start = parse_time(after, tz) if after else SystemClock().now()
    stored = run_async(_one(settings, name))
    times = [local_iso(t, tz) for t in next_fire_times(stored.spec, start, count)]
    if as_json:
        print_json(times)
        return
    out.print(f"{name}（{stored.spec.cron}，{stored.spec.timezone}）接下来的触发时间：")
    for t in times:
        out.print(f"  {t}")


async def _one(settings: Settings, name: str) -> StoredSchedule:
    async with open_database(settings) as db:
        return await _one_in(db, name)


async def _one_in(db: Database, name: str) -> StoredSchedule:
    found = await stored_schedules(db, [name])
    if not found:
        raise UsageError(
            f"没有名为 {name} 的计划：先运行 `hub schedules sync`，或用 `hub schedules list` 查看"
        )
    return found[0]


def schedules_run(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="schedule name"),
    fire_time: str | None = typer.Option(
        None, "--fire-time", help="the fire to run, ISO 8601 (default: now, to the minute)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the run as JSON"),
) -> None:
    """立即执行一次计划；同一触发时间重复执行不会产生新的消息。"""
    settings = settings_from(ctx)
    tz = settings.hub.tz
    if fire_time:
        when = parse_time(fire_time, tz)
    else:
        when = SystemClock().now().replace(second=0, microsecond=0)
    result = run_async(_run(settings, name, when))
    report = {
        "schedule": result.schedule,
        "fire_time": local_iso(result.fire_time, tz),
        "run_id": result.run_id,
        "ran": result.created,
        "status": result.status,
        "campaign_id": result.campaign_id,
        "messages_created": result.messages_created,
        "duplicates": result.duplicates,
        "detail": result.detail,
    }
    if as_json:
        print_json(report)
        return
    if result.created:
        # An audience that matched nobody makes no campaign (hub.outbound.outbox).
        campaign = f"批次 #{result.campaign_id}" if result.campaign_id is not None else "未建批次"
        out.print(f"已执行 {name} @ {report['fire_time']}：{campaign}，{result.detail}")
    else:
        out.print(
            f"{name} @ {report['fire_time']} 已执行过（状态 {result.status}），未重复发送："
            f"{result.detail or ''}"
        )


async def _run(settings: Settings, name: str, when: datetime) -> RunResult:
    async with open_components(settings) as hub:
        stored = await _one_in(hub.db, name)
        return await hub_scheduler(hub).fire(stored, when)


def schedules_sync(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="print the outcome as JSON"),
) -> None:
    """把 schedules/*.yaml 导入数据库：新计划建版本 1，内容变了才建新版本；文件有误以 2 退出。"""
    settings = settings_from(ctx)
    folder = schedules_folder(settings)
    # A template needing a variable neither the program nor the schedule supplies is a bad
    # file too: ConfigError (file, key, line) -> exit 2.
    needs = template_needs(load_folder(templates_folder(settings)).catalog)
    specs = load_schedules(folder, needs=needs)
    report = run_async(_sync(settings, specs))
    data = {
        "folder": str(folder),
        "created": list(report.created),
        "updated": list(report.updated),
        "unchanged": list(report.unchanged),
    }
    if as_json:
        print_json(data)
        return
    out.print(
        f"{folder}：新建 {len(report.created)} 个，更新 {len(report.updated)} 个，"
        f"未变 {len(report.unchanged)} 个"
    )
    for label, names in (("新建", report.created), ("更新", report.updated)):
        for name in names:
            out.print(f"  {label} {name}")


async def _sync(settings: Settings, specs: list[ScheduleSpec]) -> SyncReport:
    async with open_database(settings) as db:
        return await sync_schedules(db, specs, SystemClock(), actor="cli")
