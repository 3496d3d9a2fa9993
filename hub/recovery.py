"""Work that workers lost: a dead worker's entries, a restarted one's, a flushed Redis.

The dispatcher's reclaiming lane runs these beside its normal reads (:mod:`hub.dispatch`):

- :meth:`Recovery.beat` every :data:`hub.consumers.HEARTBEAT_EVERY_S` (a task of its own, never
  behind a send): this worker is alive; when Redis lost the hub's data (a FLUSHALL, a restart
  without persistence) the groups are recreated and the outbox re-enqueued at once
  (:func:`hub.outbox.requeue_lost`), not after the reconciler's ``reclaim_idle_seconds``;
- :meth:`Recovery.take_over_dead` every heartbeat: every pending entry of consumers without a
  heartbeat, whatever its idle time, all pages;
- :meth:`Recovery.take_over_own` at start: what an earlier process of the same consumer name
  left pending (a restarted container: same host name, pid 1);
- :meth:`Recovery.reclaim_idle`: entries idle ``reclaim_idle_seconds`` (a live but stuck
  consumer's), all of them.

Every entry taken over goes through :meth:`hub.dispatch.Dispatcher.process`, which resolves
sends whose outcome is unknown before anything is resent (:mod:`hub.unknown_sends`).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from hub.consumers import keep_beating
from hub.outbox import requeue_lost

if TYPE_CHECKING:
    from hub.dispatch import Dispatcher

log = structlog.get_logger(__name__)


class Recovery:
    """The recovery steps of one dispatcher (see the module docstring)."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.d = dispatcher

    async def beat(self) -> None:
        """One heartbeat; when Redis lost the hub's data, rebuild the groups and reminders."""
        if not (await self.d.liveness.beat(self.d.consumer)).new_epoch:
            return
        await self.d.queue.ensure_groups(self.d.channels.names())
        count = await requeue_lost(self.d.db, self.d.queue, self.d.clock)
        log.warning("redis held none of the hub's data: outbox re-enqueued", count=count)

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
