"""The outbox: a trigger becomes message rows committed in SQL, then their ids go to Redis.

The row is the truth. Each message has an idempotency key over (trigger, fire time or caller
key, enterprise, contact, kind), inserted with ON CONFLICT DO NOTHING, so firing the same
trigger twice (or from two processes at once) creates nothing new. Only rows inserted by this
call are enqueued; a row committed but never enqueued (crash in between, Redis flushed) is
found by :func:`requeue_stale` and enqueued again — the dispatcher's claim is idempotent, so an
id on the stream twice is still sent once. Held rows (quiet hours) are enqueued by
:func:`release_held` when their window opens.

A send streams: the plan comes a chunk of enterprises at a time, and each chunk is committed
in its own short transaction and enqueued at once, so workers start sending while the rest is
planned and SQLite's write lock is never held for long. The first chunk is planned before the
campaign is written, so a template that cannot render writes nothing; should a later chunk
fail (a record the template cannot render, the database gone), what was committed stays
committed and is sent, and firing the trigger again creates only the rest (idempotency keys).
The campaign's status is read again with every chunk: a pause or cancel during a long send
holds or skips (with the reason) the rows still to come. Planning is faster than sending: with
``max_backlog`` (config ``dispatch.max_backlog``) a send waits after a chunk while a channel it
enqueued on holds more than that many entries (:meth:`Outbox.hold_back`), so a campaign of a
million waits in SQL, not in Redis's memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import sqlalchemy as sa
import structlog

from hub.core.clock import Clock
from hub.core.vocab import ChannelName, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.campaigns import CANCELLED_REASON, PAUSED_REASON, reopen_campaign
from hub.outbound.planning import (
    PLAN_CHUNK,
    PlannedMessage,
    Planner,
    PlanningPolicy,
    SendRequest,
    idempotency_key,
)
from hub.rendering.render import TemplateRenderer
from hub.rendering.template_store import load_catalog
from hub.store.db import Database
from hub.store.dialect import insert_ignore
from hub.store.models import Campaign, Message
from hub.store.templates import catalog_stamp

__all__ = [
    "Outbox", "PlannedMessage", "ProgressHook", "SendOutcome", "SendRequest", "campaign_values",
    "idempotency_key", "release_held", "requeue_lost", "requeue_stale", "stored_rows",
]  # fmt: skip

log = structlog.get_logger(__name__)

_MESSAGE = cast(sa.Table, Message.__table__)
_Row = TypeVar("_Row", bound=sa.Row[*tuple[Any, ...]])
# Awaited after each chunk is committed and enqueued: the ids it queued, and when it committed.
ChunkHook = Callable[[Sequence[int], datetime], Awaitable[object]]
# Called after each chunk is planned and stored (or planned, in a dry run): messages planned so
# far, and how many the whole plan has (None when unknown) — a progress bar's two numbers.
ProgressHook = Callable[[int, int | None], object]
#: How often a held-back send looks at the stream's length again, in seconds.
BACKLOG_POLL_S = 0.05


@dataclass(slots=True)
class SendOutcome:
    """What a send did, counted (no list of ids: a campaign of a million messages would hold
    ~38 MB of them; ``on_chunk`` sees each chunk's ids as they are enqueued)."""

    campaign_id: int | None
    recipients: int = 0
    created: int = 0
    #: Messages this call created and enqueued.
    queued: int = 0
    duplicates: int = 0
    skipped: int = 0
    held: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    samples: list[PlannedMessage] = field(default_factory=list)
    #: Why the plan did not queue a message: (status, reason) → count (skipped and held).
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: Time spent planning (routing and rendering), storing, and enqueueing, in seconds.
    seconds: dict[str, float] = field(
        default_factory=lambda: {"plan": 0.0, "store": 0.0, "enqueue": 0.0}
    )

    def count(self, planned: Sequence[PlannedMessage]) -> None:
        """Add a chunk of the plan to the counts (and the first few to the samples)."""
        for p in planned:
            if p.status is not MessageStatus.QUEUED:
                self.reasons[(p.status.value, p.reason or "")] += 1
            if p.status is MessageStatus.SKIPPED:
                self.skipped += 1
            else:
                self.by_channel[p.channel.value] += 1
                self.held += p.status is MessageStatus.HELD
                if len(self.samples) < 3:
                    self.samples.append(p)


class Outbox:
    """Plans, stores and enqueues the messages of a trigger."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        renderer: TemplateRenderer,
        clock: Clock,
        policy: PlanningPolicy,
        *,
        chunk_size: int = PLAN_CHUNK,
        live_templates: bool = False,
        max_backlog: int = 0,
        backlog_stall_s: float = 30.0,
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.planner = Planner(db, renderer, policy)
        #: Enterprises per chunk: each chunk is one read, one write transaction, one enqueue.
        self.chunk_size = chunk_size
        #: Render from the database's templates, re-read when an admin changed one.
        self.live_templates = live_templates
        #: Entries on a channel's stream beyond which a send waits before its next chunk (0:
        #: no bound); a stream that has not shrunk for ``backlog_stall_s`` (no worker reads
        #: it) stops the wait, and the send goes on as without a bound.
        self.max_backlog = max_backlog
        self.backlog_stall_s = backlog_stall_s
        self._stamp: tuple[int, int, Any] | None = None

    async def refresh_templates(self) -> None:
        """Pick up template versions edited since the last trigger (no restart needed)."""
        if not self.live_templates:
            return
        stamp = await catalog_stamp(self.db)
        if stamp != self._stamp:
            self.planner.renderer.use(await load_catalog(self.db))
            self._stamp = stamp

    async def plan(self, request: SendRequest) -> list[PlannedMessage]:
        """Who would get what, now; no writes."""
        await self.refresh_templates()
        return await self.planner.plan(request, self.clock.now())

    async def submit(
        self, request: SendRequest, *, dry_run: bool = False, on_chunk: ChunkHook | None = None,
        progress: ProgressHook | None = None,
    ) -> SendOutcome:  # fmt: skip
        """Plan, then (unless dry run) commit the campaign and messages and enqueue new ones.

        ``on_chunk(ids, committed_at)`` is awaited after each chunk is committed and enqueued
        (pacing, latency measurement). ``progress(planned, total)`` is called after each chunk
        is stored (planned, in a dry run) with the messages planned so far and the plan's size
        (counted with one read before planning, only when ``progress`` is given).
        """
        await self.refresh_templates()
        now = self.clock.now()
        outcome = SendOutcome(campaign_id=None)
        total = await self.planner.count(request) if progress is not None else None
        chunks = self._timed_chunks(request, now, outcome)
        planned = 0
        try:
            # The first chunk is planned before anything is written: a template that does
            # not render, or an audience that matches nobody (no chunk), leaves no campaign.
            first = await anext(chunks, None)
            campaign_id: int | None = None
            if not dry_run and first:
                async with self.db.write() as session:
                    found, status = await self._campaign(session, request, now)
                outcome.campaign_id = found
                # The trigger fired again for a cancelled campaign: count, write nothing.
                campaign_id = found if status != "cancelled" else None
            async for chunk in _chained([first] if first else [], chunks):
                outcome.count(chunk)
                # Chunks are disjoint ranges of enterprise ids: a running count, not a set of
                # every recipient (a million-enterprise campaign would hold ~60 MB of it).
                outcome.recipients += len({p.enterprise_id for p in chunk})
                if campaign_id is not None:
                    ids, committed_at = await self._store_chunk(
                        request, campaign_id, chunk, now, outcome
                    )
                    if on_chunk is not None:
                        await on_chunk(ids, committed_at)
                planned += len(chunk)
                if progress is not None:
                    progress(planned, total)
        finally:
            await chunks.aclose()
        return outcome

    async def _timed_chunks(
        self, request: SendRequest, now: datetime, outcome: SendOutcome
    ) -> AsyncGenerator[list[PlannedMessage], None]:
        """The planner's chunks, with the time spent producing them added to the outcome."""
        plan = self.planner.plan_chunks(request, now, size=self.chunk_size)
        try:
            while True:
                began = time.perf_counter()
                chunk = await anext(plan, None)
                outcome.seconds["plan"] += time.perf_counter() - began
                if chunk is None:
                    return
                yield chunk
        finally:
            await plan.aclose()

    async def _store_chunk(
        self, request: SendRequest, campaign_id: int, planned: list[PlannedMessage],
        now: datetime, outcome: SendOutcome,
    ) -> tuple[list[int], datetime]:  # fmt: skip
        """Insert one chunk (new rows only) in one transaction, then enqueue what it queued."""
        began = time.perf_counter()
        async with self.db.write() as session:
            # Read again per chunk: a pause or cancel during a long send applies to the rest.
            status = await session.scalar(
                sa.select(Campaign.status).where(Campaign.id == campaign_id)
            )
            rows = stored_rows(planned, request, campaign_id, str(status), now)
            inserted: list[tuple[int, MessageStatus, ChannelName]] = []
            if rows:
                stmt = insert_ignore(self.db, _MESSAGE).returning(
                    _MESSAGE.c.id, _MESSAGE.c.status, _MESSAGE.c.channel
                )
                inserted = [tuple(r) for r in (await session.execute(stmt, rows)).all()]
            if status == "done" and any(not state.is_final for _id, state, _channel in inserted):
                # Finished with the chunks before this one (or an earlier fire): more to send.
                await reopen_campaign(session, campaign_id, now)
        committed_at = self.clock.now()
        stored = time.perf_counter()
        outcome.seconds["store"] += stored - began
        outcome.created += len(inserted)
        outcome.duplicates += len(planned) - len(inserted)
        queued = [(i, c) for i, s, c in inserted if s == MessageStatus.QUEUED]
        ids = await self.queue.enqueue_by_channel(queued)
        outcome.queued += len(ids)
        outcome.seconds["enqueue"] += time.perf_counter() - stored
        await self.hold_back({str(c) for _i, c in queued})
        return ids, committed_at

    async def hold_back(self, channels: Iterable[str]) -> None:
        """Wait until each of ``channels`` holds at most ``max_backlog`` entries on its stream
        (read, unacknowledged ones included), or has not shrunk for ``backlog_stall_s``."""
        if not self.max_backlog:
            return
        for channel in channels:
            lowest, since = await self.queue.waiting(channel), time.monotonic()
            while lowest > self.max_backlog:
                await asyncio.sleep(BACKLOG_POLL_S)  # the length lives in Redis: polled
                length = await self.queue.waiting(channel)
                if length < lowest:
                    lowest, since = length, time.monotonic()
                elif time.monotonic() - since >= self.backlog_stall_s:
                    log.warning("send goes on: nothing reads the stream", channel=channel,
                                waiting=length, max_backlog=self.max_backlog)  # fmt: skip
                    return

    async def _campaign(self, session: Any, request: SendRequest, now: datetime) -> tuple[int, str]:
        """The trigger's campaign (created on first fire) and its status."""
        values = campaign_values(request, now)
        await session.execute(insert_ignore(self.db, Campaign, [values]))
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


def stored_rows(
    planned: Sequence[PlannedMessage], request: SendRequest, campaign_id: int, status: str,
    now: datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """The message rows of planned messages under a campaign of ``status``: a paused
    campaign's wait with the rest of it, a cancelled one's are recorded as skipped."""
    if status == "paused":
        planned = [_paused(p) for p in planned]
    elif status == "cancelled":
        planned = [_cancelled(p) for p in planned]
    return [_row(p, request, campaign_id, now) for p in planned]


def campaign_values(request: SendRequest, now: datetime) -> dict[str, Any]:
    """The campaign row a request's first send creates."""
    return {
        "kind": request.kind, "trigger": request.trigger, "trigger_key": request.trigger_key,
        "audience": request.audience.expression, "channel": request.channel,
        "status": "active", "created_by": request.created_by,
        "created_at": now, "updated_at": now,
    }  # fmt: skip


def _paused(p: PlannedMessage) -> PlannedMessage:
    """Rows added to a paused campaign wait with the rest of it."""
    if p.status is not MessageStatus.QUEUED:
        return p
    return dataclasses.replace(p, status=MessageStatus.HELD, reason=PAUSED_REASON)


def _cancelled(p: PlannedMessage) -> PlannedMessage:
    """Rows still to come when the campaign was cancelled mid-send: recorded, not sent."""
    if p.status not in (MessageStatus.QUEUED, MessageStatus.HELD):
        return p
    return dataclasses.replace(p, status=MessageStatus.SKIPPED, reason=CANCELLED_REASON,
                               release_at=None)  # fmt: skip


def _row(p: PlannedMessage, request: SendRequest, campaign_id: int, now: datetime
         ) -> dict[str, Any]:  # fmt: skip
    return {
        "idempotency_key": p.idempotency_key, "campaign_id": campaign_id,
        "kind": request.kind, "enterprise_id": p.enterprise_id, "contact_id": p.contact_id,
        "channel": p.channel, "address": p.address, "status": p.status,
        "status_reason": p.reason, "body": p.body,
        "params": {**p.params, "fallbacks": list(p.fallbacks)} if p.fallbacks
                  else dict(p.params),
        "template_version_id": p.template_version_id, "attempts": 0,
        "next_attempt_at": p.release_at, "created_at": now, "updated_at": now,
    }  # fmt: skip


async def _chained(
    first: list[list[PlannedMessage]], rest: AsyncIterator[list[PlannedMessage]]
) -> AsyncIterator[list[PlannedMessage]]:
    for chunk in first:
        yield chunk
    async for chunk in rest:
        yield chunk


async def requeue_stale(db: Database, queue: Queue, clock: Clock, *, older_than: timedelta) -> int:
    """Enqueue again rows Redis does not hold: queued ones untouched for a while (Redis lost
    them, or a crash between commit and enqueue), and ones left ``sending`` for twice as long
    (the worker died mid-send and Redis lost its pending entry too). The dispatcher never
    sends a ``sending`` row again blind: a live owner's is left to it, a dead owner's is
    resolved by the provider's status query (:mod:`hub.outbound.unknown_sends`). Rows still on the
    stream or in the retry set — a backlog waiting for the provider's rate — are left
    alone."""
    cutoff = clock.now() - older_than
    abandoned = clock.now() - 2 * older_than
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Message.channel).where(
                    sa.or_(
                        sa.and_(
                            Message.status == MessageStatus.QUEUED,
                            Message.updated_at < cutoff,
                            sa.or_(
                                Message.next_attempt_at.is_(None),
                                Message.next_attempt_at < cutoff,
                            ),
                        ),
                        sa.and_(
                            Message.status == MessageStatus.SENDING,
                            Message.updated_at < abandoned,
                        ),
                    )
                )
            )
        ).all()
    lost = await _not_waiting(queue, rows)
    return len(await queue.enqueue_by_channel((r.id, r.channel) for r in lost))


