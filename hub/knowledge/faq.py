"""Saving the FAQ library (常见问题库): versioned and audit-logged like the other admin data.

``save_faq_entries`` writes validated rows (``FaqRow``: a row of ``hub import faq`` or one item
of ``POST /api/v1/faq``) in the caller's transaction, by ``faq_id``: a new id is created at
version 1, a changed entry gets version + 1, an equal one is left alone (so re-importing the
same file changes nothing). Every version is kept as an immutable ``faq_entry_version`` row, and
each creation or change is audit-logged (``faq.created`` / ``faq.updated`` with the fields that
changed) by ``hub.store.record_changes.save_records``, as credit events and policies are.

A row that names only an id and ``retired`` takes a stored entry out of answers, keeping its
text; a row that does not say ``retired`` leaves the stored flag as it is (a new entry is in
force), so re-importing the library file never revives an entry an admin retired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.knowledge import FaqEntry, FaqEntryVersion
from hub.store.record_changes import RecordChange, RecordChanges, RecordSpec, save_records

__all__ = [
    "ALTERNATE_SEPARATOR",
    "FAQ_ENTRIES",
    "FaqRow",
    "FaqRowError",
    "FaqSaved",
    "faq_body",
    "save_faq_entries",
]

FAQ_ENTRIES = RecordSpec("faq", FaqEntry, ("faq_id",))
ALTERNATE_SEPARATOR = ";"
"""How ``faq_entry.alternates`` joins the other ways to ask."""
_CONTENT = ("question", "alternates", "answer", "department", "valid_until", "source", "retired")
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class FaqRow:
    """One FAQ entry as a file row or an API item gives it, already validated.

    ``question`` and ``answer`` are ``None`` only on a row that retires a stored entry and says
    nothing else (``retires_only``). ``retired`` ``None``: as stored (a new entry is in force).
    """

    row_number: int
    """The file's row number, or the item's index in an API call: named in its errors."""
    faq_id: str
    question: str | None
    answer: str | None
    alternates: tuple[str, ...] = ()
    department: str | None = None
    valid_until: date | None = None
    source: str | None = None
    retired: bool | None = None

    @property
    def retires_only(self) -> bool:
        """True for a row that only retires the stored entry (no question, no answer)."""
        return self.retired is True and self.question is None and self.answer is None


@dataclass(frozen=True, slots=True)
class FaqRowError:
    """Why one row was not saved, in Chinese, with the row (or index) and the field."""

    row_number: int
    faq_id: str
    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class FaqSaved:
    """What one save did: the entries created and changed (``changes``), and the rows refused."""

    changes: RecordChanges
    errors: tuple[FaqRowError, ...]
    valid: int
    """Rows saved or found unchanged (a row repeated identically counts once per row)."""

    @property
    def created(self) -> int:
        return len(self.changes.created)

    @property
    def updated(self) -> int:
        return len(self.changes.updated)

    @property
    def unchanged(self) -> int:
        return self.changes.unchanged

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def version_of(self, faq_id: str) -> int | None:
        """The version a created or changed entry now has (``None``: not created or changed)."""
        for change in self.changes.changed:
            if change.key == faq_id:
                return int(change.values["version"])
        return None


def faq_body(values: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's content as a version row keeps it (JSON: alternates a list, dates ISO)."""
    alternates = values["alternates"]
    valid_until = values["valid_until"]
    return {
        "question": values["question"],
        "alternates": alternates.split(ALTERNATE_SEPARATOR) if alternates else [],
        "answer": values["answer"],
        "department": values["department"],
        "valid_until": valid_until.isoformat() if valid_until is not None else None,
        "source": values["source"],
        "retired": bool(values["retired"]),
    }


