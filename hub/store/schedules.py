"""Schedules in the database: versioned rows, written and read back (plain persistence).

The files are the seeds and the import/export format; the database holds the schedules the hub
runs (docs/design.md). :func:`write_schedule_versions` stores a new version only when a
schedule's JSON changed; :func:`current_schedule_versions` reads each schedule's current version.
What a spec means (its validation) is the scheduling layer's
(:mod:`hub.scheduling.schedule_store`); this module knows rows only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.core.clock import Clock
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.models import Schedule, ScheduleVersion


@dataclass(frozen=True, slots=True)
class ScheduleContent:
    """What a schedule should be stored as: its name, whether it is on, its version's JSON."""

    name: str
    enabled: bool
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What :func:`write_schedule_versions` did, by schedule name."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()  # a new version, or enabled switched
    unchanged: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # already in the database, left as the admins have it


async def write_schedule_versions(
    db: Database,
    contents: Iterable[ScheduleContent],
    clock: Clock,
    actor: str,
    *,
    update_existing: bool = True,
    audit: AuditNote | None = None,
) -> SyncReport:
    """Store the contents: version 1 for a new name, a new version only when the JSON changed.

    Running it twice with the same contents changes nothing. Schedules in the database but not
    among ``contents`` are left alone (admins may have made them). With ``update_existing`` False
    (seeding at start-up) existing schedules are not touched, so a restart never undoes an
    admin's edit. ``audit`` is written in the same transaction for each schedule created or
    changed (with its version).
    """
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    skipped: list[str] = []
    now = clock.now()
    async with db.write() as session:
        for item in contents:
            schedule = await session.scalar(sa.select(Schedule).where(Schedule.name == item.name))
            content = dict(item.spec)
            if schedule is None:
                schedule = Schedule(
                    name=item.name, enabled=item.enabled, current_version=1,
                    created_at=now, updated_at=now,
                )  # fmt: skip
                session.add(schedule)
                await session.flush()
                session.add(_version(schedule.id, 1, content, now, actor))
                created.append(item.name)
                if audit is not None:
                    audit.add(session, now, version=1)
                continue
            if not update_existing:
                skipped.append(item.name)
                continue
            current = await session.scalar(
                sa.select(ScheduleVersion.spec).where(
                    ScheduleVersion.schedule_id == schedule.id,
                    ScheduleVersion.version == schedule.current_version,
                )
            )
            changed = False
            if current != content:
                schedule.current_version += 1
                session.add(_version(schedule.id, schedule.current_version, content, now, actor))
                changed = True
            if schedule.enabled != item.enabled:
                schedule.enabled = item.enabled
                changed = True
            if changed:
                schedule.updated_at = now
                updated.append(item.name)
                if audit is not None:
                    audit.add(session, now, version=schedule.current_version)
            else:
                unchanged.append(item.name)
    return SyncReport(tuple(created), tuple(updated), tuple(unchanged), tuple(skipped))


def _version(
    schedule_id: int, version: int, content: dict[str, Any], now: datetime, actor: str
) -> ScheduleVersion:
    return ScheduleVersion(
        schedule_id=schedule_id, version=version, spec=content, created_at=now, created_by=actor
    )


@dataclass(frozen=True, slots=True)
class StoredScheduleVersion:
    """A schedule's row and its current version, as stored (the JSON not validated)."""

    id: int
    name: str
    enabled: bool
    version: int
    version_created_at: datetime
    spec: Mapping[str, Any]


async def current_schedule_versions(
    db: Database, names: Sequence[str] | None = None
) -> list[StoredScheduleVersion]:
    """The current version of every schedule (or of ``names``), sorted by name."""
    stmt = (
        sa.select(Schedule, ScheduleVersion)
        .join(
            ScheduleVersion,
            sa.and_(
                ScheduleVersion.schedule_id == Schedule.id,
                ScheduleVersion.version == Schedule.current_version,
            ),
        )
        .order_by(Schedule.name)
    )
    if names is not None:
        stmt = stmt.where(Schedule.name.in_(names))
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return [
        StoredScheduleVersion(schedule.id, schedule.name, schedule.enabled, version.version,
                              version.created_at, version.spec)
        for schedule, version in rows
    ]  # fmt: skip
