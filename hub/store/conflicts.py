"""Write conflicts between transactions of several processes, and running one again.

On PostgreSQL two workers' transactions can wait on each other (both open tickets, both take
the day's ticket number row and other shared rows, in different orders): the server detects the
deadlock and aborts one of them (SQLSTATE 40P01), or aborts a serializable transaction that
raced another (40001). Nothing of the aborted transaction was written, so the right answer is
to run it again, not to record its work as failed. SQLite serialises writers and never does this.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Final, TypeVar

from sqlalchemy.exc import DBAPIError

from hub.core.errors import StorageError

T = TypeVar("T")

#: deadlock_detected, serialization_failure.
CONFLICT_SQLSTATES: Final = frozenset({"40P01", "40001"})


def sqlstates(exc: BaseException) -> Iterator[str]:
    """The SQLSTATE codes along ``exc``'s chain of causes (a driver error's own, or the one a
    SQLAlchemy ``DBAPIError`` wraps)."""
    seen: BaseException | None = exc
    while seen is not None:
        orig = seen.orig if isinstance(seen, DBAPIError) else seen
        code = getattr(orig, "sqlstate", None)
        if isinstance(code, str):
            yield code
        seen = seen.__cause__


def is_write_conflict(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) is a transaction aborted for a conflict."""
    return any(code in CONFLICT_SQLSTATES for code in sqlstates(exc))


async def retry_on_conflict(
    run: Callable[[], Awaitable[T]], *, attempts: int = 5, pause_s: float = 0.05
) -> T:
    """``await run()`` (one whole transaction), again after a short random pause when the
    database aborted it for a write conflict; other errors, and the last conflict, are raised."""
    for attempt in range(1, attempts):
        try:
            return await run()
        except StorageError as exc:
            if not is_write_conflict(exc):
                raise
            # Random: the two transactions that met must not meet again in lockstep.
            await asyncio.sleep(random.uniform(0, pause_s * attempt))
    return await run()
