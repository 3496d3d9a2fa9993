"""Schedules in the database: store validated specs as versions, read the versions in force.

The files are the seeds and the import/export format; the database holds the schedules the hub
runs (docs/design.md). :func:`sync_schedules` stores a new version only when a spec changed;
:func:`stored_schedules` reads each schedule's current version back through the same validation
as a file (:func:`hub.scheduling.schedules.parse_spec`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.core.clock import Clock
from hub.core.errors import ConfigError
from hub.scheduling.schedules import ScheduleSpec, parse_spec
from hub.store.db import Database
from hub.store.models import Schedule, ScheduleVersion


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What :func:`sync_schedules` did, by schedule name."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()  # a new version, or enabled switched
    unchanged: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # already in the database, left as the admins have it


async def sync_schedules(
    db: Database,
    specs: Iterable[ScheduleSpec],
    clock: Clock,
    actor: str,
    *,
    update_existing: bool = True,
) -> SyncReport:
    """Store the specs: version 1 for a new name, a new version only when the content changed.

    Running it twice with the same specs changes nothing. Schedules in the database but not
    among ``specs`` are left alone (admins may have made them). With ``update_existing`` False
    (seeding at start-up) existing schedules are not touched, so a restart never undoes an
    admin's edit.
    """
    created: list[str] = []
    updated: list[str] = []
    unchanged: list[str] = []
    skipped: list[str] = []
    now = clock.now()
    async with db.write() as session:
        for spec in specs:
            schedule = await session.scalar(sa.select(Schedule).where(Schedule.name == spec.name))
            content = spec.to_json()
            if schedule is None:
                schedule = Schedule(
                    name=spec.name, enabled=spec.enabled, current_version=1,
                    created_at=now, updated_at=now,
                )  # fmt: skip
                session.add(schedule)
                await session.flush()
                session.add(_version(schedule.id, 1, content, now, actor))
                created.append(spec.name)
                continue
            if not update_existing:
                skipped.append(spec.name)
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
            if schedule.enabled != spec.enabled:
                schedule.enabled = spec.enabled
                changed = True
            if changed:
                schedule.updated_at = now
                updated.append(spec.name)
            else:
                unchanged.append(spec.name)
    return SyncReport(tuple(created), tuple(updated), tuple(unchanged), tuple(skipped))


def _version(
    schedule_id: int, version: int, content: dict[str, Any], now: datetime, actor: str
) -> ScheduleVersion:
    return ScheduleVersion(
        schedule_id=schedule_id, version=version, spec=content, created_at=now, created_by=actor
    )


@dataclass(frozen=True, slots=True)
class StoredSchedule:
    """A schedule as the database has it now: its row's id, version and validated spec."""

    id: int
    version: int
    version_created_at: datetime
    spec: ScheduleSpec


async def stored_schedules(
    db: Database,
    names: Sequence[str] | None = None,
    *,
    on_invalid: Callable[[str, ConfigError], None] | None = None,
) -> list[StoredSchedule]:
    """The current version of every schedule (or of ``names``), validated, sorted by name.

    A stored version that no longer validates (edited by hand) raises ConfigError naming it,
    or, with ``on_invalid``, is reported there and left out (one bad row must not stop the
    scheduler running the others).
    """
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
    result = []
    for schedule, version in rows:
        try:
            spec = parse_spec(
                version.spec,
                default_name=schedule.name,
                file=f"schedule_version({schedule.name} v{version.version})",
                enabled=schedule.enabled,
            )
        except ConfigError as exc:
            if on_invalid is None:
                raise
            on_invalid(schedule.name, exc)
            continue
        result.append(StoredSchedule(schedule.id, version.version, version.created_at, spec))
    return result
