"""Campaigns and messages (消息与任务): ``/admin/campaigns``.

The campaigns, newest first, with their messages counted by status and a progress bar (what
is final of all), refreshed every few seconds by htmx (a reload without JavaScript); pause,
resume and cancel, through the same functions as ``hub campaigns pause|resume|cancel``
(:mod:`hub.outbound.campaigns`, which audit-log each change under the staff member's name;
a resume in quiet hours holds the messages until they end, as the CLI's does). Below: the held
messages with why and when they go, and the dead letters with their reasons and a retry
(:func:`hub.outbound.dead_letters.retry_dead_letter`, audit-logged too).

Admins and dispatchers, the staff who run the message flow; the message lists are scoped by
the reader's :class:`~hub.queries.scope.Visibility`, as ``GET /api/v1/messages`` is.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from hub.core.errors import HubError
from hub.core.vocab import MessageKind, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.campaigns import (
    PAUSED_REASON,
    CampaignSummary,
    cancel_campaign,
    list_campaigns,
    pause_campaign,
    resume_campaign,
)
from hub.outbound.dead_letters import retry_dead_letter
from hub.queries.messages import MessageFilter, MessageRow, list_messages
from hub.scheduling.schedules import program_label
from hub.tickets.staff import StaffRole
from hub.web.admin.actors import HUB_ACTORS
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    AdminPageError,
    SignedIn,
    admin_context,
    flash,
    require_role,
)
from hub.web.admin.context import AdminContext
from hub.web.admin.shell import ENV, PAGE_HEADERS, render

if TYPE_CHECKING:
    from hub.outbound.planning import PlanningPolicy

CAMPAIGNS_PATH = f"{ADMIN_PREFIX}/campaigns"
SHOWN = 50
STATUS_LABELS = {"active": "进行中", "paused": "已暂停", "cancelled": "已取消", "done": "已完成"}
# The forms a campaign in each status shows (action path, button).
_ACTIONS = {"active": [("pause", "暂停"), ("cancel", "取消")],
            "paused": [("resume", "恢复"), ("cancel", "取消")]}  # fmt: skip
_CAMPAIGN_ACTIONS = frozenset({"pause", "resume", "cancel"})
_allowed = require_role(StaffRole.ADMIN, StaffRole.DISPATCHER)


@dataclass(frozen=True, slots=True)
class CampaignLine:
    """A campaign as the table shows it, with the actions its status allows."""

    summary: CampaignSummary
    status_label: str
    kind_label: str
    trigger_label: str
    created_at: str
    counts: list[tuple[str, int]]
    done: int
    total: int
    actions: list[tuple[str, str]]


def trigger_label(trigger: str) -> str:
    """Who started a campaign, as the page names it: ``schedule:weekly`` -> ``定时计划 weekly``,
    ``program:policy_match`` -> ``程序：政策匹配推送``, the hub's own (``cli``) as
    :data:`~hub.web.admin.actors.HUB_ACTORS` names them, anything else as written."""
    source, _, name = trigger.partition(":")
    if source == "schedule" and name:
        return f"定时计划 {name}"
    if source == "program" and name:
        return f"程序：{program_label(name)}"
    return HUB_ACTORS.get(trigger, trigger)


def _campaign_line(summary: CampaignSummary, ctx: AdminContext) -> CampaignLine:
    counts = [(MessageStatus(s).label, n) for s, n in sorted(summary.counts.items())]
    # The progress bar: messages that have met their fate (sent, delivered, failed, skipped,
    # dead) of all. The campaign's status is the database's (done: hub.outbound.campaigns).
    done = sum(n for s, n in summary.counts.items() if MessageStatus(s).is_final)
    total = sum(summary.counts.values())
    status = summary.status
    return CampaignLine(
        summary, STATUS_LABELS.get(status, status),
        MessageKind(summary.kind).label, trigger_label(summary.trigger),
        f"{summary.created_at.astimezone(ctx.tz):%m-%d %H:%M}",
        counts, done, total, _ACTIONS.get(status, []),
    )  # fmt: skip


def _message_line(row: MessageRow, ctx: AdminContext) -> dict[str, Any]:
    message = row.message
    if message.status is MessageStatus.HELD:
        release = message.next_attempt_at
        when = f"{release.astimezone(ctx.tz):%m-%d %H:%M}" if release else ""
        if not when:
            when = "批次恢复后发送" if message.status_reason == PAUSED_REASON else "待定"
    else:
        when = f"{message.updated_at.astimezone(ctx.tz):%m-%d %H:%M}"
    return {
        "id": message.id, "campaign_id": message.campaign_id or "",
        "enterprise": row.enterprise.name if row.enterprise else "",
        "kind": message.kind.label, "channel": message.channel.label,
        "attempts": message.attempts, "reason": message.status_reason or "", "when": when,
    }  # fmt: skip


async def _live(request: Request, signed_in: SignedIn) -> dict[str, Any]:
    """The page's live part: the campaigns, the held messages, the dead letters."""
    ctx = admin_context(request)
    scope = signed_in.visibility
    held = await list_messages(ctx.db, MessageFilter(status=MessageStatus.HELD, limit=SHOWN), scope)
    dead = await list_messages(ctx.db, MessageFilter(status=MessageStatus.DEAD, limit=SHOWN), scope)
    return {
        "campaigns": [_campaign_line(c, ctx) for c in await list_campaigns(ctx.db, limit=SHOWN)],
        "held": [_message_line(r, ctx) for r in held],
        "dead": [_message_line(r, ctx) for r in dead],
        "shown": SHOWN,
    }


