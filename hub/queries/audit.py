"""The audit log, read back (the admin's audit page): newest first, filtered, by pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub.store.db import Database
from hub.store.models import AuditLog


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which entries to list. ``since``/``until`` bound ``at`` (until exclusive); ``before`` is
    an entry id (the next page of the newest-first list)."""

    actor: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry: who did what to which record, when, and the details kept."""

    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str | None
    detail: dict[str, object]


async def list_audit(db: Database, query: AuditFilter) -> list[AuditEntry]:
    """Entries matching ``query``, newest first (by id, which follows time), at most ``limit``."""
    stmt = sa.select(AuditLog).order_by(AuditLog.id.desc()).limit(query.limit)
    if query.actor:
        stmt = stmt.where(AuditLog.actor == query.actor)
    if query.action:
        stmt = stmt.where(AuditLog.action == query.action)
    if query.since is not None:
        stmt = stmt.where(AuditLog.at >= query.since)
    if query.until is not None:
        stmt = stmt.where(AuditLog.at < query.until)
    if query.before is not None:
        stmt = stmt.where(AuditLog.id < query.before)
    async with db.read() as session:
        rows = (await session.scalars(stmt)).all()
    return [
        AuditEntry(row.id, row.at, row.actor, row.action, row.target_type, row.target_id,
                   dict(row.detail or {}))
        for row in rows
    ]  # fmt: skip


#: How many of the latest entries the filter's choices of action are read from.
RECENT_FOR_ACTIONS = 5000


async def audit_actions(db: Database) -> list[str]:
    """The actions of the latest entries (the filter's choices; any action can still be typed).

    From the latest few thousand rather than the whole log, which grows without end.
    """
    recent = sa.select(AuditLog.action).order_by(AuditLog.id.desc()).limit(RECENT_FOR_ACTIONS)
    latest = recent.subquery()
    async with db.read() as session:
        return list(
            await session.scalars(sa.select(latest.c.action).distinct().order_by(latest.c.action))
        )
