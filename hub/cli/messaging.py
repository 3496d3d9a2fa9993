"""Outbound commands: ``hub send`` and ``hub messages list``."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import sqlalchemy as sa
import typer

from hub.app.config import Settings
from hub.app.runtime import open_components, open_database
from hub.cli.common import (
    clock_from,
    err,
    out,
    parse_set_options,
    print_json,
    print_table,
    run_async,
    settings_from,
)
from hub.cli.progress import SendProgress
from hub.cli.send_report import SendCommand, build_report, release_note, report_lines
from hub.core.clock import Clock, local_iso
from hub.core.errors import UsageError
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.audience import parse_audience
from hub.outbound.audience_hints import audience_hints
from hub.outbound.outbox import SendRequest
from hub.queries.messages import MessageFilter, count_resent_while_unknown, list_messages
from hub.queries.scope import Visibility
from hub.rendering.variable_values import typed_variables
from hub.store.models import Campaign, Message

WAIT_POLL_SECONDS = 0.5


def register(app: typer.Typer) -> None:
    messages_app = typer.Typer(help="消息 (outbox)", no_args_is_help=True)
    app.add_typer(messages_app, name="messages")
    messages_app.command("list")(messages_list)
    messages_app.command("dead")(messages_dead)
    app.command("send", cls=SendCommand)(send)


def send(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="message kind, e.g. notice, policy_push"),
    audience: str = typer.Option(
        ..., "--audience", "-a", help="e.g. 'tier=key|general,industry=制造业,tags~专精特新'"
    ),
    channel: str | None = typer.Option(None, "--channel", help="force one channel"),
    idempotency_key: str | None = typer.Option(
        None, "--idempotency-key", help="repeat a send with the same key: nothing is doubled"
    ),
    set_vars: list[str] = typer.Option(
        [], "--set", help="template variable name=value (each kind's variables: below)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="count and preview; send nothing"),
    wait: bool = typer.Option(False, "--wait", help="return when every message is final or held"),
    timeout: float = typer.Option(120.0, "--timeout", help="seconds --wait waits at most"),
    as_json: bool = typer.Option(False, "--json", help="print the outcome as JSON"),
) -> None:
    """按受众表达式发送一类消息。

    免打扰时段暂缓的消息说明何时发送；一条也发不出时（受众为空、缺少变量……）按原因计数说明，
    退出码 1。
    """
    try:
        message_kind = MessageKind.parse(kind)
        forced = ChannelName.parse(channel) if channel else None
    except ValueError as exc:
        raise UsageError(
            f"未知的消息类型或渠道：{exc}（消息类型：{MessageKind.choices()}）"
        ) from exc
    request = SendRequest(
        kind=message_kind,  # type: ignore[arg-type]
        audience=parse_audience(audience),
        channel=forced,  # type: ignore[arg-type]
        variables=parse_set_options(set_vars),
    )
    if idempotency_key:
        request = dataclasses.replace(request, trigger_key=idempotency_key)
    settings = settings_from(ctx)
    # Planning (and, with --wait, sending) bars on stderr; none for --json or a dry run.
    with SendProgress(err, enabled=not (as_json or dry_run)) as progress:
        report = run_async(
            _send(settings, clock_from(ctx), request, dry_run=dry_run, wait=wait,
                  wait_seconds=timeout, progress=progress)
        )  # fmt: skip
    if as_json:
        print_json(report)
    else:
        for line in report_lines(report):
            out.print(line, markup=False)
    if report["nothing_sent"] or (wait and (report["final"] or {}).get("pending", 0)):
        raise typer.Exit(1)


async def _send(
    settings: Settings, clock: Clock, request: SendRequest, *, dry_run: bool, wait: bool,
    wait_seconds: float, progress: SendProgress,
) -> dict[str, Any]:  # fmt: skip
    async with open_components(settings, clock=clock) as hub:
        # The variables' types come from the templates in force (the database's, maybe edited).
        await hub.outbox.refresh_templates()
        declared = [v for spec in hub.renderer.catalog if spec.kind == request.kind.value
                    for v in spec.variables.values()]  # fmt: skip
        request = dataclasses.replace(
            request, variables=typed_variables(request.variables, declared)
        )
        outcome = await hub.outbox.submit(
            request, dry_run=dry_run, progress=progress.planned if progress.enabled else None
        )
        final, final_held, hints = None, [], []
        cancelled = not dry_run and await _cancelled(hub.db, outcome.campaign_id)
        if wait and not dry_run and outcome.campaign_id is not None:
            final = await _wait_final(hub.db, outcome.campaign_id, wait_seconds, progress)
            final_held = await _held(hub.db, outcome.campaign_id, settings.hub.tz)
        if outcome.recipients == 0:
            async with hub.db.read() as session:
                hints = await audience_hints(session, request.audience)
        return build_report(
            outcome, dry_run=dry_run, expression=request.audience.expression, hints=hints,
            final=final, final_held=final_held, cancelled=cancelled,
        )  # fmt: skip


async def _cancelled(db: Any, campaign_id: int | None) -> bool:
    """True when the send's campaign is cancelled (its trigger fired again: nothing written)."""
    if campaign_id is None:
        return False
    async with db.read() as session:
        status = await session.scalar(sa.select(Campaign.status).where(Campaign.id == campaign_id))
    return bool(status == "cancelled")