def _queue(ctx: AdminContext) -> Queue:
    return Queue(ctx.redis, ctx.keys, clock=ctx.clock)


def _policy(ctx: AdminContext) -> PlanningPolicy | None:
    """The routing policy a resume or retry in quiet hours holds by (None: the app has none)."""
    return ctx.programs.outbox.planner.policy if ctx.programs else None


async def _change_campaign(ctx: AdminContext, action: str, campaign_id: int, actor: str) -> str:
    """Pause, resume or cancel the campaign; what it did, as the flash says it."""
    if action == "pause":
        held = await pause_campaign(ctx.db, ctx.clock, campaign_id, actor=actor)
        return f"批次 {campaign_id} 已暂停，暂缓 {held} 条消息"
    if action == "resume":
        resumed = await resume_campaign(ctx.db, _queue(ctx), ctx.clock, campaign_id, actor=actor,
                                        policy=_policy(ctx))  # fmt: skip
        if resumed.hold is not None:
            return f"批次 {campaign_id} 已恢复，{resumed.held} 条消息暂缓：{resumed.hold.reason}"
        return f"批次 {campaign_id} 已恢复，重新排队 {resumed.queued} 条消息"
    stopped = await cancel_campaign(ctx.db, ctx.clock, campaign_id, actor=actor)
    return f"批次 {campaign_id} 已取消，停止 {stopped} 条消息"


async def _retry(ctx: AdminContext, message_id: int, actor: str) -> str:
    retried = await retry_dead_letter(ctx.db, _queue(ctx), ctx.clock, message_id, actor=actor,
                                      policy=_policy(ctx))  # fmt: skip
    if retried.status is MessageStatus.QUEUED:
        return f"消息 {message_id} 已重新排队发送"
    return f"消息 {message_id} 已重新排队，暂缓：{retried.reason}"


async def _act(request: Request, action: Awaitable[str]) -> RedirectResponse:
    """Run a change, flash what it did (or why it was refused), back to the page."""
    try:
        await flash(request, await action)
    except HubError as exc:
        await flash(request, str(exc), "error")
    return RedirectResponse(CAMPAIGNS_PATH, status_code=303)


def router() -> APIRouter:
    """The page, its live fragment, the campaign actions and the retry (POSTs, CSRF-checked by
    the mount)."""
    routes = APIRouter()

    @routes.get(CAMPAIGNS_PATH)
    async def campaigns_page(
        request: Request,
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> HTMLResponse:
        return await render(request, "campaigns.html", title="消息与任务",
                            **await _live(request, signed_in))  # fmt: skip

    @routes.get(CAMPAIGNS_PATH + "/live")
    async def campaigns_live(
        request: Request,
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> HTMLResponse:
        # Without the layout and without taking the session's flash messages: htmx swaps it
        # into the page every few seconds.
        html = ENV.get_template("campaigns_live.html").render(
            csrf_token=signed_in.csrf_token, **await _live(request, signed_in)
        )
        return HTMLResponse(html, headers=PAGE_HEADERS)

    @routes.post(CAMPAIGNS_PATH + "/{campaign_id}/{action}")
    async def change(
        request: Request,
        campaign_id: int,
        action: str,
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> RedirectResponse:
        if action not in _CAMPAIGN_ACTIONS:
            raise AdminPageError(404, "没有这个批次操作")
        ctx = admin_context(request)
        return await _act(request, _change_campaign(ctx, action, campaign_id, signed_in.username))

    @routes.post(CAMPAIGNS_PATH + "/messages/{message_id}/retry")
    async def retry(
        request: Request,
        message_id: int,
        signed_in: SignedIn = Depends(_allowed),  # noqa: B008
    ) -> RedirectResponse:
        ctx = admin_context(request)
        return await _act(request, _retry(ctx, message_id, signed_in.username))

    return routes
