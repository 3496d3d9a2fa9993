"""A cell longer than its database column rejects its row, on both databases.

PostgreSQL refuses a value longer than its VARCHAR (SQLite stores it), and the upsert is one
transaction: one 300-character name failed the whole import on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.importing import DEPARTMENT_COLUMNS, ENTERPRISE_COLUMNS, OFFICER_COLUMNS, ColumnSet
from hub.importing.columns import _SHORTEST_LIMIT
from hub.importing.service import ImportKind, import_file
from hub.store.db import Database
from hub.store.models import Contact, Department, Enterprise, EnterpriseTag, Officer
from tests.importing.factories import make_uscc, write_csv_file

# Every column the import writes as given, and the database column that holds it.
STORED_IN: dict[tuple[ColumnSet, str], sa.Column[str]] = {
    (ENTERPRISE_COLUMNS, "name"): Enterprise.__table__.c.name,
    (ENTERPRISE_COLUMNS, "industry"): Enterprise.__table__.c.industry,
    (ENTERPRISE_COLUMNS, "region"): Enterprise.__table__.c.region,
    (ENTERPRISE_COLUMNS, "tags"): EnterpriseTag.__table__.c.tag,  # each tag
    (ENTERPRISE_COLUMNS, "contact_name"): Contact.__table__.c.name,
    (ENTERPRISE_COLUMNS, "officer"): Officer.__table__.c.code,
    (OFFICER_COLUMNS, "code"): Officer.__table__.c.code,
    (OFFICER_COLUMNS, "name"): Officer.__table__.c.name,
    (OFFICER_COLUMNS, "region"): Officer.__table__.c.region,
    (OFFICER_COLUMNS, "department"): Department.__table__.c.code,
    (DEPARTMENT_COLUMNS, "code"): Department.__table__.c.code,
    (DEPARTMENT_COLUMNS, "name"): Department.__table__.c.name,
    (DEPARTMENT_COLUMNS, "head_name"): Department.__table__.c.head_name,
}


def test_the_limits_are_the_columns_lengths() -> None:
    for (columns, field), stored in STORED_IN.items():
        assert columns.column(field).max_length == stored.type.length, (columns.kind, field)
    limits = [c.max_length for s in (ENTERPRISE_COLUMNS, OFFICER_COLUMNS, DEPARTMENT_COLUMNS)
              for c in s.columns if c.max_length is not None]  # fmt: skip
    assert min(limits) == _SHORTEST_LIMIT  # RowChecker.text looks a limit up only past it


async def test_over_long_cells_reject_their_row_and_the_rest_is_imported(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    files: dict[ImportKind, list[list[str]]] = {
        "departments": [
            ["code", "name", "head_name"],
            ["D1", "市发展改革委", ""],
            ["D2", "部" * 129, "李" * 65],
        ],
        "officers": [
            ["code", "name", "department"],
            ["LL1", "李明", "D1"],
            ["L" * 33, "王" * 65, ""],
        ],
        "enterprises": [
            ["uscc", "name", "tier", "industry", "tags", "contact_name", "officer"],
            [make_uscc(1), "甲公司", "key", "制造业", "专精特新", "王伟", "LL1"],
            [make_uscc(2), "乙" * 257, "key", "制" * 65, "好;" + "标" * 65, "张" * 65, ""],
        ],
    }
    reasons = {}
    for kind, rows in files.items():
        path = write_csv_file(tmp_path / f"{kind}.csv", rows)

        report = await import_file(any_db, kind, path, clock)

        assert (report.valid, report.created, report.rejected) == (1, 1, 1), kind
        reasons[kind] = (path.with_name(f"{kind}.rejects.csv")).read_text(encoding="utf-8-sig")
    assert "name“部部部" in reasons["departments"]
    assert "有 129 个字符，最多 128 个" in reasons["departments"]
    assert "head_name“李李李" in reasons["departments"]
    assert "code“LLL" in reasons["officers"]
    assert "name“王王王" in reasons["officers"]
    for field in ("name", "industry", "contact_name"):
        assert f"{field}“" in reasons["enterprises"]
    assert "tags“标标标" in reasons["enterprises"]
    async with any_db.read() as session:
        assert (await session.scalars(sa.select(Enterprise.name))).all() == ["甲公司"]
