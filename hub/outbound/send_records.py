"""Recording a claimed group's answers: one transaction, then the follow-ups on Redis.

The dispatcher (:mod:`hub.outbound.dispatch`) hands :meth:`SendRecorder.record` each group it
sent with the provider's answers. One SQL transaction writes them all: sent rows, every failed
attempt and its message's new status (:mod:`hub.outbound.send_failures` decides which), opt-outs
the provider reported, admin alerts for a refused template or signature, and ``done`` on the
campaigns whose last messages these were (:func:`hub.outbound.campaigns.finish_campaigns`; two
groups of one campaign committed at the same moment leave it to the reconciler's sweep, as
neither sees the other's rows). Only after the commit
do the follow-ups reach Redis: retries onto the channel's retry set, the group's fallbacks
onto their channels' streams together (one :meth:`Queue.enqueue_by_channel`), dead letters. A
crash in between leaves rows ``queued`` that the reconciler enqueues again
(:func:`hub.outbound.outbox.requeue_stale`), so nothing is lost, and the dispatcher's claim
sends an id that is on a stream twice once.

Speed (``hub bench``): Core statements on the tables (no ORM unit of work); a successful send
updates only the columns that change (one executemany) and its attempt rows are copied from
them by one INSERT .. SELECT; metrics are counted per group.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa

from channels.base import (
    Channel,
    ChannelError,
    OptedOutError,
    OutboundMessage,
    ProviderConfigError,
    SendResult,
)
from hub.core.clock import Clock
from hub.core.metrics import HubMetrics
from hub.core.vocab import ChannelName, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.alerts import raise_alert
from hub.outbound.campaigns import finish_campaigns
from hub.outbound.id_lists import id_params, in_ids
from hub.outbound.optouts import record_opt_out
from hub.outbound.send_failures import FailedSend, SendFailures
from hub.outbound.unknown_sends import owner_reason
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message

# The tables, for Core statements (no ORM unit of work on the hot path).
_MESSAGE = cast(sa.Table, Message.__table__)
_ATTEMPT = cast(sa.Table, DeliveryAttempt.__table__)


@functools.lru_cache(maxsize=256)
def _mark_sent(count: int) -> sa.Update:
    """A group's ``count`` sent rows in one statement: the columns that change, each row's
    provider id by a CASE on its id (an executemany bound and processed three parameters per
    row, two of them datetimes, in Python). Parameters: :func:`_mark_sent_params`."""
    by_id = sa.case(
        *((_MESSAGE.c.id == sa.bindparam(f"b_id{i}"), sa.bindparam(f"b_pmid{i}"))
          for i in range(count)),
    )  # fmt: skip
    return (
        sa.update(_MESSAGE)
        .where(in_ids(_MESSAGE.c.id, count))
        .values(
            status=MessageStatus.SENT, sent_at=sa.bindparam("b_at"),
            updated_at=sa.bindparam("b_at"), next_attempt_at=None, status_reason=None,
            provider_message_id=by_id,
        )
    )  # fmt: skip


def _mark_sent_params(provider_ids: dict[int, str | None], at: datetime) -> dict[str, Any]:
    params = id_params(list(provider_ids))
    params.update((f"b_pmid{i}", pmid) for i, pmid in enumerate(provider_ids.values()))
    params["b_at"] = at
    return params


@functools.lru_cache(maxsize=256)
def _sent_attempts(count: int) -> sa.Insert:
    """The attempts of ``count`` sent messages, copied from the rows just marked sent: one
    statement with the ids, not a row of eleven parameters per message."""
    return sa.insert(_ATTEMPT).from_select(
        ["message_id", "attempt_no", "channel", "provider", "started_at", "finished_at",
         "outcome", "provider_message_id"],
        sa.select(
            _MESSAGE.c.id, _MESSAGE.c.attempts, _MESSAGE.c.channel,
            sa.bindparam("b_provider", type_=_ATTEMPT.c.provider.type),
            sa.bindparam("b_started", type_=_ATTEMPT.c.started_at.type),
            sa.bindparam("b_finished", type_=_ATTEMPT.c.finished_at.type),
            sa.literal("sent", type_=_ATTEMPT.c.outcome.type), _MESSAGE.c.provider_message_id,
        )
        .where(in_ids(_MESSAGE.c.id, count))
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


def _status_is(status: MessageStatus) -> sa.ColumnElement[bool]:
    """``status = …`` that no index can serve, for statements that select rows by id.

    Without ANALYZE statistics SQLite guesses an equality on the status index is selective and
    scans every queued message instead of looking the batch's ids up by primary key: the
    whole backlog per claim. The cast hides the column from the planner (PostgreSQL plans by
    its statistics and uses the primary key either way).
    """
    return sa.cast(_MESSAGE.c.status, sa.String) == status.value


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    """A message moved to ``sending`` for this attempt (its ``attempt_no``-th)."""

    message: OutboundMessage
    attempt_no: int


@dataclass(slots=True)
class _GroupRecord:
    """What one group's answers write (in one transaction) and do after the commit."""

    sent: list[dict[str, Any]]
    attempts: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    opt_outs: set[int]
    alerts: dict[str, str]
    failover_alerts: dict[tuple[str, str], str]
    outcomes: Counter[str]
    retries: list[tuple[int, float]]  # (message id, due epoch)
    fallbacks: list[tuple[int, str]]  # (message id, next channel)
    dead: list[tuple[int, str]]  # (message id, reason)


