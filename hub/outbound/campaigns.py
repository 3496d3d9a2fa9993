"""Campaign control: pause, resume, cancel — every change on record in the audit log.

A campaign is one trigger's worth of messages. Pausing holds what is still queued (what is
being sent finishes); resuming queues it again, or in quiet hours holds it until they end,
with the reason; cancelling skips everything not yet sent, with the reason. Quiet-hours holds
keep their release time and are released only while the campaign is active.

An active campaign is ``done`` once its every message has reached a final status (sent,
delivered, failed, skipped, dead): :func:`finish_campaigns`, called by the dispatcher in the
transaction that records a group's answers and by the reconciler's sweep (a campaign whose
last message was skipped when planned, or resolved by a status query). A done campaign that
gets a message to send again (a later chunk of a long send, a dead letter retried) is active
again (:func:`reopen_campaign`); a cancelled one stays cancelled.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock
from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import MessageStatus
from hub.infra.queue import Queue
from hub.outbound.id_lists import id_params, in_ids
from hub.outbound.quiet_hours import QuietHold, quiet_hold
from hub.store.db import Database
from hub.store.models import AuditLog, Campaign, Message

if TYPE_CHECKING:
    from hub.outbound.planning import PlanningPolicy

CampaignStatus = Literal["active", "paused", "cancelled", "done"]
# A message in one of these still has a send ahead of it (MessageStatus.is_final: the others).
_UNFINISHED = tuple(s for s in MessageStatus if not s.is_final)
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


# Core statements on the tables: the dispatcher finishes campaigns with every group it
# records, and an ORM-enabled UPDATE computed its cache key and ORM state at each execution.
_CAMPAIGN = cast(sa.Table, Campaign.__table__)
_MESSAGE = cast(sa.Table, Message.__table__)


def _finish(stmt: sa.Update) -> sa.Update:
    """``done`` for the active campaigns ``stmt`` selects none of whose messages is unfinished."""
    unfinished = sa.exists().where(
        _MESSAGE.c.campaign_id == _CAMPAIGN.c.id, _MESSAGE.c.status.in_(_UNFINISHED)
    )
    return (
        stmt.where(_CAMPAIGN.c.status == "active", ~unfinished)
        .values(status="done", updated_at=sa.bindparam("b_now"))
        .returning(_CAMPAIGN.c.id)
    )


_FINISH_ALL = _finish(sa.update(_CAMPAIGN))


@functools.lru_cache(maxsize=256)
def _finish_of_group(count: int) -> sa.Update:
    """:func:`_finish` for the campaigns of ``count`` messages, built once per length: the
    dispatcher runs it with every group it records (:mod:`hub.outbound.id_lists`)."""
    of_group = sa.select(_MESSAGE.c.campaign_id).where(in_ids(_MESSAGE.c.id, count))
    return _finish(sa.update(_CAMPAIGN).where(_CAMPAIGN.c.id.in_(of_group)))


async def finish_campaigns(
    session: AsyncSession, now: datetime, *, message_ids: Sequence[int] | None = None
) -> list[int]:
    """Mark ``done`` each active campaign none of whose messages is still to be sent: the
    campaigns of ``message_ids`` (a group the dispatcher just recorded), or every active one
    (the reconciler's sweep). Returns their ids. A few index lookups per campaign
    (``ix_message_campaign_status``), in the caller's transaction."""
    if message_ids is None:
        done = await session.execute(_FINISH_ALL, {"b_now": now})
    elif not message_ids:
        return []
    else:
        bound = id_params(message_ids)
        bound["b_now"] = now
        done = await session.execute(_finish_of_group(len(message_ids)), bound)
    return sorted(int(i) for i in done.scalars())


async def reopen_campaign(session: AsyncSession, campaign_id: int, now: datetime) -> None:
    """A done campaign with a message to send again is active again (paused and cancelled
    ones keep their status)."""
    await session.execute(
        sa.update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == "done")
        .values(status="active", updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _rowcount(result: object) -> int:
    """Rows an UPDATE matched (a CursorResult's rowcount; SQLAlchemy types it loosely)."""
    return int(getattr(result, "rowcount", 0) or 0)
