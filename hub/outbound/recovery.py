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
whichever beat sets the new epoch first (only one does) rebuilds everything. What "everything" is
comes from the caller as one :data:`Requeue` per stream, each from its own package: the app wires
both the outgoing queue (:func:`hub.outbound.outbox.requeue_lost`) and the stored replies not yet
classified (:func:`hub.inbound.accept.requeue_unclassified`) into the dispatcher and the inbound
worker alike (:func:`hub.app.runtime.flush_requeues`); a dispatcher built without them puts back
its own stream only.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, TypeAlias

import structlog

from hub.infra.consumers import keep_beating
from hub.infra.queue import Queue

if TYPE_CHECKING:
    from hub.outbound.dispatch import Dispatcher

log = structlog.get_logger(__name__)


#: One stream's rebuild after Redis lost the hub's data: puts back what SQL says the stream should
#: hold and returns how many entries it pushed.
Requeue: TypeAlias = Callable[[], Awaitable[int]]


async def rebuild_after_flush(
    queue: Queue, channels: Iterable[str], requeues: Mapping[str, Requeue]
) -> dict[str, int]:
    """Redis holds none of the hub's data (a new epoch): recreate the groups and run every
    stream's requeue (e.g. ``outbox``: :func:`hub.outbound.outbox.requeue_lost`, ``replies``:
    :func:`hub.inbound.accept.requeue_unclassified`); returns how many each put back.

    Call it only on the beat that set the new epoch. Should it fail (or be cancelled), the
    epoch is removed again, so the next beat (of any worker) sees a new epoch and tries again
    instead of the work waiting for the reconciler's ``reclaim_idle_seconds``.

    A first start on an empty Redis looks the same as a flush: a warning is logged only when
    something SQL held was missing from Redis; an empty Redis with nothing missing is news,
    not an alarm.
    """
    try:
        await queue.ensure_groups(channels)
        counts = {stream: await requeue() for stream, requeue in requeues.items()}
    except BaseException:
        with contextlib.suppress(Exception):
            await queue.redis.delete(queue.keys.redis_epoch())
        raise
    if any(counts.values()):
        log.warning("redis had lost the hub's queued work: re-enqueued from the database",
                    **counts)  # fmt: skip
    else:
        log.info("redis initialised for the hub: nothing was waiting to be re-enqueued")
    return counts


class Recovery:
    """The recovery steps of one dispatcher (see the module docstring)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher

    async def beat(self) -> None:
        """One heartbeat; when Redis lost the hub's data, rebuild what it held."""
        if (await self.d.liveness.beat(self.d.consumer)).new_epoch:
            await rebuild_after_flush(self.d.queue, self.d.channels.names(), self.d.requeues)

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
