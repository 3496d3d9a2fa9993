"""Sends whose outcome is unknown: their worker died during the provider call.

A row goes ``queued`` → ``sending`` right before its provider call, with its owner (the
claiming consumer) in ``status_reason`` (:func:`owner_reason`), and leaves ``sending`` when the
answer is recorded. A ``sending`` row whose owner has no heartbeat (:mod:`hub.infra.consumers`) was
in flight when its worker died: the provider may or may not have taken it, and neither Tencent
nor Aliyun dedupes a repeated ``SendSms``. Such a row is never sent again blind:

- the channel's status query (:class:`channels.base.StatusQuerying`) finds it by the message
  id the request carried (Tencent ``SessionContext``, Aliyun ``OutId``): **taken** → recorded
  sent (or delivered / failed, as the provider's receipt says) with the provider's id, so later
  receipts match it, and not resent; **not taken** (absent once the provider's records are
  complete) → queued again and sent at once;
- **no answer yet** (too early, or the query failed) → asked again :data:`RECHECK_SECONDS`
  later (the id waits in the channel's retry set; the row stays ``sending``); still no answer
  :data:`GIVE_UP` after the send → ``dead`` with the reason, for an operator to check and
  resend (``hub messages dead``): a possible duplicate is not the hub's to risk;
- a channel with no status query (sandbox, WeChat, WeCom, Telegram) → resent, and counted as
  resent while unknown (``hub_resent_while_unknown_total``, and a line in
  ``hub messages list``), its attempt marked :data:`RESENT_UNKNOWN`;
- a receipt that names the message settles it the same way, taken (:func:`taken`, from
  :func:`hub.outbound.receipts.apply_receipts`) once its owner's heartbeat is gone, or after it was
  given up (its dead letter goes too: nothing is left for an operator to resend): Aliyun's
  report echoes the ``OutId`` as ``out_id``. Tencent's status callback carries only ``sid`` (the
  ``SerialNo`` the dead worker never recorded), the number and the status — no
  ``SessionContext`` — so its receipt waits, parked, for the status query, which reads the
  same report with its ``SessionContext``: the query asks every :data:`RECHECK_SECONDS` while
  Tencent lists nothing, so it finds the report at most that long after the callback, and a
  receipt-triggered query would save no more.

Each resolution is one conditional UPDATE on (id, ``sending``, the old owner) (:func:`settle`),
so two workers, or a worker and a receipt, resolving the same row apply one answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import (
    Channel,
    ProbeAnswer,
    SendProbe,
    StatusQuerying,
    Verdict,
)
from hub.core.clock import Clock
from hub.core.metrics import HubMetrics
from hub.core.vocab import MessageStatus
from hub.infra.consumers import Liveness
from hub.infra.queue import Queue
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message

log = structlog.get_logger(__name__)

_MESSAGE = cast(sa.Table, Message.__table__)
_ATTEMPT = cast(sa.Table, DeliveryAttempt.__table__)

#: Seconds between status queries of a send the provider cannot place yet.
RECHECK_SECONDS: Final = 5.0
#: A send still unknowable this long after it began is given up (dead), never resent blind.
GIVE_UP: Final = timedelta(minutes=30)
#: ``error_code`` of the attempts that ended unknown, by how they were resolved.
TAKEN: Final = "UnknownTaken"
NOT_TAKEN: Final = "UnknownNotTaken"
RESENT_UNKNOWN: Final = "UnknownResent"
GIVEN_UP: Final = "UnknownGivenUp"

_OWNER_OPEN, _OWNER_CLOSE = "发送中（", "）"
_DIED: Final = "工作进程在调用服务商时中断"
_GIVEN_UP: Final = "发送结果无法确认"


def owner_reason(consumer: str) -> str:
    """``status_reason`` of a ``sending`` row: who is sending it (``hub messages list``)."""
    return f"{_OWNER_OPEN}{consumer}{_OWNER_CLOSE}"


def owner_of(reason: str | None) -> str | None:
    """The consumer :func:`owner_reason` named; None for any other reason."""
    if reason and reason.startswith(_OWNER_OPEN) and reason.endswith(_OWNER_CLOSE):
        return reason[len(_OWNER_OPEN) : -len(_OWNER_CLOSE)]
    return None


@dataclass(frozen=True, slots=True)
class Orphan:
    """A ``sending`` row whose owner is gone."""

    id: int
    address: str
    since: datetime
    attempts: int
    reason: str | None


def taken(
    orphan: Orphan, channel: str, provider: str, now: datetime, *, by: str,
    provider_message_id: str | None, delivered: bool | None, detail: str = "",
    delivered_at: datetime | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:  # fmt: skip
    """The row's values and the attempt on record for an orphan the provider took, as ``by``
    (its status query, or its receipt) says: ``sent`` with the provider's id, or ``delivered``
    / ``failed`` when its receipt is known (``detail``: the failure's code and text)."""
    note = f"{_DIED}；{by}确认服务商已收到，未重发"
    attempt = _attempt(orphan, channel, provider, now) | {
        "outcome": "sent", "error_code": TAKEN, "error_detail": note,
        "provider_message_id": provider_message_id,
    }  # fmt: skip
    values: dict[str, Any] = {
        "status": MessageStatus.SENT, "status_reason": None, "sent_at": orphan.since,
        "provider_message_id": provider_message_id, "updated_at": now, "next_attempt_at": None,
    }  # fmt: skip
    if delivered is True:
        values |= {"status": MessageStatus.DELIVERED, "delivered_at": delivered_at or now}
    elif delivered is False:
        values |= {"status": MessageStatus.FAILED,
                   "status_reason": f"回执失败 {detail}".strip()[:500]}  # fmt: skip
    return values, attempt


def given_up(reason: str | None) -> bool:
    """Whether a ``dead`` row's reason is the one :data:`GIVE_UP` wrote: its send's outcome was
    never known, and a receipt that names it settles it."""
    return bool(reason) and str(reason).startswith(_GIVEN_UP + "：")


async def settle(
    session: AsyncSession, orphan: Orphan, values: dict[str, Any], attempt: dict[str, Any],
    *, status: MessageStatus = MessageStatus.SENDING,
) -> bool:  # fmt: skip
    """Record one resolution: a conditional UPDATE on (id, ``status``, its reason: the old
    owner, or why it was given up) and its attempt. False when the row had moved on (another
    worker, or a receipt, resolved it)."""
    m = _MESSAGE.c
    updated = await session.execute(
        sa.update(_MESSAGE)
        .where(
            m.id == orphan.id,
            sa.cast(m.status, sa.String) == status.value,
            m.status_reason == orphan.reason
            if orphan.reason is not None
            else m.status_reason.is_(None),
        )
        .values(values)
    )
    if cast(Any, updated).rowcount != 1:
        return False
    await session.execute(sa.insert(_ATTEMPT), [attempt])
    return True


def _attempt(orphan: Orphan, channel: str, provider: str, now: datetime) -> dict[str, Any]:
    return {
        "message_id": orphan.id, "attempt_no": orphan.attempts, "channel": channel,
        "provider": provider, "started_at": orphan.since, "finished_at": now,
        "provider_message_id": None,
    }  # fmt: skip


class UnknownSends:
    """Finds the orphaned sends among some message ids and resolves them (module docstring)."""

    def __init__(
        self, db: Database, queue: Queue, liveness: Liveness, clock: Clock, metrics: HubMetrics,
        *, consumer: str,
    ) -> None:  # fmt: skip
        #: Rows this consumer name claimed before this process started were claimed by an
        #: earlier process of the same name (a restarted container: same host, pid 1).
        self.started_at = clock.now()
        self.db = db
        self.queue = queue
        self.liveness = liveness
        self.clock = clock
        self.metrics = metrics
        self.consumer = consumer

    async def orphans(self, ids: set[int]) -> list[Orphan]:
        """The rows among ``ids`` left ``sending`` by a consumer that is not alive."""
        if not ids:
            return []
        m = _MESSAGE.c
        stmt = sa.select(m.id, m.address, m.updated_at, m.attempts, m.status_reason).where(
            m.id.in_(ids), sa.cast(m.status, sa.String) == MessageStatus.SENDING.value
        )
        async with self.db.read() as session:
            rows = (await session.execute(stmt)).all()
        owners = {owner_of(r.status_reason) for r in rows} - {None, self.consumer}
        alive = await self.liveness.alive(o for o in owners if o is not None)

        def orphaned(owner: str | None, claimed_at: datetime) -> bool:
            if owner == self.consumer:  # in flight in another pipeline, unless from before
                return claimed_at < self.started_at
            return owner not in alive

        return [
            Orphan(r.id, r.address, r.updated_at, r.attempts, r.status_reason)
            for r in sorted(rows, key=lambda r: r.id)
            if orphaned(owner_of(r.status_reason), r.updated_at)
        ]

    async def resolve(self, channel: Channel, ids: set[int]) -> list[int]:
        """Resolve the orphans among ``ids``; returns those queued again, to send now."""
        orphans = await self.orphans(ids)
        if not orphans:
            return []
        now = self.clock.now()
        if isinstance(channel, StatusQuerying):
            probes = [SendProbe(o.id, o.address, o.since) for o in orphans]
            answers = await channel.query_sent(probes)
        else:
            answers = [ProbeAnswer(o.id, Verdict.NOT_TAKEN, detail="") for o in orphans]
        blind = not isinstance(channel, StatusQuerying)
        requeued: list[int] = []
        rechecks: list[int] = []
        dead: dict[int, str] = {}
        async with self.db.write() as session:
            for orphan, answer in zip(orphans, answers, strict=True):
                values, attempt = self._outcome(channel, orphan, answer, now, blind=blind)
                if values is None:
                    rechecks.append(orphan.id)
                    continue
                if not await settle(session, orphan, values, attempt):
                    continue  # another worker (or a receipt) resolved it first
                if values["status"] is MessageStatus.QUEUED:
                    requeued.append(orphan.id)
                elif values["status"] is MessageStatus.DEAD:
                    dead[orphan.id] = str(values["status_reason"])
        for message_id in rechecks:
            await self.queue.schedule_retry(
                channel.name, message_id, now.timestamp() + RECHECK_SECONDS
            )
        for message_id, reason in dead.items():
            await self.queue.dead_letter(channel.name, message_id, reason)
        self._count(channel.name, answers, blind=blind, requeued=len(requeued))
        log.warning(
            "unknown sends resolved", channel=channel.name, orphans=len(orphans),
            requeued=len(requeued), rechecks=len(rechecks), dead=len(dead), blind=blind,
        )  # fmt: skip
        return requeued

    def _outcome(
        self, channel: Channel, orphan: Orphan, answer: ProbeAnswer, now: datetime, *, blind: bool
    ) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """The row's new values and the attempt on record; None values: ask again later."""
        attempt = _attempt(orphan, channel.name, channel.provider, now)
        died = _DIED
        if blind:
            detail = f"发送结果未知（{died}），该渠道无法查询状态，已重发，可能重复"
            attempt |= {"outcome": "retry", "error_code": RESENT_UNKNOWN, "error_detail": detail}
            return {"status": MessageStatus.QUEUED, "status_reason": detail,
                    "updated_at": now}, attempt  # fmt: skip
        if answer.verdict is Verdict.TAKEN:
            return taken(
                orphan, channel.name, channel.provider, now, by="状态查询",
                provider_message_id=answer.provider_message_id, delivered=answer.delivered,
                detail=answer.detail,
            )  # fmt: skip
        if answer.verdict is Verdict.NOT_TAKEN:
            detail = f"{died}；服务商未收到（{answer.detail}），重发"
            attempt |= {"outcome": "retry", "error_code": NOT_TAKEN, "error_detail": detail}
            return {"status": MessageStatus.QUEUED, "status_reason": detail,
                    "updated_at": now}, attempt  # fmt: skip
        if now - orphan.since < GIVE_UP:
            return None, attempt
        minutes = int(GIVE_UP.total_seconds() // 60)
        reason = (
            f"{_GIVEN_UP}：{died}，{minutes} 分钟内状态查询无结果（{answer.detail}）；"
            "为免重复未重发，请核实后处理"
        )
        attempt |= {"outcome": "failed", "error_code": GIVEN_UP, "error_detail": reason}
        return {"status": MessageStatus.DEAD, "status_reason": reason, "updated_at": now}, attempt

    def _count(
        self, channel: str, answers: Sequence[ProbeAnswer], *, blind: bool, requeued: int
    ) -> None:
        if blind:
            self.metrics.resent_while_unknown.labels(channel).inc(requeued)
            return
        for answer in answers:
            self.metrics.send_outcomes.labels(channel, f"unknown_{answer.verdict.value}").inc()
