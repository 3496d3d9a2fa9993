"""Writing enterprise data by natural key, saying what changed: the hook the programs react to.

``save_records`` upserts rows of one table (``RecordSpec``) inside the caller's transaction:
a key not on record is created, a stored row whose values differ is updated, an equal one is
left alone (so re-importing a file changes nothing). Each creation and update is audit-logged
with the values or the fields that changed, and returned as a ``RecordChange``: the credit
warnings and policy matching (issue 13) act on the new and changed ones.
``refresh_credit_status`` then sets the credit status of the enterprises whose events changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.credit import CreditEventStatus, CreditEventType, credit_status_of
from hub.core.vocab import CreditStatus
from hub.store.enterprise_data import CreditEvent
from hub.store.registry import Enterprise
from hub.store.tickets import AuditLog

__all__ = [
    "CreditStatusChange",
    "RecordChange",
    "RecordChanges",
    "RecordSpec",
    "refresh_credit_status",
    "save_records",
]

_CHUNK = 1000
_TARGET_ID_MAX = 64  # AuditLog.target_id
_AUDITED_TEXT = 500


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """A table written by natural key: ``kind`` names it in the audit log."""

    kind: str
    model: type[Any]
    key_fields: tuple[str, ...]
    """The columns that identify a row; the first is looked up with ``IN``."""


@dataclass(frozen=True, slots=True)
class RecordChange:
    """One row an import or an API call created or changed."""

    key: str
    """The natural key as people name it: ``XY2026001``, ``USCC/营业执照/123``, ``USCC/2026``."""
    id: int
    created: bool
    values: Mapping[str, Any]
    """The row's values after the change."""
    changes: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    """``field -> (before, after)`` for an update; empty for a creation."""


@dataclass(frozen=True, slots=True)
class CreditStatusChange:
    """An enterprise whose credit status its events changed."""

    enterprise_id: int
    uscc: str
    before: CreditStatus
    after: CreditStatus


@dataclass(frozen=True, slots=True)
class RecordChanges:
    """What one import or API call changed: the new and changed rows, and credit statuses."""

    kind: str
    created: tuple[RecordChange, ...] = ()
    updated: tuple[RecordChange, ...] = ()
    unchanged: int = 0
    credit_status: tuple[CreditStatusChange, ...] = ()

    @property
    def changed(self) -> tuple[RecordChange, ...]:
        """Created and updated rows, in that order."""
        return self.created + self.updated


def jsonable(value: Any) -> Any:
    """A value as the audit log's JSON keeps it (dates as ISO text, enums by value).

    A long text (a policy's full text) is kept to its first ``_AUDITED_TEXT`` characters and
    its length: the row holds the whole of it, the log says that it changed and how.
    """
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, str) and len(value) > _AUDITED_TEXT:
        return f"{value[:_AUDITED_TEXT]}…（共 {len(value)} 字）"
    return value


async def save_records(
    session: AsyncSession,
    spec: RecordSpec,
    items: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    now: datetime,
    actor: str,
    source: str,
) -> RecordChanges:
    """Upsert ``items`` (``(key text, column values)``, key columns included) by natural key.

    ``source`` (the file, or ``api``) goes into each audit entry with ``actor``.
    """
    model = spec.model
    table = cast(sa.Table, model.__table__)
    created: list[RecordChange] = []
    updated: list[RecordChange] = []
    unchanged = 0
    audits: list[dict[str, Any]] = []
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        fields = list(chunk[0][1])
        stored = await _stored(session, spec, fields, chunk)
        inserts: list[tuple[str, Mapping[str, Any]]] = []
        updates: list[dict[str, Any]] = []
        for key, values in chunk:
            old = stored.get(_key_of(spec, values))
            if old is None:
                inserts.append((key, values))
                continue
            row_id, old_values = old
            changes = {
                name: (old_values[name], value)
                for name, value in values.items()
                if old_values[name] != value
            }
            if not changes:
                unchanged += 1
                continue
            updates.append({**values, "id": row_id, "updated_at": now})
            updated.append(RecordChange(key, row_id, False, values, changes))
            detail = {name: [jsonable(a), jsonable(b)] for name, (a, b) in changes.items()}
            audits.append(_audit(spec, key, "updated", now, actor, source, {"changes": detail}))
        if inserts:
            rows = [{**values, "created_at": now, "updated_at": now} for _, values in inserts]
            key_columns = [table.c[name] for name in spec.key_fields]
            result = await session.execute(
                sa.insert(table).returning(table.c.id, *key_columns), rows
            )
            ids = {tuple(row[1:]): row[0] for row in result}
            for key, values in inserts:
                row_id = ids[_key_of(spec, values)]
                created.append(RecordChange(key, row_id, True, values))
                shown = {name: jsonable(value) for name, value in values.items()}
                audits.append(_audit(spec, key, "created", now, actor, source, {"values": shown}))
        if updates:
            await session.execute(sa.update(model), updates)
    if audits:
        await session.execute(sa.insert(AuditLog), audits)
    return RecordChanges(spec.kind, tuple(created), tuple(updated), unchanged)


