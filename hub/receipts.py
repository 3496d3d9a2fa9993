"""Delivery receipts: a provider's later word on a message it accepted sets its final status.

``sent`` → ``delivered`` or ``failed`` (with the provider's code as the reason), matched on the
provider message id the send recorded. Applying a receipt twice changes nothing (a provider's
redelivery), and a receipt never moves a message back from a final state it already reached
by receipt.

A receipt can outrun the dispatcher: the provider may push it before the worker has committed
the send that carries the id. Such receipts are parked in Redis and retried by the reconciler
for :data:`PARK_SECONDS`, so none is lost to that race.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
import structlog
from redis.asyncio import Redis

from channels.base import DeliveryReceipt
from hub.clock import Clock
from hub.keys import RedisKeys
from hub.store.db import Database
from hub.store.models import Message
from hub.vocab import MessageStatus

log = structlog.get_logger(__name__)

_MESSAGE = cast(sa.Table, Message.__table__)
# How long an unmatched receipt waits for its send to be recorded before it is dropped (logged).
PARK_SECONDS = 600


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    applied: int
    already: int
    unmatched: list[DeliveryReceipt]


async def apply_receipts(
    db: Database, clock: Clock, receipts: Sequence[DeliveryReceipt]
) -> ReceiptOutcome:
    """Set ``delivered`` / ``failed`` for every receipt whose message is known; one transaction."""
    if not receipts:
        return ReceiptOutcome(0, 0, [])
    now = clock.now()
    applied = already = 0
    unmatched: list[DeliveryReceipt] = []
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
                unmatched.append(receipt)
                continue
            if row.status in (MessageStatus.DELIVERED, MessageStatus.FAILED):
                already += 1
                continue
            values: dict[str, object] = {"updated_at": now}
            if receipt.delivered:
                values |= {"status": MessageStatus.DELIVERED,
                           "delivered_at": receipt.at or now, "status_reason": None}  # fmt: skip
            else:
                reason = f"回执失败 {receipt.error_code} {receipt.detail}".strip()
                values |= {"status": MessageStatus.FAILED, "status_reason": reason[:500]}
            await session.execute(sa.update(_MESSAGE).where(_MESSAGE.c.id == row.id).values(values))
            applied += 1
    return ReceiptOutcome(applied, already, unmatched)


async def park_unmatched(
    redis: Redis, keys: RedisKeys, clock: Clock, receipts: Sequence[DeliveryReceipt]
) -> None:
    """Keep receipts that matched no message yet, for :func:`retry_parked`."""
    if not receipts:
        return
    due = clock.now().timestamp()
    await redis.zadd(keys.parked_receipts(), {_encode(r): due for r in receipts})


async def retry_parked(db: Database, redis: Redis, keys: RedisKeys, clock: Clock) -> int:
    """Apply parked receipts again; drop (and log) those older than :data:`PARK_SECONDS`."""
    key = keys.parked_receipts()
    scored: list[Any] = await redis.zrange(key, 0, -1, withscores=True)
    entries: list[tuple[str | bytes, float]] = [(pair[0], float(pair[1])) for pair in scored]
    if not entries:
        return 0
    receipts = {raw: _decode(raw) for raw, _ in entries}
    outcome = await apply_receipts(db, clock, list(receipts.values()))
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
