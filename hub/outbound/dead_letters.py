"""An operator's retry of a dead letter: the message queued again, on record in the audit log.

A message is dead when its retries ran out (:mod:`hub.outbound.send_failures`) or its outcome
stayed unknown (:mod:`hub.outbound.unknown_sends`); the dispatcher keeps the reason on the row
and a dead-letter entry in Redis (:meth:`hub.infra.queue.Queue.dead_letter`). Retrying starts
its attempts again: the row goes back to ``queued`` and onto its channel's stream, and its dead
letter is forgotten. Like a resumed campaign, a retry in quiet hours is held until they end,
a message of a paused campaign waits for its resume, and one of a cancelled campaign is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.core.clock import Clock
from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import MessageStatus
from hub.infra.queue import Queue
from hub.outbound.campaigns import PAUSED_REASON, reopen_campaign
from hub.outbound.quiet_hours import QuietHold, quiet_hold
from hub.store.db import Database
from hub.store.models import AuditLog, Campaign, Message

if TYPE_CHECKING:
    from hub.outbound.planning import PlanningPolicy


@dataclass(frozen=True, slots=True)
class Retried:
    """What a retry did: ``queued`` now, or ``held`` (quiet hours, or a paused campaign)."""

    message_id: int
    status: MessageStatus
    reason: str | None = None
    hold: QuietHold | None = None


async def retry_dead_letter(
    db: Database, queue: Queue, clock: Clock, message_id: int, *, actor: str,
    policy: PlanningPolicy | None = None,
) -> Retried:  # fmt: skip
    """Send a dead message again from its first attempt. Given the routing ``policy``, a retry
    in quiet hours is held until they end, like a new send at that moment."""
    now = clock.now()
    async with db.write() as session:
        message = await session.get(Message, message_id)
        if message is None:
            raise NotFoundError(f"没有编号为 {message_id} 的消息")
        if message.status is not MessageStatus.DEAD:
            raise UsageError(f"消息 {message_id} 当前状态为 {message.status.label}，只能重试死信")
        campaign = await session.get(Campaign, message.campaign_id) if message.campaign_id else None
        if campaign is not None and campaign.status == "cancelled":
            raise UsageError(f"消息 {message_id} 所属批次 {campaign.id} 已取消，不能重试")
        hold = None
        if policy is not None:
            window = policy.quiet_hours.window(message.kind)
            hold = quiet_hold(now, window, policy.tz, days_off=policy.days_off)
        dead_reason = message.status_reason
        message.attempts, message.updated_at = 0, now
        if campaign is not None and campaign.status == "paused":
            hold = None  # it waits for the campaign's resume, which applies quiet hours then
            message.status, message.status_reason = MessageStatus.HELD, PAUSED_REASON
            message.next_attempt_at = None
        elif hold is not None:
            message.status, message.status_reason = MessageStatus.HELD, hold.reason
            message.next_attempt_at = hold.release_at
        else:
            message.status, message.status_reason = MessageStatus.QUEUED, None
            message.next_attempt_at = None
        if campaign is not None:
            await reopen_campaign(session, campaign.id, now)  # done: it has a send ahead again
        status, reason, channel = message.status, message.status_reason, message.channel
        detail = {"dead_reason": dead_reason, "status": status.value}
        session.add(AuditLog(at=now, actor=actor, action="message.retry", target_type="message",
                             target_id=str(message_id), detail=detail))  # fmt: skip
    # After the commit: a crash in between leaves the row queued, which the reconciler enqueues.
    if status is MessageStatus.QUEUED:
        await queue.enqueue_by_channel([(message_id, channel.value)])
    await queue.forget_dead(channel.value, [message_id])
    return Retried(message_id, status, reason, hold)