async def save_faq_entries(
    session: AsyncSession,
    rows: Sequence[FaqRow],
    *,
    actor: str,
    now: datetime,
    source: str = "api",
) -> FaqSaved:
    """Save ``rows`` by ``faq_id`` in the caller's transaction; versions and audit included.

    ``source`` (the file, or ``api``) goes into each audit entry with ``actor``. A row that
    cannot be saved (an id repeated with other content, retiring an id not on record) is
    returned as an error; the others are saved all the same.
    """
    distinct, errors = _distinct(rows)
    stored = await _stored(session, [row.faq_id for row in distinct])
    items: list[tuple[str, dict[str, Any]]] = []
    for row in distinct:
        old = stored.get(row.faq_id)
        content = _content(row, old)
        if content is None:
            errors.append(
                FaqRowError(row.row_number, row.faq_id, "faq_id",
                            f"编号“{row.faq_id}”不存在，无法停用；新建条目须填写问题和答案")
            )  # fmt: skip
            continue
        if old is None:
            version = 1
        elif all(old[name] == content[name] for name in _CONTENT):
            version = int(old["version"])
        else:
            version = int(old["version"]) + 1
        items.append((row.faq_id, {"faq_id": row.faq_id, **content, "version": version}))
    changes = await save_records(session, FAQ_ENTRIES, items, now=now, actor=actor, source=source)
    if changes.changed:
        await session.execute(
            sa.insert(FaqEntryVersion),
            [_version_row(change, now, actor) for change in changes.changed],
        )
    errors.sort(key=lambda error: error.row_number)
    return FaqSaved(changes, tuple(errors), len(rows) - len(errors))


def _version_row(change: RecordChange, now: datetime, actor: str) -> dict[str, Any]:
    return {
        "faq_id": change.key,
        "version": change.values["version"],
        "body": faq_body(change.values),
        "created_at": now,
        "created_by": actor,
    }


def _distinct(rows: Sequence[FaqRow]) -> tuple[list[FaqRow], list[FaqRowError]]:
    """One row per ``faq_id``: an identical repeat merges, a different one is an error."""
    seen: dict[str, FaqRow] = {}
    errors: list[FaqRowError] = []
    for row in rows:
        earlier = seen.get(row.faq_id)
        if earlier is None:
            seen[row.faq_id] = row
        elif _same_content(earlier, row):
            continue
        else:
            errors.append(
                FaqRowError(row.row_number, row.faq_id, "faq_id",
                            f"编号“{row.faq_id}”与第 {earlier.row_number} 项重复且内容不一致")
            )  # fmt: skip
    return list(seen.values()), errors


def _same_content(a: FaqRow, b: FaqRow) -> bool:
    return (a.question, a.answer, a.alternates, a.department, a.valid_until, a.source,
            a.retired) == (b.question, b.answer, b.alternates, b.department, b.valid_until,
                           b.source, b.retired)  # fmt: skip


def _content(row: FaqRow, old: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The entry's stored content after ``row``; ``None`` when the row cannot make one."""
    if row.question is None or row.answer is None:
        if old is None or not row.retires_only:
            return None
        return {**{name: old[name] for name in _CONTENT}, "retired": True}
    retired = row.retired if row.retired is not None else bool(old and old["retired"])
    return {
        "question": row.question,
        "alternates": ALTERNATE_SEPARATOR.join(row.alternates),
        "answer": row.answer,
        "department": row.department,
        "valid_until": row.valid_until,
        "source": row.source,
        "retired": retired,
    }


async def _stored(session: AsyncSession, faq_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The stored entries of ``faq_ids``: id -> content and version."""
    fields = (*_CONTENT, "version")
    columns = [getattr(FaqEntry, name) for name in fields]
    stored: dict[str, dict[str, Any]] = {}
    for start in range(0, len(faq_ids), _CHUNK):
        chunk = faq_ids[start : start + _CHUNK]
        rows = await session.execute(
            sa.select(FaqEntry.faq_id, *columns).where(FaqEntry.faq_id.in_(chunk))
        )
        for row in rows:
            stored[row[0]] = dict(zip(fields, row[1:], strict=True))
    return stored
