"""The outbound worker: claim ids from a channel's stream, send, record, retry or give up.

One claim is one SQL transaction that moves rows ``queued`` → ``sending`` only if they are still
queued, so an id that is on the stream twice (a requeue after a crash, a duplicate enqueue) is
sent once. A second transaction records every attempt and each message's new status; only
then are the stream entries acknowledged. Retries go to the channel's retry set with
exponential backoff and jitter (or the provider's ``retry_after``); after the last attempt the
message is dead-lettered with its reason.

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
work); a successful send updates only the columns that change (one executemany) and its
attempt rows are copied from them by one INSERT .. SELECT; metrics are counted per batch; and
two batches per channel are in flight (``pipelines``) so one is signed and sent while the
other waits on SQLite or the provider.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
import structlog

from channels.base import (
    Channel,
    ChannelError,
    ChannelRegistry,
    HoldError,
    OptedOutError,
    OutboundMessage,
    PermanentError,
    ProviderConfigError,
    RateLimitedError,
    RetryableError,
    SendResult,
)
from hub.config import DispatchSettings
from hub.core.clock import SHANGHAI, Clock
from hub.core.metrics import HubMetrics
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.infra.consumers import HEARTBEAT_EVERY_S, Liveness
from hub.infra.queue import Queue, StreamEntry
from hub.infra.ratelimit import TokenBucket
from hub.outbound.alerts import raise_alert
from hub.outbound.optouts import record_opt_out
from hub.outbound.outbox import requeue_lost
from hub.outbound.quiet_hours import QuietRules
from hub.outbound.recovery import Recovery, Requeue
from hub.outbound.unknown_sends import UnknownSends, owner_reason
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message

log = structlog.get_logger(__name__)

# The tables, for Core statements (no ORM unit of work on the hot path).
_MESSAGE = cast(sa.Table, Message.__table__)
_ATTEMPT = cast(sa.Table, DeliveryAttempt.__table__)
# A successful send changes only these columns; one executemany by primary key.
_MARK_SENT = (
    sa.update(_MESSAGE)
    .where(_MESSAGE.c.id == sa.bindparam("b_id"))
    .values(
        status=MessageStatus.SENT, sent_at=sa.bindparam("b_at"), updated_at=sa.bindparam("b_at"),
        provider_message_id=sa.bindparam("b_pmid"), next_attempt_at=None, status_reason=None,
    )
)  # fmt: skip
# The attempts of a batch's sent messages, copied from the rows just marked sent: one
# statement with the ids, not a row of eleven parameters per message.
_SENT_ATTEMPTS = sa.insert(_ATTEMPT).from_select(
    ["message_id", "attempt_no", "channel", "provider", "started_at", "finished_at", "outcome",
     "provider_message_id"],
    sa.select(
        _MESSAGE.c.id, _MESSAGE.c.attempts, _MESSAGE.c.channel,
        sa.bindparam("b_provider", type_=_ATTEMPT.c.provider.type),
        sa.bindparam("b_started", type_=_ATTEMPT.c.started_at.type),
        sa.bindparam("b_finished", type_=_ATTEMPT.c.finished_at.type),
        sa.literal("sent", type_=_ATTEMPT.c.outcome.type), _MESSAGE.c.provider_message_id,
    )
    .where(_MESSAGE.c.id.in_(sa.bindparam("b_ids", expanding=True)))
    .order_by(_MESSAGE.c.id),
)  # fmt: skip
# A failed attempt may move the message to another channel, so every column it may change.
_FAILURE_COLUMNS = (
    "status", "updated_at", "next_attempt_at", "status_reason", "channel", "address", "body",
    "params", "attempts",
)  # fmt: skip
_MARK_FAILED = (
    sa.update(_MESSAGE)
    .where(_MESSAGE.c.id == sa.bindparam("b_id"))
    .values({c: sa.bindparam(f"b_{c}") for c in _FAILURE_COLUMNS})
)

# A provider's "not now" without a time: try again after this long.
HOLD_DEFAULT = timedelta(hours=1)

# A provider's rate-limit windows are waited for without using up attempts, but not forever:
# a window that would end more than this after the message was first limited fails it (two
# daily limits in a row are waited for, a third is not). The first limit's time is kept in the
# message's params under RATE_LIMITED_SINCE.
LIMIT_HORIZON = timedelta(hours=48)
RATE_LIMITED_SINCE = "rate_limited_since"

# Batches in flight per channel and process: 2 sent ~25% more than 1 in `hub bench` (the
# worker otherwise idles while SQLite or the provider answers); more only adds contention.
DEFAULT_PIPELINES = 2
# Messages claimed (``sending``) per provider round: about the requests the SMS providers'
# HTTP client has in flight at once (64 connections), so a claimed group is sent at once and
# a worker killed mid-send leaves at most this many sends per pipeline with unknown outcome.
SEND_GROUP = 64


def _status_is(status: MessageStatus) -> sa.ColumnElement[bool]:
    """``status = …`` that no index can serve, for statements that select rows by id.

    Without ANALYZE statistics SQLite guesses an equality on the status index is selective and
    scans every queued message instead of looking the batch's ids up by primary key: the
    whole backlog per claim. The cast hides the column from the planner (PostgreSQL plans by
    its statistics and uses the primary key either way).
    """
    return sa.cast(_MESSAGE.c.status, sa.String) == status.value


def channel_rate(channel: Channel) -> float:
    """The channel's configured QPS (instance ``qps``), else its provider default."""
    rate = getattr(channel, "qps", None)
    return float(rate) if rate else float(channel.default_qps)


