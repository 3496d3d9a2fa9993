"""Campaigns: a paused campaign sends nothing until resumed; cancelling stops what is unsent."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.errors import NotFoundError, UsageError
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.outbound.campaigns import cancel_campaign, list_campaigns, pause_campaign, resume_campaign
from hub.outbound.outbox import release_held
from hub.store.db import Database
from hub.store.models import AuditLog, Message
from tests.pipeline import build, notice, queued_ids, setup, statuses, submit
from tests.seed import seed_registry


async def test_a_paused_campaign_sends_nothing_until_resumed(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general"))
    assert outcome.campaign_id is not None
    assert await pause_campaign(db, clock, outcome.campaign_id, actor="张三") == 3

    assert await hub.dispatcher.run_once("sandbox") == 0  # entries on the stream are dropped
    assert set((await statuses(db)).values()) == {MessageStatus.HELD}
    # The trigger firing again while paused adds nothing that could go out.
    again = await hub.outbox.submit(
        notice("tier=general", trigger_key=_key(outcome.campaign_id, await list_campaigns(db)))
    )
    assert again.queued == 0

    resumed = await resume_campaign(db, hub.queue, clock, outcome.campaign_id, actor="张三")
    assert (resumed.queued, resumed.held) == (3, 0)
    assert await hub.dispatcher.run_once("sandbox") == 3
    assert set((await statuses(db)).values()) == {MessageStatus.SENT}
    async with db.read() as session:
        actions = (await session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id))).all()
    assert actions == ["campaign.pause", "campaign.resume"]


def _key(campaign_id: int, campaigns: list) -> str:  # type: ignore[type-arg]
    return next(c.trigger_key for c in campaigns if c.id == campaign_id)


async def test_cancelling_skips_everything_unsent_with_the_reason(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    [first_id] = await queued_ids(hub.outbox, notice("tier=key"))
    await hub.dispatcher.run_once("sandbox")  # 甲 is sent before the cancel
    second, second_ids = await submit(hub.outbox, notice("tier=general"))
    assert second.campaign_id is not None
    assert await cancel_campaign(db, clock, second.campaign_id, actor="张三") == 3
    assert await hub.dispatcher.run_once("sandbox") == 0
    found = await statuses(db)
    assert found[first_id] is MessageStatus.SENT
    assert [found[i] for i in second_ids] == [MessageStatus.SKIPPED] * 3
    summary = {c.id: c for c in await list_campaigns(db)}
    assert summary[second.campaign_id].status == "cancelled"
    assert summary[second.campaign_id].counts == {"skipped": 3}


async def test_state_changes_that_make_no_sense_are_refused(db: Database, clock: FixedClock
                                                             ) -> None:  # fmt: skip
    with pytest.raises(NotFoundError):
        await pause_campaign(db, clock, 999, actor="x")


async def test_resuming_an_active_campaign_is_a_usage_error(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=key"))
    assert outcome.campaign_id is not None
    with pytest.raises(UsageError, match="只能恢复已暂停的批次"):
        await resume_campaign(db, hub.queue, clock, outcome.campaign_id, actor="x")


async def test_resuming_in_quiet_hours_holds_until_they_end_and_says_so(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general"))  # Monday 10:00
    assert outcome.campaign_id is not None
    assert await pause_campaign(db, clock, outcome.campaign_id, actor="张三") == 3
    clock.set(datetime(2026, 11, 23, 22, 0, tzinfo=SHANGHAI))

    resumed = await resume_campaign(db, hub.queue, clock, outcome.campaign_id, actor="张三",
                                    policy=hub.outbox.planner.policy)  # fmt: skip
    reason = "免打扰时段（21:00–08:00），将于 11-24 08:00 发送"
    assert (resumed.queued, resumed.held) == (0, 3)
    assert resumed.hold is not None
    assert resumed.hold.reason == reason
    assert await hub.dispatcher.run_once("sandbox") == 0
    async with db.read() as session:
        rows = (await session.execute(sa.select(Message.status, Message.status_reason))).all()
    assert set(rows) == {(MessageStatus.HELD, reason)}

    clock.set(datetime(2026, 11, 24, 8, 0, tzinfo=SHANGHAI))
    assert await release_held(db, hub.queue, clock) == 3
    assert await hub.dispatcher.run_once("sandbox") == 3
