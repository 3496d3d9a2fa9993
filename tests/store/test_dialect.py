"""hub.store.dialect: one insert-ignore (and the dialect's insert) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

from hub.core.vocab import Tier
from hub.store.db import Database
from hub.store.dialect import dialect_insert, dialect_name, insert_ignore
from hub.store.models import Enterprise

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
_ENTERPRISE = cast(sa.Table, Enterprise.__table__)


def _row(uscc: str, name: str = "测试企业") -> dict[str, Any]:
    return {"uscc": uscc, "name": name, "tier": Tier.KEY, "created_at": T0, "updated_at": T0}


async def test_the_dialect_is_named_by_its_name_the_database_or_a_session(
    any_db: Database,
) -> None:
    assert dialect_name(any_db) in {"sqlite", "postgresql"}
    assert dialect_name(any_db.dialect) == any_db.dialect
    async with any_db.read() as session:
        assert dialect_name(session) == any_db.dialect


async def test_rows_already_there_are_skipped_and_only_new_ones_come_back(
    any_db: Database,
) -> None:
    async with any_db.write() as session:
        await session.execute(insert_ignore(any_db, _ENTERPRISE, _row("A1", "first")))
    stmt = insert_ignore(any_db, _ENTERPRISE).returning(_ENTERPRISE.c.uscc)
    async with any_db.write() as session:  # an executemany: one row conflicts, two are new
        rows = [_row("A1", "second"), _row("B2"), _row("C3")]
        new = sorted((await session.scalars(stmt, rows)).all())
    assert new == ["B2", "C3"]
    async with any_db.write() as session:  # values in the statement; a named constraint
        again = await session.scalar(
            insert_ignore(
                session, Enterprise, [_row("B2")], conflict_columns=[_ENTERPRISE.c.uscc]
            ).returning(Enterprise.id)
        )
    assert again is None
    async with any_db.read() as session:
        names = dict((await session.execute(sa.select(Enterprise.uscc, Enterprise.name))).all())
    assert names == {"A1": "first", "B2": "测试企业", "C3": "测试企业"}


async def test_the_dialects_insert_takes_an_upsert(any_db: Database) -> None:
    async with any_db.write() as session:
        for name in ("first", "second"):
            await session.execute(
                dialect_insert(session, _ENTERPRISE)
                .values(_row("A1", name))
                .on_conflict_do_update(index_elements=[_ENTERPRISE.c.uscc], set_={"name": name})
            )
    async with any_db.read() as session:
        assert await session.scalar(sa.select(Enterprise.name)) == "second"
