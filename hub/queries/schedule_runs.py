"""A schedule's runs as read (the admin's schedule pages): the latest run of each schedule and
one schedule's history, newest fire first. The rows are :mod:`hub.store.schedule_runs`'."""

from __future__ import annotations

import sqlalchemy as sa

from hub.store.db import Database
from hub.store.models import ScheduleRun


async def latest_runs(db: Database) -> dict[int, ScheduleRun]:
    """Schedule id -> its run with the latest fire time (schedules never run are absent)."""
    latest = (
        sa.select(ScheduleRun.schedule_id, sa.func.max(ScheduleRun.fire_time).label("fire_time"))
        .group_by(ScheduleRun.schedule_id)
        .subquery()
    )
    stmt = sa.select(ScheduleRun).join(
        latest,
        sa.and_(
            ScheduleRun.schedule_id == latest.c.schedule_id,
            ScheduleRun.fire_time == latest.c.fire_time,
        ),
    )
    async with db.read() as session:
        return {run.schedule_id: run for run in (await session.scalars(stmt)).all()}


async def recent_runs(db: Database, schedule_id: int, limit: int = 20) -> list[ScheduleRun]:
    """The schedule's last ``limit`` runs, the latest fire time first."""
    stmt = (
        sa.select(ScheduleRun)
        .where(ScheduleRun.schedule_id == schedule_id)
        .order_by(ScheduleRun.fire_time.desc(), ScheduleRun.id.desc())
        .limit(limit)
    )
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())
