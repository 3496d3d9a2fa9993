"""The FAQ library as read: entries filtered for the list, and one entry with its versions.

``GET /api/v1/faq`` and ``GET /api/v1/faq/{faq_id}`` read through these; what the assistant
answers from is ``hub.knowledge``'s (only entries in force).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub.core.clock import local_iso
from hub.store.db import Database
from hub.store.knowledge import FaqEntry, FaqEntryVersion

__all__ = [
    "FaqDetail",
    "FaqFilter",
    "entry_dict",
    "faq_entry",
    "in_force",
    "list_faq_entries",
    "version_dict",
]


@dataclass(frozen=True, slots=True)
class FaqFilter:
    """Which entries to list, by ``faq_id``; ``after`` pages (the last id of the page before).

    ``valid``: True lists the entries in force on ``today`` (not retired, not past
    ``valid_until``), False the others; None lists all.
    """

    today: date
    text: str | None = None
    """Found in the id, the question, the other ways to ask or the answer."""
    department: str | None = None
    valid: bool | None = None
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class FaqDetail:
    """One entry as in force and every version of it, oldest first."""

    entry: FaqEntry
    versions: list[FaqEntryVersion]


def in_force(entry: FaqEntry, today: date) -> bool:
    """True while the entry may answer: not retired and not past its ``valid_until``."""
    return not entry.retired and (entry.valid_until is None or today <= entry.valid_until)


def entry_dict(entry: FaqEntry, today: date, tz: ZoneInfo) -> dict[str, Any]:
    """An entry as the API and ``--json`` show it (dates ISO, times in ``tz``)."""
    valid_until = entry.valid_until
    return {
        "faq_id": entry.faq_id, "version": entry.version, "question": entry.question,
        "alternates": entry.alternates.split(";") if entry.alternates else [],
        "answer": entry.answer, "department": entry.department,
        "valid_until": valid_until.isoformat() if valid_until is not None else None,
        "source": entry.source, "retired": entry.retired, "in_force": in_force(entry, today),
        "updated_at": local_iso(entry.updated_at, tz) or "",
    }  # fmt: skip


def version_dict(version: FaqEntryVersion, tz: ZoneInfo) -> dict[str, Any]:
    """One saved version as the API and ``--json`` show it: its body, when and by whom."""
    return {
        **version.body,
        "version": version.version,
        "created_at": local_iso(version.created_at, tz) or "",
        "created_by": version.created_by,
    }


def _in_force_clause(today: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        FaqEntry.retired.is_(False),
        sa.or_(FaqEntry.valid_until.is_(None), FaqEntry.valid_until >= today),
    )


async def list_faq_entries(db: Database, wanted: FaqFilter) -> list[FaqEntry]:
    """Entries by ``faq_id``, filtered as ``wanted`` says."""
    stmt = sa.select(FaqEntry).order_by(FaqEntry.faq_id).limit(wanted.limit)
    if wanted.text:
        stmt = stmt.where(
            sa.or_(
                *(
                    column.icontains(wanted.text, autoescape=True)
                    for column in (
                        FaqEntry.faq_id,
                        FaqEntry.question,
                        FaqEntry.alternates,
                        FaqEntry.answer,
                    )
                )
            )
        )
    if wanted.department:
        stmt = stmt.where(FaqEntry.department == wanted.department)
    if wanted.valid is not None:
        clause = _in_force_clause(wanted.today)
        stmt = stmt.where(clause if wanted.valid else sa.not_(clause))
    if wanted.after is not None:
        stmt = stmt.where(FaqEntry.faq_id > wanted.after)
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())


async def faq_entry(db: Database, faq_id: str) -> FaqDetail | None:
    """The entry ``faq_id`` with its versions; None when there is no such entry."""
    async with db.read() as session:
        entry = await session.scalar(sa.select(FaqEntry).where(FaqEntry.faq_id == faq_id))
        if entry is None:
            return None
        versions = await session.scalars(
            sa.select(FaqEntryVersion)
            .where(FaqEntryVersion.faq_id == faq_id)
            .order_by(FaqEntryVersion.version)
        )
        return FaqDetail(entry, list(versions.all()))
