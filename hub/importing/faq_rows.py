"""``hub import faq FILE``: the FAQ library's rows (CSV or XLSX, English or Chinese headers)
validated into ``FaqRow`` and saved by ``hub.knowledge.faq.save_faq_entries``.

Read like the other imports (``hub.importing.columns``): every problem of a row said in Chinese
naming the column as the file spells it; an id repeated with other content is rejected naming
the earlier row (``parse_keyed``). ``POST /api/v1/faq`` validates each item with the same
``validate_faq_row`` (the English names are the JSON fields: ``api_names``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import Collection, Mapping
from datetime import datetime

import sqlalchemy as sa

from hub.importing.columns import Column, ColumnSet, HeaderMap, RowChecker
from hub.importing.data_rows import parse_date, parse_flag
from hub.importing.rows import ParseResult, parse_keyed
from hub.importing.tabular import Reject, TableFormat
from hub.knowledge.faq import FaqRow, save_faq_entries
from hub.store.db import Database
from hub.store.knowledge import FaqEntry
from hub.store.record_changes import RecordChanges

__all__ = [
    "FAQ_COLUMNS",
    "faq_ids",
    "import_faq_file",
    "parse_faq",
    "parse_faq_id",
    "validate_faq_row",
]

# Letters (Chinese too), digits, - _ . : an id is a path segment of GET /api/v1/faq/{faq_id},
# and ':' '#' are how retrieval names policy passages (policy:<id>#<n>), which no FAQ id may be.
_FAQ_ID = re.compile(r"[\w.\-]+")

FAQ_COLUMNS = ColumnSet(
    "faq",
    (
        Column("faq_id", "编号", required=True, max_length=64),
        Column("question", "问题", required=True),
        Column("answer", "答案", required=True),
        Column("alternates", "相似问法"),
        Column("department", "部门", max_length=128),
        Column("valid_until", "有效期至"),
        Column("source", "依据", max_length=512),
        Column("retired", "停用"),
    ),
)
"""``question`` and ``answer`` may be blank on a row that only retires an entry (停用 是)."""


def parse_faq_id(text: str) -> str:
    """An entry id: letters (Chinese too), digits, ``-``, ``_`` and ``.``."""
    if _FAQ_ID.fullmatch(text) is None:
        raise ValueError("只能含字母、数字、汉字和 - _ .")
    return text


def validate_faq_row(
    row_number: int,
    raw: Mapping[str, str],
    names: HeaderMap,
    *,
    known_ids: Collection[str] | None = None,
) -> FaqRow | Reject:
    """Validate one FAQ row; a ``Reject`` lists every problem found in it.

    A row with 停用 是 and neither question nor answer retires the stored entry: its id must be
    among ``known_ids`` (``None``: not checked here; ``save_faq_entries`` refuses it then).
    """
    check = RowChecker(raw, names)
    faq_id = check.parsed("faq_id", parse_faq_id, required=True)
    retired = check.parsed("retired", parse_flag)
    retires_only = (
        retired is True and not names.value(raw, "question") and not names.value(raw, "answer")
    )
    question = check.text("question", required=not retires_only)
    answer = check.text("answer", required=not retires_only)
    alternates = tuple(item for item in check.items("alternates") if item != question)
    department = check.text("department")
    valid_until = check.parsed("valid_until", parse_date)
    source = check.text("source")
    if retires_only and faq_id is not None and known_ids is not None and faq_id not in known_ids:
        check.reasons.append(
            f"{names.name('faq_id')}“{faq_id}”不存在，无法停用；新建条目须填写"
            f"{names.name('question')}和{names.name('answer')}"
        )
    if check.reasons or faq_id is None:
        return check.reject(row_number)
    return FaqRow(
        row_number, faq_id, question, answer, alternates, department, valid_until, source, retired
    )


def parse_faq(
    path: str | os.PathLike[str],
    *,
    known_ids: Collection[str] | None = None,
    format: TableFormat | None = None,
) -> ParseResult[FaqRow]:
    """Read and validate an FAQ file (``hub import faq FILE``), keyed by 编号."""

    def validate(number: int, raw: Mapping[str, str], names: HeaderMap) -> FaqRow | Reject:
        return validate_faq_row(number, raw, names, known_ids=known_ids)

    return parse_keyed(
        path, FAQ_COLUMNS, validate, lambda row: row.faq_id, format, key_fields=("faq_id",)
    )


async def faq_ids(db: Database) -> set[str]:
    """Every FAQ id on record (retired ones too: an id is never deleted)."""
    async with db.read() as session:
        return set((await session.scalars(sa.select(FaqEntry.faq_id))).all())


async def import_faq_file(
    db: Database, path: str | os.PathLike[str], now: datetime, *, actor: str
) -> tuple[ParseResult[FaqRow], RecordChanges]:
    """Parse an FAQ file (in a worker thread) and save its valid rows in one transaction; the
    rejects are the caller's to write."""
    known = await faq_ids(db)
    parsed = await asyncio.to_thread(parse_faq, path, known_ids=known)
    async with db.write() as session:
        saved = await save_faq_entries(
            session, parsed.records, actor=actor, now=now, source=os.fspath(path)
        )
    if saved.errors:  # the parse checks what the save does; kept in case they ever differ
        refused = tuple(Reject(error.row_number, (error.reason,), {}) for error in saved.errors)
        parsed = dataclasses.replace(
            parsed, rejects=parsed.rejects + refused, valid=parsed.valid - len(refused)
        )
    return parsed, saved.changes