class SendRecorder:
    """Writes a claimed group's answers and puts what follows on Redis."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        clock: Clock,
        metrics: HubMetrics,
        failures: SendFailures,
    ) -> None:
        self.db = db
        self.queue = queue
        self.clock = clock
        self.metrics = metrics
        self.failures = failures

    async def record(
        self,
        channel: Channel,
        claimed: list[ClaimedMessage],
        results: list[SendResult | ChannelError],
        started: datetime,
    ) -> None:
        """Commit the answers to ``claimed`` (sent at ``started``), then the follow-ups."""
        now = self.clock.now()
        group = self._sort(channel, claimed, results, started, now)
        async with self.db.write() as session:
            if group.sent:
                provider_ids = {row["b_id"]: row["b_pmid"] for row in group.sent}
                await session.execute(
                    _mark_sent(len(provider_ids)), _mark_sent_params(provider_ids, now)
                )
                by_provider: dict[str, list[int]] = {}
                for row in group.sent:
                    by_provider.setdefault(row["provider"], []).append(row["b_id"])
                for provider, ids in by_provider.items():
                    bound = id_params(ids)
                    bound.update(b_provider=provider, b_started=started, b_finished=now)
                    await session.execute(_sent_attempts(len(ids)), bound)
            if group.attempts:
                await session.execute(sa.insert(_ATTEMPT), group.attempts)
            if group.failed:
                await session.execute(_MARK_FAILED, group.failed)
            for contact_id in sorted(group.opt_outs):
                await record_opt_out(
                    session, self.db.dialect, self.clock, contact_id, ChannelName(channel.name),
                    source=f"provider:{channel.provider}",
                )  # fmt: skip
            for code, detail in group.alerts.items():
                await raise_alert(
                    session, self.clock, source=channel.provider, code=code, detail=detail
                )
            for (provider, code), detail in group.failover_alerts.items():
                await raise_alert(session, self.clock, source=provider, code=code,
                                  detail=f"{detail}（已改由备用服务商发送）")  # fmt: skip
            if group.sent or group.failed:
                # The group's last messages of a campaign: the campaign is done with them.
                ids = [c.message.message_id for c in claimed]
                await finish_campaigns(session, now, message_ids=ids)
        for outcome, count in group.outcomes.items():
            self.metrics.send_outcomes.labels(channel.name, outcome).inc(count)
        # After the commit: a crash here leaves rows queued, which the reconciler re-enqueues.
        for message_id, due in group.retries:
            await self.queue.schedule_retry(channel.name, message_id, due)
        # The group's fallbacks together: one script call per next channel, not one per message.
        await self.queue.enqueue_by_channel(group.fallbacks)
        for message_id, reason in group.dead:
            await self.queue.dead_letter(channel.name, message_id, reason)

    def _sort(
        self,
        channel: Channel,
        claimed: list[ClaimedMessage],
        results: list[SendResult | ChannelError],
        started: datetime,
        now: datetime,
    ) -> _GroupRecord:
        """The rows to write and the follow-ups of each answer."""
        group = _GroupRecord([], [], [], set(), {}, {}, Counter(), [], [], [])
        for item, result in zip(claimed, results, strict=True):
            message = item.message
            if isinstance(result, SendResult):
                group.sent.append({"b_id": message.message_id,
                                   "b_pmid": result.provider_message_id,
                                   "provider": result.provider or channel.provider})  # fmt: skip
                group.outcomes["sent"] += 1
                if result.failed_over and isinstance(result.failed_over[1], ProviderConfigError):
                    provider, error = result.failed_over
                    group.failover_alerts.setdefault((provider, error.code or "config"), str(error))
                continue
            failure = self.failures.decide(channel.name, message, item.attempt_no, result, now)
            self._add_failure(group, channel, item, result, failure, started, now)
        return group

    @staticmethod
    def _add_failure(
        group: _GroupRecord, channel: Channel, item: ClaimedMessage, error: ChannelError,
        failure: FailedSend, started: datetime, now: datetime,
    ) -> None:  # fmt: skip
        message = item.message
        group.outcomes[failure.outcome] += 1
        if isinstance(error, OptedOutError) and message.contact_id is not None:
            group.opt_outs.add(message.contact_id)
        if isinstance(error, ProviderConfigError):
            group.alerts.setdefault(error.code or type(error).__name__, str(error))
        group.attempts.append({
            "message_id": message.message_id, "attempt_no": item.attempt_no,
            "channel": channel.name, "provider": channel.provider, "started_at": started,
            "finished_at": now, "error_code": error.code or type(error).__name__,
            "error_detail": str(error), "provider_message_id": None, "outcome": failure.outcome,
        })  # fmt: skip
        # Every row carries the same keys so the bulk UPDATE is one executemany.
        update: dict[str, Any] = {
            "id": message.message_id, "updated_at": now, "next_attempt_at": None,
            "status_reason": None, "channel": channel.name, "address": message.address,
            "body": message.body, "params": message.params, "attempts": item.attempt_no,
        }  # fmt: skip
        update.update(failure.changes)
        group.failed.append({f"b_{key}": value for key, value in update.items()})
        if failure.retry_at is not None:
            group.retries.append((message.message_id, failure.retry_at))
        elif failure.fallback_to is not None:
            group.fallbacks.append((message.message_id, failure.fallback_to))
        elif failure.dead_reason is not None:
            group.dead.append((message.message_id, failure.dead_reason))


@functools.lru_cache(maxsize=256)
def _claim(count: int) -> sa.Update:
    """queued → sending for ``count`` ids, built once per length (:mod:`.id_lists`)."""
    m = _MESSAGE.c
    return (
        sa.update(_MESSAGE)
        .where(in_ids(m.id, count), _status_is(MessageStatus.QUEUED))
        .values(
            status=MessageStatus.SENDING, attempts=m.attempts + 1,
            updated_at=sa.bindparam("b_now"), status_reason=sa.bindparam("b_reason"),
        )
        .returning(m.id, m.address, m.body, m.kind, m.params, m.contact_id, m.attempts)
    )  # fmt: skip


async def claim_rows(
    db: Database, ids: set[int], consumer: str, now: datetime
) -> list[ClaimedMessage]:
    """``queued`` → ``sending``, owned by ``consumer``, in id order. A row left ``sending`` by a
    worker that died is never claimed here: its outcome is unknown
    (:mod:`hub.outbound.unknown_sends`)."""
    if not ids:
        return []
    bound = id_params(sorted(ids))
    bound.update(b_now=now, b_reason=owner_reason(consumer))
    async with db.write() as session:
        rows = sorted((await session.execute(_claim(len(ids)), bound)).all(), key=lambda r: r[0])
    return [
        ClaimedMessage(
            OutboundMessage(
                message_id=message_id, address=address, body=body, kind=kind.value,
                params=params or {}, contact_id=contact_id,
            ),
            attempts,
        )
        for message_id, address, body, kind, params, contact_id, attempts in rows
    ]  # fmt: skip