def bucket_burst(rate_per_s: float) -> int:
    """One second's worth of tokens: what a provider's per-second limit allows at once."""
    return max(1, math.ceil(rate_per_s))


@dataclass(frozen=True, slots=True)
class _Claimed:
    message: OutboundMessage
    attempt_no: int


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
        # Quiet hours a rate-limit retry waits out (None: retries go when the window opens).
        self.quiet = quiet
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
            self.settings.batch_size,
            self.settings.block_ms if block_ms is None else block_ms,
        )
        return await self.process(channel, entries) if entries else 0

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
        # A chunk never needs more tokens than the bucket can hold.
        size = min(channel.max_batch, burst, SEND_GROUP)
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
                await self._record(channel, claimed, results, started)
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

    async def _claim_rows(self, ids: set[int]) -> list[_Claimed]:
        """``queued`` → ``sending``, owned by this consumer. A row left ``sending`` by a
        worker that died is never claimed here: its outcome is unknown
        (hub.outbound.unknown_sends)."""
        now = self.clock.now()
        m = _MESSAGE.c
        stmt = (
            sa.update(_MESSAGE)
            .where(m.id.in_(ids), _status_is(MessageStatus.QUEUED))
            .values(
                status=MessageStatus.SENDING,
                attempts=m.attempts + 1,
                updated_at=now,
                status_reason=owner_reason(self.consumer),
            )
            .returning(m.id, m.address, m.body, m.kind, m.params, m.contact_id, m.attempts)
        )
        async with self.db.write() as session:
            rows = (await session.execute(stmt)).all()
        return [
            _Claimed(
                OutboundMessage(
                    message_id=r.id,
                    address=r.address,
                    body=r.body,
                    kind=r.kind.value,
                    params=r.params or {},
                    contact_id=r.contact_id,
                ),
                r.attempts,
            )
            for r in sorted(rows, key=lambda r: r.id)
        ]

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

    async def _record(
        self,
        channel: Channel,
        claimed: list[_Claimed],
        results: list[SendResult | ChannelError],
        started: datetime,
    ) -> None:
        now = self.clock.now()
        attempts: list[dict[str, Any]] = []
        sent: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        follow_ups: list[tuple[str, int, Any]] = []
        opt_outs: set[int] = set()
        alerts: dict[str, str] = {}
        failover_alerts: dict[tuple[str, str], str] = {}
        outcomes: Counter[str] = Counter()
        for item, result in zip(claimed, results, strict=True):
            message = item.message
            if isinstance(result, SendResult):
                sent.append({"b_id": message.message_id, "b_at": now,
                             "b_pmid": result.provider_message_id,
                             "provider": result.provider or channel.provider})  # fmt: skip
                outcomes["sent"] += 1
                if result.failed_over and isinstance(result.failed_over[1], ProviderConfigError):
                    provider, error = result.failed_over
                    failover_alerts.setdefault((provider, error.code or "config"), str(error))
            else:
                outcome, changes, follow_up = self._failure(channel, item, result, now)
                outcomes[outcome] += 1
                if isinstance(result, OptedOutError) and message.contact_id is not None:
                    opt_outs.add(message.contact_id)
                if isinstance(result, ProviderConfigError):
                    alerts.setdefault(result.code or type(result).__name__, str(result))
                attempts.append({
                    "message_id": message.message_id, "attempt_no": item.attempt_no,
                    "channel": channel.name, "provider": channel.provider, "started_at": started,
                    "finished_at": now, "error_code": result.code or type(result).__name__,
                    "error_detail": str(result), "provider_message_id": None, "outcome": outcome,
                })  # fmt: skip
                # Every row carries the same keys so the bulk UPDATE is one executemany.
                update: dict[str, Any] = {
                    "id": message.message_id, "updated_at": now, "next_attempt_at": None,
                    "status_reason": None, "channel": channel.name, "address": message.address,
                    "body": message.body, "params": message.params, "attempts": item.attempt_no,
                }  # fmt: skip
                update.update(changes)
                failed.append({f"b_{key}": value for key, value in update.items()})
                if follow_up is not None:
                    follow_ups.append((follow_up[0], message.message_id, follow_up[1]))
        async with self.db.write() as session:
            if sent:
                await session.execute(_MARK_SENT, sent)
                by_provider: dict[str, list[int]] = {}
                for row in sent:
                    by_provider.setdefault(row["provider"], []).append(row["b_id"])
                for provider, ids in by_provider.items():
                    await session.execute(_SENT_ATTEMPTS, {
                        "b_ids": ids, "b_provider": provider,
                        "b_started": started, "b_finished": now,
                    })  # fmt: skip
            if attempts:
                await session.execute(sa.insert(_ATTEMPT), attempts)
            if failed:
                await session.execute(_MARK_FAILED, failed)
            for contact_id in sorted(opt_outs):
                await record_opt_out(
                    session, self.db.dialect, self.clock, contact_id, ChannelName(channel.name),
                    source=f"provider:{channel.provider}",
                )  # fmt: skip
            for code, detail in alerts.items():
                await raise_alert(
                    session, self.clock, source=channel.provider, code=code, detail=detail
                )
            for (provider, code), detail in failover_alerts.items():
                await raise_alert(session, self.clock, source=provider, code=code,
                                  detail=f"{detail}（已改由备用服务商发送）")  # fmt: skip
        for outcome, count in outcomes.items():
            self.metrics.send_outcomes.labels(channel.name, outcome).inc(count)
        # After the commit: a crash here leaves rows queued, which the reconciler re-enqueues.
        for action, message_id, arg in follow_ups:
            if action == "retry":
                await self.queue.schedule_retry(channel.name, message_id, arg)
            elif action == "fallback":
                await self.queue.enqueue(arg, [message_id])
            else:
                await self.queue.dead_letter(channel.name, message_id, arg)

    def _failure(
        self, channel: Channel, item: _Claimed, error: ChannelError, now: datetime
    ) -> tuple[str, dict[str, Any], tuple[str, Any] | None]:
        """What a failed attempt leads to: retry later, held, the next channel, failed, or dead."""
        if isinstance(error, HoldError):
            until, quiet_end = self._after_quiet(item, error.until or now + HOLD_DEFAULT)
            when = quiet_end or f"{until.astimezone(SHANGHAI):%m-%d %H:%M}"
            quiet_note = "，且处于免打扰时段" if quiet_end else ""
            reason = f"服务商暂不允许发送{quiet_note}，暂缓至 {when}：{error}"
            changes = {"status": MessageStatus.HELD, "next_attempt_at": until,
                       "status_reason": reason, "attempts": item.attempt_no - 1}  # fmt: skip
            return "held", changes, None
        if isinstance(error, RateLimitedError):
            waiting = self._wait_for_window(item, error, now)
            if not isinstance(waiting, PermanentError):
                return waiting
            error = waiting  # waited long enough: as if refused (the next channel, else failed)
        if isinstance(error, RetryableError) and item.attempt_no < self.settings.max_attempts:
            due = now + timedelta(seconds=self._backoff(item.attempt_no, error))
            due, quiet_end = self._after_quiet(item, due)
            retry = f"且处于免打扰时段，{quiet_end} 后重试" if quiet_end else "将重试"
            reason = f"第 {item.attempt_no} 次发送失败，{retry}：{error}"
            changes = {"status": MessageStatus.QUEUED, "next_attempt_at": due,
                       "status_reason": reason}  # fmt: skip
            return "retry", changes, ("retry", due.timestamp())
        fallbacks = list(item.message.params.get("fallbacks") or [])
        if isinstance(error, PermanentError) and fallbacks:
            # A fallback is a new attempt of the same message on the next channel of its chain.
            nxt = fallbacks.pop(0)
            failed_on, next_on = ChannelName(channel.name).label, ChannelName(nxt["channel"]).label
            changes = {
                "status": MessageStatus.QUEUED, "channel": nxt["channel"],
                "address": nxt["address"], "body": nxt["body"], "attempts": 0,
                "params": {**nxt.get("params", item.message.params), "fallbacks": fallbacks},
                "status_reason": f"{failed_on}发送失败（{error}），改用{next_on}",
            }  # fmt: skip
            return "fallback", changes, ("fallback", nxt["channel"])
        if isinstance(error, PermanentError):
            return "failed", {"status": MessageStatus.FAILED, "status_reason": str(error)}, None
        reason = f"已发送 {item.attempt_no} 次均失败，转入死信：{error}"
        return "failed", {"status": MessageStatus.DEAD, "status_reason": reason}, ("dead", reason)

    def _wait_for_window(
        self, item: _Claimed, error: RateLimitedError, now: datetime
    ) -> tuple[str, dict[str, Any], tuple[str, Any]] | PermanentError:
        """Retry when the provider's window opens, the wait not counted as a failed attempt.

        The message is fine, only early (a number's 30-second, hourly or daily limit): counting
        the waits would dead-letter it after ``max_attempts`` windows. A window that ends beyond
        :data:`LIMIT_HORIZON` after the first limit gives up, with the reason.

        A window that opens in quiet hours (a daily limit resets at midnight) is waited out
        until they end, as planning would hold the message, unless its kind bypasses them or
        it is an answer the contact is still waiting for. The horizon is the provider's: it
        is checked against the window, not the quiet-hours release.
        """
        params = item.message.params
        first = params.get(RATE_LIMITED_SINCE)
        since = datetime.fromisoformat(first) if isinstance(first, str) else now
        due = now + timedelta(seconds=max(error.retry_after, 0.0))
        if due - since > LIMIT_HORIZON:
            waited, most = (now - since) / timedelta(hours=1), LIMIT_HORIZON / timedelta(hours=1)
            reason = f"服务商限流已等待 {waited:.0f} 小时，再等将超过 {most:.0f} 小时上限，不再重试"
            return PermanentError(f"{reason}：{error}", code=error.code)
        due, quiet_end = self._after_quiet(item, due)
        if quiet_end is not None:
            reason = f"服务商限流，且处于免打扰时段，{quiet_end} 后重试：{error}"
        else:
            reason = f"服务商限流，{due.astimezone(SHANGHAI):%m-%d %H:%M:%S} 后重试：{error}"
        changes = {"status": MessageStatus.QUEUED, "next_attempt_at": due,
                   "status_reason": reason, "attempts": item.attempt_no - 1,
                   "params": {**params, RATE_LIMITED_SINCE: since.isoformat()}}  # fmt: skip
        return "limited", changes, ("retry", due.timestamp())

    def _after_quiet(self, item: _Claimed, due: datetime) -> tuple[datetime, str | None]:
        """When a retry or hold due ``due`` may go: the end of quiet hours if ``due`` falls in
        them (with that local time, ``MM-DD HH:MM``, for the reason), else ``due`` and None.

        The rules are planning's: kinds in ``quiet_hours.bypass`` are not held, nor an answer
        the contact is still waiting for (:data:`~hub.outbound.quiet_hours.QUIET_EXEMPT_UNTIL`).
        """
        quiet = self.quiet
        if quiet is None:
            return due, None
        hold = quiet.hold(due, MessageKind(item.message.kind), item.message.params)
        if hold is None:
            return due, None
        return hold.release_at, f"{hold.release_at.astimezone(quiet.tz):%m-%d %H:%M}"

    def _backoff(self, attempt_no: int, error: RetryableError) -> float:
        if error.retry_after is not None:
            return max(error.retry_after, 0.0)
        ceiling: float = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_base_seconds * 2 ** (attempt_no - 1),
        )
        return ceiling * self.rng.uniform(0.5, 1.0)  # jitter spreads a burst of retries
