"""The inbound worker: claim stored replies from the inbound stream, classify, apply, ack.

Each reply is handled in ONE write transaction: the row is read (``FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises writers), skipped when
``classified_at`` is set, classified (:mod:`hub.classify`, with what the contact was asked:
tickets awaiting a rating, a visit awaiting an answer) and applied (:mod:`hub.reply_apply`:
rating, opt-out, visit, ticket, answers), and the classification, its detail and the ticket
are stored on the reply — all committed together. So a crash before the commit applies
nothing, a crash after it (before the ack) finds ``classified_at`` set on the redelivery and
applies nothing twice. The answers' Message rows are enqueued after the commit (a lost
enqueue is picked up by the outbox reconciler), and the stream entries acked last.

Entries a crashed worker claimed and never acked are taken over with
:meth:`hub.queue.Queue.reclaim_stale_inbound` once idle for ``reclaim_idle_ms``.

A reply that fails to apply for a reason other than the database or Redis (a bug, a refused
transition) is recorded as classified with the error in its detail, so it is neither lost nor
retried forever; a person sees it in ``hub replies list``. Storage and queue errors leave the
entry pending: another pass retries it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import structlog

from hub.classify import Classification
from hub.clock import Clock
from hub.errors import QueueError, StorageError
from hub.notify import NotifyResult, enqueue_notified
from hub.queue import InboundEntry, Queue
from hub.reply_answers import Answerer
from hub.reply_apply import ReplyApplier, classification_detail
from hub.store.db import Database
from hub.store.models import Contact
from hub.store.models import InboundReply as StoredReply
from hub.vocab import ReplyClass

if TYPE_CHECKING:
    from hub.runtime import Components

log = structlog.get_logger(__name__)

DEFAULT_BATCH: Final = 100
DEFAULT_RECLAIM_IDLE_MS: Final = 60_000


@dataclass(frozen=True, slots=True)
class Processed:
    """What handling one reply did: ``outcome`` applied | already | missing | failed."""

    reply_id: int
    outcome: str
    cls: ReplyClass | None = None
    ticket_id: int | None = None
    notified: tuple[NotifyResult, ...] = field(default=())


class InboundWorker:
    """Classifies and applies stored replies until ``stop`` is set (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        clock: Clock,
        applier: ReplyApplier,
        *,
        consumer: str,
        batch_size: int = DEFAULT_BATCH,
        block_ms: int = 500,
        reclaim_idle_ms: int = DEFAULT_RECLAIM_IDLE_MS,
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.applier = applier
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms

    @classmethod
    def from_components(cls, hub: Components, *, consumer: str) -> InboundWorker:
        """The worker a long-running role runs: the deployment's templates and policies."""
        answerer = Answerer(hub.renderer, hub.outbox.planner.policy)
        dispatch = hub.settings.dispatch
        return cls(
            hub.db, hub.queue, hub.clock, ReplyApplier(hub.settings, answerer),
            consumer=consumer, block_ms=dispatch.block_ms,
            reclaim_idle_ms=int(dispatch.reclaim_idle_seconds * 1000),
        )  # fmt: skip

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and handle batches; the batch in hand is finished before returning."""
        last_reclaim = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_reclaim >= self.reclaim_idle_ms / 2000:
                    last_reclaim = time.monotonic()
                    await self.reclaim_once()
                await self.run_once(block_ms=self.block_ms)
            except (StorageError, QueueError) as exc:
                log.warning("inbound worker pass failed, retrying", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def run_once(self, *, block_ms: int | None = None) -> list[Processed]:
        """Claim up to one batch of new entries (waiting ``block_ms``) and handle it."""
        entries = await self.queue.claim_inbound(self.consumer, self.batch_size, block_ms)
        return await self.handle(entries)

    async def reclaim_once(self) -> list[Processed]:
        """Take over and handle entries other consumers left idle too long (a crash)."""
        entries = await self.queue.reclaim_stale_inbound(
            self.consumer, self.reclaim_idle_ms, self.batch_size
        )
        if entries:
            log.warning("reclaimed stale inbound entries", count=len(entries))
        return await self.handle(entries)

    async def handle(self, entries: Sequence[InboundEntry]) -> list[Processed]:
        """Process each entry's reply, enqueue the answers, then ack the entries handled."""
        done: list[Processed] = []
        acked: list[str] = []
        try:
            for entry in entries:
                processed = await self.process(entry.reply_id)
                done.append(processed)
                if processed.notified:
                    await enqueue_notified(self.queue, processed.notified)
                acked.append(entry.entry_id)
        finally:
            # What was handled is acked even when a later entry fails (it stays pending).
            await self.queue.ack_inbound(acked)
        return done

    async def process(self, reply_id: int) -> Processed:
        """Classify and apply one stored reply in one transaction (idempotent)."""
        try:
            async with self.db.write() as session:
                reply = await session.get(StoredReply, reply_id, with_for_update=True)
                if reply is None:
                    log.warning("inbound entry names no stored reply", reply_id=reply_id)
                    return Processed(reply_id, "missing")
                if reply.classified_at is not None:
                    return Processed(reply_id, "already", reply.classification, reply.ticket_id)
                now = self.clock.now()
                contact = (
                    await session.get(Contact, reply.contact_id)
                    if reply.contact_id is not None
                    else None
                )
                context = await self.applier.context(session, reply, contact, now)
                found = self.applier.classify(reply, context)
                applied = await self.applier.apply(session, reply, contact, found, now)
                _record(reply, found, classification_detail(found, applied), now)
                reply.ticket_id = applied.ticket_id
                reply.processed_at = now
            log.info(
                "reply applied", reply_id=reply_id, cls=found.cls.value,
                ticket_id=applied.ticket_id, outcome=applied.outcome,
            )  # fmt: skip
            notified = tuple(applied.results())
            return Processed(reply_id, "applied", found.cls, applied.ticket_id, notified)
        except (StorageError, QueueError):
            raise
        except Exception as exc:  # a bug or a refused transition: on record, not retried forever
            log.exception("reply could not be applied", reply_id=reply_id)
            return await self._record_failure(reply_id, exc)

    async def _record_failure(self, reply_id: int, exc: Exception) -> Processed:
        now = self.clock.now()
        async with self.db.write() as session:
            reply = await session.get(StoredReply, reply_id, with_for_update=True)
            if reply is None or reply.classified_at is not None:
                return Processed(reply_id, "already" if reply else "missing")
            reply.classification_detail = {
                "error": f"处理失败，需人工处理：{type(exc).__name__}: {exc}"[:500]
            }
            reply.classified_at = now
            reply.processed_at = now
        return Processed(reply_id, "failed")


def _record(
    reply: StoredReply, found: Classification, detail: dict[str, Any], now: datetime
) -> None:
    reply.classification = found.cls
    reply.classification_detail = detail
    reply.classified_at = now
