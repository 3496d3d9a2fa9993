"""Delivery receipts: a provider's later word on a message it accepted sets its final status.

``sent`` → ``delivered`` or ``failed`` (with the provider's code as the reason), matched on the
provider message id the send recorded. Applying a receipt twice changes nothing (a provider's
redelivery), and a receipt never moves a message back from a final state it already reached
by receipt.

A receipt can outrun the dispatcher: the provider may push it before the worker has committed
the send that carries the id. Such receipts are parked in Redis and retried by the reconciler
for :data:`PARK_SECONDS`, so none is lost to that race.

Some messages have no provider id on record for a receipt to match. A receipt that names its
message (:attr:`channels.base.DeliveryReceipt.message_id`: Aliyun's ``out_id``, the ``OutId``
of a ``SendSms``) matches one by id, for the same number:

- a message the status query found ``sent`` without an id (Aliyun's ``QuerySendDetails``
  has no ``BizId``): the receipt applies and its id is recorded, so redeliveries match it;
- a send left ``sending`` by a worker whose heartbeat is gone (:mod:`hub.outbound.unknown_sends`):
  the provider took it, so it is settled as the receipt says, with its id, and never resent.
  While the worker is alive the receipt is parked like any that outran its send: the worker
  records its own answer, and would overwrite a state set under it;
- such a send given up (``dead``: the status query never answered): settled the same way,
  and its dead letter removed, so no operator resends what was delivered.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import DeliveryReceipt
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.infra.consumers import Liveness
from hub.infra.queue import Queue
from hub.infra.redis_server import RedisClient
from hub.outbound.unknown_sends import Orphan, given_up, owner_of, settle, taken
from hub.store.db import Database
from hub.store.models import Message

log = structlog.get_logger(__name__)

_MESSAGE = cast(sa.Table, Message.__table__)
# How long an unmatched receipt waits for its send to be recorded before it is dropped (logged).
PARK_SECONDS = 600
_FINAL = (MessageStatus.DELIVERED, MessageStatus.FAILED)


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    applied: int
    already: int
    unmatched: list[DeliveryReceipt]


async def apply_receipts(
    db: Database, clock: Clock, receipts: Sequence[DeliveryReceipt],
    *, queue: Queue | None = None,
) -> ReceiptOutcome:  # fmt: skip
    """Set ``delivered`` / ``failed`` for every receipt whose message is known; one transaction.

    A receipt that names its message (:attr:`DeliveryReceipt.message_id`, for the same number)
    also matches a message with no provider id on record: one the status query found, and,
    given the ``queue`` (the heartbeats, the dead letters), a send whose outcome is unknown
    (module docstring)."""
    if not receipts:
        return ReceiptOutcome(0, 0, [])
    named = await _named(db, queue, clock, receipts)
    now = clock.now()
    applied = already = 0
    unmatched: list[DeliveryReceipt] = []
    revived: list[_Named] = []
    async with db.write() as session:
        for receipt in receipts:
            row = (
                await session.execute(
                    sa.select(_MESSAGE.c.id, _MESSAGE.c.status)
                    .where(_MESSAGE.c.provider_message_id == receipt.provider_message_id)
                    .order_by(_MESSAGE.c.id.desc())
                    .limit(1)
                )
            ).first()
            if row is None:
                match = named.get(receipt.message_id or 0)
                if match is None or match.address != receipt.recipient:
                    unmatched.append(receipt)
                elif match.status in _FINAL:
                    already += 1
                elif await _settle_named(session, match, receipt, now):
                    applied += 1
                    if match.status is MessageStatus.DEAD:
                        revived.append(match)
                else:
                    unmatched.append(receipt)  # its worker is alive, or it moved on meanwhile
                continue
            if row.status in _FINAL:
                already += 1
                continue
            await session.execute(
                sa.update(_MESSAGE).where(_MESSAGE.c.id == row.id).values(_final(receipt, now))
            )
            applied += 1
    if queue is not None:  # after the commit: a dead letter left behind names a settled row
        for match in revived:
            await queue.forget_dead(match.channel, [match.id])
    return ReceiptOutcome(applied, already, unmatched)


def _final(receipt: DeliveryReceipt, now: datetime) -> dict[str, Any]:
    """The columns a receipt sets on a sent message: ``delivered``, or ``failed`` and why."""
    if receipt.delivered:
        return {"status": MessageStatus.DELIVERED, "delivered_at": receipt.at or now,
                "status_reason": None, "updated_at": now}  # fmt: skip
    reason = f"回执失败 {receipt.error_code} {receipt.detail}".strip()
    return {"status": MessageStatus.FAILED, "status_reason": reason[:500], "updated_at": now}


@dataclass(frozen=True, slots=True)
class _Named:
    """A message a receipt names by id that has no provider id on record."""

    id: int
    status: MessageStatus
    address: str
    channel: str
    reason: str | None
    since: datetime
    attempts: int
    #: Its send's outcome is unknown: ``sending`` and its owner has no heartbeat, or ``dead``
    #: because the status query never answered (:func:`hub.outbound.unknown_sends.given_up`).
    unknown: bool


async def _named(
    db: Database, queue: Queue | None, clock: Clock, receipts: Sequence[DeliveryReceipt]
) -> dict[int, _Named]:
    """The messages receipts name by id that carry no provider id, read before the write
    transaction so that the heartbeats are asked without holding the database's write lock."""
    ids = {r.message_id for r in receipts if r.message_id is not None}
    if not ids:
        return {}
    m = _MESSAGE.c
    async with db.read() as session:
        columns = (m.id, m.status, m.address, m.channel, m.status_reason, m.updated_at,
                   m.attempts)  # fmt: skip
        stmt = sa.select(*columns).where(m.id.in_(ids), m.provider_message_id.is_(None))
        rows = (await session.execute(stmt)).all()
    owners = {owner_of(r.status_reason) for r in rows if r.status is MessageStatus.SENDING}
    known = {o for o in owners if o is not None}
    # Without heartbeats to ask, every owner counts as alive: nothing is settled behind it.
    liveness = Liveness(queue.redis, queue.keys, clock) if queue is not None else None
    alive = await liveness.alive(known) if liveness is not None else known

    def unknown(status: MessageStatus, reason: str | None) -> bool:
        if status is MessageStatus.DEAD:  # its dead letter goes with it: needs the queue
            return queue is not None and given_up(reason)
        owner = owner_of(reason)
        return status is MessageStatus.SENDING and owner is not None and owner not in alive

    named: dict[int, _Named] = {}
    for r in rows:
        lost = unknown(r.status, r.status_reason)
        named[r.id] = _Named(r.id, r.status, r.address, r.channel.value, r.status_reason,
                             r.updated_at, r.attempts, lost)  # fmt: skip
    return named


