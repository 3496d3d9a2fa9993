"""Enterprise data to the database: validated rows -> column values -> ``save_records``.

``save_rows`` saves rows of any kind in the caller's transaction and returns ``RecordChanges``
(the new and changed rows, for the programs). Saving credit events also recomputes the credit
status of every enterprise whose events changed, so that the audience field ``credit=``
follows them.
``import_data_file`` is ``hub import credit|policies|licences|annual-reports FILE``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.importing.data_rows import (
    AnnualReportRow,
    CreditEventRow,
    LicenceRow,
    PolicyRow,
    parse_annual_reports,
    parse_credit_events,
    parse_licences,
    parse_policies,
)
from hub.importing.rows import ParseResult
from hub.store.db import Database
from hub.store.enterprise_data import AnnualReport, CreditEvent, Licence, Policy
from hub.store.models import Enterprise
from hub.store.record_changes import (
    RecordChanges,
    RecordSpec,
    refresh_credit_status,
    save_records,
)

__all__ = [
    "ANNUAL_REPORTS",
    "CREDIT_EVENTS",
    "DATA_KINDS",
    "LICENCES",
    "POLICIES",
    "DataKind",
    "enterprise_ids",
    "import_data_file",
    "save_rows",
]

DataKind = Literal["credit", "policies", "licences", "annual-reports"]
DATA_KINDS: tuple[DataKind, ...] = ("credit", "policies", "licences", "annual-reports")

CREDIT_EVENTS = RecordSpec("credit_event", CreditEvent, ("event_id",))
POLICIES = RecordSpec("policy", Policy, ("policy_id",))
LICENCES = RecordSpec("licence", Licence, ("enterprise_id", "kind", "number"))
ANNUAL_REPORTS = RecordSpec("annual_report", AnnualReport, ("enterprise_id", "year"))


async def enterprise_ids(db: Database) -> dict[str, int]:
    """Every enterprise's id by USCC: which rows name a known enterprise, and its id."""
    async with db.read() as session:
        return dict((await session.execute(sa.select(Enterprise.uscc, Enterprise.id))).all())


def _joined(items: Sequence[str]) -> str:
    return ";".join(items)


Items = list[tuple[str, dict[str, Any]]]
"""``(key as people name it, column values)`` for ``save_records``."""


def _credit_items(rows: Sequence[CreditEventRow], ids: Mapping[str, int]) -> Items:
    return [
        (row.event_id, {
            "event_id": row.event_id, "enterprise_id": ids[row.uscc], "type": row.type,
            "authority": row.authority, "decided_on": row.decided_on, "summary": row.summary,
            "status": row.status, "repaired_on": row.repaired_on,
        })
        for row in rows
    ]  # fmt: skip


def _policy_items(rows: Sequence[PolicyRow], _: Mapping[str, int]) -> Items:
    return [
        (row.policy_id, {
            "policy_id": row.policy_id, "title": row.title, "summary": row.summary,
            "department": row.department, "apply_by": row.apply_by,
            "free_apply": row.free_apply, "url": row.url,
            "industries": _joined(row.industries),
            "tiers": _joined([tier.value for tier in row.tiers]),
            "regions": _joined(row.regions),
            "stages": _joined([stage.value for stage in row.stages]),
            "tags": _joined(row.tags), "text": row.text,
        })
        for row in rows
    ]  # fmt: skip


def _licence_items(rows: Sequence[LicenceRow], ids: Mapping[str, int]) -> Items:
    return [
        (f"{row.uscc}/{row.kind}/{row.number}", {
            "enterprise_id": ids[row.uscc], "kind": row.kind, "number": row.number,
            "expires_on": row.expires_on, "authority": row.authority,
            "renewed_on": row.renewed_on,
        })
        for row in rows
    ]  # fmt: skip


def _annual_report_items(rows: Sequence[AnnualReportRow], ids: Mapping[str, int]) -> Items:
    return [
        (f"{row.uscc}/{row.year}",
         {"enterprise_id": ids[row.uscc], "year": row.year, "filed_on": row.filed_on})
        for row in rows
    ]  # fmt: skip


_Parse = Callable[[str | os.PathLike[str], Collection[str]], ParseResult[Any]]
_Items = Callable[[Sequence[Any], Mapping[str, int]], Items]
# kind -> (read a file given the USCCs on record, the table, a row's values)
_KINDS: dict[DataKind, tuple[_Parse, RecordSpec, _Items]] = {
    "credit": (lambda path, known: parse_credit_events(path, known_usccs=known),
               CREDIT_EVENTS, _credit_items),
    "policies": (lambda path, _: parse_policies(path), POLICIES, _policy_items),
    "licences": (lambda path, known: parse_licences(path, known_usccs=known),
                 LICENCES, _licence_items),
    "annual-reports": (lambda path, known: parse_annual_reports(path, known_usccs=known),
                       ANNUAL_REPORTS, _annual_report_items),
}  # fmt: skip


async def save_rows(
    session: AsyncSession,
    kind: DataKind,
    rows: Sequence[Any],
    ids: Mapping[str, int],
    *,
    now: datetime,
    actor: str,
    source: str,
) -> RecordChanges:
    """Upsert validated rows of ``kind`` by natural key in the caller's transaction.

    ``ids`` maps the USCCs the rows name to enterprise ids (policies name none). Credit
    events then recompute the credit status of every enterprise whose events changed (both,
    when an event moved to another enterprise).
    """
    _, spec, items = _KINDS[kind]
    changes = await save_records(
        session, spec, items(rows, ids), now=now, actor=actor, source=source
    )
    if kind != "credit":
        return changes
    touched = {change.values["enterprise_id"] for change in changes.changed}
    touched |= {
        change.changes["enterprise_id"][0]
        for change in changes.updated
        if "enterprise_id" in change.changes
    }
    statuses = await refresh_credit_status(session, touched, now=now, actor=actor, source=source)
    return dataclasses.replace(changes, credit_status=statuses)


async def import_data_file(
    db: Database,
    kind: DataKind,
    path: str | os.PathLike[str],
    now: datetime,
    *,
    actor: str,
) -> tuple[ParseResult[Any], RecordChanges]:
    """Parse one file of ``kind`` (in a worker thread) and save its valid rows in one
    transaction; the rejects are the caller's to write."""
    ids = await enterprise_ids(db) if kind != "policies" else {}
    parse = _KINDS[kind][0]
    parsed = await asyncio.to_thread(parse, path, ids.keys())
    async with db.write() as session:
        changes = await save_rows(
            session, kind, parsed.records, ids, now=now, actor=actor, source=os.fspath(path)
        )
    return parsed, changes
