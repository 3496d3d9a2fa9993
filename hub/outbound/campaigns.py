"""Campaign control: pause, resume, cancel — every change on record in the audit log.

A campaign is one trigger's worth of messages. Pausing holds what is still queued (what is
being sent finishes); resuming queues it again, or in quiet hours holds it until they end,
with the reason; cancelling skips everything not yet sent, with the reason. Quiet-hours holds
keep their release time and are released only while the campaign is active.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa

from hub.core.clock import Clock
from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import MessageStatus
from hub.infra.queue import Queue
from hub.outbound.quiet_hours import QuietHold, quiet_hold
from hub.store.db import Database
from hub.store.models import AuditLog, Campaign, Message

if TYPE_CHECKING:
    from hub.outbound.planning import PlanningPolicy

CampaignStatus = Literal["active", "paused", "cancelled"]
PAUSED_REASON = "批次已暂停"
CANCELLED_REASON = "批次已取消"


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    id: int
    kind: str
    trigger: str
    trigger_key: str
    audience: str
    status: str
    created_at: datetime
    counts: dict[str, int] = field(default_factory=dict)


async def list_campaigns(db: Database, *, limit: int = 50) -> list[CampaignSummary]:
    """Newest first, with message counts by status."""
    async with db.read() as session:
        campaigns = (
            await session.scalars(sa.select(Campaign).order_by(Campaign.id.desc()).limit(limit))
        ).all()
        ids = [c.id for c in campaigns]
        counts: dict[int, dict[str, int]] = {i: {} for i in ids}
        if ids:
            rows = await session.execute(
                sa.select(Message.campaign_id, Message.status, sa.func.count())
                .where(Message.campaign_id.in_(ids))
                .group_by(Message.campaign_id, Message.status)
            )
            for campaign_id, status, n in rows:
                if campaign_id is not None:
                    counts[campaign_id][status.value] = n
    return [
        CampaignSummary(
            c.id,
            c.kind.value,
            c.trigger,
            c.trigger_key,
            c.audience,
            c.status,
            c.created_at,
            counts[c.id],
        )
        for c in campaigns
    ]


async def _campaign(session: object, campaign_id: int) -> Campaign:
    found = await session.get(Campaign, campaign_id)  # type: ignore[attr-defined]
    if found is None:
        raise NotFoundError(f"没有编号为 {campaign_id} 的批次")
    assert isinstance(found, Campaign)
    return found


def _audit(actor: str, action: str, campaign_id: int, now: datetime, count: int) -> AuditLog:
    return AuditLog(at=now, actor=actor, action=action, target_type="campaign",
                    target_id=str(campaign_id), detail={"messages": count})  # fmt: skip


async def pause_campaign(db: Database, clock: Clock, campaign_id: int, *, actor: str) -> int:
    """Hold every queued message of the campaign; returns how many were held."""
    now = clock.now()
    async with db.write() as session:
        campaign = await _campaign(session, campaign_id)
        if campaign.status != "active":
            raise UsageError(
                f"批次 {campaign_id} 当前状态为 {campaign.status}，只能暂停进行中的批次"
            )
        campaign.status, campaign.updated_at = "paused", now
        held = await session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id, Message.status == MessageStatus.QUEUED)
            .values(status=MessageStatus.HELD, status_reason=PAUSED_REASON,
                    next_attempt_at=None, updated_at=now)
        )  # fmt: skip
        count = _rowcount(held)
        session.add(_audit(actor, "campaign.pause", campaign_id, now, count))
    return count


@dataclass(frozen=True, slots=True)
class Resumed:
    """What resuming did: messages queued now, or held by quiet hours (``hold``) until later."""

    queued: int
    held: int = 0
    hold: QuietHold | None = None


async def resume_campaign(
    db: Database, queue: Queue, clock: Clock, campaign_id: int, *, actor: str,
    policy: PlanningPolicy | None = None,
) -> Resumed:  # fmt: skip
    """Queue again what the pause held. Given the routing ``policy``, a resume in quiet hours
    holds them instead, with the reason and release time, like a new send at that moment."""
    now = clock.now()
    async with db.write() as session:
        campaign = await _campaign(session, campaign_id)
        if campaign.status != "paused":
            raise UsageError(
                f"批次 {campaign_id} 当前状态为 {campaign.status}，只能恢复已暂停的批次"
            )
        campaign.status, campaign.updated_at = "active", now
        hold = None
        if policy is not None:
            window = policy.quiet_hours.window(campaign.kind)
            hold = quiet_hold(now, window, policy.tz, days_off=policy.days_off)
        paused = sa.update(Message).where(
            Message.campaign_id == campaign_id, Message.status == MessageStatus.HELD,
            Message.status_reason == PAUSED_REASON,
        )  # fmt: skip
        if hold is not None:
            held = await session.execute(
                paused.values(status_reason=hold.reason, next_attempt_at=hold.release_at,
                              updated_at=now)
            )  # fmt: skip
            count = _rowcount(held)
            session.add(_audit(actor, "campaign.resume", campaign_id, now, count))
            return Resumed(queued=0, held=count, hold=hold)
        rows = (
            await session.execute(
                paused.values(status=MessageStatus.QUEUED, status_reason=None, updated_at=now)
                .returning(Message.id, Message.channel)
            )
        ).all()  # fmt: skip
        session.add(_audit(actor, "campaign.resume", campaign_id, now, len(rows)))
    await queue.enqueue_by_channel((r.id, r.channel) for r in rows)
    return Resumed(queued=len(rows))


async def cancel_campaign(db: Database, clock: Clock, campaign_id: int, *, actor: str) -> int:
    """Skip everything not yet sent, with the reason; returns how many were stopped."""
    now = clock.now()
    async with db.write() as session:
        campaign = await _campaign(session, campaign_id)
        if campaign.status == "cancelled":
            raise UsageError(f"批次 {campaign_id} 已经取消")
        campaign.status, campaign.updated_at = "cancelled", now
        stopped = await session.execute(
            sa.update(Message)
            .where(Message.campaign_id == campaign_id,
                   Message.status.in_((MessageStatus.QUEUED, MessageStatus.HELD)))
            .values(status=MessageStatus.SKIPPED, status_reason=CANCELLED_REASON,
                    next_attempt_at=None, updated_at=now)
        )  # fmt: skip
        count = _rowcount(stopped)
        session.add(_audit(actor, "campaign.cancel", campaign_id, now, count))
    return count


def _rowcount(result: object) -> int:
    """Rows an UPDATE matched (a CursorResult's rowcount; SQLAlchemy types it loosely)."""
    return int(getattr(result, "rowcount", 0) or 0)
