"""The outbound worker: claim ids from a channel's stream, send, record, retry or give up.

One claim is one SQL transaction that moves rows ``queued`` → ``sending`` only if they are still
queued, so an id that is on the stream twice (a requeue after a crash, a duplicate enqueue) is
sent once. A second transaction records every attempt and each message's new status
(:mod:`hub.outbound.send_records`); only then are the stream entries acknowledged. What a
failed attempt leads to — a retry with exponential backoff and jitter (or the provider's
``retry_after``), a hold, the next channel, failed, dead-lettered after the last attempt — is
decided by :mod:`hub.outbound.send_failures`.

Rows go to ``sending`` in small groups (:data:`SEND_GROUP`, about what the HTTP client has in
flight at once), each group's answers recorded before the next is claimed, so a worker that
dies leaves few sends whose outcome is unknown; those are never sent again blind but resolved
by the provider's status query (:mod:`hub.outbound.unknown_sends`). Each worker heartbeats
(:mod:`hub.infra.consumers`; the recovery steps are in :mod:`hub.outbound.recovery`): a worker takes
over a dead one's pending entries once its heartbeat expires, not after ``reclaim_idle_seconds``,
and a Redis that lost the hub's data (a FLUSHALL) gets its groups and the outbox's reminders back
within a heartbeat (:func:`hub.outbound.outbox.requeue_lost`).

Before each provider call the dispatcher takes one token per message from the provider's
distributed token bucket (``hub.infra.ratelimit``), at the channel's configured ``qps`` (an instance
attribute the runtime sets from config.yaml; the class's ``default_qps`` otherwise), so every
worker process together holds the provider's rate. Rows are claimed only once the tokens are
there, right before the call, so a batch waiting for tokens holds no row another worker could
also send. When asked to stop while waiting, the ids not yet claimed go back onto the stream.

Speed (``hub bench``): the hot statements are Core statements on the tables (no ORM unit of
work, the recording's too), and two batches per channel are in flight (``pipelines``) so one
is signed and sent while the other waits on SQLite or the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Mapping, Sequence

import structlog

from channels.base import (
    Channel,
    ChannelError,
    ChannelRegistry,
    OutboundMessage,
    RetryableError,
    SendResult,
)
from hub.core.clock import Clock
from hub.core.metrics import HubMetrics
from hub.infra.consumers import HEARTBEAT_EVERY_S, Liveness
from hub.infra.queue import Queue, StreamEntry
from hub.infra.ratelimit import TokenBucket
from hub.outbound.outbox import requeue_lost
from hub.outbound.quiet_hours import QuietRules
from hub.outbound.recovery import Recovery, Requeue
from hub.outbound.send_failures import SendFailures
from hub.outbound.send_records import ClaimedMessage, SendRecorder, claim_rows
from hub.outbound.settings import DispatchSettings
from hub.outbound.unknown_sends import UnknownSends
from hub.store.db import Database

log = structlog.get_logger(__name__)

# Batches in flight per channel and process: 2 sent ~25% more than 1 in `hub bench` (the
# worker otherwise idles while SQLite or the provider answers); more only adds contention.
DEFAULT_PIPELINES = 2
# Messages claimed (``sending``) per provider round: about the requests the SMS providers'
# HTTP client has in flight at once (64 connections), so a claimed group is sent at once and
# a worker killed mid-send leaves at most this many sends per pipeline with unknown outcome.
SEND_GROUP = 64


def channel_rate(channel: Channel) -> float:
    """The channel's configured QPS (instance ``qps``), else its provider default."""
    rate = getattr(channel, "qps", None)
    return float(rate) if rate else float(channel.default_qps)


def bucket_burst(rate_per_s: float) -> int:
    """One second's worth of tokens: what a provider's per-second limit allows at once."""
    return max(1, math.ceil(rate_per_s))


def send_group(channel: Channel) -> int:
    """Messages claimed and sent together on ``channel``: at most :data:`SEND_GROUP`, what one
    provider call may carry, and what the token bucket holds (a group never needs more)."""
    return min(channel.max_batch, bucket_burst(channel_rate(channel)), SEND_GROUP)


