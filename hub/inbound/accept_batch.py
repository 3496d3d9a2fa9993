"""Group commit of the webhooks' replies: many requests, one transaction, each answered after it.

A webhook request must not be answered before its reply is committed (a 2xx means stored), and
on SQLite every commit takes the one writer lock that the inbound worker's transactions hold
too: one commit per reply held the webhook to ~28 requests/s with its event loop mostly idle.
:class:`ReplyAccepter` queues the replies of concurrent requests and stores them together:
while one batch is being committed, the replies arriving meanwhile wait, and the next batch takes
them all (up to ``max_batch``) in one transaction of a few statements
(:func:`hub.inbound.accept.store_replies`). A batch takes its replies once its transaction holds
the write lock, not before asking for it: those that came while the worker held the lock share
that commit. A lone request is stored at once, as before; under load the batches grow by
themselves, with no timer adding latency.

What each request is told stays its own:

- a request returns only once the batch holding its reply is committed and the new replies are
  on the inbound stream (one push for the batch), with its reply's id, or the error;
- a provider id twice in one batch is stored once (the second is a duplicate of the first);
- a batch that fails is retried reply by reply, each in its own transaction, so one bad reply
  fails only its own request;
- the stream push comes after the commit as in :func:`hub.inbound.accept.accept_reply`: if it
  fails the requests fail (the provider retries and finds the reply stored), and the
  reconciler's :func:`hub.inbound.accept.requeue_unclassified` queues what Redis never got.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from channels.base import InboundReply
from hub.core.clock import Clock
from hub.core.vocab import ChannelName
from hub.inbound.accept import Accepted, storable, store_replies
from hub.infra.queue import Queue
from hub.store.db import Database

# Replies stored in one transaction at most: ~11 bound values a row keeps one INSERT far below
# SQLite's 32,766 variables, and a batch's commit short enough not to starve the worker.
MAX_BATCH = 64
# Batch timings kept for benchmarks and tests (the newest; a few hundred KB at most).
TIMINGS_KEPT = 20_000


@dataclass(slots=True)
class _Waiting:
    channel: ChannelName
    reply: InboundReply
    answer: asyncio.Future[Accepted]


@dataclass(frozen=True, slots=True)
class BatchTiming:
    """One committed batch: when it began (epoch seconds), its size, and where its time went —
    waiting for the database's write lock (``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL the
    pool's connection and ``BEGIN``), holding it (statements and ``COMMIT``), and the push to the
    inbound stream after the commit."""

    began_at: float
    replies: int
    lock_wait_s: float
    hold_s: float
    push_s: float


@dataclass(slots=True)
class BatchStats:
    """What the accepter has committed so far (logs, tests, benchmarks)."""

    batches: int = 0
    replies: int = 0
    largest: int = 0
    retried_alone: int = 0
    timings: deque[BatchTiming] = field(default_factory=lambda: deque(maxlen=TIMINGS_KEPT))


class ReplyAccepter:
    """Stores the replies of concurrent webhook requests in shared transactions (group commit).

    One per process (the webhooks' :class:`~hub.web.webhooks.context.WebhookContext` holds it);
    :meth:`accept` is what a webhook awaits instead of :func:`~hub.inbound.accept.accept_reply`.
    """

    def __init__(
        self, db: Database, queue: Queue, clock: Clock, *, max_batch: int = MAX_BATCH
    ) -> None:
        self._db = db
        self._queue = queue
        self._clock = clock
        self._max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._committer: asyncio.Task[None] | None = None
        self._lock_wait_s = 0.0  # of the batch being committed
        self.stats = BatchStats()

    async def accept(self, channel: ChannelName, reply: InboundReply) -> Accepted:
        """Store (once per provider id), link and enqueue ``reply``; returns once committed."""
        (accepted,) = await self.accept_many(channel, [reply])
        return accepted

    async def accept_many(
        self, channel: ChannelName, replies: Sequence[InboundReply]
    ) -> list[Accepted]:
        """:meth:`accept` for every reply of one request (an Aliyun push carries many), in
        order; raises the first failure once all of them are settled."""
        if not replies:
            return []
        loop = asyncio.get_running_loop()
        waiting = [_Waiting(channel, storable(r), loop.create_future()) for r in replies]
        for w in waiting:
            # Read even when the request went away, so asyncio does not log it as lost.
            w.answer.add_done_callback(_retrieved)
        self._waiting.extend(waiting)
        committer = self._committer
        if committer is None or committer.done() or committer.get_loop() is not loop:
            self._committer = asyncio.create_task(self._commit_waiting())
        # shield: a request that goes away (client gone) must not cancel its reply's answer,
        # which the batch still sets; the reply is stored either way.
        results = await asyncio.gather(
            *(asyncio.shield(w.answer) for w in waiting), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return [r for r in results if isinstance(r, Accepted)]

    async def _commit_waiting(self) -> None:
        """Commit batches until nothing waits; whatever happens, every answer is set."""
        while self._waiting:
            batch: list[_Waiting] = []  # filled once the batch's transaction holds the lock
            try:
                await self._commit(batch)
            except Exception as exc:  # the request answers it (a 5xx: the provider retries)
                # Failed before it took any (BEGIN): the oldest batch's worth fails, so the
                # loop always moves on.
                for waiting in batch or self._take():
                    _settle(waiting, exc)
            except BaseException:  # cancelled (shutdown): every request still gets an answer
                for waiting in [*batch, *self._waiting]:
                    waiting.answer.cancel()
                self._waiting.clear()
                raise

    def _take(self) -> list[_Waiting]:
        """The oldest waiting replies, up to a batch."""
        batch = self._waiting[: self._max_batch]
        del self._waiting[: self._max_batch]
        return batch

    async def _commit(self, batch: list[_Waiting]) -> None:
        """Store the replies waiting once the lock is held (into ``batch``), push, answer."""
        outcomes: list[Accepted | Exception]
        began_at, began = time.time(), time.perf_counter()
        self._lock_wait_s = 0.0
        try:
            outcomes = list(await self._store(batch, take=True))
        except Exception:
            if len(batch) == 1:
                raise
            # One bad reply must not fail the others: each alone, in its own transaction.
            self.stats.retried_alone += len(batch)
            outcomes = []
            for waiting in batch:
                try:
                    outcomes.extend(await self._store([waiting]))
                except Exception as exc:
                    outcomes.append(exc)
        new = [o.reply_id for o in outcomes if isinstance(o, Accepted) and not o.duplicate]
        pushed: Exception | None = None
        stored = time.perf_counter()
        if new:
            try:
                await self._queue.push_inbound(new)
            except Exception as exc:  # stored, not queued: the request fails, the provider
                pushed = exc  # retries and finds it stored; the reconciler queues it
        wait = self._lock_wait_s
        self.stats.timings.append(BatchTiming(
            began_at, len(batch), lock_wait_s=wait, hold_s=stored - began - wait,
            push_s=time.perf_counter() - stored,
        ))  # fmt: skip
        for waiting, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Accepted) and not outcome.duplicate and pushed is not None:
                outcome = pushed
            _settle(waiting, outcome)

    async def _store(self, batch: list[_Waiting], *, take: bool = False) -> list[Accepted]:
        """Store ``batch`` in one transaction; with ``take``, first add to it the replies
        waiting once the transaction holds the write lock."""
        asked = time.perf_counter()
        async with self._db.write() as session:
            # The connection first: on SQLite its BEGIN IMMEDIATE waits for the write lock.
            await session.connection()
            self._lock_wait_s += time.perf_counter() - asked
            if take:
                # Taken now, not before BEGIN: a request that came while the lock was held
                # elsewhere (the worker's chunk: up to a few hundred ms) shares this commit
                # instead of waiting for it and then for the lock again.
                batch.extend(self._take())
            # The time the lock was taken: the rows' received_at as before (after any wait).
            now = self._clock.now()
            outcomes = await store_replies(session, now, [(w.channel, w.reply) for w in batch])
        self.stats.batches += 1
        self.stats.replies += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))
        return outcomes


def _retrieved(answer: asyncio.Future[Accepted]) -> None:
    if not answer.cancelled():
        answer.exception()


def _settle(waiting: _Waiting, outcome: Accepted | Exception) -> None:
    if waiting.answer.done():
        return
    if isinstance(outcome, Accepted):
        waiting.answer.set_result(outcome)
    else:
        waiting.answer.set_exception(outcome)