async def _wait_final(
    db: Any, campaign_id: int, wait_seconds: float, progress: SendProgress
) -> dict[str, int]:
    """Poll until no message of the campaign is queued or sending; return counts by status
    (and show how many are done, of the campaign's messages, on ``progress``)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        async with db.read() as session:
            rows = (
                await session.execute(
                    sa.select(Message.status, sa.func.count())
                    .where(Message.campaign_id == campaign_id)
                    .group_by(Message.status)
                )
            ).all()
        counts = {status.value: n for status, n in rows}
        pending = sum(counts.get(s, 0) for s in ("queued", "sending"))
        progress.sent(sum(counts.values()) - pending, sum(counts.values()))
        if pending == 0 or time.monotonic() > deadline:
            return {**counts, "pending": pending}
        await asyncio.sleep(WAIT_POLL_SECONDS)


async def _held(db: Any, campaign_id: int, tz: Any) -> list[dict[str, Any]]:
    """The campaign's held messages by reason, with when they go."""
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.status_reason, sa.func.min(Message.next_attempt_at),
                          sa.func.count())
                .where(Message.campaign_id == campaign_id, Message.status == MessageStatus.HELD)
                .group_by(Message.status_reason)
            )
        ).all()  # fmt: skip
    return [
        {"reason": reason, "release_at": local_iso(release, tz), "count": n,
         "note": release_note(release, tz) or reason}
        for reason, release, n in rows
    ]  # fmt: skip


def messages_dead(
    ctx: typer.Context,
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出死信：重试用尽仍未发出的消息及原因（最新在前）。"""
    messages_list(ctx, status="dead", kind=None, campaign=None, limit=limit, as_json=as_json)


def messages_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, help="queued, sent, failed, dead, ..."),
    kind: str | None = typer.Option(None, help="message kind"),
    campaign: int | None = typer.Option(None, help="campaign id"),
    limit: int = typer.Option(50, min=1, max=10_000),
    as_json: bool = typer.Option(False, "--json", help="print a JSON array"),
) -> None:
    """列出消息（最新在前）。"""
    try:
        wanted_status = MessageStatus.parse(status) if status else None
        wanted_kind = MessageKind.parse(kind) if kind else None
    except ValueError as exc:
        raise UsageError(f"未知的状态或消息类型：{exc}") from exc
    settings = settings_from(ctx)
    rows, resent = run_async(_list(settings, wanted_status, wanted_kind, campaign, limit))
    tz = settings.hub.tz
    items = [
        {
            "id": m.id,
            "campaign_id": m.campaign_id,
            "kind": m.kind.value,
            "channel": m.channel.value,
            "status": m.status.value,
            "reason": m.status_reason,
            "enterprise": name,
            "attempts": m.attempts,
            "body": m.body,
            "created_at": local_iso(m.created_at, tz),
            "sent_at": local_iso(m.sent_at, tz),
        }
        for m, name in rows
    ]
    if as_json:
        print_json(items)
        return
    print_table(
        "消息 messages",
        ["id", "类型", "渠道", "状态", "企业", "尝试", "创建时间", "原因"],
        [
            (
                i["id"],
                i["kind"],
                i["channel"],
                i["status"],
                i["enterprise"],
                i["attempts"],
                i["created_at"],
                i["reason"],
            )
            for i in items
        ],
    )
    # Of every matching message, not only this page: resent with the outcome unknown.
    typer.echo(f"发送结果未知时重发（可能重复）resent while unknown：{resent} 条")


async def _list(
    settings: Settings, status: Any, kind: Any, campaign: int | None, limit: int
) -> tuple[list[tuple[Message, str | None]], int]:
    wanted = MessageFilter(status=status, kind=kind, campaign=campaign, limit=limit)
    async with open_database(settings) as db:
        rows = await list_messages(db, wanted, Visibility.everything())
        resent = await count_resent_while_unknown(db, wanted, Visibility.everything())
    return [(r.message, r.enterprise.name if r.enterprise else None) for r in rows], resent
