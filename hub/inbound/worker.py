"""The inbound worker: claim stored replies from the inbound stream, classify, apply, ack.

Each reply is handled inside a write transaction (one per chunk of replies sized to hold the
lock about ``transaction_budget_s``, at most ``per_transaction``, ended early on SQLite when a
webhook of another process waits for the lock, :mod:`hub.store.lock_board`; the chunk's reads
done once by :mod:`hub.inbound.chunk`): the row is read (``FOR UPDATE`` on PostgreSQL;
SQLite's ``BEGIN IMMEDIATE`` already serialises writers), skipped when ``classified_at`` is set,
classified (:mod:`hub.inbound.classify.classifier`, with what the contact was asked: tickets
awaiting a rating, a visit awaiting an answer) and applied (:mod:`hub.inbound.apply`: rating,
opt-out, visit, ticket, answers), and the classification, its detail and the ticket are stored on
the reply — all committed together. So a crash before the commit applies
nothing, a crash after it (before the ack) finds ``classified_at`` set on the redelivery and
applies nothing twice. The answers' Message rows are enqueued after the commit (a lost
enqueue is picked up by the outbox reconciler), and the stream entries acked last.

Entries a crashed worker claimed and never acked are taken over as the dispatcher takes over
its streams (:mod:`hub.infra.consumers`): the worker heartbeats under its consumer name, and every
:data:`hub.infra.consumers.HEARTBEAT_EVERY_S` takes every pending entry of consumers whose heartbeat
expired (:meth:`InboundWorker.take_over_dead`), so a started worker handles a killed one's
replies within :data:`hub.infra.consumers.HEARTBEAT_TTL_S`; at start it first handles what an
earlier process of its own name left pending (a restarted container: same host name and pid). A live
but stuck consumer's entries are taken once idle for ``reclaim_idle_ms``
(:meth:`hub.infra.queue.Queue.reclaim_stale_inbound`). The beat never deletes the heartbeat at a
clean stop: the dispatcher of the same process shares the name and does that (a heartbeat
gone while it is still sending would look like a dead worker).

The beat watches the epoch as the dispatcher's does: after a flush the inbound stream is empty
while SQL holds replies accepted and not yet classified, and whichever beat sees the new epoch
first puts them back (:func:`hub.outbound.recovery.rebuild_after_flush`; the app wires in the
outbox's requeue too, :func:`hub.app.runtime.flush_requeues`). A reply on the stream twice is
still applied once (``classified_at``, above).

A reply that fails to apply for a reason other than the database or Redis (a bug, a refused
transition) has its effects rolled back and is recorded as classified with the error in its
detail, so it is neither lost nor retried forever; a person sees it in ``hub replies list``. A
chunk is applied without savepoints first; a failure rolls that attempt back and the chunk is
applied again with a savepoint per reply, which isolates the failing one.
Storage and queue errors roll the chunk back and leave its entries pending: another pass
retries them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from hub.core.clock import Clock
from hub.core.errors import QueueError, StorageError
from hub.core.keys import RedisKeys
from hub.core.vocab import ReplyClass
from hub.inbound.accept import requeue_unclassified
from hub.inbound.apply import ReplyApplier
from hub.inbound.chunk import ChunkFacts
from hub.inbound.officer_commands import OfficerCommands
from hub.inbound.outcome import Applied, classification_detail
from hub.infra.consumers import HEARTBEAT_EVERY_S, Liveness, keep_beating
from hub.infra.queue import InboundEntry, Queue
from hub.outbound.notify import NotifyResult, enqueue_notified
from hub.outbound.recovery import Requeue, rebuild_after_flush
from hub.store.conflicts import is_write_conflict, retry_on_conflict
from hub.store.db import Database
from hub.store.models import Contact
from hub.store.models import InboundReply as StoredReply

log = structlog.get_logger(__name__)

DEFAULT_BATCH: Final = 100
DEFAULT_RECLAIM_IDLE_MS: Final = 60_000
# Replies per write transaction at most: a chunk's reads cost the same for 1 reply or 100
# (hub/inbound/chunk.py), so larger turns cost less per reply...
DEFAULT_PER_TRANSACTION: Final = 100
# ...but a webhook's write waits for the whole turn: a chunk is sized to hold the lock about
# this long, from the time replies took lately (a loaded machine gets shorter chunks). 50 ms:
# the webhook's p99 stays under 50 ms at 400 replies/s (benchmarks/inbound.py --paced-rate
# 400), where 0.1 s gave 110-160 ms at 80 % of the throughput, and 30 ms cost the worker a
# tenth of its throughput in chunk reads. Never fewer than MIN_PER_TRANSACTION: the chunk's
# reads (~4 ms) must stay shared by several replies.
DEFAULT_TRANSACTION_BUDGET_S: Final = 0.05
FIRST_GUESS_S_PER_REPLY: Final = 0.005
MIN_PER_TRANSACTION: Final = 10
#: After a chunk on SQLite the worker leaves the lock free for a quarter of the time it held
#: it (at least SQLITE_MIN_PAUSE_S, at most SQLITE_PAUSE_S): a webhook waiting for the lock
#: polls every 2 ms (hub/store/inline_sqlite.LOCK_POLL_S), so it gets in within that and
#: holds the lock for a few ms. When SQLite's busy handler did the waiting (sleeps growing to
#: 50 and 100 ms) the pause was half the hold, at least 20 ms; with polling that only idled the
#: worker (5 ms: 540 -> 590 replies/s end to end).
SQLITE_PAUSE_S: Final = 0.1
SQLITE_MIN_PAUSE_S: Final = 0.005
#: A chunk ends early, committing the replies done, once another process's writer (a webhook's
#: group commit) has waited YIELD_AFTER_S for SQLite's lock (hub/store/lock_board.py) and the
#: chunk has held it YIELD_MIN_HOLD_S (its ~4 ms of reads stay shared by several replies);
#: the rest of the chunk is the next transaction's.
YIELD_AFTER_S: Final = 0.005
YIELD_MIN_HOLD_S: Final = 0.01


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
        per_transaction: int = DEFAULT_PER_TRANSACTION,
        transaction_budget_s: float | None = DEFAULT_TRANSACTION_BUDGET_S,
        channels: Sequence[str] = (),
        requeues: Mapping[str, Requeue] | None = None,
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.applier = applier
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.reclaim_idle_ms = reclaim_idle_ms
        #: Replies per write transaction (each in its own savepoint).
        self.per_transaction = per_transaction
        #: How long a chunk should hold the write lock (None: always ``per_transaction``).
        self.transaction_budget_s = transaction_budget_s
        self._s_per_reply = FIRST_GUESS_S_PER_REPLY
        #: The outbound channels whose groups a rebuild after a flush recreates.
        self.channels = tuple(channels)
        #: What a beat that finds Redis flushed puts back (default: the inbound stream only).
        self.requeues: Mapping[str, Requeue] = requeues or {
            "replies": lambda: requeue_unclassified(db, queue)
        }
        self.liveness = Liveness(queue.redis, queue.keys, clock)
        #: An officer's commands by WeCom or Telegram (hub/inbound/officer_commands.py).
        self.officers = OfficerCommands(applier.settings, applier.answerer)

    async def run(self, stop: asyncio.Event) -> None:
        """Claim and handle batches; the batch in hand is finished before returning."""
        async with asyncio.TaskGroup() as group:
            heartbeat = group.create_task(keep_beating(stop, self.beat))
            await self._work(stop)
            heartbeat.cancel()

    async def _work(self, stop: asyncio.Event) -> None:
        started = False
        last_reclaim = last_takeover = 0.0
        while not stop.is_set():
            try:
                if not started:  # alive before the first read, and what we left first
                    await self.beat()
                    await self.refresh_knowledge()
                    await self.take_over_own()
                    started = True
                if time.monotonic() - last_takeover >= HEARTBEAT_EVERY_S:
                    last_takeover = time.monotonic()
                    await self.take_over_dead()
                if time.monotonic() - last_reclaim >= self.reclaim_idle_ms / 2000:
                    last_reclaim = time.monotonic()
                    await self.reclaim_once()
                await self.run_once(block_ms=self.block_ms)
            except (StorageError, QueueError) as exc:
                log.warning("inbound worker pass failed, retrying", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def beat(self) -> None:
        """This worker's heartbeat; when Redis lost the hub's data, rebuild what it held."""
        if (await self.liveness.beat(self.consumer)).new_epoch:
            await rebuild_after_flush(self.queue, self.channels, self.requeues)

    async def take_over_dead(self) -> list[Processed]:
        """Take over and handle every pending entry of consumers with no heartbeat, whatever
        its idle time, a batch at a time."""
        done: list[Processed] = []
        stream = self.queue.keys.inbound_stream()
        while True:
            taken = await self.liveness.take_over_dead(
                stream, RedisKeys.INBOUND_GROUP, self.consumer, limit=self.batch_size
            )
            if not taken:
                return done
            log.warning("took over a dead worker's replies", count=len(taken))
            done.extend(await self.handle(Queue.inbound_entries(stream, taken)))

    async def take_over_own(self) -> list[Processed]:
        """Handle the entries an earlier process of this consumer name left pending (a
        restarted container has the same host name and pid); before reading anything new."""
        done: list[Processed] = []
        stream = self.queue.keys.inbound_stream()
        while True:
            taken = await self.liveness.take_over_own(
                stream, RedisKeys.INBOUND_GROUP, self.consumer, limit=self.batch_size
            )
            if not taken:
                return done
            done.extend(await self.handle(Queue.inbound_entries(stream, taken)))

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
        """Process the entries' replies a transaction at a time, enqueue the answers of each
        committed transaction, then ack the entries handled."""
        done: list[Processed] = []
        acked: list[str] = []
        try:
            start = 0
            while start < len(entries):
                chunk = entries[start : start + self.chunk_size()]
                ids = [e.reply_id for e in chunk]
                began = time.monotonic()
                processed = await retry_on_conflict(functools.partial(self.process_many, ids))
                held = time.monotonic() - began
                # The chunk may have ended early for a waiting writer: the rest comes next.
                chunk = chunk[: len(processed)]
                start += len(chunk)
                # What a reply costs now (a moving average: the machine's load changes).
                self._s_per_reply = 0.7 * self._s_per_reply + 0.3 * held / len(chunk)
                done.extend(processed)
                notified = [n for p in processed for n in p.notified]
                if notified:
                    await enqueue_notified(self.queue, notified)
                acked.extend(e.entry_id for e in chunk)
                if self.db.dialect == "sqlite":
                    # Let the webhooks' writers in: SQLite's busy handler polls, sleeping up to
                    # 100 ms, and a worker with a backlog would take the lock again at once.
                    await asyncio.sleep(sqlite_pause(held))
        finally:
            # What was handled is acked even when a later chunk fails (it stays pending).
            await self.queue.ack_inbound(acked)
        return done

    def chunk_size(self) -> int:
        """Replies in the next write transaction: as many as fit the time budget."""
        if self.transaction_budget_s is None:
            return self.per_transaction
        fits = int(self.transaction_budget_s / max(self._s_per_reply, 1e-4))
        return max(1, min(self.per_transaction, max(MIN_PER_TRANSACTION, fits)))

    async def process(self, reply_id: int) -> Processed:
        """Classify and apply one stored reply in one transaction (idempotent)."""
        [processed] = await self.process_many([reply_id])
        return processed

    async def process_many(self, reply_ids: Sequence[int]) -> list[Processed]:
        """Classify and apply stored replies in ONE transaction (the chunk): the first of
        ``reply_ids`` at least, all of them unless a writer of another process waits for
        SQLite's lock (:data:`YIELD_AFTER_S`); the result says which, in order.

        One transaction per chunk, not per reply: on SQLite every write transaction waits for
        the one lock the webhooks also take, and fewer, larger turns cost less than many small
        ones. The chunk is applied first without a savepoint per reply (a savepoint costs two
        statements and an ORM flush each); when a reply fails to apply (a bug, a refused
        transition) that attempt is rolled back whole and the chunk applied again with a
        savepoint each (:meth:`_apply_chunk`), so the failing reply is recorded as failed and
        the others applied: the same records as with savepoints from the start. A storage
        error rolls the chunk back and leaves its entries pending.
        """
        await self.refresh_knowledge()
        try:
            return await self._apply_chunk(reply_ids, isolate=False)
        except _ReplyFailed as failed:
            log.info("a reply of the chunk failed, applying the chunk reply by reply",
                     reply_id=failed.reply_id, replies=len(reply_ids))  # fmt: skip
            return await self._apply_chunk(reply_ids, isolate=True)

    async def _apply_chunk(self, reply_ids: Sequence[int], *, isolate: bool) -> list[Processed]:
        """One transaction for the replies; ``isolate``: each in a savepoint of its own, a
        failing one recorded as failed (else a failure raises :class:`_ReplyFailed`).

        What is kept on each reply (class, detail, ticket) is written for the whole chunk by
        one ``UPDATE`` at its end, after the flush that gives the chunk's new tickets their ids
        (they are inserted together: hub.tickets.lifecycle.open_ticket ``flush=False``), in the
        same transaction as every reply's effects; the replies applied are logged once it
        committed.
        """
        done: list[Processed | _Handled] = []
        async with self.db.write() as session:
            rows = await session.scalars(_CHUNK_REPLIES, {"ids": list(reply_ids)})
            replies = {r.id: r for r in rows.all()}
            pending = [r for r in replies.values() if r.classified_at is None]
            facts = (
                await self.applier.load_facts(session, pending, self.clock.now())
                if pending
                else None
            )
            board = self.db.lock_board
            held_since = time.monotonic()
            for index, reply_id in enumerate(reply_ids):
                if (
                    index
                    and board is not None
                    and time.monotonic() - held_since >= YIELD_MIN_HOLD_S
                    and board.waited_s() >= YIELD_AFTER_S
                ):
                    break  # a webhook waits: commit what is done, the rest is the next chunk's
                reply = replies.get(reply_id)
                if reply is None:
                    log.warning("inbound entry names no stored reply", reply_id=reply_id)
                    done.append(Processed(reply_id, "missing"))
                elif reply.classified_at is not None:
                    done.append(Processed(reply_id, "already", reply.classification,
                                          reply.ticket_id))  # fmt: skip
                else:
                    done.append(await self._one(session, reply, facts, isolate=isolate))
            handled = [h for h in done if isinstance(h, _Handled)]
            if handled:
                await _finish(session, handled, isolate=isolate)
        results = [h.processed() if isinstance(h, _Handled) else h for h in done]
        for h in handled:
            if h.applied is not None:
                log.info("reply applied", reply_id=h.reply_id, cls=h.cls.value if h.cls else None,
                         ticket_id=h.ticket_id(), outcome=h.applied.outcome)  # fmt: skip
        return results

    async def refresh_knowledge(self) -> None:
        """Check the knowledge index (rebuilt when FAQ entries or policies changed) in a read
        session: before a chunk's write lock is taken, since a large library's rebuild must not
        hold the webhooks' writes, and at start, so the first question waits for no build."""
        library = self.applier.assistant.library if self.applier.assistant else None
        if library is not None and library.due(self.clock.now()):  # else no session at all
            async with self.db.read() as session:
                await library.current(session, now=self.clock.now())

    async def _one(
        self, session: AsyncSession, reply: StoredReply, facts: ChunkFacts | None, *,
        isolate: bool,
    ) -> _Handled:  # fmt: skip
        now = self.clock.now()
        reply_id = reply.id  # a rolled-back savepoint expires the row's attributes
        try:
            async with session.begin_nested() if isolate else contextlib.nullcontext():
                contact = (
                    await session.get(Contact, reply.contact_id)
                    if reply.contact_id is not None
                    else None
                )
                officer = None if contact else await self.officers.officer_of(session, reply)
                if officer is not None:  # a liaison officer's command (走访 42 完成 …)
                    if facts is not None:  # it may open tickets of any enterprise
                        facts.stale()
                    found, applied = await self.officers.apply(session, reply, officer, now)
                else:
                    context = await self.applier.context(session, reply, contact, now, facts)
                    found = self.applier.classify(reply, context)
                    applied = await self.applier.apply(session, reply, contact, found, now,
                                                       facts)  # fmt: skip
                detail = classification_detail(found, applied)
        except _STORAGE_ERRORS:
            raise  # the database or Redis: the whole chunk is retried
        except Exception as exc:  # a bug or a refused transition: on record, not retried forever
            if is_write_conflict(exc):
                raise  # another worker's transaction won (PostgreSQL): the chunk runs again
            if not isolate:  # the chunk is applied again, this reply in a savepoint of its own
                raise _ReplyFailed(reply_id) from exc
            log.exception("reply could not be applied", reply_id=reply_id)
            if facts is not None:  # the rows its savepoint changed are expired
                facts.stale()
            error = {"error": f"处理失败，需人工处理：{type(exc).__name__}: {exc}"[:500]}
            return _Handled(reply, reply_id, None, error, None, now)
        if facts is not None:
            facts.touched(reply)
        return _Handled(reply, reply_id, found.cls, detail, applied, now)


