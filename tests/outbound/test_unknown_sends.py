"""A send whose worker died during the provider call is resolved, never resent blind.

The dead worker is simulated exactly: consumer ``dead-1`` claims the stream entries and its
rows go ``sending`` under its name, and it never heartbeats. The live dispatcher (``c1``)
takes its entries over at once and asks the channel's status query what became of each send.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import ClassVar

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import ProbeAnswer, SendProbe, Verdict
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.infra.consumers import HEARTBEAT_TTL_S
from hub.outbound.settings import RoutingSettings
from hub.outbound.unknown_sends import GIVE_UP, NOT_TAKEN, RESENT_UNKNOWN, TAKEN, owner_reason
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from tests.pipeline import Hub, ScriptedChannel, build, notice, queued_ids, setup
from tests.seed import seed_registry

SMS_ONLY = RoutingSettings(chains={"default": ("sms",)})


@pytest.fixture
def db(any_db: Database) -> Database:
    """On SQLite and PostgreSQL: resolution is a conditional UPDATE that counts its rows."""
    return any_db


class ProbedChannel(ScriptedChannel):
    """A scripted SMS channel whose provider answers status queries as told, per message."""

    max_batch: ClassVar[int] = 50
    status_settle_seconds = 5.0

    def __init__(self, verdicts: dict[int, Verdict] | None = None) -> None:
        super().__init__([])
        self.verdicts = verdicts or {}
        self.probed: list[SendProbe] = []

    async def query_sent(self, probes: Sequence[SendProbe]) -> list[ProbeAnswer]:
        self.probed.extend(probes)
        answers = []
        for p in probes:
            verdict = self.verdicts.get(p.message_id, Verdict.NOT_TAKEN)
            serial = f"serial-{p.message_id}" if verdict is Verdict.TAKEN else None
            answers.append(ProbeAnswer(p.message_id, verdict, serial, detail="scripted"))
        return answers


async def _die_mid_send(
    hub: Hub, channel: str, ids: list[int], owner: str = "dead-1", *, ago: float = 0.0
) -> None:
    """What a worker leaves when SIGKILLed during its provider call (``ago`` seconds ago)."""
    claimed = await hub.queue.claim(channel, owner, 100)
    assert sorted(e.message_id for e in claimed) == sorted(ids)
    async with hub.db.write() as session:
        await session.execute(
            sa.update(Message)
            .where(Message.id.in_(ids))
            .values(status=MessageStatus.SENDING, attempts=Message.attempts + 1,
                    updated_at=hub.clock.now() - timedelta(seconds=ago),
                    status_reason=owner_reason(owner))
        )  # fmt: skip


async def _started(hub: Hub) -> None:
    """The live dispatcher's first heartbeat, a heartbeat's lifetime ago (the epoch's grace)."""
    await hub.dispatcher.liveness.beat(hub.dispatcher.consumer)
    hub.clock.advance(timedelta(seconds=HEARTBEAT_TTL_S + 1))
    await hub.dispatcher.liveness.beat(hub.dispatcher.consumer)


async def _attempts(db: Database) -> list[tuple[int, str, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(DeliveryAttempt.message_id, DeliveryAttempt.outcome,
                      DeliveryAttempt.error_code).order_by(DeliveryAttempt.id)
        )  # fmt: skip
    return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def _rows(db: Database) -> dict[int, Message]:
    async with db.read() as session:
        return {m.id: m for m in (await session.scalars(sa.select(Message))).all()}


async def _pending(hub: Hub, channel: str) -> int:
    return (await hub.queue.backlog(channel)).pending


async def test_a_send_the_provider_took_is_recorded_sent_and_not_resent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    channel = ProbedChannel()
    hub = build(db, redis_client, redis_keys, clock, channel, routing=SMS_ONLY)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=general"))
    await _die_mid_send(hub, "sms", ids)
    channel.verdicts = {i: Verdict.TAKEN for i in ids}
    await _started(hub)

    await hub.dispatcher.recovery.take_over_dead("sms")

    assert channel.sent == []  # nothing went to the provider twice
    assert sorted(p.message_id for p in channel.probed) == sorted(ids)
    rows = await _rows(db)
    assert {rows[i].status for i in ids} == {MessageStatus.SENT}
    assert {i: rows[i].provider_message_id for i in ids} == {i: f"serial-{i}" for i in ids}
    assert await _attempts(db) == [(i, "sent", TAKEN) for i in sorted(ids)]
    assert await _pending(hub, "sms") == 0


async def test_a_send_the_provider_never_took_is_sent_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    channel = ProbedChannel()
    hub = build(db, redis_client, redis_keys, clock, channel, routing=SMS_ONLY)
    await setup(hub)
    [taken, lost, *_] = ids = await queued_ids(hub.outbox, notice("tier=general"))
    await _die_mid_send(hub, "sms", ids)
    channel.verdicts = {taken: Verdict.TAKEN}
    await _started(hub)

    await hub.dispatcher.recovery.take_over_dead("sms")

    assert [m.message_id for m in channel.sent] == [i for i in ids if i != taken]
    rows = await _rows(db)
    assert {rows[i].status for i in ids} == {MessageStatus.SENT}
    attempts = await _attempts(db)
    assert (lost, "retry", NOT_TAKEN) in attempts
    assert [a for a in attempts if a[0] == lost][-1] == (lost, "sent", None)
    assert rows[lost].attempts == 2
    assert await _pending(hub, "sms") == 0


async def test_a_send_with_no_answer_is_asked_again_and_given_up_not_resent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    channel = ProbedChannel()
    hub = build(db, redis_client, redis_keys, clock, channel, routing=SMS_ONLY)
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key"))
    await _die_mid_send(hub, "sms", [message_id])
    channel.verdicts = {message_id: Verdict.UNKNOWN}
    await _started(hub)

    await hub.dispatcher.recovery.take_over_dead("sms")
    assert (await _rows(db))[message_id].status is MessageStatus.SENDING
    assert await _pending(hub, "sms") == 0  # handed to the retry set, to be asked again
    assert (await hub.queue.backlog("sms")).retrying == 1

    clock.advance(GIVE_UP)
    await hub.dispatcher.run_once("sms")
    assert len(channel.probed) == 2
    assert channel.sent == []
    message = (await _rows(db))[message_id]
    assert message.status is MessageStatus.DEAD
    assert message.status_reason is not None
    assert "发送结果无法确认" in message.status_reason
    assert "未重发" in message.status_reason
    assert [d.message_id for d in await hub.queue.list_dead("sms")] == [message_id]


async def test_a_channel_without_a_status_query_resends_and_counts_it(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key"))
    await _die_mid_send(hub, "sandbox", [message_id])
    await _started(hub)

    await hub.dispatcher.recovery.take_over_dead("sandbox")

    assert (await _rows(db))[message_id].status is MessageStatus.SENT
    assert await _attempts(db) == [
        (message_id, "retry", RESENT_UNKNOWN),
        (message_id, "sent", None),
    ]
    counter = hub.dispatcher.metrics.resent_while_unknown.labels("sandbox")
    assert counter._value.get() == 1


async def test_a_live_workers_sends_are_left_to_it(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    channel = ProbedChannel()
    hub = build(db, redis_client, redis_keys, clock, channel, routing=SMS_ONLY)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=general"))
    await _die_mid_send(hub, "sms", ids, owner="busy-2")
    await _started(hub)
    await hub.dispatcher.liveness.beat("busy-2")
    await hub.queue.enqueue("sms", ids)  # a duplicate reminder (the reconciler, a flush)

    assert await hub.dispatcher.recovery.take_over_dead("sms") == 0
    await hub.dispatcher.run_once("sms")

    assert channel.probed == []
    assert channel.sent == []
    assert {m.status for m in (await _rows(db)).values()} == {MessageStatus.SENDING}
    assert await _pending(hub, "sms") == len(ids)  # still busy-2's to acknowledge


async def test_a_restarted_worker_of_the_same_name_resolves_what_it_left(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    # A container restarts with the same host name and pid: the consumer name is the same,
    # so the heartbeat looks alive and XREADGROUP never hands back its own pending entries.
    await seed_registry(db)
    channel = ProbedChannel()
    hub = build(db, redis_client, redis_keys, clock, channel, routing=SMS_ONLY)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=general"))
    await _die_mid_send(hub, "sms", ids, owner=hub.dispatcher.consumer, ago=30)
    channel.verdicts = {ids[0]: Verdict.TAKEN}
    await _started(hub)

    await hub.dispatcher.recovery.take_over_own("sms")

    assert sorted(p.message_id for p in channel.probed) == sorted(ids)
    assert [m.message_id for m in channel.sent] == ids[1:]
    assert {m.status for m in (await _rows(db)).values()} == {MessageStatus.SENT}
    assert await _pending(hub, "sms") == 0
