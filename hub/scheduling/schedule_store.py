"""Schedules in the database: store validated specs as versions, read the versions in force.

:func:`sync_schedules` stores a new version only when a spec changed; :func:`stored_schedules`
reads each schedule's current version back through the same validation as a file
(:func:`hub.scheduling.schedules.parse_spec`). The rows themselves are
:mod:`hub.store.schedules`'.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from hub.core.clock import Clock
from hub.core.errors import ConfigError
from hub.scheduling.schedules import ScheduleSpec, parse_spec
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.schedules import (
    ScheduleContent,
    SyncReport,
    current_schedule_versions,
    write_schedule_versions,
)


async def sync_schedules(
    db: Database,
    specs: Iterable[ScheduleSpec],
    clock: Clock,
    actor: str,
    *,
    update_existing: bool = True,
    audit: AuditNote | None = None,
) -> SyncReport:
    """Store the specs: version 1 for a new name, a new version only when the content changed.

    Running it twice with the same specs changes nothing. Schedules in the database but not
    among ``specs`` are left alone (admins may have made them). With ``update_existing`` False
    (seeding at start-up) existing schedules are not touched, so a restart never undoes an
    admin's edit. ``audit``: written in the transaction of each change (an admin's edit).
    """
    contents = [ScheduleContent(spec.name, spec.enabled, spec.to_json()) for spec in specs]
    return await write_schedule_versions(db, contents, clock, actor,
                                         update_existing=update_existing, audit=audit)  # fmt: skip


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
    result = []
    for row in await current_schedule_versions(db, names):
        try:
            spec = parse_spec(
                row.spec,
                default_name=row.name,
                file=f"schedule_version({row.name} v{row.version})",
                enabled=row.enabled,
            )
        except ConfigError as exc:
            if on_invalid is None:
                raise
            on_invalid(row.name, exc)
            continue
        result.append(StoredSchedule(row.id, row.version, row.version_created_at, spec))
    return result