class _ReplyFailed(Exception):
    """A reply failed to apply in a chunk applied without savepoints (it runs again with)."""

    def __init__(self, reply_id: int) -> None:
        super().__init__(f"reply {reply_id} failed to apply")
        self.reply_id = reply_id


#: A chunk's replies, locked (PostgreSQL; SQLite's BEGIN IMMEDIATE holds the lock already),
#: built once.
_CHUNK_REPLIES: Final = (
    sa.select(StoredReply)
    .where(StoredReply.id.in_(sa.bindparam("ids", expanding=True)))
    .with_for_update()
)

#: The database or Redis failing: the chunk is rolled back and its entries stay pending.
_STORAGE_ERRORS: Final = (StorageError, QueueError, OperationalError, InterfaceError)


class _Handled:
    """A reply the chunk applied (``applied``) or failed to (None, ``detail`` says why): what
    is kept on it, written at the chunk's end when its new ticket has an id."""

    __slots__ = ("applied", "cls", "detail", "now", "reply", "reply_id")

    def __init__(
        self, reply: StoredReply, reply_id: int, cls: ReplyClass | None, detail: dict[str, Any],
        applied: Applied | None, now: datetime,
    ) -> None:  # fmt: skip
        self.reply, self.reply_id, self.cls, self.detail = reply, reply_id, cls, detail
        self.applied, self.now = applied, now
        # The loaded row says it is classified now (without becoming dirty), so the same id
        # met again in the chunk is ``already``.
        for key, value in self._values().items():
            set_committed_value(reply, key, value)

    def _values(self) -> dict[str, Any]:
        return {"classification": self.cls, "classification_detail": self.detail,
                "classified_at": self.now, "processed_at": self.now}  # fmt: skip

    def ticket_id(self) -> int | None:
        return self.applied.final_ticket_id() if self.applied is not None else None

    def record(self) -> dict[str, Any]:
        """The row's values for the chunk's one ``UPDATE`` (after the flush)."""
        ticket_id = self.ticket_id()
        set_committed_value(self.reply, "ticket_id", ticket_id)
        return {"id": self.reply_id, **self._values(), "ticket_id": ticket_id}

    def processed(self) -> Processed:
        if self.applied is None:
            return Processed(self.reply_id, "failed")
        return Processed(self.reply_id, "applied", self.cls, self.ticket_id(),
                         tuple(self.applied.results()))  # fmt: skip


async def _finish(session: AsyncSession, handled: Sequence[_Handled], *, isolate: bool) -> None:
    """The chunk's classification records (one executemany ``UPDATE``), after what the replies
    left pending is flushed (the chunk's new tickets, their events): a flush that fails
    without savepoints is a reply's failure (the chunk runs again with a savepoint each, where
    the reply's own savepoint meets it)."""
    try:
        await session.flush()
    except _STORAGE_ERRORS:
        raise
    except Exception as exc:
        if isolate or is_write_conflict(exc):
            raise
        raise _ReplyFailed(0) from exc
    await session.execute(sa.update(StoredReply), [h.record() for h in handled])


def sqlite_pause(held_s: float) -> float:
    """How long the worker leaves SQLite's lock free after holding it ``held_s``."""
    return min(SQLITE_PAUSE_S, max(SQLITE_MIN_PAUSE_S, held_s / 4))
