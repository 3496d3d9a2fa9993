"""The outbound worker: claim ids from a channel's stream, send, record, retry or give up.

One claim is one SQL transaction that moves rows ``queued`` → ``sending`` only if they are still
queued, so an id that is on the stream twice (a requeue after a crash, a duplicate enqueue) is
sent once. A second transaction records every attempt and each message's new status; only
then are the stream entries acknowledged. Retries go to the channel's retry set with
exponential backoff and jitter (or the provider's ``retry_after``); after the last attempt the
message is dead-lettered with its reason.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog

from channels.base import (
    Channel,
    ChannelError,
    ChannelRegistry,
    OutboundMessage,
    PermanentError,
    RetryableError,
    SendResult,
)
from hub.clock import Clock
from hub.config import DispatchSettings
from hub.metrics import HubMetrics
from hub.queue import Queue, StreamEntry
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from hub.vocab import ChannelName, MessageStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Claimed:
    message: OutboundMessage
    attempt_no: int


class Dispatcher:
    """Sends what is queued on every registered channel until ``stop`` is set."""

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
    ) -> None:
        self.db = db
        self.queue = queue
        self.channels = channels
        self.clock = clock
        self.settings = settings
        self.metrics = metrics
        self.consumer = consumer
        self.rng = rng or random.Random()

    async def run(self, stop: asyncio.Event) -> None:
        """One loop per channel; returns when ``stop`` is set and in-flight batches are done."""
        async with asyncio.TaskGroup() as group:
            for name in self.channels.names():
                group.create_task(self._channel_loop(name, stop))

    async def _channel_loop(self, channel: str, stop: asyncio.Event) -> None:
        last_reclaim = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_reclaim > self.settings.reclaim_idle_seconds / 2:
                    last_reclaim = time.monotonic()
                    stale = await self.queue.reclaim_stale(
                        channel,
                        self.consumer,
                        self.settings.reclaim_idle_seconds * 1000,
                        self.settings.batch_size,
                    )
                    if stale:
                        await self.process(channel, stale)
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
        """Send the messages behind these stream entries and acknowledge the entries."""
        channel = self.channels.get(channel_name)
        claimed = await self._claim_rows({e.message_id for e in entries})
        started = self.clock.now()
        results: list[SendResult | ChannelError] = []
        for start in range(0, len(claimed), channel.max_batch):
            chunk = claimed[start : start + channel.max_batch]
            results.extend(await self._send(channel, [c.message for c in chunk]))
        if claimed:
            await self._record(channel, claimed, results, started)
        await self.queue.ack(channel_name, [e.entry_id for e in entries])
        return len(claimed)

    async def _claim_rows(self, ids: set[int]) -> list[_Claimed]:
        now = self.clock.now()
        abandoned = now - timedelta(seconds=self.settings.reclaim_idle_seconds)
        stmt = (
            sa.update(Message)
            .where(
                Message.id.in_(ids),
                sa.or_(
                    Message.status == MessageStatus.QUEUED,
                    # a worker died mid-send: its claim is old, the outcome unknown
                    sa.and_(
                        Message.status == MessageStatus.SENDING, Message.updated_at < abandoned
                    ),
                ),
            )
            .values(status=MessageStatus.SENDING, attempts=Message.attempts + 1, updated_at=now)
            .returning(
                Message.id,
                Message.address,
                Message.body,
                Message.kind,
                Message.params,
                Message.contact_id,
                Message.attempts,
            )
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
        updates: list[dict[str, Any]] = []
        follow_ups: list[tuple[str, int, Any]] = []
        for item, result in zip(claimed, results, strict=True):
            message = item.message
            attempt: dict[str, Any] = {
                "message_id": message.message_id, "attempt_no": item.attempt_no,
                "channel": channel.name, "provider": channel.provider, "started_at": started,
                "finished_at": now, "error_code": None, "error_detail": None,
                "provider_message_id": None,
            }  # fmt: skip
            # Every row carries the same keys so the bulk UPDATE is one executemany.
            update: dict[str, Any] = {
                "id": message.message_id, "updated_at": now, "sent_at": None,
                "provider_message_id": None, "next_attempt_at": None, "status_reason": None,
                "channel": channel.name, "address": message.address, "body": message.body,
                "params": message.params, "attempts": item.attempt_no,
            }  # fmt: skip
            if isinstance(result, SendResult):
                attempt.update(outcome="sent", provider_message_id=result.provider_message_id)
                update.update(status=MessageStatus.SENT, sent_at=now,
                              provider_message_id=result.provider_message_id)  # fmt: skip
            else:
                attempt.update(
                    error_code=result.code or type(result).__name__, error_detail=str(result)
                )
                outcome, changes, follow_up = self._failure(channel, item, result, now)
                attempt["outcome"] = outcome
                update.update(changes)
                if follow_up is not None:
                    follow_ups.append((follow_up[0], message.message_id, follow_up[1]))
            self.metrics.send_outcomes.labels(channel.name, attempt["outcome"]).inc()
            attempts.append(attempt)
            updates.append(update)
        async with self.db.write() as session:
            await session.execute(sa.insert(DeliveryAttempt), attempts)
            await session.execute(sa.update(Message), updates)
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
        """What a failed attempt leads to: retry later, the next channel, failed, or dead."""
        if isinstance(error, RetryableError) and item.attempt_no < self.settings.max_attempts:
            due = now + timedelta(seconds=self._backoff(item.attempt_no, error))
            reason = f"第 {item.attempt_no} 次发送失败，将重试：{error}"
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
                "params": {**item.message.params, "fallbacks": fallbacks},
                "status_reason": f"{failed_on}发送失败（{error}），改用{next_on}",
            }  # fmt: skip
            return "fallback", changes, ("fallback", nxt["channel"])
        if isinstance(error, PermanentError):
            return "failed", {"status": MessageStatus.FAILED, "status_reason": str(error)}, None
        reason = f"已发送 {item.attempt_no} 次均失败，转入死信：{error}"
        return "failed", {"status": MessageStatus.DEAD, "status_reason": reason}, ("dead", reason)

    def _backoff(self, attempt_no: int, error: RetryableError) -> float:
        if error.retry_after is not None:
            return max(error.retry_after, 0.0)
        ceiling: float = min(
            self.settings.backoff_max_seconds,
            self.settings.backoff_base_seconds * 2 ** (attempt_no - 1),
        )
        return ceiling * self.rng.uniform(0.5, 1.0)  # jitter spreads a burst of retries
