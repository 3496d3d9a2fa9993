"""Redis Streams queues: per-channel outbound streams, the inbound stream, retries, dead letters.

The outbox row in SQL is the truth and is committed before anything lands here; a stream entry
carries only the id of that row (``{"id": "42"}``), so losing Redis loses no message, only the
reminder to send it (``hub.outbound.outbox.requeue_stale`` puts those back). Delivery is at least
once: a consumer that dies after claiming leaves its entries pending, and another consumer takes
them over with :meth:`Queue.reclaim_stale`; the dispatcher's SQL claim makes a duplicate harmless.

One channel's keys share a Cluster hash tag (see ``hub.core.keys``), so the MULTI blocks and the Lua
script below touch a single slot. Every redis-py exception leaves as :class:`QueueError`.

Time is an argument (``now_epoch``, ``due_at_epoch``) or comes from the injected clock; nothing
here reads the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from redis.exceptions import ResponseError

from hub.core.clock import Clock, SystemClock
from hub.core.errors import QueueError
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient, redis_errors

# Bounds one script call's size (and how long it holds Redis) when a campaign enqueues a lot.
_ENQUEUE_CHUNK: Final = 5_000
# How many of its own pending entries a consumer checks when Redis 6.2 reports a reclaimed
# entry as deleted without saying which one (see Queue._purge_deleted).
_PURGE_SCAN: Final = 10_000

# Atomic: ZRANGEBYSCORE and ZREM run inside one script, so two workers promoting at the same
# moment can never both move an id. KEYS[1] retry set, KEYS[2] stream; ARGV: now, limit, field.
_PROMOTE_LUA: Final = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(due) do
  redis.call('XADD', KEYS[2], '*', ARGV[3], id)
  redis.call('ZREM', KEYS[1], id)
end
return due
"""


# Many XADDs in one command: a pipeline of 5,000 XADDs costs the client ~10 µs of Python per
# command (building, packing, parsing each reply); one EVALSHA with 5,000 arguments costs a
# fraction of that. A script runs atomically, like the MULTI it replaces. KEYS[1] the stream;
# ARGV[1] the field, ARGV[2..] the ids. Returns the new entry ids in order.
_APPEND_LUA: Final = """
local ids = {}
for i = 2, #ARGV do
  ids[i - 1] = redis.call('XADD', KEYS[1], '*', ARGV[1], ARGV[i])
end
return ids
"""

# XREADGROUP without BLOCK, flattened to one string "entry-id item-id entry-id item-id ...":
# redis-py parses a plain reply element by element in Python (five elements per entry, ~5 µs);
# one bulk string is parsed once. KEYS[1] the stream; ARGV: group, consumer, count, field.
# An entry without the field yields "-" as its item id (refused by _item's caller).
_CLAIM_LUA: Final = """
local reply = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', ARGV[3],
                         'STREAMS', KEYS[1], '>')
if not reply then return '' end
local out = {}
for _, entry in ipairs(reply[1][2]) do
  local fields, item = entry[2], '-'
  for i = 1, #fields, 2 do
    if fields[i] == ARGV[4] then item = fields[i + 1] end
  end
  out[#out + 1] = entry[1] .. ' ' .. item
end
return table.concat(out, ' ')
"""


@dataclass(frozen=True, slots=True)
class StreamEntry:
    """One outbound stream entry: send ``message_id``, then ``ack`` the ``entry_id``."""

    entry_id: str
    message_id: int


@dataclass(frozen=True, slots=True)
class InboundEntry:
    """One inbound stream entry: handle the stored reply ``reply_id``, then ack ``entry_id``."""

    entry_id: str
    reply_id: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message given up on one channel, with the reason and when (UTC)."""

    message_id: int
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Backlog:
    """Sizes of one channel's queue, for metrics: ``waiting`` counts claimed entries too."""

    waiting: int
    pending: int
    retrying: int
    dead: int


