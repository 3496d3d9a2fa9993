"""Many small sends at once: one request per (enterprise, item), planned and stored together.

A program that says something different to each enterprise (a credit warning naming its event)
sends one :class:`~hub.outbound.planning.SendRequest` per item, each to one enterprise, under
its own trigger key. Submitted one by one through :meth:`Outbox.submit
<hub.outbound.outbox.Outbox.submit>`, each costs a handful of reads, two write transactions and
an enqueue: 80 items a second on SQLite. :func:`submit_batch` plans them a chunk of enterprise
ids at a time (:meth:`~hub.outbound.planning.Planner.plan_batch`: one read per chunk), writes
the chunk's campaigns and messages in one transaction and enqueues what it queued once.

Every guarantee of a single submit holds per request: its campaign (trigger, trigger key,
kind) is created when its plan has a message, the messages' idempotency keys are the same
(a repeat creates nothing), a paused campaign's new rows wait and a cancelled one's get none,
quiet hours, holds, caps, the same-content window and opt-outs apply as if the requests had
been submitted one after the other in the batch's order. The answer is one
:class:`~hub.outbound.outbox.SendOutcome` per request, as its own submit would have counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, cast

import sqlalchemy as sa

from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.outbox import (
    Outbox,
    PlannedMessage,
    SendOutcome,
    SendRequest,
    campaign_values,
    stored_rows,
)
from hub.store.dialect import insert_ignore
from hub.store.models import Campaign, Message

_MESSAGE = cast(sa.Table, Message.__table__)
_CAMPAIGN = cast(sa.Table, Campaign.__table__)
#: Trigger keys per IN (...) when reading campaigns back: under every driver's parameter cap.
_IN_CHUNK: Final = 1_000


@dataclass(frozen=True, slots=True)
class BatchSend:
    """One request of a batch, to the one enterprise ``enterprise_id`` (its audience should
    name that enterprise, ``uscc=...``: it is what the campaign records)."""

    enterprise_id: int
    request: SendRequest


async def submit_batch(outbox: Outbox, sends: Sequence[BatchSend]) -> list[SendOutcome]:
    """Plan, store and enqueue every request of ``sends``; their outcomes, in order.

    A chunk of ``outbox.chunk_size`` enterprise ids is one read, one write transaction and one
    enqueue. Should a chunk fail (a kind without a template, the database gone), what earlier
    chunks committed stays committed and is sent; submitting the batch again creates the rest.
    """
    await outbox.refresh_templates()
    now = outbox.clock.now()
    outcomes = [SendOutcome(campaign_id=None) for _ in sends]
    batch = [(s.enterprise_id, s.request) for s in sends]
    async for plans in outbox.planner.plan_batch(batch, now, size=outbox.chunk_size):
        for index, plan in plans:
            outcomes[index].count(plan)
            outcomes[index].recipients = len({p.enterprise_id for p in plan})
        planned = [(index, plan) for index, plan in plans if plan]
        if planned:
            await _store(outbox, [(sends[i].request, plan, outcomes[i]) for i, plan in planned],
                         now)  # fmt: skip
    return outcomes


async def _store(
    outbox: Outbox,
    chunk: Sequence[tuple[SendRequest, list[PlannedMessage], SendOutcome]],
    now: datetime,
) -> None:
    """One chunk: its campaigns and messages in one transaction, then one enqueue."""
    owner: dict[str, SendOutcome] = {}
    async with outbox.db.write() as session:
        campaigns = await _campaigns(session, outbox, [request for request, _, _ in chunk], now)
        rows: list[dict[str, Any]] = []
        for request, plan, outcome in chunk:
            campaign_id, status = campaigns[(request.trigger, request.trigger_key, request.kind)]
            outcome.campaign_id = campaign_id
            if status == "cancelled":
                continue  # the trigger fired again for a cancelled campaign: write nothing
            outcome.duplicates += len(plan)  # less what is inserted, below
            for row in stored_rows(plan, request, campaign_id, status, now):
                owner[row["idempotency_key"]] = outcome
                rows.append(row)
        inserted: list[tuple[int, MessageStatus, ChannelName, str]] = []
        if rows:
            stmt = insert_ignore(outbox.db, _MESSAGE).returning(
                _MESSAGE.c.id, _MESSAGE.c.status, _MESSAGE.c.channel, _MESSAGE.c.idempotency_key
            )
            inserted = [tuple(r) for r in (await session.execute(stmt, rows)).all()]
    queued: list[tuple[int, ChannelName]] = []
    for message_id, status, channel, key in inserted:
        outcome = owner[key]
        outcome.created += 1
        outcome.duplicates -= 1
        if status == MessageStatus.QUEUED:
            queued.append((message_id, channel))
    enqueued = set(await outbox.queue.enqueue_by_channel(queued))
    await outbox.hold_back({str(channel) for _id, channel in queued})
    for message_id, _, _, key in inserted:
        if message_id in enqueued:
            owner[key].queued += 1


async def _campaigns(
    session: Any, outbox: Outbox, requests: Sequence[SendRequest], now: datetime
) -> dict[tuple[str, str, MessageKind], tuple[int, str]]:
    """Each request's campaign (created on its first send) and its status."""
    await session.execute(
        insert_ignore(outbox.db, _CAMPAIGN), [campaign_values(r, now) for r in requests]
    )
    wanted: dict[tuple[str, MessageKind], set[str]] = {}
    for r in requests:
        wanted.setdefault((r.trigger, r.kind), set()).add(r.trigger_key)
    found: dict[tuple[str, str, MessageKind], tuple[int, str]] = {}
    for (trigger, kind), keys in wanted.items():
        ordered = sorted(keys)
        for start in range(0, len(ordered), _IN_CHUNK):
            rows = await session.execute(
                sa.select(Campaign.id, Campaign.status, Campaign.trigger_key).where(
                    Campaign.trigger == trigger,
                    Campaign.kind == kind,
                    Campaign.trigger_key.in_(ordered[start : start + _IN_CHUNK]),
                )
            )
            for campaign_id, status, trigger_key in rows.all():
                found[(trigger, trigger_key, kind)] = (int(campaign_id), str(status))
    return found
