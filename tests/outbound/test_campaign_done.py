"""A campaign is marked done by the system once its last message meets its fate (sent,
delivered, failed, skipped, dead): by the dispatcher as it records the answers, or by the
reconciler's sweep; a held message keeps it active, a cancelled one stays cancelled, and a
done campaign with a message to send again is active again."""

from __future__ import annotations

import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.campaigns import cancel_campaign, finish_campaigns, list_campaigns
from hub.store.db import Database
from hub.store.models import Campaign, Message
from tests.pipeline import build, notice, setup, statuses, submit
from tests.seed import seed_registry


async def _status(db: Database, campaign_id: int) -> str:
    async with db.read() as session:
        return str(await session.scalar(sa.select(Campaign.status).where(
            Campaign.id == campaign_id)))  # fmt: skip


async def _sweep(db: Database, clock: FixedClock) -> list[int]:
    async with db.write() as session:
        return await finish_campaigns(session, clock.now())


async def test_a_campaign_whose_messages_all_finish_is_done(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general"))
    campaign_id = outcome.campaign_id
    assert campaign_id is not None
    assert await _status(db, campaign_id) == "active"
    assert await hub.dispatcher.run_once("sandbox") == 3
    assert set((await statuses(db)).values()) == {MessageStatus.SENT}
    # Set in the transaction that recorded the last answers: no sweep needed.
    assert await _status(db, campaign_id) == "done"
    assert [c.status for c in await list_campaigns(db)] == ["done"]
    assert await _sweep(db, clock) == []  # nothing left for the sweep


async def test_a_campaign_with_a_held_message_is_not_done_until_it_goes(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome, ids = await submit(hub.outbox, notice("tier=general"))
    campaign_id = outcome.campaign_id
    assert campaign_id is not None
    held_id = ids[0]
    async with db.write() as session:
        await session.execute(sa.update(Message).where(Message.id == held_id).values(
            status=MessageStatus.HELD, status_reason="夜间免打扰"))  # fmt: skip
    assert await hub.dispatcher.run_once("sandbox") == 2
    assert await _status(db, campaign_id) == "active"
    assert await _sweep(db, clock) == []
    assert await _status(db, campaign_id) == "active"
    # Its last message met its fate outside the dispatcher: the reconciler's sweep sees it.
    async with db.write() as session:
        await session.execute(sa.update(Message).where(Message.id == held_id).values(
            status=MessageStatus.SKIPPED, status_reason="联系人已退订"))  # fmt: skip
    assert await _sweep(db, clock) == [campaign_id]
    assert await _status(db, campaign_id) == "done"


async def test_a_cancelled_campaign_stays_cancelled(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general"))
    assert outcome.campaign_id is not None
    assert await cancel_campaign(db, clock, outcome.campaign_id, actor="张三") == 3
    assert await _sweep(db, clock) == []
    assert await _status(db, outcome.campaign_id) == "cancelled"


async def test_a_done_campaign_with_more_to_send_is_active_again(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    first = await hub.outbox.submit(notice("tier=general", trigger_key="k1"))
    assert first.campaign_id is not None
    await hub.dispatcher.run_once("sandbox")
    assert await _status(db, first.campaign_id) == "done"
    # The same trigger again, to a wider audience: its new messages belong to the campaign.
    again = await hub.outbox.submit(notice("all", trigger_key="k1"))
    assert again.campaign_id == first.campaign_id
    assert again.queued
    assert await _status(db, first.campaign_id) == "active"
    await hub.dispatcher.run_once("sandbox")
    assert await _status(db, first.campaign_id) == "done"


async def test_finish_campaigns_on_sqlite_and_postgresql(
    any_db: Database, clock: FixedClock
) -> None:
    now = clock.now()
    fates = {"all sent": [MessageStatus.SENT, MessageStatus.DEAD],
             "one queued": [MessageStatus.DELIVERED, MessageStatus.QUEUED],
             "cancelled": [MessageStatus.SKIPPED]}  # fmt: skip
    ids: dict[str, tuple[int, list[int]]] = {}
    async with any_db.write() as session:
        for n, (name, statuses_of) in enumerate(fates.items()):
            campaign = Campaign(kind=MessageKind.NOTICE, trigger="test", trigger_key=name,
                                audience="all", status="cancelled" if name == "cancelled"
                                else "active", created_by="test", created_at=now,
                                updated_at=now)  # fmt: skip
            session.add(campaign)
            await session.flush()
            messages = [
                Message(idempotency_key=f"{n}-{i}", kind=MessageKind.NOTICE,
                        campaign_id=campaign.id, channel=ChannelName.SANDBOX, address="+86139",
                        status=status, body="通知", params={}, created_at=now, updated_at=now)
                for i, status in enumerate(statuses_of)
            ]  # fmt: skip
            session.add_all(messages)
            await session.flush()
            ids[name] = (campaign.id, [m.id for m in messages])
    async with any_db.write() as session:
        # The dispatcher's form: only the campaigns of the group's messages.
        assert await finish_campaigns(session, now, message_ids=ids["one queued"][1]) == []
        assert await finish_campaigns(session, now, message_ids=[]) == []
    async with any_db.write() as session:
        assert await finish_campaigns(session, now) == [ids["all sent"][0]]
    assert [await _status(any_db, ids[name][0]) for name in fates] == [
        "done", "active", "cancelled"]  # fmt: skip
