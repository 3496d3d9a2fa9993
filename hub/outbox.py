"""The outbox: a trigger becomes message rows committed in SQL, then their ids go to Redis.

The row is the truth. Each message has an idempotency key over (trigger, fire time or caller
key, enterprise, contact, kind), inserted with ON CONFLICT DO NOTHING, so firing the same
trigger twice (or from two processes at once) creates nothing new. Only rows inserted by this
call are enqueued; a row committed but never enqueued (crash in between, Redis flushed) is
found by :func:`requeue_stale` and enqueued again — the dispatcher's claim is idempotent, so an
id on the stream twice is still sent once. Held rows (quiet hours) are enqueued by
:func:`release_held` when their window opens.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.campaigns import PAUSED_REASON
from hub.clock import Clock
from hub.planning import (
    PlannedMessage,
    Planner,
    PlanningPolicy,
    SendRequest,
    idempotency_key,
)
from hub.queue import Queue
from hub.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Campaign, Message
from hub.vocab import ChannelName, MessageStatus

__all__ = [
    "Outbox", "PlannedMessage", "SendOutcome", "SendRequest", "idempotency_key",
    "release_held", "requeue_stale",
]  # fmt: skip

INSERT_CHUNK = 500


@dataclass(slots=True)
class SendOutcome:
    """What a send did; ``queued_ids`` are the rows this call created and enqueued."""

    campaign_id: int | None
    recipients: int = 0
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    held: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    queued_ids: list[int] = field(default_factory=list)
    samples: list[PlannedMessage] = field(default_factory=list)


class Outbox:
    """Plans, stores and enqueues the messages of a trigger."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        renderer: TemplateRenderer,
        clock: Clock,
        policy: PlanningPolicy,
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.planner = Planner(db, renderer, policy)

    async def plan(self, request: SendRequest) -> list[PlannedMessage]:
        """Who would get what, now; no writes."""
        return await self.planner.plan(request, self.clock.now())

    async def submit(self, request: SendRequest, *, dry_run: bool = False) -> SendOutcome:
        """Plan, then (unless dry run) commit the campaign and messages and enqueue new ones."""
        now = self.clock.now()
        planned = await self.planner.plan(request, now)
        outcome = SendOutcome(campaign_id=None)
        outcome.recipients = len({p.enterprise_id for p in planned})
        for p in planned:
            if p.status is MessageStatus.SKIPPED:
                outcome.skipped += 1
            else:
                outcome.by_channel[p.channel.value] += 1
                outcome.held += p.status is MessageStatus.HELD
        outcome.samples = [p for p in planned if p.status is not MessageStatus.SKIPPED][:3]
        if dry_run:
            return outcome
        async with self.db.write() as session:
            campaign_id, campaign_status = await self._campaign(session, request, now)
            outcome.campaign_id = campaign_id
            if campaign_status == "cancelled":
                return outcome  # the trigger fired again for a cancelled campaign: nothing
            if campaign_status == "paused":
                planned = [_paused(p) for p in planned]
            inserted: list[tuple[int, MessageStatus, ChannelName]] = []
            for start in range(0, len(planned), INSERT_CHUNK):
                chunk = planned[start : start + INSERT_CHUNK]
                rows = [_row(p, request, campaign_id, now) for p in chunk]
                stmt = _insert_ignore(self.db.dialect, rows).returning(
                    Message.id, Message.status, Message.channel
                )
                inserted.extend(tuple(r) for r in (await session.execute(stmt)).all())
        outcome.created = len(inserted)
        outcome.duplicates = len(planned) - len(inserted)
        queued = [(i, c) for i, status, c in inserted if status == MessageStatus.QUEUED]
        outcome.queued_ids = await _enqueue(self.queue, queued)
        return outcome

    async def _campaign(self, session: Any, request: SendRequest, now: datetime) -> tuple[int, str]:
        """The trigger's campaign (created on first fire) and its status."""
        values = {
            "kind": request.kind, "trigger": request.trigger, "trigger_key": request.trigger_key,
            "audience": request.audience.expression, "channel": request.channel,
            "status": "active", "created_by": request.created_by,
            "created_at": now, "updated_at": now,
        }  # fmt: skip
        await session.execute(_insert_ignore(self.db.dialect, [values], table=Campaign))
        found = (
            await session.execute(
                sa.select(Campaign.id, Campaign.status).where(
                    Campaign.trigger == request.trigger,
                    Campaign.trigger_key == request.trigger_key,
                    Campaign.kind == request.kind,
                )
            )
        ).one()
        return int(found.id), str(found.status)


def _paused(p: PlannedMessage) -> PlannedMessage:
    """Rows added to a paused campaign wait with the rest of it."""
    if p.status is not MessageStatus.QUEUED:
        return p
    return dataclasses.replace(p, status=MessageStatus.HELD, reason=PAUSED_REASON)


def _row(p: PlannedMessage, request: SendRequest, campaign_id: int, now: datetime
         ) -> dict[str, Any]:  # fmt: skip
    return {
        "idempotency_key": p.idempotency_key, "campaign_id": campaign_id,
        "kind": request.kind, "enterprise_id": p.enterprise_id, "contact_id": p.contact_id,
        "channel": p.channel, "address": p.address, "status": p.status,
        "status_reason": p.reason, "body": p.body,
        "params": {"fallbacks": list(p.fallbacks)} if p.fallbacks else {},
        "attempts": 0, "next_attempt_at": p.release_at, "created_at": now, "updated_at": now,
    }  # fmt: skip


def _insert_ignore(dialect: str, rows: list[dict[str, Any]], table: Any = Message) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).values(rows).on_conflict_do_nothing()


async def _enqueue(queue: Queue, items: Sequence[tuple[int, ChannelName]]) -> list[int]:
    by_channel: dict[str, list[int]] = {}
    for message_id, channel in items:
        by_channel.setdefault(channel.value, []).append(message_id)
    enqueued: list[int] = []
    for channel_name, ids in by_channel.items():
        await queue.enqueue(channel_name, ids)
        enqueued.extend(ids)
    return enqueued


async def requeue_stale(db: Database, queue: Queue, clock: Clock, *, older_than: timedelta) -> int:
    """Enqueue again queued rows untouched for a while (Redis lost them, or a crash)."""
    cutoff = clock.now() - older_than
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Message.channel).where(
                    Message.status == MessageStatus.QUEUED,
                    Message.updated_at < cutoff,
                    sa.or_(Message.next_attempt_at.is_(None), Message.next_attempt_at < cutoff),
                )
            )
        ).all()
    return len(await _enqueue(queue, [(r.id, r.channel) for r in rows]))


async def release_held(db: Database, queue: Queue, clock: Clock) -> int:
    """Queue held messages whose quiet window has opened (paused campaigns stay held)."""
    now = clock.now()
    active = sa.select(Campaign.id).where(Campaign.status == "active")
    async with db.write() as session:
        rows = (
            await session.execute(
                sa.update(Message)
                .where(
                    Message.status == MessageStatus.HELD,
                    Message.next_attempt_at.is_not(None),
                    Message.next_attempt_at <= now,
                    sa.or_(Message.campaign_id.is_(None), Message.campaign_id.in_(active)),
                )
                .values(status=MessageStatus.QUEUED, status_reason=None, next_attempt_at=None,
                        updated_at=now)
                .returning(Message.id, Message.channel)
            )
        ).all()  # fmt: skip
    return len(await _enqueue(queue, [(r.id, r.channel) for r in rows]))
