"""The scheduler: APScheduler 3.11 fires the database's schedules, in one process at a time.

- **One leader.** Every scheduler process tries to hold a Redis lock (``SET NX PX``, renewed by
  a compare-and-extend script). Only the holder's APScheduler runs; a process that loses the
  lock (Redis unreachable, renewal late) pauses its jobs at once and keeps trying to get the
  lock back. A crashed leader's lock expires after ``lock_ttl`` and another process takes over.
  The lock saves work, it does not carry correctness: two processes that briefly both lead
  (a stalled event loop outliving the TTL) still run each fire once, by the run row below.
- **Jobs come from the database**, the current version of each enabled schedule, not from the
  files. The leader polls the versions every ``poll_every`` seconds and rebuilds the jobs of
  schedules that changed, so edits take effect without a restart.
- **A fire runs once.** :meth:`HubScheduler.fire` first inserts the ``schedule_run`` row, unique on
  (schedule, fire time); a second fire of the same time (another process, a duplicate wakeup,
  ``hub schedules run`` twice) finds the row and does nothing. The outbox is idempotent on
  (trigger ``schedule:<name>``, fire time, enterprise, contact, kind) as a second line of
  defence, and it is what makes retrying a failed or abandoned run safe.
- **Missed fires.** APScheduler's memory job store forgets fires missed while the process was
  down (and its default misfire grace is 1 s). On start and on gaining leadership the
  scheduler looks, per schedule, for fire times after the last recorded run (or the version's
  creation) and runs the latest of them once, if it is within the schedule's
  ``catch_up_grace``; older ones are skipped, never replayed one by one. A last run that
  failed (or was abandoned) is retried the same way. Jobs are added with
  ``coalesce=True`` (several due fires of one job run once) and ``misfire_grace_time`` equal
  to that same grace, so a late wakeup follows the same rule as a restart.

Schedule arithmetic reads the injected clock; only the leader lock's expiry (Redis's own) and
the loop's polling intervals are real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

import sqlalchemy as sa
import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import STATE_RUNNING  # type: ignore[import-untyped]
from redis.asyncio import Redis
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from hub.clock import Clock
from hub.errors import ConfigError, HubError, NotFoundError
from hub.keys import RedisKeys
from hub.outbox import Outbox, SendRequest
from hub.redis_server import redis_errors
from hub.schedules import StoredSchedule, latest_fire_time, stored_schedules
from hub.schedules import next_fire_times as next_fire_times  # re-exported for the CLI
from hub.store.db import Database
from hub.store.models import ScheduleRun

if TYPE_CHECKING:
    from hub.runtime import Components

log = structlog.get_logger(__name__)

LOCK_NAME: Final = "scheduler"
# A run left "running" this long was abandoned by a crashed process: it may be claimed again
# (the outbox's idempotency keys make the second attempt add only what the first did not).
STALE_RUN_AFTER: Final = timedelta(minutes=30)

# KEYS[1] lock; ARGV[1] owner, ARGV[2] ttl ms. Extends only a lock that is still ours.
_EXTEND_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def trigger_key(fire_time: datetime) -> str:
    """The outbox trigger key of a fire: its time in ISO 8601 UTC, to the second."""
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LeaderLock:
    """A Redis lock one process holds at a time, renewed by its holder before it expires."""

    def __init__(self, redis: Redis, key: str, *, owner: str, ttl_ms: int) -> None:
        self.key = key
        self.owner = owner
        self.ttl_ms = ttl_ms
        self._redis = redis
        self._extend = redis.register_script(_EXTEND_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it (or extend it if we already do)."""
        with redis_errors(f"taking lock {self.key}"):
            if await self._redis.set(self.key, self.owner, nx=True, px=self.ttl_ms):
                return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lock if it is still ours; False means another process may hold it."""
        with redis_errors(f"renewing lock {self.key}"):
            return bool(await self._extend(keys=[self.key], args=[self.owner, self.ttl_ms]))

    async def release(self) -> None:
        """Give the lock up (only if ours), so a successor need not wait for it to expire."""
        with redis_errors(f"releasing lock {self.key}"):
            await self._release(keys=[self.key], args=[self.owner])


@dataclass(frozen=True, slots=True)
class RunResult:
    """One fire: whether this call ran it (``created``) and the run row's state."""

    schedule: str
    fire_time: datetime
    run_id: int | None
    created: bool
    status: str  # running | done | failed
    campaign_id: int | None = None
    detail: str | None = None
    messages_created: int = 0
    duplicates: int = 0


