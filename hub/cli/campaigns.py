"""``hub campaigns list|pause|resume|cancel``."""

from __future__ import annotations

from collections.abc import Mapping

import typer

from hub.app.config import Settings
from hub.app.runtime import open_components, open_database
from hub.cli.common import out, print_json, print_table, run_async, settings_from
from hub.core.clock import SystemClock, local_iso
from hub.core.vocab import MessageStatus
from hub.outbound.campaigns import (
    CampaignSummary,
    Resumed,
    cancel_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
)


def register(app: typer.Typer) -> None:
    campaigns_app = typer.Typer(help="批次 (campaigns): 暂停、恢复、取消", no_args_is_help=True)
    app.add_typer(campaigns_app, name="campaigns")
    campaigns_app.command("list")(campaigns_list)
    campaigns_app.command("pause")(pause)
    campaigns_app.command("resume")(resume)
    campaigns_app.command("cancel")(cancel)


def campaigns_list(
    ctx: typer.Context,
    limit: int = typer.Option(50, min=1, max=1000),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出批次（最新在前）及各状态消息数。"""
    settings = settings_from(ctx)

    async def load() -> list[CampaignSummary]:
        async with open_database(settings) as db:
            return await list_campaigns(db, limit=limit)

    rows = run_async(load())
    if as_json:
        print_json([
            {"id": c.id, "kind": c.kind, "trigger": c.trigger, "trigger_key": c.trigger_key,
             "audience": c.audience, "status": c.status,
             "created_at": local_iso(c.created_at, settings.hub.tz), "messages": c.counts}
            for c in rows
        ])  # fmt: skip
        return
    print_table("批次 campaigns", ["id", "类型", "触发", "状态", "受众", "创建时间", "消息"],
                [(c.id, c.kind, c.trigger, c.status, c.audience,
                  local_iso(c.created_at, settings.hub.tz), _counts(c.counts))
                 for c in rows])  # fmt: skip


def _counts(counts: Mapping[str, int]) -> str:
    """``{"held": 3, "sent": 1}`` as ``暂缓 3，已发送 1`` (the table; JSON keeps the codes)."""
    return "，".join(f"{MessageStatus(s).label} {n}" for s, n in sorted(counts.items())) or "—"


def _settings_and_actor(ctx: typer.Context) -> tuple[Settings, str]:
    return settings_from(ctx), "cli"


def pause(ctx: typer.Context, campaign: int = typer.Argument(..., help="campaign id")) -> None:
    """暂停批次：尚未发送的消息暂缓，正在发送的完成。"""
    settings, actor = _settings_and_actor(ctx)

    async def act() -> int:
        async with open_database(settings) as db:
            return await pause_campaign(db, SystemClock(), campaign, actor=actor)

    out.print(f"批次 {campaign} 已暂停，暂缓 {run_async(act())} 条消息")


def resume(ctx: typer.Context, campaign: int = typer.Argument(..., help="campaign id")) -> None:
    """恢复已暂停的批次。"""
    settings, actor = _settings_and_actor(ctx)

    async def act() -> Resumed:
        async with open_components(settings) as hub:
            return await resume_campaign(hub.db, hub.queue, hub.clock, campaign, actor=actor,
                                         policy=hub.outbox.planner.policy)  # fmt: skip

    resumed = run_async(act())
    if resumed.hold is not None:
        out.print(f"批次 {campaign} 已恢复，{resumed.held} 条消息暂缓：{resumed.hold.reason}")
    else:
        out.print(f"批次 {campaign} 已恢复，重新排队 {resumed.queued} 条消息")


def cancel(ctx: typer.Context, campaign: int = typer.Argument(..., help="campaign id")) -> None:
    """取消批次：尚未发送的消息全部不再发送（记录原因）。"""
    settings, actor = _settings_and_actor(ctx)

    async def act() -> int:
        async with open_database(settings) as db:
            return await cancel_campaign(db, SystemClock(), campaign, actor=actor)

    out.print(f"批次 {campaign} 已取消，停止 {run_async(act())} 条消息")