async def requeue_lost(db: Database, queue: Queue, clock: Clock) -> int:
    """After Redis lost the hub's data (a FLUSHALL, a restart without persistence): every
    queued row back on its stream, or in its retry set while its retry is not due, and every
    ``sending`` row on its stream too (the dispatcher sends none of those again blind: it
    resolves the ones whose worker died). Unlike :func:`requeue_stale` nothing waits to look
    stale: Redis is known to hold nothing. Ids Redis still holds are left alone."""
    now = clock.now()
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Message.channel, Message.status, Message.next_attempt_at)
                .where(Message.status.in_([MessageStatus.QUEUED, MessageStatus.SENDING]))
                .order_by(Message.id)
            )
        ).all()
    lost = await _not_waiting(queue, rows)
    due: list[tuple[int, ChannelName]] = []
    for r in lost:
        retry_at = r.next_attempt_at if r.status == MessageStatus.QUEUED else None
        if retry_at is not None and retry_at > now:  # its retry is not due: back in the set
            await queue.schedule_retry(r.channel.value, r.id, retry_at.timestamp())
        else:
            due.append((r.id, r.channel))
    await queue.enqueue_by_channel(due)
    return len(lost)


async def _not_waiting(queue: Queue, rows: Sequence[_Row]) -> list[_Row]:
    """The rows (with ``id`` and ``channel``) Redis holds neither on their channel's stream
    nor in its retry set, channel by channel."""
    lost: list[_Row] = []
    for channel in {r.channel for r in rows}:
        waiting = await queue.waiting_ids(channel.value)
        lost.extend(r for r in rows if r.channel == channel and r.id not in waiting)
    return lost


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
    return len(await queue.enqueue_by_channel((r.id, r.channel) for r in rows))
