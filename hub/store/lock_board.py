"""Who waits for SQLite's write lock: a small file beside the database, so that the process
holding the lock can end its transaction early for a waiting writer.

SQLite has one writer at a time and no queue: a webhook's group commit that arrives while the
inbound worker's chunk holds the lock waits for the whole chunk. The waiting connection
(:mod:`hub.store.inline_sqlite`, while it polls for the lock) writes here since when it waits
(``CLOCK_MONOTONIC``, the same clock in every process of the machine); the inbound worker reads
it between two replies (a ``pread``: about a microsecond) and commits what it has when a writer
has waited :data:`hub.inbound.worker.YIELD_AFTER_S`, leaving the rest of its chunk for the
next transaction. Advisory only: a lost mark (two waiters, one clearing) costs a wait as long
as without the board, never a wrong result.

The file is ``<database>-lockwait`` (beside SQLite's ``-wal`` and ``-shm``): 8 bytes, zero
while nobody waits.
"""

from __future__ import annotations

import os
import struct
import threading
import time
from typing import Final

__all__ = ["LockBoard"]

_EMPTY: Final = bytes(8)
_boards: dict[str, LockBoard] = {}
_boards_lock = threading.Lock()


class LockBoard:
    """The waiting-writer mark of one SQLite database file (one per path and process)."""

    def __init__(self, database: str) -> None:
        self.path = f"{database}-lockwait"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)

    @classmethod
    def of(cls, database: str) -> LockBoard | None:
        """The board of ``database`` (a file path); None for an in-memory database or a
        ``file:`` URI."""
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        key = os.path.abspath(database)
        with _boards_lock:
            board = _boards.get(key)
            if board is None:
                board = _boards[key] = cls(key)
            return board

    def waiting(self) -> None:
        """This connection waits for the lock (the oldest waiter's time is kept)."""
        if os.pread(self._fd, 8, 0) in (_EMPTY, b""):
            os.pwrite(self._fd, struct.pack("<q", time.monotonic_ns()), 0)

    def done_waiting(self) -> None:
        """This connection took the lock or gave up (another waiter marks itself again)."""
        os.pwrite(self._fd, _EMPTY, 0)

    def waited_s(self) -> float:
        """How long a writer has been waiting for the lock; 0.0 when none is."""
        raw = os.pread(self._fd, 8, 0)
        if len(raw) < 8 or raw == _EMPTY:
            return 0.0
        since: int = struct.unpack("<q", raw)[0]
        return max(0.0, (time.monotonic_ns() - since) / 1e9)
