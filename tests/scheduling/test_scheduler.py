"""The scheduler: fires run once, missed fires are caught up once, one leader, live edits.

Time is a FixedClock: fires and catch-up are called directly at chosen times rather than
waiting for real cron times. The leader-election and reload tests run the real loop with
short lock and poll intervals (well under a second each).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import structlog
from redis.asyncio import Redis

from hub.core.errors import HubError
from hub.outbound.outbox import Outbox, SendOutcome, SendRequest
from hub.scheduling.schedule_store import stored_schedules, sync_schedules
from hub.scheduling.scheduler import HubScheduler, trigger_key
from hub.scheduling.schedules import parse_spec
from hub.store.db import Database
from hub.store.models import Campaign, Message, ScheduleRun
from hub.store.schedule_runs import STALE_RUN_AFTER
from tests.pipeline import Hub, build

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in November 2026, Shanghai (the 23rd is a Monday)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.fixture(autouse=True)
def _fresh_structlog() -> None:
    """A CLI test elsewhere may have left structlog caching loggers bound to capsys's
    stream, closed since; start from structlog's defaults (which look up sys.stdout late)."""
    structlog.reset_defaults()


@pytest.fixture
def db(any_db: Database) -> Database:
    """Run rows and campaigns rely on ON CONFLICT and RETURNING: both databases."""
    return any_db


def scheduler(hub: Hub, redis: Redis, **options: Any) -> HubScheduler:
    outbox = options.pop("outbox", hub.outbox)
    return HubScheduler(hub.db, redis, hub.keys, outbox, hub.clock, **options)


async def store(
    hub: Hub, name: str = "daily", cron: str = "0 9 * * *", *, at_time: datetime, **more: Any
) -> None:
    """Sync a schedule whose version is created at ``at_time``."""
    hub.clock.set(at_time)
    data = {"cron": cron, "audience": "tier=key", "kind": "policy_push", **more}
    spec = parse_spec(data, default_name=name, file="test")
    await sync_schedules(hub.db, [spec], hub.clock, actor="test")


async def runs(db: Database) -> list[tuple[datetime, str]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(ScheduleRun.fire_time, ScheduleRun.status).order_by(ScheduleRun.fire_time)
        )
        return [(fire_time, status) for fire_time, status in rows.all()]


