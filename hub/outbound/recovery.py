"""Work that workers lost: a dead worker's entries, a restarted one's, a flushed Redis.

The dispatcher's reclaiming lane runs these beside its normal reads (:mod:`hub.outbound.dispatch`):

- :meth:`Recovery.beat` every :data:`hub.infra.consumers.HEARTBEAT_EVERY_S` (a task of its own,
  never behind a send): this worker is alive; when Redis lost the hub's data (a FLUSHALL, a restart
  without persistence) :func:`rebuild_after_flush` puts back at once what SQL says is still to
  do, not after the reconciler's ``reclaim_idle_seconds``;
- :meth:`Recovery.take_over_dead` every heartbeat: every pending entry of consumers without a
  heartbeat, whatever its idle time, all pages;
- :meth:`Recovery.take_over_own` at start: what an earlier process of the same consumer name
  left pending (a restarted container: same host name, pid 1);
- :meth:`Recovery.reclaim_idle`: entries idle ``reclaim_idle_seconds`` (a live but stuck
  consumer's), all of them.

Every entry taken over goes through :meth:`hub.outbound.dispatch.Dispatcher.process`, which resolves
sends whose outcome is unknown before anything is resent (:mod:`hub.outbound.unknown_sends`).

:func:`rebuild_after_flush` is shared with the inbound worker, whose beat watches the epoch too:
whichever beat sets the new epoch first (only one does) rebuilds everything, the outgoing
queue and the stored replies not yet classified alike.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog

from hub.core.clock import Clock
from hub.inbound.accept import requeue_unclassified
from hub.infra.consumers import keep_beating
from hub.infra.queue import Queue
from hub.outbound.outbox import requeue_lost
from hub.store.db import Database

if TYPE_CHECKING:
    from hub.outbound.dispatch import Dispatcher

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What :func:`rebuild_after_flush` put back: outbox rows and stored replies."""

    outbox: int
    replies: int


async def rebuild_after_flush(
    db: Database, queue: Queue, clock: Clock, channels: Iterable[str]
) -> Rebuilt:
    """Redis holds none of the hub's data (a new epoch): recreate the groups, put every queued
    or sending outbox row back (:func:`hub.outbound.outbox.requeue_lost`) and every stored reply not
    yet classified back on the inbound stream (:func:`hub.inbound.accept.requeue_unclassified`).

    Call it only on the beat that set the new epoch. Should it fail (or be cancelled), the
    epoch is removed again, so the next beat (of any worker) sees a new epoch and tries again
    instead of the work waiting for the reconciler's ``reclaim_idle_seconds``.

    A first start on an empty Redis looks the same as a flush: a warning is logged only when
    something SQL held was missing from Redis; an empty Redis with nothing missing is news,
    not an alarm.
    """
    try:
        await queue.ensure_groups(channels)
        outbox = await requeue_lost(db, queue, clock)
        replies = await requeue_unclassified(db, queue)
    except BaseException:
        with contextlib.suppress(Exception):
            await queue.redis.delete(queue.keys.redis_epoch())
        raise
    if outbox or replies:
        log.warning("redis had lost the hub's queued work: re-enqueued from the database",
                    outbox=outbox, replies=replies)  # fmt: skip
    else:
        log.info("redis initialised for the hub: nothing was waiting to be re-enqueued")
    return Rebuilt(outbox, replies)


class Recovery:
    """The recovery steps of one dispatcher (see the module docstring)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher

    async def beat(self) -> None:
        """One heartbeat; when Redis lost the hub's data, rebuild what it held."""
        if (await self.d.liveness.beat(self.d.consumer)).new_epoch:
            await rebuild_after_flush(self.d.db, self.d.queue, self.d.clock,
                                      self.d.channels.names())  # fmt: skip

    async def heartbeat(self, stop: asyncio.Event) -> None:
        await keep_beating(stop, self.beat)

    async def take_over_dead(self, channel: str) -> int:
        """Take over and process every pending entry of consumers with no heartbeat."""
        handled = 0
        stream = self.d.queue.keys.outbound_stream(channel)
        while not self.d.stopping():
            taken = await self.d.liveness.take_over_dead(
                stream, self.d.queue.keys.OUTBOUND_GROUP, self.d.consumer,
                limit=self.d.settings.batch_size,
            )  # fmt: skip
            if not taken:
                break
            entries = self.d.queue.entries(stream, taken)
            log.warning("took over a dead worker's entries", channel=channel, count=len(taken))
            handled += await self.d.process(channel, entries)
        return handled

    async def take_over_own(self, channel: str) -> int:
        """Process the entries an earlier process of this consumer name left pending (a
        restarted container has the same host name and pid); before reading anything new."""
        handled = 0
        stream = self.d.queue.keys.outbound_stream(channel)
        while True:
            taken = await self.d.liveness.take_over_own(
                stream, self.d.queue.keys.OUTBOUND_GROUP, self.d.consumer,
                limit=self.d.settings.batch_size,
            )  # fmt: skip
            if not taken:
                return handled
            handled += await self.d.process(channel, self.d.queue.entries(stream, taken))

    async def reclaim_idle(self, channel: str) -> int:
        """Take over entries idle ``reclaim_idle_seconds`` (a live but stuck consumer's), all
        of them, a batch at a time."""
        handled = 0
        while not self.d.stopping():
            stale = await self.d.queue.reclaim_stale(
                channel, self.d.consumer, self.d.settings.reclaim_idle_seconds * 1000,
                self.d.settings.batch_size,
            )  # fmt: skip
            if not stale:
                break
            handled += await self.d.process(channel, stale)
        return handled