class Dispatcher:
    """Sends what is queued on every registered channel until ``stop`` is set.

    ``pipelines`` batches per channel are in flight at once: while one waits for the provider
    or the database, another is being signed and sent, so a worker process keeps its core
    busy. On SQLite the process's write transactions take turns in :meth:`Database.write`
    rather than in SQLite's busy handler.
    """

    def __init__(
        self,
        db: Database,
        queue: Queue,
        channels: ChannelRegistry,
        clock: Clock,
        settings: DispatchSettings,
        metrics: HubMetrics,
        *,
        consumer: str,
        rng: random.Random | None = None,
        bucket: TokenBucket | None = None,
        pipelines: int = DEFAULT_PIPELINES,
        quiet: QuietRules | None = None,
        requeues: Mapping[str, Requeue] | None = None,
    ) -> None:
        self.db = db
        self.queue = queue
        self.channels = channels
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self.consumer = consumer
        self.rng = rng or random.Random()
        self.bucket = bucket or TokenBucket(queue.redis, queue.keys, clock)
        self.pipelines = max(1, pipelines)
        # ``quiet``: the quiet hours a retry or hold waits out (None: they go when due).
        self.failures = SendFailures(settings, self.rng, quiet)
        self.recorder = SendRecorder(db, queue, clock, metrics, self.failures)
        # What a beat that finds Redis flushed puts back (default: this dispatcher's own stream).
        self.requeues: Mapping[str, Requeue] = requeues or {
            "outbox": lambda: requeue_lost(db, queue, clock)
        }
        self.liveness = Liveness(queue.redis, queue.keys, clock)
        self.unknown = UnknownSends(db, queue, self.liveness, clock, metrics, consumer=consumer)
        self.recovery = Recovery(self)
        self._stop: asyncio.Event | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """``pipelines`` loops per channel; returns when ``stop`` is set and batches are done."""
        self._stop = stop
        # Alive before the first read: a consumer without a heartbeat looks dead to the others.
        await self.recovery.beat()
        for name in self.channels.names():
            await self.recovery.take_over_own(name)
        async with asyncio.TaskGroup() as group:
            heartbeat = group.create_task(self.recovery.heartbeat(stop))
            async with asyncio.TaskGroup() as lanes:
                for name in self.channels.names():
                    for lane in range(self.pipelines):
                        lanes.create_task(self._channel_loop(name, stop, reclaims=lane == 0))
            heartbeat.cancel()
        with contextlib.suppress(Exception):  # stopped cleanly: nothing of ours is pending
            await self.liveness.stop(self.consumer)

    def stopping(self) -> bool:
        """Asked to stop (batches in hand still finish)."""
        return self._stop is not None and self._stop.is_set()

    async def _channel_loop(self, channel: str, stop: asyncio.Event, *, reclaims: bool) -> None:
        last_reclaim = last_takeover = 0.0
        while not stop.is_set():
            try:
                if reclaims and time.monotonic() - last_takeover >= HEARTBEAT_EVERY_S:
                    last_takeover = time.monotonic()
                    await self.recovery.take_over_dead(channel)
                due = time.monotonic() - last_reclaim > self.settings.reclaim_idle_seconds / 2
                if reclaims and due:
                    last_reclaim = time.monotonic()
                    await self.recovery.reclaim_idle(channel)
                await self.run_once(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # a worker must outlive one bad batch; the entries stay pending
                log.exception("dispatch batch failed", channel=channel)
                await asyncio.sleep(1.0)

    async def run_once(self, channel: str, *, block_ms: int | None = None) -> int:
        """Promote due retries, claim one batch and process it; returns messages handled."""
        await self.queue.promote_due(channel, self.clock.now().timestamp())
        entries = await self.queue.claim(
            channel,
            self.consumer,
            self._read_count(channel),
            self.settings.block_ms if block_ms is None else block_ms,
        )
        return await self.process(channel, entries) if entries else 0

    def _read_count(self, name: str) -> int:
        """``batch_size`` rounded down to whole send groups (:func:`send_group`): a read of 200
        sent in groups of 64 paid a fourth claim and record transaction for 8 messages. As
        configured when it is smaller than one group, or the channel is not registered."""
        count = self.settings.batch_size
        try:
            size = send_group(self.channels.get(name))
        except ChannelError:
            return count
        return count - count % size if count > size else count

    async def process(self, channel_name: str, entries: Sequence[StreamEntry]) -> int:
        """Send the messages behind these stream entries and acknowledge the entries.

        Per chunk, the provider's tokens come first and the rows are claimed (``queued`` →
        ``sending``) only then, right before the call: a batch waiting for tokens holds no
        row, so another worker that takes over its stream entries (XAUTOCLAIM) or the
        reconciler can never send the same message while this one waits.
        """
        channel = self.channels.get(channel_name)
        ids = sorted({e.message_id for e in entries})
        rate = channel_rate(channel)
        burst = bucket_burst(rate)
        size = send_group(channel)
        handled = 0
        by_id: dict[int, list[str]] = {}
        for e in entries:
            by_id.setdefault(e.message_id, []).append(e.entry_id)
        for start in range(0, len(ids), size):
            chunk = ids[start : start + size]
            if not await self._throttle(channel, len(chunk), rate, burst):
                # Asked to stop: the rest were never claimed; put them back for another worker.
                await self.queue.enqueue(channel_name, ids[start:])
                log.info("returned unsent messages on stop", channel=channel_name,
                         count=len(ids) - start)  # fmt: skip
                await self.queue.ack(channel_name, [e for i in ids[start:] for e in by_id[i]])
                break
            claimed = await self._claim_rows(set(chunk))
            if len(claimed) < len(chunk):
                # Rows not queued: sent already, or left `sending` by a worker that died
                # during its provider call — those are resolved before anything is resent.
                rest = set(chunk) - {c.message.message_id for c in claimed}
                requeued = await self.unknown.resolve(channel, rest)
                if requeued:
                    claimed = sorted([*claimed, *await self._claim_rows(set(requeued))],
                                     key=lambda c: c.message.message_id)  # fmt: skip
            if claimed:
                started = self.clock.now()
                results = await self._send(channel, [c.message for c in claimed])
                await self.recorder.record(channel, claimed, results, started)
                handled += len(claimed)
            # Each group's entries go once its rows have their answers on record.
            await self.queue.ack(channel_name, [e for i in chunk for e in by_id[i]])
        return handled

    async def _throttle(self, channel: Channel, tokens: int, rate: float, burst: int) -> bool:
        """Wait for the provider's tokens; False when asked to stop before they came."""
        while True:
            delay = await self.bucket.acquire(
                channel.provider, tokens, rate_per_s=rate, burst=burst
            )
            if delay == 0:
                return True
            stop = self._stop
            if stop is None:
                await asyncio.sleep(delay)
                continue
            if stop.is_set():
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def _claim_rows(self, ids: set[int]) -> list[ClaimedMessage]:
        """``queued`` → ``sending``, owned by this consumer (:func:`claim_rows`)."""
        return await claim_rows(self.db, ids, self.consumer, self.clock.now())

    async def _send(
        self, channel: Channel, batch: list[OutboundMessage]
    ) -> list[SendResult | ChannelError]:
        began = time.perf_counter()
        try:
            results = await channel.send_batch(batch)
        except ChannelError as exc:
            results = [exc for _ in batch]
        except Exception as exc:  # a provider module bug must not lose the batch: retry it
            log.exception("channel raised", channel=channel.name)
            results = [
                RetryableError(f"{type(exc).__name__}: {exc}", code="internal") for _ in batch
            ]
        self.metrics.send_batch_seconds.labels(channel.name).observe(time.perf_counter() - began)
        if len(results) != len(batch):
            raise RuntimeError(f"{channel.name} returned {len(results)} results for {len(batch)}")
        return results