async def _settle_named(
    session: AsyncSession, named: _Named, receipt: DeliveryReceipt, now: datetime
) -> bool:
    """Apply a receipt matched by message id; False when it cannot be applied now."""
    if named.status is MessageStatus.SENT:  # found by the status query, which has no id
        updated = await session.execute(
            sa.update(_MESSAGE)
            .where(
                _MESSAGE.c.id == named.id,
                sa.cast(_MESSAGE.c.status, sa.String) == MessageStatus.SENT.value,
                _MESSAGE.c.provider_message_id.is_(None),
            )
            .values(_final(receipt, now) | {"provider_message_id": receipt.provider_message_id})
        )
        return bool(cast(Any, updated).rowcount == 1)
    if not named.unknown:  # a live worker's send: its own answer is on the way
        return False
    orphan = Orphan(named.id, named.address, named.since, named.attempts, named.reason)
    values, attempt = taken(
        orphan, named.channel, receipt.provider, now, by="回执",
        provider_message_id=receipt.provider_message_id, delivered=receipt.delivered,
        detail=f"{receipt.error_code} {receipt.detail}", delivered_at=receipt.at,
    )  # fmt: skip
    if not await settle(session, orphan, values, attempt, status=named.status):
        return False
    log.warning("unknown send settled by its receipt", message_id=named.id,
                provider=receipt.provider, delivered=receipt.delivered)  # fmt: skip
    return True


async def park_unmatched(
    redis: RedisClient, keys: RedisKeys, clock: Clock, receipts: Sequence[DeliveryReceipt]
) -> None:
    """Keep receipts that matched no message yet, for :func:`retry_parked`."""
    if not receipts:
        return
    due = clock.now().timestamp()
    await redis.zadd(keys.parked_receipts(), {_encode(r): due for r in receipts})


async def retry_parked(db: Database, redis: RedisClient, keys: RedisKeys, clock: Clock) -> int:
    """Apply parked receipts again; drop (and log) those older than :data:`PARK_SECONDS`."""
    key = keys.parked_receipts()
    scored: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
    entries: list[tuple[str | bytes, float]] = [(pair[0], float(pair[1])) for pair in scored]
    if not entries:
        return 0
    receipts = {raw: _decode(raw) for raw, _ in entries}
    queue = Queue(redis, keys, clock=clock)
    outcome = await apply_receipts(db, clock, list(receipts.values()), queue=queue)
    still = {id(r) for r in outcome.unmatched}
    cutoff = clock.now().timestamp() - PARK_SECONDS
    done = [raw for raw, r in receipts.items() if id(r) not in still]
    expired = [raw for raw, score in entries if id(receipts[raw]) in still and score < cutoff]
    for raw in expired:
        log.warning("receipt_unmatched_dropped", receipt=_decode(raw).provider_message_id)
    if done or expired:
        await redis.zrem(key, *done, *expired)
    return outcome.applied


def _encode(receipt: DeliveryReceipt) -> str:
    data = asdict(receipt)
    data["at"] = receipt.at.isoformat() if receipt.at else None
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def _decode(raw: str | bytes) -> DeliveryReceipt:
    data = json.loads(raw)
    at = data.pop("at")
    return DeliveryReceipt(**data, at=datetime.fromisoformat(at) if at else None)
