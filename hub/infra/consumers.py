"""Which stream consumers are alive, and taking over the entries of those that are not.

Each worker process heartbeats a key with a TTL under its consumer name (:meth:`Liveness.beat`,
:func:`keep_beating`: the dispatcher, and the inbound worker beside it); a process that dies
stops beating and its key expires within :data:`HEARTBEAT_TTL_S`. A starting (or running)
worker then finds the dead consumer's pending entries at once — its consumer is in the group
with entries and no heartbeat — instead of waiting ``reclaim_idle_seconds`` for them to look
idle (:meth:`Liveness.take_over_dead`), on the outbound streams and the inbound stream alike.

The same beat notices when Redis lost the hub's data (a ``FLUSHALL``, a restart without
persistence): the epoch key, set once with its creation time, is gone. For one TTL after a new
epoch every consumer counts as alive: the flush took their heartbeats too, and a live worker
must not look dead (its sends would be resolved behind its back) before its next beat.

Time comes from the injected clock; key names from :class:`hub.core.keys.RedisKeys`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

import structlog
from redis.exceptions import ResponseError

from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient, redis_errors

#: A heartbeat expires this long after the last beat: longer than any pause of a live worker's
#: event loop (a beat is a task of its own, never behind a send).
HEARTBEAT_TTL_S: Final = 10.0
#: How often a worker beats.
HEARTBEAT_EVERY_S: Final = 1.0

log = structlog.get_logger(__name__)
# Pending entries read (XPENDING) and claimed (XCLAIM) per round trip.
_PAGE: Final = 1_000


async def keep_beating(stop: asyncio.Event, beat: Callable[[], Awaitable[object]]) -> None:
    """Call ``beat`` every :data:`HEARTBEAT_EVERY_S` until ``stop`` is set: a task of its own,
    never behind a batch. A failed beat (Redis away for a moment) is logged and tried again."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), HEARTBEAT_EVERY_S)
        try:
            await beat()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("heartbeat failed")


@dataclass(frozen=True, slots=True)
class Beat:
    """What one heartbeat found: ``new_epoch`` means Redis holds none of the hub's data yet
    (first start on this Redis, or a flush): groups and the outbox's reminders must be rebuilt."""

    new_epoch: bool


class Liveness:
    """Heartbeats of this process's consumer, and the liveness of others."""

    def __init__(self, redis: RedisClient, keys: RedisKeys, clock: Clock) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock

    async def beat(self, consumer: str, *, epoch: bool = True) -> Beat:
        """Mark ``consumer`` alive for :data:`HEARTBEAT_TTL_S`; say whether the epoch was new.

        Only the first beat to set the epoch key hears that it is new, and that beat's worker
        rebuilds what Redis lost (:func:`hub.outbound.recovery.rebuild_after_flush`).
        ``epoch=False`` leaves the epoch alone (a beat that could not rebuild anything)."""
        now = self._clock.now().timestamp()
        with redis_errors("heartbeat"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.set(self._keys.consumer_alive(consumer), repr(now), px=int(HEARTBEAT_TTL_S * 1000))
            if epoch:
                pipe.set(self._keys.redis_epoch(), repr(now), nx=True)
            _alive, *created = await pipe.execute()
        return Beat(new_epoch=bool(created and created[0]))

    async def stop(self, consumer: str) -> None:
        """A clean shutdown: the heartbeat goes at once (its entries were acknowledged)."""
        with redis_errors("heartbeat"):
            await self._redis.delete(self._keys.consumer_alive(consumer))

    async def alive(self, consumers: Iterable[str]) -> set[str]:
        """The consumers among ``consumers`` that count as alive (see the module docstring)."""
        names = sorted(set(consumers))
        if not names:
            return set()
        with redis_errors("reading heartbeats"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.get(self._keys.redis_epoch())
            for name in names:
                pipe.exists(self._keys.consumer_alive(name))
            epoch, *present = await pipe.execute()
        if epoch is None or self._clock.now().timestamp() - float(epoch) < HEARTBEAT_TTL_S:
            return set(names)  # the heartbeats may have gone with a flush: wait one TTL
        return {name for name, there in zip(names, present, strict=True) if there}

    async def take_over_dead(
        self, stream: str, group: str, consumer: str, *, limit: int
    ) -> list[tuple[str, Any]]:
        """Claim for ``consumer`` up to ``limit`` pending entries of consumers with no
        heartbeat, whatever their idle time; returns (entry id, fields) pairs. A dead consumer
        left with nothing pending is removed from the group."""
        with redis_errors(f"taking over entries of dead consumers on {stream}"):
            try:
                consumers = await self._redis.xinfo_consumers(stream, group)
            except ResponseError as exc:
                if str(exc).startswith("NOGROUP") or "no such key" in str(exc).lower():
                    return []
                raise
            others = {str(c["name"]): int(c["pending"]) for c in consumers}
            others.pop(consumer, None)
            if not others:
                return []
            dead = set(others) - await self.alive(others)
            taken: list[tuple[str, Any]] = []
            for name in sorted(dead):
                taken.extend(await self._claim_all(stream, group, name, consumer,
                                                   limit - len(taken)))  # fmt: skip
                if len(taken) < limit:  # nothing left: the dead consumer goes
                    await self._redis.xgroup_delconsumer(stream, group, name)
                else:
                    break
        return taken

    async def take_over_own(
        self, stream: str, group: str, consumer: str, *, limit: int
    ) -> list[tuple[str, Any]]:
        """Entries still pending for ``consumer`` from an earlier process of the same name (a
        container restarted: same host name, pid 1). Call only before reading anything."""
        with redis_errors(f"reading entries left pending on {stream}"):
            try:
                return await self._claim_all(stream, group, consumer, consumer, limit)
            except ResponseError as exc:
                if str(exc).startswith("NOGROUP"):
                    return []
                raise

    async def _claim_all(
        self, stream: str, group: str, owner: str, consumer: str, limit: int
    ) -> list[tuple[str, Any]]:
        """Claim up to ``limit`` of ``owner``'s pending entries for ``consumer``, idle or not."""
        taken: list[tuple[str, Any]] = []
        while len(taken) < limit:
            pending = await self._redis.xpending_range(
                stream, group, min="-", max="+",
                count=min(_PAGE, limit - len(taken)), consumername=owner,
            )  # fmt: skip
            if not pending:
                break
            ids: list[Any] = [str(p["message_id"]) for p in pending]
            claimed: list[Any] = await self._redis.xclaim(stream, group, consumer, 0, ids)
            live = [e for e in claimed if e is not None and e[0] is not None]
            gone = set(ids) - {str(e[0]) for e in live}
            if gone:  # deleted entries: nothing to send, nothing to keep pending
                await self._redis.xack(stream, group, *gone)
            taken.extend(live)
            if owner == consumer:
                break  # claiming to itself leaves them pending: one page per call
        return taken
