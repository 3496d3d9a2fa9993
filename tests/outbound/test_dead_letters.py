"""An operator's dead-letter retry: queued again from its first attempt, held in quiet hours,
refused for a message that is not dead or whose campaign was cancelled; audit-logged."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import RetryableError
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.errors import UsageError
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageStatus
from hub.outbound.campaigns import cancel_campaign
from hub.outbound.dead_letters import retry_dead_letter
from hub.store.db import Database
from hub.store.models import AuditLog, Message
from tests.pipeline import Hub, ScriptedChannel, build, notice, setup, submit
from tests.seed import seed_registry


async def _dead_message(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> tuple[Hub, ScriptedChannel, int, int]:
    """One message dead on the scripted SMS channel after two failed attempts."""
    await seed_registry(db)
    channel = ScriptedChannel([RetryableError, RetryableError])
    hub = build(db, redis_client, redis_keys, clock, channel, max_attempts=2)
    await setup(hub)
    outcome, [message_id] = await submit(hub.outbox, notice("tier=key", channel=ChannelName.SMS))
    assert outcome.campaign_id is not None
    assert await hub.dispatcher.run_once("sms") == 1
    clock.advance(timedelta(minutes=10))
    assert await hub.dispatcher.run_once("sms") == 1
    assert [d.message_id for d in await hub.queue.list_dead("sms")] == [message_id]
    return hub, channel, message_id, outcome.campaign_id


async def _message(db: Database, message_id: int) -> Message:
    async with db.read() as session:
        found = await session.get(Message, message_id)
    assert found is not None
    return found


async def test_a_retried_dead_letter_is_queued_and_sent(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, channel, message_id, _ = await _dead_message(db, redis_client, redis_keys, clock)

    retried = await retry_dead_letter(db, hub.queue, clock, message_id, actor="admin",
                                      policy=hub.outbox.planner.policy)  # fmt: skip
    assert (retried.status, retried.hold) == (MessageStatus.QUEUED, None)
    message = await _message(db, message_id)
    assert (message.status, message.attempts, message.status_reason) == (
        MessageStatus.QUEUED, 0, None)  # fmt: skip
    assert await hub.queue.list_dead("sms") == []
    assert await hub.dispatcher.run_once("sms") == 1
    assert (await _message(db, message_id)).status is MessageStatus.SENT
    assert [m.message_id for m in channel.sent] == [message_id]
    async with db.read() as session:
        audit = (await session.scalars(sa.select(AuditLog).where(
            AuditLog.action == "message.retry"))).one()  # fmt: skip
    assert (audit.actor, audit.target_type, audit.target_id) == (
        "admin",
        "message",
        str(message_id),
    )
    assert "2 次" in audit.detail["dead_reason"]

    with pytest.raises(UsageError, match="只能重试死信"):
        await retry_dead_letter(db, hub.queue, clock, message_id, actor="admin")


async def test_a_retry_in_quiet_hours_is_held_until_they_end(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, _, message_id, _ = await _dead_message(db, redis_client, redis_keys, clock)
    clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=SHANGHAI))

    retried = await retry_dead_letter(db, hub.queue, clock, message_id, actor="admin",
                                      policy=hub.outbox.planner.policy)  # fmt: skip
    reason = "免打扰时段（21:00–08:00），将于 11-24 08:00 发送"
    assert retried.status is MessageStatus.HELD
    assert retried.hold is not None
    assert retried.hold.reason == reason
    message = await _message(db, message_id)
    assert (message.status, message.status_reason) == (MessageStatus.HELD, reason)
    assert await hub.dispatcher.run_once("sms") == 0


async def test_a_dead_letter_of_a_cancelled_campaign_is_not_retried(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, _, message_id, campaign_id = await _dead_message(db, redis_client, redis_keys, clock)
    await cancel_campaign(db, clock, campaign_id, actor="admin")

    with pytest.raises(UsageError, match="已取消"):
        await retry_dead_letter(db, hub.queue, clock, message_id, actor="admin")
    assert (await _message(db, message_id)).status is MessageStatus.DEAD
