"""Start-up seeding that several processes may run at the same moment on a fresh database.

Every process seeds the shipped templates when it starts (and every ``hub scheduler`` the
schedules): it reads which rows are missing, then inserts them in one transaction. On SQLite
writers take turns, so the second process sees the first one's rows. On PostgreSQL processes
started together (``hub api`` beside ``hub worker``s) all see the database empty, all insert,
and every one but the first to commit fails on the unique key (SQLSTATE 23505). The seed is
idempotent and the winner's rows are what it would have written, so the losers run it once
more: it then finds every row there and writes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from hub.core.errors import StorageError
from hub.store.conflicts import sqlstates

T = TypeVar("T")

#: unique_violation
UNIQUE_VIOLATION: Final = "23505"


def lost_a_unique_race(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a unique key another transaction took."""
    return UNIQUE_VIOLATION in sqlstates(exc)


async def seed_concurrently(seed: Callable[[], Awaitable[T]]) -> T:
    """``await seed()`` (idempotent, one transaction); once more when another process seeding
    the same rows committed first."""
    try:
        return await seed()
    except StorageError as exc:
        if not lost_a_unique_race(exc):
            raise
    return await seed()
