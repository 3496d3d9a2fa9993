"""The batched submit (hub.outbound.batch_send) and notices (notify.notify_many): one request
per (enterprise, item) planned and stored a chunk at a time, with a single submit's guarantees.

The sample registry (tests.seed): 甲机械 (one contact), 乙商贸 (two), 丙软件 (one). Real Redis,
SQLite (and PostgreSQL where marked), a FixedClock on a Monday morning.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.audience import parse_audience
from hub.outbound.batch_send import BatchSend, submit_batch
from hub.outbound.notify import Notice, Recipient, enqueue_notified, notify_many
from hub.outbound.outbox import SendRequest
from hub.store.db import Database
from hub.store.models import Campaign, Contact, ContactOptOut, Message
from tests.importing.factories import make_uscc
from tests.pipeline import Hub, build, setup
from tests.seed import T0, seed_registry

NAMES = ("甲机械", "乙商贸", "丙软件")


async def _hub(db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock
               ) -> tuple[Hub, dict[str, int]]:  # fmt: skip
    ids = await seed_registry(db)
    hub = build(db, redis, keys, clock)
    await setup(hub)
    return hub, ids


def _sends(ids: dict[str, int], names: Sequence[str], item: str = "ev-1") -> list[BatchSend]:
    """One notice per enterprise named, under the trigger key ``<item>:<name>``."""
    serial = {name: n for n, name in enumerate(("甲机械", "乙商贸", "丙软件", "丁餐饮"), 1)}
    return [
        BatchSend(ids[name], SendRequest(
            kind=MessageKind.NOTICE, audience=parse_audience(f"uscc={make_uscc(serial[name])}"),
            trigger="program:test", trigger_key=f"{item}:{name}",
            variables={"text": f"{name}的事项 {item}"}, created_by="program:test",
        ))
        for name in names
    ]  # fmt: skip


async def _count(db: Database, table: type[Message] | type[Campaign]) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def test_the_same_batch_twice_creates_nothing_and_a_single_submit_agrees(
    any_db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, ids = await _hub(any_db, redis_client, redis_keys, clock)
    first = await submit_batch(hub.outbox, _sends(ids, NAMES))
    assert [(o.created, o.duplicates, o.skipped) for o in first] == [(1, 0, 0), (2, 0, 0),
                                                                      (1, 0, 0)]  # fmt: skip
    assert [o.queued for o in first] == [1, 2, 1]
    assert all(o.campaign_id is not None for o in first)
    assert (await _count(any_db, Message), await _count(any_db, Campaign)) == (4, 3)
    assert await hub.dispatcher.run_once("sandbox") == 4  # every new row was enqueued

    again = await submit_batch(hub.outbox, _sends(ids, NAMES))
    assert [(o.created, o.duplicates) for o in again] == [(0, 1), (0, 2), (0, 1)]
    assert [o.campaign_id for o in again] == [o.campaign_id for o in first]
    # The same request submitted alone finds the same campaign and keys: nothing new.
    alone = await hub.outbox.submit(_sends(ids, ["乙商贸"])[0].request)
    assert (alone.created, alone.duplicates, alone.campaign_id) == (0, 2, first[1].campaign_id)
    assert (await _count(any_db, Message), await _count(any_db, Campaign)) == (4, 3)
    assert await hub.dispatcher.run_once("sandbox") == 0


async def test_an_opted_out_enterprise_is_skipped_alone(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, ids = await _hub(db, redis_client, redis_keys, clock)
    async with db.write() as session:
        contact = await session.scalar(
            sa.select(Contact.id).where(Contact.enterprise_id == ids["甲机械"])
        )
        session.add(ContactOptOut(contact_id=contact, channel=ChannelName.SANDBOX, kind="*",
                                  at=T0, source="test"))  # fmt: skip
    outcomes = await submit_batch(hub.outbox, _sends(ids, NAMES))
    jia, yi, bing = outcomes
    assert (jia.created, jia.skipped, jia.queued) == (1, 1, 0)  # recorded, not sent
    assert jia.reasons
    assert not yi.reasons
    assert not bing.reasons
    assert [(o.created, o.skipped, o.queued) for o in (yi, bing)] == [(2, 0, 2), (1, 0, 1)]
    async with db.read() as session:
        statuses = dict(
            (await session.execute(sa.select(Message.enterprise_id, Message.status))).all()
        )
    assert statuses[ids["甲机械"]] is MessageStatus.SKIPPED
    assert statuses[ids["乙商贸"]] is statuses[ids["丙软件"]] is MessageStatus.QUEUED


async def test_caps_count_the_requests_before_in_the_same_batch(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, ids = await _hub(db, redis_client, redis_keys, clock)
    # Four items to 甲机械's one contact in one batch: the day's cap (3) stops the fourth, as
    # four submits one after the other would.
    sends = [s for item in ("a", "b", "c", "d") for s in _sends(ids, ["甲机械"], item)]
    outcomes = await submit_batch(hub.outbox, sends)
    assert [(o.created, o.skipped) for o in outcomes] == [(1, 0), (1, 0), (1, 0), (1, 1)]
    assert list(outcomes[3].reasons) == [("skipped", "已达每日上限（每人每天 3 条）")]


async def test_notices_in_a_batch_are_created_and_enqueued_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    hub, _ = await _hub(db, redis_client, redis_keys, clock)
    officer = Recipient(key="officer:1", name="李明", addresses={ChannelName.SMS: "+8613845200001"})
    notices = [
        Notice(
            MessageKind.NOTICE,
            officer,
            {"enterprise": {"name": "甲机械"}, "text": f"事项 {n}"},
            "program:test",
            f"item:{n}",
        )
        for n in (1, 2, 1)  # the third repeats the first
    ]
    planner = hub.outbox.planner

    async def batch() -> list[bool]:
        async with db.write() as session:
            results = await notify_many(
                session, notices, now=clock.now(), renderer=planner.renderer,
                policy=planner.policy,
            )  # fmt: skip
        await enqueue_notified(hub.queue, results)
        assert [r.status for r in results] == [MessageStatus.QUEUED] * 3, results
        return [r.created for r in results]

    assert await batch() == [True, True, False]
    assert await batch() == [False, False, False]
    assert await _count(db, Message) == 2
    assert await hub.dispatcher.run_once("sandbox") == 2
