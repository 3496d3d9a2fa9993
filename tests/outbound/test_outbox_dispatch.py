"""Outbox → Redis stream → dispatcher → channel, against real Redis and SQLite.

The dispatcher is driven one batch at a time (``run_once``) with an injected clock; the
channels are the real sandbox and a scripted channel implementing the same interface.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import (
    PermanentError,
    RetryableError,
)
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import SendRequest, release_held, requeue_stale
from hub.outbound.settings import QuietHours, RoutingSettings
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from tests.pipeline import ScriptedChannel, build, notice, queued_ids, setup, statuses
from tests.seed import opt_out, seed_registry


@pytest.fixture
def db(any_db: Database) -> Database:
    """These tests run on SQLite and on PostgreSQL (dialect-specific upserts and RETURNING)."""
    return any_db


async def test_a_send_reaches_the_sandbox_inbox_and_is_recorded_sent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    ids = await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=key"))
    assert outcome.created == 1
    assert outcome.by_channel == {"sandbox": 1}

    assert await hub.dispatcher.run_once("sandbox") == 1

    async with db.read() as session:
        message = await session.scalar(sa.select(Message))
        attempts = (await session.scalars(sa.select(DeliveryAttempt))).all()
    assert message is not None
    assert message.status is MessageStatus.SENT
    assert message.enterprise_id == ids["甲机械"]
    assert message.sent_at == clock.now()
    assert message.provider_message_id == f"sandbox-{message.id}"
    assert [a.outcome for a in attempts] == ["sent"]
    inbox = await hub.sandbox.inbox(message.contact_id or 0)
    assert inbox[0]["body"] == "【主动服务】甲机械：请于月底前完成年报公示"


async def test_the_same_trigger_twice_creates_no_second_message(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    first = await hub.outbox.submit(notice("tier=general", trigger_key="2026-11-campaign"))
    second = await hub.outbox.submit(notice("tier=general", trigger_key="2026-11-campaign"))
    assert first.created == 3  # 乙 has two contacts, 丙 one
    assert second.created == 0
    assert second.duplicates == 3
    assert second.campaign_id == first.campaign_id
    assert len(await statuses(db)) == 3


async def test_every_recipient_not_sent_to_is_recorded_with_a_reason(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    await opt_out(db, "+8613900000005", ChannelName.SANDBOX)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=ordinary"))
    assert outcome.skipped == 2
    async with db.read() as session:
        reasons = set(
            (
                await session.scalars(
                    sa.select(Message.status_reason).where(Message.status == MessageStatus.SKIPPED)
                )
            ).all()
        )
    assert reasons == {"企业没有联系人", "联系人已退订沙箱"}
    assert outcome.queued == 0


async def test_dry_run_writes_nothing(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("all"), dry_run=True)
    assert outcome.by_channel == {"sandbox": 5}
    assert outcome.samples[0].body.startswith("【主动服务】")
    assert await statuses(db) == {}


async def test_an_id_on_the_stream_twice_is_sent_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=key"))
    await hub.queue.enqueue("sandbox", ids)  # a duplicate enqueue
    handled = await hub.dispatcher.run_once("sandbox")
    assert handled == 1
    message_id = ids[0]
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(DeliveryAttempt)) == 1
    assert len(await hub.sandbox.inbox(await _contact(db, message_id))) == 1


async def _contact(db: Database, message_id: int) -> int:
    async with db.read() as session:
        contact_id = await session.scalar(
            sa.select(Message.contact_id).where(Message.id == message_id)
        )
    assert contact_id is not None
    return contact_id


async def test_transient_errors_retry_with_backoff_then_dead_letter(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    channel = ScriptedChannel([RetryableError, RetryableError, RetryableError])
    hub = build(db, redis_client, redis_keys, clock, channel, max_attempts=3)
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key", channel=ChannelName.SMS))

    assert await hub.dispatcher.run_once("sms") == 1
    async with db.read() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert message.status is MessageStatus.QUEUED
    assert message.next_attempt_at is not None
    delay = (message.next_attempt_at - clock.now()).total_seconds()
    assert 1.0 <= delay <= 2.0  # base 2 s, jitter 50–100 %

    assert await hub.dispatcher.run_once("sms") == 0  # not due yet
    for _ in range(2):
        clock.advance(timedelta(minutes=10))
        assert await hub.dispatcher.run_once("sms") == 1

    async with db.read() as session:
        message = await session.get(Message, message_id)
        outcomes = (
            await session.scalars(sa.select(DeliveryAttempt.outcome).order_by(DeliveryAttempt.id))
        ).all()
    assert message is not None
    assert message.status is MessageStatus.DEAD
    assert "3 次" in (message.status_reason or "")
    assert outcomes == ["retry", "retry", "failed"]
    dead = await hub.queue.list_dead("sms")
    assert [d.message_id for d in dead] == [message_id]


async def test_retry_after_from_the_provider_is_honoured(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)

    class Limited(RetryableError):
        def __init__(self, message: str, *, code: str = "") -> None:
            super().__init__(message, code=code, retry_after=30.0)

    hub = build(db, redis_client, redis_keys, clock, ScriptedChannel([Limited]))
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key", channel=ChannelName.SMS))
    await hub.dispatcher.run_once("sms")
    async with db.read() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert message.next_attempt_at is not None
    assert message.next_attempt_at - clock.now() == timedelta(seconds=30)


async def test_permanent_error_fails_with_the_reason(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock, ScriptedChannel([PermanentError, None]))
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general", channel=ChannelName.SMS))
    assert outcome.queued == 3
    await hub.dispatcher.run_once("sms")
    found = await statuses(db)
    assert sorted(found.values()) == sorted(
        [MessageStatus.FAILED, MessageStatus.SENT, MessageStatus.SENT]
    )
    async with db.read() as session:
        reason = await session.scalar(
            sa.select(Message.status_reason).where(Message.status == MessageStatus.FAILED)
        )
    assert reason == "provider said no"


async def test_rows_redis_lost_are_requeued_by_the_reconciler(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=key"))
    await redis_client.delete(hub.keys.outbound_stream("sandbox"))  # Redis lost the entry
    await hub.queue.ensure_groups(["sandbox"])
    assert await hub.dispatcher.run_once("sandbox") == 0

    assert await requeue_stale(db, hub.queue, clock, older_than=timedelta(seconds=60)) == 0
    clock.advance(timedelta(minutes=2))
    assert await requeue_stale(db, hub.queue, clock, older_than=timedelta(seconds=60)) == 1
    assert await hub.dispatcher.run_once("sandbox") == 1
    assert (await statuses(db))[ids[0]] is MessageStatus.SENT


async def test_a_crashed_workers_batch_is_reclaimed_and_sent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    ids = await queued_ids(hub.outbox, notice("tier=key"))
    # Another worker claimed the entry and died before sending.
    claimed = await hub.queue.claim("sandbox", "dead-worker", 10, None)
    assert len(claimed) == 1
    stale = await hub.queue.reclaim_stale("sandbox", "c1", min_idle_ms=0, count=10)
    assert await hub.dispatcher.process("sandbox", stale) == 1
    assert (await statuses(db))[ids[0]] is MessageStatus.SENT


@pytest.mark.parametrize("kind", ["policy_push", "procedure_reminder"])
async def test_shipped_templates_render_for_the_sample_registry(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock, kind: str
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    # The programs supply these kinds' variables (issue 13): here, the templates' examples.
    spec = hub.outbox.planner.renderer.spec(kind, "sandbox")
    examples = {v.name: v.example for v in spec.variables.values()}
    request = SendRequest(
        kind=MessageKind(kind), audience=parse_audience("all"), variables=examples
    )
    planned = await hub.outbox.plan(request)
    bodies = [p.body for p in planned if p.status is MessageStatus.QUEUED]
    assert len(bodies) == 5
    assert all(body.startswith("【主动服务】") and "TD" in body for body in bodies)


async def test_a_permanent_error_falls_back_to_the_next_channel_as_a_new_attempt(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    sms = ScriptedChannel([PermanentError])
    routing = RoutingSettings(chains={"default": ("sms", "sandbox")})
    hub = build(db, redis_client, redis_keys, clock, sms, routing=routing)
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key"))

    assert await hub.dispatcher.run_once("sms") == 1
    async with db.read() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert message.status is MessageStatus.QUEUED
    assert message.channel is ChannelName.SANDBOX
    assert message.status_reason == "短信发送失败（provider said no），改用沙箱"

    assert await hub.dispatcher.run_once("sandbox") == 1
    async with db.read() as session:
        message = await session.get(Message, message_id)
        attempts = (
            await session.execute(
                sa.select(DeliveryAttempt.channel, DeliveryAttempt.outcome).order_by(
                    DeliveryAttempt.id
                )
            )
        ).all()
        count = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert message is not None
    assert message.status is MessageStatus.SENT
    assert [(c.value, o) for c, o in attempts] == [("sms", "fallback"), ("sandbox", "sent")]
    assert count == 1  # one message, two attempts


async def test_no_address_on_the_first_channel_routes_to_the_next(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    routing = RoutingSettings(chains={"default": ("wechat", "sandbox")})
    hub = build(db, redis_client, redis_keys, clock, routing=routing)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=key"))
    assert outcome.by_channel == {"sandbox": 1}


async def test_quiet_hours_hold_and_the_window_opening_releases(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    clock.set(datetime(2026, 11, 23, 22, 30, tzinfo=SHANGHAI))
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=key"))
    assert outcome.held == 1
    assert outcome.queued == 0
    assert await hub.dispatcher.run_once("sandbox") == 0
    async with db.read() as session:
        message = await session.scalar(sa.select(Message))
    assert message is not None
    assert message.status is MessageStatus.HELD
    assert message.status_reason == "免打扰时段（21:00–08:00），将于 11-24 08:00 发送"

    clock.set(datetime(2026, 11, 24, 7, 59, tzinfo=SHANGHAI))
    assert await release_held(db, hub.queue, clock) == 0
    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI))
    assert await release_held(db, hub.queue, clock) == 1
    assert await hub.dispatcher.run_once("sandbox") == 1
    assert set((await statuses(db)).values()) == {MessageStatus.SENT}


async def test_with_days_off_a_saturday_campaign_waits_for_monday_morning(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=SHANGHAI))  # a Saturday afternoon
    hub = build(db, redis_client, redis_keys, clock, quiet_hours=QuietHours(days_off=True))
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=key"))
    assert outcome.held == 1
    async with db.read() as session:
        message = await session.scalar(sa.select(Message))
    assert message is not None
    assert message.status_reason == "免打扰时段（21:00–08:00，休息日全天），将于 11-30 08:00 发送"
    clock.set(datetime(2026, 11, 30, 8, 0, tzinfo=SHANGHAI))
    assert await release_held(db, hub.queue, clock) == 1
    assert await hub.dispatcher.run_once("sandbox") == 1


async def test_kinds_that_bypass_quiet_hours_go_out_at_night(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    clock.set(datetime(2026, 11, 23, 23, 0, tzinfo=SHANGHAI))
    urgent_notices = QuietHours(bypass=(MessageKind.NOTICE,))
    hub = build(db, redis_client, redis_keys, clock, quiet_hours=urgent_notices)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=key"))
    assert outcome.held == 0
    assert outcome.queued == 1


async def test_frequency_cap_and_same_content_window_skip_with_reasons(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    routing = RoutingSettings(chains={"default": ("sandbox",)}, max_per_contact_per_day=2)
    hub = build(db, redis_client, redis_keys, clock, routing=routing)
    await setup(hub)
    first = await hub.outbox.submit(notice("tier=key"))
    again = await hub.outbox.submit(notice("tier=key"))  # a new trigger, the same text
    assert first.queued == 1
    assert again.skipped == 1

    other = SendRequest(kind=MessageKind.NOTICE, audience=parse_audience("tier=key"),
                        variables={"text": "第二条通知"})  # fmt: skip
    third = SendRequest(kind=MessageKind.NOTICE, audience=parse_audience("tier=key"),
                        variables={"text": "第三条通知"})  # fmt: skip
    assert (await hub.outbox.submit(other)).queued == 1
    capped = await hub.outbox.submit(third)
    assert capped.skipped == 1
    async with db.read() as session:
        reasons = (
            await session.scalars(
                sa.select(Message.status_reason)
                .where(Message.status == MessageStatus.SKIPPED)
                .order_by(Message.id)
            )
        ).all()
    assert reasons == ["24 小时内已向该联系人发送过相同内容", "已达每日上限（每人每天 2 条）"]

    clock.advance(timedelta(days=1, minutes=1))
    next_day = SendRequest(kind=MessageKind.NOTICE, audience=parse_audience("tier=key"),
                           variables={"text": "第三条通知"})  # fmt: skip
    assert (await hub.outbox.submit(next_day)).queued == 1


async def test_the_reconciler_leaves_a_backlog_that_is_still_on_the_stream_alone(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("all"))
    clock.advance(timedelta(minutes=10))  # waiting long for the provider's rate
    assert await requeue_stale(db, hub.queue, clock, older_than=timedelta(seconds=60)) == 0
    stream = hub.keys.outbound_stream("sandbox")
    assert await redis_client.xlen(stream) == outcome.queued  # nothing doubled