class Queue:
    """The hub's Redis queues. Cheap to construct (no I/O); share one per process.

    ``redis`` must have been opened with ``decode_responses=True`` (``hub.infra.redis_server``).
    Consumer groups are created on demand (``ensure_groups`` at start-up, and again
    whenever Redis answers NOGROUP), from the start of the stream, so entries added before
    the group existed are delivered too.
    """

    def __init__(self, redis: RedisClient, keys: RedisKeys, *, clock: Clock | None = None) -> None:
        self._redis = redis
        self._keys = keys
        self._clock: Clock = clock or SystemClock()
        self._promote = redis.register_script(_PROMOTE_LUA)  # EVALSHA, loaded on first use
        self._append_script = redis.register_script(_APPEND_LUA)
        self._claim_script = redis.register_script(_CLAIM_LUA)

    @property
    def redis(self) -> RedisClient:
        """The client this queue uses (shared with other Redis users such as the rate limiter)."""
        return self._redis

    @property
    def keys(self) -> RedisKeys:
        """The key names this queue uses."""
        return self._keys

    # --- outbound ---------------------------------------------------------------------------

    async def ensure_groups(self, channels: Iterable[str]) -> None:
        """Create the outbound group of each channel and the inbound group (idempotent)."""
        streams = [(self._keys.outbound_stream(c), RedisKeys.OUTBOUND_GROUP) for c in channels]
        streams.append((self._keys.inbound_stream(), RedisKeys.INBOUND_GROUP))
        with redis_errors("creating consumer groups"):
            pipe = self._redis.pipeline(transaction=False)
            for stream, group in streams:
                pipe.xgroup_create(stream, group, id="0", mkstream=True)
            results = await pipe.execute(raise_on_error=False)
        for result in results:
            if isinstance(result, Exception) and not _is_busygroup(result):
                raise QueueError(f"Redis: creating consumer groups: {result}") from result

    async def enqueue(self, channel: str, message_ids: Sequence[int]) -> list[str]:
        """Append one entry per message id to the channel's stream; returns the entry ids.

        One atomic script call per 5,000 ids: the ids of one chunk are all queued or none are.
        """
        stream = self._keys.outbound_stream(channel)
        return await self._append(stream, message_ids, f"enqueueing on {channel}")

    async def enqueue_by_channel(self, items: Iterable[tuple[int, str]]) -> list[int]:
        """Put each ``(message id, channel)`` on its channel's stream: one :meth:`enqueue` per
        channel, channels in the order they first appear, ids in the order given. Returns the
        ids queued, channel by channel."""
        by_channel: dict[str, list[int]] = {}
        for message_id, channel in items:
            by_channel.setdefault(str(channel), []).append(message_id)
        queued: list[int] = []
        for channel, ids in by_channel.items():
            await self.enqueue(channel, ids)
            queued.extend(ids)
        return queued

    async def claim(
        self, channel: str, consumer: str, count: int = 100, block_ms: int | None = None
    ) -> list[StreamEntry]:
        """Take up to ``count`` new entries for ``consumer`` (XREADGROUP ``>``).

        ``block_ms`` None returns at once; a number waits that long for entries to arrive
        (0 waits forever). Claimed entries stay pending until :meth:`ack`.
        """
        stream = self._keys.outbound_stream(channel)
        rows = await self._read_now(stream, RedisKeys.OUTBOUND_GROUP, consumer, count)
        if not rows and block_ms is not None:
            # Nothing waiting: block the plain way (the reply is small when it comes).
            rows = await self._read_group(
                stream, RedisKeys.OUTBOUND_GROUP, consumer, count, block_ms
            )
        return [StreamEntry(entry_id, item_id) for entry_id, item_id in rows]

    async def ack(self, channel: str, entry_ids: Sequence[str]) -> int:
        """Acknowledge and delete entries (XACK + XDEL in one MULTI); returns how many acked."""
        stream = self._keys.outbound_stream(channel)
        return await self._ack(stream, RedisKeys.OUTBOUND_GROUP, entry_ids, f"acking on {channel}")

    async def reclaim_stale(
        self, channel: str, consumer: str, min_idle_ms: int, count: int = 100
    ) -> list[StreamEntry]:
        """Take over entries other consumers claimed but left idle ``min_idle_ms`` (XAUTOCLAIM).

        Pending entries whose stream entry was deleted are acknowledged and skipped: Redis 7
        lists their ids in a third reply item; Redis 6.2 returns them as nil entries.
        """
        stream = self._keys.outbound_stream(channel)
        rows = await self._autoclaim(stream, RedisKeys.OUTBOUND_GROUP, consumer, min_idle_ms, count)
        return [StreamEntry(entry_id, item_id) for entry_id, item_id in rows]

    @staticmethod
    def entries(stream: str, raw: Sequence[Any]) -> list[StreamEntry]:
        """Outbound entries from (entry id, fields) pairs as XCLAIM answers them."""
        return [StreamEntry(*_item(stream, entry)) for entry in raw]

    @staticmethod
    def inbound_entries(stream: str, raw: Sequence[Any]) -> list[InboundEntry]:
        """Inbound entries from (entry id, fields) pairs as XCLAIM answers them."""
        return [InboundEntry(*_item(stream, entry)) for entry in raw]

    async def waiting_ids(self, channel: str) -> set[int]:
        """Every message id Redis holds for ``channel``: on its stream (new or pending; acked
        entries are deleted) or in its retry set. The reconciler re-enqueues only rows that
        are in neither, so a long backlog is never duplicated."""
        stream = self._keys.outbound_stream(channel)
        ids: set[int] = set()
        with redis_errors(f"listing the ids waiting on {channel}"):
            start = "-"
            while True:
                page: list[Any] = (
                    await self._redis.xrange(stream, min=start, max="+", count=_PURGE_SCAN) or []
                )
                ids.update(_item(stream, entry)[1] for entry in page)
                if len(page) < _PURGE_SCAN:
                    break
                start = "(" + str(page[-1][0])
            retries: list[Any] = await self._redis.zrange(self._keys.retry_set(channel), 0, -1)
        ids.update(int(member) for member in retries)
        return ids

    async def schedule_retry(
        self,
        channel: str,
        message_id: int,
        due_at_epoch: float,
        *,
        entry_id: str | None = None,
    ) -> None:
        """Put ``message_id`` in the channel's retry set, due at ``due_at_epoch`` (seconds).

        Scheduling an id again moves its due time. With ``entry_id``, that stream entry is
        acknowledged in the same MULTI, so the retry and the ack happen together or not at all.
        """
        with redis_errors(f"scheduling a retry on {channel}"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.zadd(self._keys.retry_set(channel), {str(message_id): due_at_epoch})
            self._queue_ack(pipe, channel, entry_id)
            await pipe.execute()

    async def promote_due(self, channel: str, now_epoch: float, *, limit: int = 1_000) -> list[int]:
        """Move retries due at ``now_epoch`` back onto the stream; returns the moved ids.

        A Lua script does the move, so concurrent callers never move an id twice. At most
        ``limit`` ids move per call; call again while it returns ``limit`` ids.
        """
        keys = [self._keys.retry_set(channel), self._keys.outbound_stream(channel)]
        with redis_errors(f"promoting due retries on {channel}"):
            moved = await self._promote(
                keys=keys, args=[repr(now_epoch), limit, RedisKeys.ID_FIELD]
            )
        return [int(message_id) for message_id in moved]

    async def dead_letter(
        self, channel: str, message_id: int, reason: str, *, entry_id: str | None = None
    ) -> None:
        """Record that ``message_id`` is given up on ``channel``, and drop any pending retry.

        With ``entry_id``, that stream entry is acknowledged in the same MULTI.
        """
        record = json.dumps(
            {"reason": reason, "at": self._clock.now().timestamp()}, ensure_ascii=False
        )
        with redis_errors(f"dead-lettering on {channel}"):
            pipe = self._redis.pipeline(transaction=True)
            pipe.hset(self._keys.dead_letters(channel), str(message_id), record)
            pipe.zrem(self._keys.retry_set(channel), str(message_id))
            self._queue_ack(pipe, channel, entry_id)
            await pipe.execute()

    async def list_dead(self, channel: str) -> list[DeadLetter]:
        """The channel's dead letters, oldest first."""
        with redis_errors(f"listing dead letters of {channel}"):
            raw = await self._redis.hgetall(self._keys.dead_letters(channel))
        letters = []
        for message_id, record in raw.items():
            data = json.loads(record)  # str, or bytes if a caller ignored decode_responses
            at = datetime.fromtimestamp(float(data["at"]), tz=UTC)
            letters.append(DeadLetter(int(message_id), str(data["reason"]), at))
        return sorted(letters, key=lambda letter: (letter.at, letter.message_id))

    async def forget_dead(self, channel: str, message_ids: Sequence[int]) -> int:
        """Remove dead letters (after an operator resent or closed them); returns how many."""
        if not message_ids:
            return 0
        with redis_errors(f"forgetting dead letters of {channel}"):
            key = self._keys.dead_letters(channel)
            return int(await self._redis.hdel(key, *(str(m) for m in message_ids)))

    async def waiting(self, channel: str) -> int:
        """Entries on the channel's stream: not yet read, or read and not yet acknowledged
        (an acknowledged entry is deleted)."""
        with redis_errors(f"measuring the stream of {channel}"):
            return int(await self._redis.xlen(self._keys.outbound_stream(channel)))

    async def backlog(self, channel: str) -> Backlog:
        """Stream length, pending entries, retries and dead letters of one channel."""
        stream = self._keys.outbound_stream(channel)
        with redis_errors(f"measuring the backlog of {channel}"):
            pipe = self._redis.pipeline(transaction=False)
            pipe.xlen(stream)
            pipe.xpending(stream, RedisKeys.OUTBOUND_GROUP)
            pipe.zcard(self._keys.retry_set(channel))
            pipe.hlen(self._keys.dead_letters(channel))
            waiting, pending, retrying, dead = await pipe.execute(raise_on_error=False)
        for result in (waiting, retrying, dead):
            if isinstance(result, Exception):
                raise QueueError(f"Redis: measuring the backlog of {channel}: {result}")
        if isinstance(pending, Exception):
            if not _is_nogroup(pending):
                raise QueueError(f"Redis: measuring the backlog of {channel}: {pending}")
            pending = {"pending": 0}  # no group yet: nothing was ever claimed
        return Backlog(int(waiting), int(pending["pending"]), int(retrying), int(dead))

    # --- inbound ----------------------------------------------------------------------------

    async def push_inbound(self, reply_ids: Sequence[int]) -> list[str]:
        """Queue stored replies (already committed in SQL) for the inbound worker."""
        return await self._append(self._keys.inbound_stream(), reply_ids, "pushing replies")

    async def claim_inbound(
        self, consumer: str, count: int = 100, block_ms: int | None = None
    ) -> list[InboundEntry]:
        """Like :meth:`claim`, for the inbound stream."""
        stream = self._keys.inbound_stream()
        rows = await self._read_group(stream, RedisKeys.INBOUND_GROUP, consumer, count, block_ms)
        return [InboundEntry(entry_id, item_id) for entry_id, item_id in rows]

    async def ack_inbound(self, entry_ids: Sequence[str]) -> int:
        """Like :meth:`ack`, for the inbound stream."""
        stream = self._keys.inbound_stream()
        return await self._ack(stream, RedisKeys.INBOUND_GROUP, entry_ids, "acking replies")

    async def reclaim_stale_inbound(
        self, consumer: str, min_idle_ms: int, count: int = 100
    ) -> list[InboundEntry]:
        """Like :meth:`reclaim_stale`, for the inbound stream."""
        stream = self._keys.inbound_stream()
        rows = await self._autoclaim(stream, RedisKeys.INBOUND_GROUP, consumer, min_idle_ms, count)
        return [InboundEntry(entry_id, item_id) for entry_id, item_id in rows]

    # --- shared -----------------------------------------------------------------------------

    async def _append(self, stream: str, item_ids: Sequence[int], action: str) -> list[str]:
        entry_ids: list[str] = []
        with redis_errors(action):
            for start in range(0, len(item_ids), _ENQUEUE_CHUNK):
                chunk = [int(item_id) for item_id in item_ids[start : start + _ENQUEUE_CHUNK]]
                added = await self._append_script(keys=[stream], args=[RedisKeys.ID_FIELD, *chunk])
                entry_ids.extend(str(e) for e in added)
        return entry_ids

    async def _read_now(
        self, stream: str, group: str, consumer: str, count: int
    ) -> list[tuple[str, int]]:
        """XREADGROUP without blocking, through the flattening script (see _CLAIM_LUA)."""
        with redis_errors(f"reading {stream}"):
            try:
                flat = await self._claim_script(
                    keys=[stream], args=[group, consumer, count, RedisKeys.ID_FIELD]
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):  # a script's error carries a prefix of its own
                    raise
                return await self._read_group(stream, group, consumer, count, None)
        parts = str(flat).split()
        rows: list[tuple[str, int]] = []
        for entry_id, item_id in zip(parts[::2], parts[1::2], strict=True):
            try:
                rows.append((entry_id, int(item_id)))
            except ValueError as exc:
                raise QueueError(
                    f"{stream}: entry {entry_id} has no integer id field ({item_id!r})"
                ) from exc
        return rows

    async def _read_group(
        self, stream: str, group: str, consumer: str, count: int, block_ms: int | None
    ) -> list[tuple[str, int]]:
        with redis_errors(f"reading {stream}"):
            try:
                reply = await self._redis.xreadgroup(
                    group, consumer, {stream: ">"}, count=count, block=block_ms
                )
            except ResponseError as exc:
                if not _is_nogroup(exc):
                    raise
                # The stream was deleted or never had a group (e.g. a FLUSHDB): make it, retry.
                await self._create_group(stream, group)
                reply = await self._redis.xreadgroup(
                    group, consumer, {stream: ">"}, count=count, block=block_ms
                )
        return [_item(stream, entry) for entry in _entries(reply)]

    async def _ack(self, stream: str, group: str, entry_ids: Sequence[str], action: str) -> int:
        if not entry_ids:
            return 0
        with redis_errors(action):
            pipe = self._redis.pipeline(transaction=True)
            pipe.xack(stream, group, *entry_ids)
            pipe.xdel(stream, *entry_ids)
            acked, _deleted = await pipe.execute()
        return int(acked)

    def _queue_ack(self, pipe: Any, channel: str, entry_id: str | None) -> None:
        if entry_id is not None:
            stream = self._keys.outbound_stream(channel)
            pipe.xack(stream, RedisKeys.OUTBOUND_GROUP, entry_id)
            pipe.xdel(stream, entry_id)

    async def _autoclaim(
        self, stream: str, group: str, consumer: str, min_idle_ms: int, count: int
    ) -> list[tuple[str, int]]:
        with redis_errors(f"reclaiming stale entries of {stream}"):
            try:
                reply = await self._redis.xautoclaim(
                    stream, group, consumer, min_idle_time=min_idle_ms, start_id="0-0", count=count
                )
            except ResponseError as exc:
                if not _is_nogroup(exc):
                    raise
                await self._create_group(stream, group)
                return []  # a new group has nothing pending
            # Redis 7+: [cursor, entries, deleted ids] and the deleted ids have already left
            # the pending list. Redis 6.2: [cursor, entries], a deleted entry comes back as
            # nil and stays pending, now owned by `consumer`, until someone acks it.
            cursor, raw_entries = str(reply[0]), reply[1]
            live = [entry for entry in raw_entries if entry is not None and entry[0] is not None]
            if len(live) < len(raw_entries):
                end = "+" if cursor == "0-0" else cursor
                await self._purge_deleted(stream, group, consumer, end, {e[0] for e in live})
        return [_item(stream, entry) for entry in live]

    async def _purge_deleted(
        self, stream: str, group: str, consumer: str, end: str, live: set[str]
    ) -> None:
        """Ack ``consumer``'s pending entries up to ``end`` whose stream entry is gone (6.2)."""
        pending = await self._redis.xpending_range(
            stream, group, min="-", max=end, count=_PURGE_SCAN, consumername=consumer
        )
        candidates = [str(p["message_id"]) for p in pending if str(p["message_id"]) not in live]
        if not candidates:
            return
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in candidates:
            pipe.xrange(stream, min=entry_id, max=entry_id, count=1)
        found = await pipe.execute()
        gone = [entry_id for entry_id, rows in zip(candidates, found, strict=True) if not rows]
        if gone:
            await self._redis.xack(stream, group, *gone)

    async def _create_group(self, stream: str, group: str) -> None:
        try:
            await self._redis.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if not _is_busygroup(exc):  # another worker created it first: fine
                raise


def _entries(reply: Any) -> list[Any]:
    """Stream entries from an XREADGROUP reply in any redis-py shape.

    RESP2 and legacy RESP3 give ``[[stream, entries]]``; redis-py's unified RESP3 shape is
    ``{stream: entries}`` (some versions nest ``entries`` one list deeper). An entry is an
    ``(entry_id, fields)`` pair whose first item is a string.
    """
    if not reply:
        return []
    batches = list(reply.values()) if isinstance(reply, dict) else [item[1] for item in reply]
    found: list[Any] = []
    while batches:
        batch = batches.pop(0)
        for item in batch:
            if item is None or item[0] is None:
                continue  # a deleted entry (only seen when re-reading pending history)
            if isinstance(item[0], str):
                found.append(item)
            else:
                batches.append(item)
    return found


def _item(stream: str, entry: Any) -> tuple[str, int]:
    entry_id, fields = entry
    if isinstance(fields, list):  # a reply no callback parsed: [field, value, ...]
        fields = dict(zip(fields[::2], fields[1::2], strict=True))
    try:
        return str(entry_id), int(fields[RedisKeys.ID_FIELD])
    except (KeyError, TypeError, ValueError) as exc:
        # Only the hub writes these streams; an entry without an id was written by hand.
        raise QueueError(f"{stream}: entry {entry_id} has no integer id field: {fields!r}") from exc


def _is_nogroup(exc: BaseException) -> bool:
    return str(exc).startswith("NOGROUP")


def _is_busygroup(exc: BaseException) -> bool:
    return str(exc).startswith("BUSYGROUP")