async def count(db: Database, table: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


# --- one fire, once ----------------------------------------------------------------------------


async def test_a_fire_creates_a_campaign_and_its_messages_once(
    hub: Hub, redis_client: Redis
) -> None:
    # policy_push names its policy (policy_title is required): a campaign supplies it.
    variables = {"policy_title": "稳岗补贴"}
    await store(hub, "policy_push", "0 9 1 * *", at_time=at(20, 10), variables=variables)
    sched = scheduler(hub, redis_client)
    fire_time = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    hub.clock.set(fire_time + timedelta(seconds=2))

    first = await sched.fire("policy_push", fire_time)
    assert first.created
    assert first.status == "done"
    assert first.messages_created == 1  # 甲机械, the one key enterprise, has one contact
    assert first.detail == "企业 1 家，新建 1 条，重复忽略 0 条，不发送 0 条"
    async with hub.db.read() as session:
        campaign = await session.scalar(sa.select(Campaign))
        run = await session.scalar(sa.select(ScheduleRun))
    assert campaign is not None
    assert run is not None
    assert (campaign.id, campaign.trigger, campaign.trigger_key) == (
        first.campaign_id,
        "schedule:policy_push",
        "2026-12-01T01:00:00Z",
    )
    assert (run.status, run.campaign_id, run.schedule_version) == ("done", campaign.id, 1)
    assert run.fire_time == fire_time
    assert run.started_at == run.finished_at == hub.clock.now()

    again = await sched.fire("policy_push", fire_time)
    assert not again.created
    assert (again.status, again.campaign_id, again.detail) == (
        "done",
        first.campaign_id,
        first.detail,
    )
    assert await count(hub.db, ScheduleRun) == 1
    assert await count(hub.db, Message) == 1


async def test_two_schedulers_firing_together_create_one_run_and_no_duplicates(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, "policy_push", "0 9 1 * *", at_time=at(20, 10), audience="all")
    # A second process: its own engine on the same database, its own scheduler.
    other_db = Database.open(hub.db.engine.url.render_as_string(hide_password=False))
    try:
        other_hub = build(other_db, redis_client, hub.keys, hub.clock)
        one = scheduler(hub, redis_client)
        two = scheduler(other_hub, redis_client)
        fire_time = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
        results = await asyncio.gather(
            one.fire("policy_push", fire_time), two.fire("policy_push", fire_time)
        )
    finally:
        await other_db.aclose()
    assert sorted(r.created for r in results) == [False, True]
    ran = next(r for r in results if r.created)
    assert await count(hub.db, ScheduleRun) == 1
    assert await count(hub.db, Campaign) == 1
    assert await count(hub.db, Message) == ran.messages_created == 6  # every contact, once


class FlakyOutbox:
    """An outbox that fails its first submits (a database outage), then works."""

    def __init__(self, inner: Outbox, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def submit(self, request: SendRequest, *, dry_run: bool = False) -> SendOutcome:
        if self.failures:
            self.failures -= 1
            raise HubError("数据库暂时不可用")
        return await self.inner.submit(request, dry_run=dry_run)


async def test_a_failed_fire_is_recorded_and_the_next_attempt_retries_it(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, at_time=at(20, 10))
    sched = scheduler(hub, redis_client, outbox=FlakyOutbox(hub.outbox, failures=1))
    fire_time = at(23, 9)
    with pytest.raises(HubError, match="暂时不可用"):
        await sched.fire("daily", fire_time)
    async with hub.db.read() as session:
        run = await session.scalar(sa.select(ScheduleRun))
    assert run is not None
    assert (run.status, run.detail) == ("failed", "HubError: 数据库暂时不可用")
    assert await count(hub.db, Message) == 0

    # Restarted within the grace, the failed fire is the one caught up.
    hub.clock.set(at(23, 9, 30))
    [retried] = await sched.catch_up()
    assert (retried.fire_time, retried.created, retried.status) == (fire_time, True, "done")
    assert retried.messages_created == 1
    assert await runs(hub.db) == [(fire_time, "done")]
    assert not (await sched.fire("daily", fire_time)).created  # done now: not run again


async def test_a_run_abandoned_by_a_crash_is_claimed_again_only_when_stale(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, at_time=at(20, 10))
    [stored] = await stored_schedules(hub.db)
    fire_time = at(23, 9)
    async with hub.db.write() as session:
        session.add(
            ScheduleRun(
                schedule_id=stored.id, schedule_version=1, fire_time=fire_time,
                started_at=at(23, 9, 0), status="running",
            )
        )  # fmt: skip
    sched = scheduler(hub, redis_client)
    hub.clock.set(at(23, 9, 5))  # still running, perhaps in another process: leave it
    assert not (await sched.fire("daily", fire_time)).created
    hub.clock.set(at(23, 9) + STALE_RUN_AFTER + timedelta(minutes=1))
    assert (await sched.fire("daily", fire_time)).created
    assert await runs(hub.db) == [(fire_time, "done")]


# --- catching up -------------------------------------------------------------------------------


async def test_a_fire_missed_while_down_runs_exactly_once_on_restart(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, at_time=at(20, 10))
    before = scheduler(hub, redis_client)
    for day in (21, 22):
        hub.clock.set(at(day, 9))
        await before.fire("daily", at(day, 9))
    # Down from the 22nd 09:30 to the 23rd 10:00: the 23rd's 09:00 fire was missed.
    hub.clock.set(at(23, 10))
    restarted = scheduler(hub, redis_client)
    [caught] = await restarted.catch_up()
    assert (caught.fire_time, caught.created, caught.messages_created) == (at(23, 9), True, 1)
    assert await restarted.catch_up() == []
    assert await scheduler(hub, redis_client).catch_up() == []  # and again after a restart
    assert [t for t, _ in await runs(hub.db)] == [at(21, 9), at(22, 9), at(23, 9)]
    assert await count(hub.db, Message) == 3


async def test_only_the_latest_missed_fire_runs_not_every_one(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, "hourly", "0 * * * *", at_time=at(19, 10))
    hub.clock.set(at(20, 8))
    await scheduler(hub, redis_client).fire("hourly", at(20, 8))
    hub.clock.set(at(23, 10, 20))  # three days and 74 hourly fires later
    [caught] = await scheduler(hub, redis_client).catch_up()
    assert caught.fire_time == at(23, 10)
    assert [t for t, _ in await runs(hub.db)] == [at(20, 8), at(23, 10)]


async def test_a_fire_missed_beyond_the_grace_is_not_run(hub: Hub, redis_client: Redis) -> None:
    await store(hub, at_time=at(20, 10), catch_up_grace="30m")
    hub.clock.set(at(22, 9))
    await scheduler(hub, redis_client).fire("daily", at(22, 9))
    hub.clock.set(at(23, 10))  # 09:00 was missed by an hour, the grace is 30 minutes
    assert await scheduler(hub, redis_client).catch_up() == []
    assert [t for t, _ in await runs(hub.db)] == [at(22, 9)]


async def test_without_runs_the_version_creation_is_where_missing_starts(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, "made_before", at_time=at(23, 8))
    await store(hub, "made_after", at_time=at(23, 9, 30))
    await store(hub, "switched_off", at_time=at(23, 8), enabled=False)
    hub.clock.set(at(23, 10))
    caught = await scheduler(hub, redis_client).catch_up()
    assert [(r.schedule, r.fire_time) for r in caught] == [("made_before", at(23, 9))]


# --- the running loop: leadership and live edits ------------------------------------------------


async def eventually(check: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(sched: HubScheduler) -> AsyncIterator[tuple[asyncio.Task[None], asyncio.Event]]:
    stop = asyncio.Event()
    task = asyncio.create_task(sched.run(stop))
    try:
        yield task, stop
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task


FAST = {"lock_ttl": 0.5, "renew_every": 0.05, "poll_every": 0.05}


async def test_one_scheduler_leads_and_another_takes_over_when_it_dies(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, "policy_push", "0 9 1 * *", at_time=at(23, 10))
    a = scheduler(hub, redis_client, owner="a", **FAST)
    b = scheduler(hub, redis_client, owner="b", **FAST)
    stops = {a: asyncio.Event(), b: asyncio.Event()}
    tasks = {s: asyncio.create_task(s.run(stops[s])) for s in (a, b)}
    lock = hub.keys.lock("scheduler")
    try:
        await eventually(lambda: (a.active or b.active) and len(a.jobs() + b.jobs()) == 1)
        leader, follower = (a, b) if a.is_leader else (b, a)
        assert not follower.is_leader
        assert not follower.active
        assert await redis_client.get(lock) == leader.owner
        [job] = leader.jobs()
        assert (job.name, job.version, job.cron) == ("policy_push", 1, "0 9 1 * *")

        # The leader dies without a word (cancelled, like a kill): its lock runs out.
        tasks[leader].cancel()
        await eventually(lambda: follower.active and len(follower.jobs()) == 1)
        assert not leader.is_leader
        assert await redis_client.get(lock) == follower.owner
    finally:
        for stop in stops.values():
            stop.set()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert await redis_client.get(lock) is None  # the survivor released it on stop


async def test_a_leader_that_loses_its_lock_pauses_and_takes_it_back(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, "policy_push", "0 9 1 * *", at_time=at(23, 10))
    sched = scheduler(hub, redis_client, owner="a", **FAST)
    lock = hub.keys.lock("scheduler")
    async with running(sched):
        await eventually(lambda: sched.active)
        # Another process holds it now (our lock expired during a long pause, say).
        await redis_client.set(lock, "someone-else", px=400)
        await eventually(lambda: not sched.is_leader and not sched.active)
        assert await redis_client.get(lock) == "someone-else"
        await eventually(lambda: sched.active)  # it expired: ours again
        assert await redis_client.get(lock) == "a"
        assert [j.name for j in sched.jobs()] == ["policy_push"]


async def test_an_edited_schedule_is_picked_up_without_a_restart(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, "policy_push", "0 9 1 * *", at_time=at(23, 10))
    sched = scheduler(hub, redis_client, **FAST)
    async with running(sched):
        await eventually(
            lambda: [(j.name, j.version) for j in sched.jobs()] == [("policy_push", 1)]
        )

        await store(hub, "policy_push", "30 8 * * mon-fri", at_time=at(23, 11))
        await eventually(lambda: [j.version for j in sched.jobs()] == [2])
        [job] = sched.jobs()
        assert job.cron == "30 8 * * mon-fri"
        assert job.next_run_time is not None
        local = job.next_run_time.astimezone(SHANGHAI)
        assert (local.hour, local.minute, local.weekday() < 5) == (8, 30, True)

        await store(hub, "weekly", "0 9 * * mon", at_time=at(23, 11))
        await store(hub, "policy_push", "30 8 * * mon-fri", at_time=at(23, 12), enabled=False)
        await eventually(lambda: [j.name for j in sched.jobs()] == ["weekly"])


async def test_gaining_leadership_catches_up_and_apscheduler_fires_the_next_one(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, at_time=at(20, 10))
    hub.clock.set(at(22, 9))
    await scheduler(hub, redis_client).fire("daily", at(22, 9))
    hub.clock.set(at(23, 8, 59))  # restarted in time for today's fire: nothing to catch up
    sched = scheduler(hub, redis_client, **FAST)
    async with running(sched):
        await eventually(lambda: sched.active)
        assert [t for t, _ in await runs(hub.db)] == [at(22, 9)]

        # 09:00 comes: APScheduler wakes the job (made due now, real time), the job takes
        # the fire time from the injected clock.
        hub.clock.set(at(23, 9, 0) + timedelta(seconds=2))
        sched._aps.get_job("daily").modify(next_run_time=datetime.now(UTC))  # type: ignore[union-attr]
        for _ in range(250):  # up to 5 s
            if len(await runs(hub.db)) == 2:
                break
            await asyncio.sleep(0.02)
    assert await runs(hub.db) == [(at(22, 9), "done"), (at(23, 9), "done")]

    hub.clock.set(at(24, 10))  # down over the 24th's 09:00: the next leader catches it up
    again = scheduler(hub, redis_client, **FAST)
    async with running(again):
        await eventually(lambda: again.active)
    assert [t for t, _ in await runs(hub.db)] == [at(22, 9), at(23, 9), at(24, 9)]


def test_trigger_keys_are_utc_to_the_second() -> None:
    assert trigger_key(at(23, 9)) == "2026-11-23T01:00:00Z"
    assert trigger_key(datetime(2026, 11, 23, 1, 0, 30, 999, tzinfo=UTC)) == "2026-11-23T01:00:30Z"
