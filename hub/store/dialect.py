"""The one place that picks SQLite's or PostgreSQL's INSERT: insert-ignore and upserts.

Both databases spell ``INSERT .. ON CONFLICT`` the same way, but SQLAlchemy builds it from each
dialect's own ``insert``. :func:`insert_ignore` is the hub's "insert unless it is there"
(idempotency keys, a provider's retried reply, a schedule's fire, an opt-out recorded twice):
a statement the caller finishes (``.returning(...)``) and executes as it needs — once, or with
a list of rows as an executemany. :func:`dialect_insert` gives the dialect's ``insert`` itself
for an ``ON CONFLICT DO UPDATE``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase

from hub.store.db import Database

# Both have on_conflict_do_nothing / on_conflict_do_update, with the same arguments.
Insert = postgresql.Insert | sqlite.Insert
# What names the dialect: its name (``Database.dialect``), the database, or a session on it.
On = str | Database | AsyncSession


def dialect_name(on: On) -> str:
    """``"sqlite"`` or ``"postgresql"``."""
    if isinstance(on, str):
        return on
    if isinstance(on, Database):
        return on.dialect
    return on.get_bind().dialect.name


def dialect_insert(on: On, table: Table | type[DeclarativeBase]) -> Insert:
    """The dialect's ``INSERT INTO table`` (PostgreSQL's, or SQLite's for everything else),
    which has ``on_conflict_do_nothing`` and ``on_conflict_do_update``."""
    if dialect_name(on) == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(
    on: On,
    table: Table | type[DeclarativeBase],
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    conflict_columns: Sequence[Column[Any]] | None = None,
) -> Insert:
    """``INSERT .. ON CONFLICT DO NOTHING``: a row that would break a unique constraint is
    skipped, not an error (with ``.returning(...)``, only the rows inserted come back).

    ``values`` (one row, or rows for one multi-row VALUES) are put in the statement; without
    them, execute it with the rows as parameters (an executemany). ``conflict_columns`` names
    the one constraint to ignore (``ON CONFLICT (col) DO NOTHING``); without it, any.
    """
    stmt = dialect_insert(on, table)
    if values is not None:
        stmt = stmt.values(values)
    return stmt.on_conflict_do_nothing(index_elements=conflict_columns)