@dataclass(frozen=True, slots=True)
class ScheduledJob:
    """A job the APScheduler of this process holds (for status pages and tests)."""

    name: str
    version: int
    cron: str
    timezone: str
    next_run_time: datetime | None


class HubScheduler:
    """Runs the schedules stored in the database: leader lock, jobs, fires, catch-up.

    Build it from the open components (:meth:`from_components`) and ``await run(stop)``; the
    fire and catch-up methods are public so the CLI and tests can drive them directly.
    """

    def __init__(
        self,
        db: Database,
        redis: Redis,
        keys: RedisKeys,
        outbox: Outbox,
        clock: Clock,
        *,
        owner: str | None = None,
        lock_ttl: float = 30.0,
        renew_every: float = 10.0,
        poll_every: float = 10.0,
    ) -> None:
        if renew_every >= lock_ttl:
            raise ValueError("renew_every must be shorter than lock_ttl")
        self.db = db
        self.outbox = outbox
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.lock = LeaderLock(
            redis, keys.lock(LOCK_NAME), owner=self.owner, ttl_ms=int(lock_ttl * 1000)
        )
        self.renew_every = renew_every
        self.poll_every = poll_every
        self.is_leader = False
        self._aps: AsyncIOScheduler | None = None
        self._loaded: dict[str, StoredSchedule] = {}
        self._inflight: set[asyncio.Task[RunResult | None]] = set()
        self._starting = False  # leader, but jobs and catch-up not done yet

    @classmethod
    def from_components(cls, hub: Components, **options: Any) -> HubScheduler:
        return cls(hub.db, hub.redis, hub.keys, hub.outbox, hub.clock, **options)

    @property
    def active(self) -> bool:
        """True while this process's APScheduler fires jobs (it leads and has started)."""
        return self._aps is not None and self._aps.state == STATE_RUNNING

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Lead when possible, follow otherwise, until ``stop`` is set.

        On ``stop`` the fires in flight finish and the lock is released. Cancelling the task
        instead is treated like a crash: fires in flight are cancelled (their runs are
        claimed again after :data:`STALE_RUN_AFTER`) and the lock is left to expire.
        """
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._aps.start(paused=True)
        loop = asyncio.get_running_loop()
        next_poll = loop.time()
        graceful = False
        try:
            while not stop.is_set():
                await self._keep_leadership()
                if self.is_leader and (self._starting or loop.time() >= next_poll):
                    await self._refresh()
                    next_poll = loop.time() + self.poll_every
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.renew_every)
            graceful = True
        finally:
            self._aps.shutdown(wait=False)
            self._aps = None
            await asyncio.sleep(0)  # APScheduler shuts down in a loop callback: let it run
            self._loaded.clear()
            if graceful:
                await asyncio.gather(*self._inflight, return_exceptions=True)
                if self.is_leader:
                    with contextlib.suppress(HubError):
                        await self.lock.release()
            else:
                for task in self._inflight:
                    task.cancel()
            self.is_leader = False

    async def _keep_leadership(self) -> None:
        try:
            held = await (self.lock.renew() if self.is_leader else self.lock.acquire())
        except HubError:
            # Without an answer from Redis we cannot know we still lead: act as if we do not.
            log.exception("scheduler lock check failed", owner=self.owner)
            held = False
        if held and not self.is_leader:
            log.info("scheduler leadership gained", owner=self.owner)
            self.is_leader = True
            self._starting = True
        elif not held and self.is_leader:
            log.warning("scheduler leadership lost: jobs paused", owner=self.owner)
            self.is_leader = False
            self._starting = False
            assert self._aps is not None
            self._aps.pause()

    async def _refresh(self) -> None:
        """Reload changed schedules; right after gaining leadership, rebuild all and catch up."""
        try:
            if self._starting:
                await self.reload(force=True)
                await self.catch_up()
                self._starting = False
                assert self._aps is not None
                self._aps.resume()
            else:
                await self.reload()
        except HubError:  # the database is down, say; the next pass tries again
            log.exception("scheduler refresh failed")

    # --- jobs ----------------------------------------------------------------------------

    async def reload(self, *, force: bool = False) -> bool:
        """Make the jobs match the database's current versions; True when any job changed."""
        current = {s.spec.name: s for s in await stored_schedules(self.db, on_invalid=_log_invalid)}
        changed = False
        for name, old in list(self._loaded.items()):
            new = current.get(name)
            if force or new is None or _job_key(new) != _job_key(old):
                self._remove_job(name)
                del self._loaded[name]
                changed = True
        for name, stored in current.items():
            if name not in self._loaded:
                self._add_job(stored)
                self._loaded[name] = stored
                changed = True
        if changed:
            log.info("scheduler jobs loaded", jobs=sorted(self._loaded))
        return changed

    def jobs(self) -> list[ScheduledJob]:
        """The schedules this process has jobs for (enabled ones only have a job)."""
        result = []
        for name, stored in sorted(self._loaded.items()):
            job = self._aps.get_job(name) if self._aps is not None else None
            if job is None:
                continue
            result.append(
                ScheduledJob(
                    name, stored.version, stored.spec.cron, stored.spec.timezone,
                    getattr(job, "next_run_time", None),
                )
            )  # fmt: skip
        return result

    def _add_job(self, stored: StoredSchedule) -> None:
        if self._aps is None or not stored.spec.enabled:
            return
        self._aps.add_job(
            self._on_job,
            trigger=stored.spec.trigger(),
            args=[stored.spec.name],
            id=stored.spec.name,
            name=f"schedule:{stored.spec.name}",
            misfire_grace_time=int(stored.spec.catch_up_grace.total_seconds()),
            coalesce=True,
            max_instances=1,
            replace_existing=True,
        )

    def _remove_job(self, name: str) -> None:
        if self._aps is not None and self._aps.get_job(name) is not None:
            self._aps.remove_job(name)

    async def _on_job(self, name: str) -> None:
        """APScheduler's callback: work out which fire this is and run it once."""
        stored = self._loaded.get(name)
        if stored is None:
            return
        # APScheduler does not tell a job its scheduled time; the latest cron time up to now
        # is that time (the job is never run early, and a late one is within the grace).
        now = self.clock.now()
        fire_time = latest_fire_time(stored.spec, now, not_before=now - stored.spec.catch_up_grace)
        if fire_time is None:
            log.warning("schedule woke with no fire time due", schedule=name)
            return
        # Shielded: shutting APScheduler down cancels its job tasks, but a fire that started
        # should finish (run() waits for _inflight on a graceful stop).
        task = asyncio.create_task(self._fire_logged(name, fire_time))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        await asyncio.shield(task)

    async def _fire_logged(self, name: str, fire_time: datetime) -> RunResult | None:
        try:
            return await self.fire(name, fire_time, require_enabled=True)
        except Exception:  # recorded on the run row by fire(); the next fire is unaffected
            log.exception("schedule fire failed", schedule=name, fire_time=trigger_key(fire_time))
            return None

    # --- fires ---------------------------------------------------------------------------

    async def fire(
        self,
        schedule: StoredSchedule | str,
        fire_time: datetime,
        *,
        require_enabled: bool = False,
    ) -> RunResult:
        """Run one fire of a schedule, once: a fire time already run returns its run unchanged.

        A run that failed, or was abandoned "running" for :data:`STALE_RUN_AFTER`, is claimed
        again and retried. Raises what the outbox raised, after recording it on the run.
        """
        stored = await self._stored(schedule) if isinstance(schedule, str) else schedule
        spec = stored.spec
        fire_time = fire_time.astimezone(UTC).replace(microsecond=0)
        if require_enabled and not spec.enabled:
            return RunResult(spec.name, fire_time, None, False, "disabled")
        run_id = await self._claim(stored, fire_time)
        if run_id is None:
            return await self._existing(stored, fire_time)
        log.info("schedule fire", schedule=spec.name, fire_time=trigger_key(fire_time))
        request = SendRequest(
            kind=spec.kind,
            audience=spec.audience_expr(),
            trigger=f"schedule:{spec.name}",
            trigger_key=trigger_key(fire_time),
            channel=spec.channel,
            variables=dict(spec.variables),
            created_by=f"schedule:{spec.name}",
        )
        try:
            outcome = await self.outbox.submit(request)
        except Exception as exc:
            await self._finish(run_id, "failed", f"{type(exc).__name__}: {exc}", None)
            raise
        detail = (
            f"企业 {outcome.recipients} 家，新建 {outcome.created} 条，"
            f"重复忽略 {outcome.duplicates} 条，不发送 {outcome.skipped} 条"
        )
        await self._finish(run_id, "done", detail, outcome.campaign_id)
        return RunResult(
            spec.name, fire_time, run_id, True, "done", outcome.campaign_id, detail,
            outcome.created, outcome.duplicates,
        )  # fmt: skip

    async def catch_up(self) -> list[RunResult]:
        """Run, once, the latest fire of each enabled schedule missed within its grace."""
        now = self.clock.now()
        results = []
        for stored in await stored_schedules(self.db, on_invalid=_log_invalid):
            spec = stored.spec
            if not spec.enabled:
                continue
            last = await self._last_run(stored.id)
            since = last.fire_time if last is not None else stored.version_created_at
            # Strictly after the last run, unless that run did not finish well: then it is
            # itself the fire to retry (fire() reclaims a failed or abandoned run).
            retry = last is not None and last.status != "done"
            after = since if retry else since + timedelta(seconds=1)
            horizon = now - spec.catch_up_grace
            first_missed = spec.trigger().get_next_fire_time(None, after)
            if first_missed is not None and first_missed < horizon:
                log.warning(
                    "missed fires beyond the catch-up grace are skipped",
                    schedule=spec.name, since=trigger_key(since), grace=str(spec.catch_up_grace),
                )  # fmt: skip
            fire_time = latest_fire_time(spec, now, not_before=max(after, horizon))
            if fire_time is None:
                continue
            log.info("catching up a missed fire", schedule=spec.name, fire=trigger_key(fire_time))
            try:
                results.append(await self.fire(stored, fire_time))
            except Exception:  # one schedule's failure must not stop the others catching up
                log.exception("catch-up fire failed", schedule=spec.name)
        return results

    async def _stored(self, name: str) -> StoredSchedule:
        found = await stored_schedules(self.db, [name])
        if not found:
            raise NotFoundError(f"没有名为 {name} 的计划 (schedule not found)")
        return found[0]

    async def _claim(self, stored: StoredSchedule, fire_time: datetime) -> int | None:
        """Insert the run row, or take over a failed/abandoned one; None if it is someone's."""
        now = self.clock.now()
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        values = {
            "schedule_id": stored.id,
            "schedule_version": stored.version,
            "fire_time": fire_time,
            "started_at": now,
            "status": "running",
        }
        async with self.db.write() as session:
            run_id = await session.scalar(
                insert(ScheduleRun)
                .values(values)
                .on_conflict_do_nothing()
                .returning(ScheduleRun.id)
            )
            if run_id is None:
                run_id = await session.scalar(
                    sa.update(ScheduleRun)
                    .where(
                        ScheduleRun.schedule_id == stored.id,
                        ScheduleRun.fire_time == fire_time,
                        sa.or_(
                            ScheduleRun.status == "failed",
                            sa.and_(
                                ScheduleRun.status == "running",
                                ScheduleRun.started_at < now - STALE_RUN_AFTER,
                            ),
                        ),
                    )
                    .values(**values, finished_at=None, detail=None, campaign_id=None)
                    .returning(ScheduleRun.id)
                )
        return None if run_id is None else int(run_id)

    async def _finish(
        self, run_id: int, status: str, detail: str | None, campaign_id: int | None
    ) -> None:
        async with self.db.write() as session:
            await session.execute(
                sa.update(ScheduleRun)
                .where(ScheduleRun.id == run_id)
                .values(
                    status=status,
                    detail=detail,
                    campaign_id=campaign_id,
                    finished_at=self.clock.now(),
                )
            )

    async def _existing(self, stored: StoredSchedule, fire_time: datetime) -> RunResult:
        async with self.db.read() as session:
            run = await session.scalar(
                sa.select(ScheduleRun).where(
                    ScheduleRun.schedule_id == stored.id, ScheduleRun.fire_time == fire_time
                )
            )
        assert run is not None  # _claim saw it, and runs are never deleted
        return RunResult(
            stored.spec.name, fire_time, run.id, False, run.status, run.campaign_id, run.detail
        )

    async def _last_run(self, schedule_id: int) -> ScheduleRun | None:
        async with self.db.read() as session:
            return await session.scalar(
                sa.select(ScheduleRun)
                .where(ScheduleRun.schedule_id == schedule_id)
                .order_by(ScheduleRun.fire_time.desc())
                .limit(1)
            )


def _job_key(stored: StoredSchedule) -> tuple[int, int, bool]:
    return (stored.id, stored.version, stored.spec.enabled)


def _log_invalid(name: str, error: ConfigError) -> None:
    log.error("stored schedule is invalid and is not run", schedule=name, error=str(error))