def _key_of(spec: RecordSpec, values: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(values[name] for name in spec.key_fields)


async def _stored(
    session: AsyncSession,
    spec: RecordSpec,
    fields: Sequence[str],
    chunk: Sequence[tuple[str, Mapping[str, Any]]],
) -> dict[tuple[Any, ...], tuple[int, dict[str, Any]]]:
    """The stored rows the chunk's keys name: key -> (id, values of ``fields``)."""
    model = spec.model
    first = spec.key_fields[0]
    wanted = {_key_of(spec, values) for _, values in chunk}
    rows = await session.execute(
        sa.select(model.id, *(getattr(model, name) for name in fields)).where(
            getattr(model, first).in_(sorted({values[first] for _, values in chunk}))
        )
    )
    stored: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    for row in rows:
        values = dict(zip(fields, row[1:], strict=True))
        key = _key_of(spec, values)
        if key in wanted:
            stored[key] = (row[0], values)
    return stored


def _audit(
    spec: RecordSpec,
    key: str,
    what: str,
    now: datetime,
    actor: str,
    source: str,
    detail: dict[str, Any],
) -> dict[str, Any]:
    return {
        "at": now,
        "actor": actor,
        "action": f"{spec.kind}.{what}",
        "target_type": spec.kind,
        "target_id": key[:_TARGET_ID_MAX],
        "detail": {"source": source, **detail},
    }


async def refresh_credit_status(
    session: AsyncSession,
    enterprise_ids: Iterable[int],
    *,
    now: datetime,
    actor: str,
    source: str,
) -> tuple[CreditStatusChange, ...]:
    """Set each enterprise's credit status from its active events (``credit_status_of``);
    audit-log and return the ones that changed."""
    ids = sorted(set(enterprise_ids))
    changes: list[CreditStatusChange] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        active: dict[int, list[CreditEventType]] = {}
        for enterprise_id, kind in await session.execute(
            sa.select(CreditEvent.enterprise_id, CreditEvent.type).where(
                CreditEvent.enterprise_id.in_(chunk),
                CreditEvent.status == CreditEventStatus.ACTIVE,
            )
        ):
            active.setdefault(enterprise_id, []).append(kind)
        for enterprise_id, uscc, before in await session.execute(
            sa.select(Enterprise.id, Enterprise.uscc, Enterprise.credit_status).where(
                Enterprise.id.in_(chunk)
            )
        ):
            after = credit_status_of(active.get(enterprise_id, ()))
            if after != before:
                changes.append(CreditStatusChange(enterprise_id, uscc, before, after))
    if changes:
        await session.execute(
            sa.update(Enterprise),
            [{"id": c.enterprise_id, "credit_status": c.after, "updated_at": now} for c in changes],
        )
        await session.execute(
            sa.insert(AuditLog),
            [
                {"at": now, "actor": actor, "action": "enterprise.credit_status",
                 "target_type": "enterprise", "target_id": c.uscc,
                 "detail": {"source": source, "before": c.before.value, "after": c.after.value}}
                for c in changes
            ],
        )  # fmt: skip
    return tuple(changes)
