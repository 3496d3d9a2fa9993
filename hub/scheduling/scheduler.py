"""The scheduler: APScheduler 3.11 fires the database's schedules, in one process at a time.

- **One leader.** Every scheduler process tries to hold a Redis lock (``SET NX PX``, renewed by
  a compare-and-extend script: :class:`~hub.infra.leader.LeaderLock`). Only the holder's APScheduler
  runs; a process that loses the lock (Redis unreachable, renewal late) pauses its jobs at once
  and keeps trying to get the lock back. A crashed leader's lock expires after ``lock_ttl`` and
  another process takes over. The lock saves work, it does not carry correctness: two
  processes that briefly both lead (a stalled event loop outliving the TTL) still run each fire
  once, by the run row below.
- **Jobs come from the database**, the current version of each enabled schedule, not from the
  files. The leader polls the versions every ``poll_every`` seconds and rebuilds the jobs of
  schedules that changed, so edits take effect without a restart.
- **A fire runs once.** :meth:`HubScheduler.fire` first inserts the ``schedule_run`` row, unique on
  (schedule, fire time; :mod:`hub.store.schedule_runs`); a second fire of the same time (another
  process, a duplicate wakeup, ``hub schedules run`` twice) finds the row and does nothing. The
  outbox is idempotent on (trigger ``schedule:<name>``, fire time, enterprise, contact, kind)
  as a second line of defence, and it is what makes retrying a failed or abandoned run safe.
- **Missed fires.** APScheduler's memory job store forgets fires missed while the process was
  down (and its default misfire grace is 1 s). On start and on gaining leadership the
  scheduler looks, per schedule, for fire times after the last recorded run (or the version's
  creation) and runs the latest of them once, if it is within the schedule's
  ``catch_up_grace``; older ones are skipped, never replayed one by one. A last run that
  failed (or was abandoned) is retried the same way. Jobs are added with
  ``coalesce=True`` (several due fires of one job run once) and ``misfire_grace_time`` equal
  to that same grace, so a late wakeup follows the same rule as a restart.
- **Programs.** A schedule whose program is ``campaign`` sends its template to its audience; any
  other program is looked up in :data:`hub.scheduling.programs.PROGRAMS` and run with the fire
  time. Either way the run row's detail counts what the fire created. A ``workdays_only``
  schedule firing on a day off runs all the same, but its messages are held until the next
  working day's morning (:func:`hub.scheduling.programs.base.day_off_hold`).

Schedule arithmetic reads the injected clock; only the leader lock's expiry (Redis's own) and
the loop's polling intervals are real time.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import STATE_RUNNING  # type: ignore[import-untyped]

from hub.core.clock import Clock
from hub.core.errors import ConfigError, HubError, NotFoundError
from hub.core.keys import RedisKeys
from hub.infra.leader import LeaderLock
from hub.infra.redis_server import RedisClient
from hub.outbound.outbox import Outbox, SendRequest
from hub.outbound.quiet_hours import QuietHold
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramOutcome,
    ProgramSettings,
    day_off_hold,
)
from hub.scheduling.schedule_store import StoredSchedule, stored_schedules
from hub.scheduling.schedules import CAMPAIGN, ScheduleSpec, latest_fire_time
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.schedule_runs import claim_run, find_run, finish_run, last_run
from hub.tickets.policy import admin_entered_years

log = structlog.get_logger(__name__)

LOCK_NAME: Final = "scheduler"


def trigger_key(fire_time: datetime) -> str:
    """The outbox trigger key of a fire: its time in ISO 8601 UTC, to the second."""
    return fire_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def campaign_request(
    spec: ScheduleSpec, fire_time: datetime, hold: QuietHold | None
) -> SendRequest:
    """The outbox request a fire of a ``campaign`` schedule submits (a dry run plans the same)."""
    return SendRequest(
        kind=spec.kind,
        audience=spec.audience_expr(),
        trigger=f"schedule:{spec.name}",
        trigger_key=trigger_key(fire_time),
        channel=spec.channel,
        variables=dict(spec.variables),
        created_by=f"schedule:{spec.name}",
        hold=hold,
    )


async def programs_in_force(db: Database, base: ProgramSettings) -> ProgramSettings:
    """``base`` with the working-day calendar in force now: the config's years, then the years
    admins entered in the database (a 2027 entered with ``hub calendar`` moves a day-off hold
    and every program's working-day count)."""
    async with db.read() as session:
        entered = await admin_entered_years(session)
    calendar = base.calendar
    for year, days in entered.items():
        calendar = calendar.with_year(year, days)
    return dataclasses.replace(base, calendar=calendar)


class HubScheduler:
    """Runs the schedules stored in the database: leader lock, jobs, fires, catch-up.

    Build it from the open components (:func:`hub.app.runtime.hub_scheduler`) and
    ``await run(stop)``; the fire and catch-up methods are public so the CLI and tests can drive
    them directly.
    """

    def __init__(
        self,
        db: Database,
        redis: RedisClient,
        keys: RedisKeys,
        outbox: Outbox,
        clock: Clock,
        *,
        owner: str | None = None,
        lock_ttl: float = 30.0,
        renew_every: float = 10.0,
        poll_every: float = 10.0,
        programs: ProgramSettings | None = None,
    ) -> None:
        if renew_every >= lock_ttl:
            raise ValueError("renew_every must be shorter than lock_ttl")
        self.db = db
        self.outbox = outbox
        self.clock = clock
        #: What programs read (time zone, working-day calendar, links); also decides days off.
        self.programs = programs or ProgramSettings()
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

    @property
    def active(self) -> bool:
        """True while this process's APScheduler fires jobs (it leads and has started)."""
        return self._aps is not None and self._aps.state == STATE_RUNNING

    # --- the loop ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Lead when possible, follow otherwise, until ``stop`` is set.

        On ``stop`` the fires in flight finish and the lock is released. Cancelling the task
        instead is treated like a crash: fires in flight are cancelled (their runs are claimed
        again after :data:`~hub.store.schedule_runs.STALE_RUN_AFTER`) and the lock is left to
        expire.
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
        audit: AuditNote | None = None,
    ) -> RunResult:
        """Run one fire of a schedule, once: a fire time already run returns its run unchanged.

        A run that failed, or was abandoned "running" for
        :data:`~hub.store.schedule_runs.STALE_RUN_AFTER`, is claimed again and retried. Raises
        what the outbox raised, after recording it on the run. ``audit`` (a run an admin asked
        for) is written with the claim: a fire already run writes none.
        """
        stored = await self._stored(schedule) if isinstance(schedule, str) else schedule
        spec = stored.spec
        fire_time = fire_time.astimezone(UTC).replace(microsecond=0)
        if require_enabled and not spec.enabled:
            return RunResult(spec.name, fire_time, None, False, "disabled")
        run_id = await claim_run(self.db, self.clock, stored.id, stored.version, fire_time,
                                 audit=audit)  # fmt: skip
        if run_id is None:
            return await self._existing(stored, fire_time)
        log.info("schedule fire", schedule=spec.name, fire_time=trigger_key(fire_time))
        hold: QuietHold | None = None
        try:
            programs = await programs_in_force(self.db, self.programs)
            hold = day_off_hold(programs, fire_time) if spec.workdays_only else None
            if spec.program == CAMPAIGN:
                campaign_id, detail, created, duplicates = await self._campaign(
                    spec, fire_time, hold
                )
            else:
                campaign_id = None
                outcome = await self._program(spec, fire_time, hold, programs)
                detail, created, duplicates = outcome.detail(), outcome.created, outcome.duplicates
        except Exception as exc:
            await finish_run(
                self.db, self.clock, run_id, "failed", f"{type(exc).__name__}: {exc}", None
            )
            raise
        if hold is not None:
            detail = f"{hold.reason}；{detail}"
        await finish_run(self.db, self.clock, run_id, "done", detail, campaign_id)
        return RunResult(
            spec.name, fire_time, run_id, True, "done", campaign_id, detail, created, duplicates
        )

    async def _campaign(
        self, spec: ScheduleSpec, fire_time: datetime, hold: QuietHold | None
    ) -> tuple[int | None, str, int, int]:
        """One template to the schedule's audience: (campaign, detail, created, duplicates)."""
        outcome = await self.outbox.submit(campaign_request(spec, fire_time, hold))
        detail = (
            f"企业 {outcome.recipients} 家，新建 {outcome.created} 条，"
            f"重复忽略 {outcome.duplicates} 条，不发送 {outcome.skipped} 条"
        )
        return outcome.campaign_id, detail, outcome.created, outcome.duplicates

    async def _program(
        self,
        spec: ScheduleSpec,
        fire_time: datetime,
        hold: QuietHold | None,
        programs: ProgramSettings,
    ) -> ProgramOutcome:
        """A seed program, run with the fire time (its messages held by ``hold``, if any)."""
        program = PROGRAMS.get(spec.program)
        if program is None:  # the spec was validated against the table, which code changed
            raise NotFoundError(f"计划 {spec.name} 的程序 {spec.program} 不存在 (unknown program)")
        context = ProgramContext(self.db, self.outbox, self.clock, programs, hold)
        fire = ProgramFire(
            spec.name, fire_time, spec.audience_expr(), dict(spec.variables), spec.channel
        )
        return await program.run(context, fire)

    async def catch_up(self) -> list[RunResult]:
        """Run, once, the latest fire of each enabled schedule missed within its grace."""
        now = self.clock.now()
        results = []
        for stored in await stored_schedules(self.db, on_invalid=_log_invalid):
            spec = stored.spec
            if not spec.enabled:
                continue
            last = await last_run(self.db, stored.id)
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

    async def _existing(self, stored: StoredSchedule, fire_time: datetime) -> RunResult:
        run = await find_run(self.db, stored.id, fire_time)
        assert run is not None  # claim_run saw it, and runs are never deleted
        return RunResult(
            stored.spec.name, fire_time, run.id, False, run.status, run.campaign_id, run.detail
        )


def _job_key(stored: StoredSchedule) -> tuple[int, int, bool]:
    return (stored.id, stored.version, stored.spec.enabled)


def _log_invalid(name: str, error: ConfigError) -> None:
    log.error("stored schedule is invalid and is not run", schedule=name, error=str(error))
