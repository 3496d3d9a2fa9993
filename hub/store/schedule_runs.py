"""Schedule runs in the database: the ``schedule_run`` row that makes each fire run once.

A fire first claims its row, unique on (schedule, fire time): :func:`claim_run` inserts it, or
takes over a run that failed or was abandoned "running" for :data:`STALE_RUN_AFTER`; a fire
time someone else holds gets nothing. :func:`finish_run` records how it ended. Times come from
the injected clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa

from hub.core.clock import Clock
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.dialect import insert_ignore
from hub.store.models import ScheduleRun

# A run left "running" this long was abandoned by a crashed process: it may be claimed again
# (the outbox's idempotency keys make the second attempt add only what the first did not).
STALE_RUN_AFTER: Final = timedelta(minutes=30)


async def claim_run(
    db: Database, clock: Clock, schedule_id: int, schedule_version: int, fire_time: datetime,
    *, audit: AuditNote | None = None,
) -> int | None:  # fmt: skip
    """Insert the run row, or take over a failed/abandoned one; None if it is someone's.

    ``audit`` (a run someone asked for) is written with the claim, completed with the run's id.
    """
    now = clock.now()
    values = {
        "schedule_id": schedule_id,
        "schedule_version": schedule_version,
        "fire_time": fire_time,
        "started_at": now,
        "status": "running",
    }
    async with db.write() as session:
        run_id = await session.scalar(
            insert_ignore(db, ScheduleRun, values).returning(ScheduleRun.id)
        )
        if run_id is None:
            run_id = await session.scalar(
                sa.update(ScheduleRun)
                .where(
                    ScheduleRun.schedule_id == schedule_id,
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
        if run_id is not None and audit is not None:
            audit.add(session, now, run_id=int(run_id))
    return None if run_id is None else int(run_id)


async def finish_run(
    db: Database,
    clock: Clock,
    run_id: int,
    status: str,
    detail: str | None,
    campaign_id: int | None,
) -> None:
    """Record how a claimed run ended (``done`` or ``failed``) and when."""
    async with db.write() as session:
        await session.execute(
            sa.update(ScheduleRun)
            .where(ScheduleRun.id == run_id)
            .values(
                status=status,
                detail=detail,
                campaign_id=campaign_id,
                finished_at=clock.now(),
            )
        )


async def find_run(db: Database, schedule_id: int, fire_time: datetime) -> ScheduleRun | None:
    """The run of one fire time of a schedule, if there is one."""
    async with db.read() as session:
        return await session.scalar(
            sa.select(ScheduleRun).where(
                ScheduleRun.schedule_id == schedule_id, ScheduleRun.fire_time == fire_time
            )
        )


async def last_run(db: Database, schedule_id: int) -> ScheduleRun | None:
    """A schedule's run with the latest fire time, if it has run at all."""
    async with db.read() as session:
        return await session.scalar(
            sa.select(ScheduleRun)
            .where(ScheduleRun.schedule_id == schedule_id)
            .order_by(ScheduleRun.fire_time.desc())
            .limit(1)
        )
