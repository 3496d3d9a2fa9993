"""An aiosqlite stand-in that runs statements on the event loop's thread while a connection
holds SQLite's write lock.

aiosqlite runs every call on a thread of its own, so each statement SQLAlchemy executes costs
three or four hand-offs (cursor, execute, fetch, close): a queue, a future resolved through the
loop's self-pipe, an ``epoll`` wake-up. For the short statements of a write transaction that is
most of their cost (the inbound worker's chunk: ~30 hand-offs per reply). Once a connection has
begun ``BEGIN IMMEDIATE`` it holds the database's one write lock, so no statement of that
transaction can wait for another writer: they run here, inline, at the cost of the statement
itself. Commits and rollbacks run here too (in WAL mode neither waits for another connection;
the log's checkpoint, which copies and syncs, is taken out of the commit and run on the
thread when the log has grown). Everything else goes to the connection's thread as with
aiosqlite: taking the lock (it may wait for seconds) and reads outside a write transaction (an
admin report may scan for a long time; it must not stall the loop).

Taking the lock is first tried here, without waiting: when the lock is free (most of the
time) the transaction starts with no hand-off at all, and no other task of the loop runs
between the lock taken and the transaction's first statement (a hand-off let the dispatcher's
callbacks run first while the lock sat idle). When another connection holds it, the thread
polls every :data:`LOCK_POLL_S` instead of leaving the wait to SQLite's busy handler, whose
sleeps grow to 50 and 100 ms: a webhook waiting behind the inbound worker's chunk slept on for
up to 100 ms after the lock was free, which was most of its p99. The wait still ends with
"database is locked" after the connection's timeout.

The module has the parts of aiosqlite's interface SQLAlchemy's ``sqlite+aiosqlite`` dialect uses
(:class:`sqlalchemy.dialects.sqlite.aiosqlite.AsyncAdapt_aiosqlite_dbapi` takes it as its
``aiosqlite`` module): :func:`connect`, :class:`Connection`, :class:`Cursor`, the DB-API
exceptions and version attributes. :mod:`hub.store.db` hands it to the engine.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import time
from collections.abc import Callable, Generator, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from sqlite3 import (  # noqa: F401 - the DB-API names SQLAlchemy's adapter copies
    DatabaseError,
    Error,
    IntegrityError,
    NotSupportedError,
    OperationalError,
    ProgrammingError,
    sqlite_version,
    sqlite_version_info,
)
from typing import Any, Final, TypeVar

from hub.store.lock_board import LockBoard

__all__ = ["Connection", "Cursor", "connect"]

__version__: Final = "0.22.1"  # the aiosqlite interface this module follows

#: How often a connection waiting for the write lock tries again.
LOCK_POLL_S: Final = 0.002
#: The write-ahead log's size past which a commit checkpoints it, on the connection's thread
#: (SQLite's own automatic checkpoint, which would run inside the commit, is off).
CHECKPOINT_AT_BYTES: Final = 4 * 1024 * 1024
#: A connection tries a checkpoint at most this often (readers may keep the log from
#: restarting, and it stays long until they finish). A campaign writes ~50 MB of log a second
#: at 4,000 msg/s: once a second let the log reach 600 MB in ``hub bench --n 1000000`` and the
#: workers' peak RSS 180 MB; every 50 ms it stays within 1-20 MB (RSS 150 MB).
CHECKPOINT_EVERY_S: Final = 0.05

_T = TypeVar("_T")

#: Statements that take the write lock for the rest of the transaction.
_TAKES_LOCK: Final = re.compile(r"\s*BEGIN\s+(IMMEDIATE|EXCLUSIVE)\b", re.IGNORECASE)
#: Statements that end the transaction (not ``ROLLBACK TO`` a savepoint).
_ENDS: Final = re.compile(r"\s*(COMMIT|END|ROLLBACK(?!\s+TO\b))\b", re.IGNORECASE)


class _Thread:
    """What SQLAlchemy's adapter marks as a daemon after connecting (aiosqlite's worker
    thread); the executor's thread exits when the connection closes."""

    daemon = True


class Connection:
    """One ``sqlite3`` connection: inline while it holds the write lock, else on its thread."""

    def __init__(
        self, connector: Callable[[], sqlite3.Connection], timeout_s: float,
        board: LockBoard | None = None, wal: str | None = None,
    ) -> None:  # fmt: skip
        self._connector = connector
        self._timeout_s = timeout_s
        #: The write-ahead log's path (None: an in-memory database, a ``file:`` URI).
        self._wal = wal
        self._checked_at = 0.0
        #: Where this connection says it waits for the lock (hub/store/lock_board.py).
        self._board = board
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        self._thread = _Thread()
        self._tx = _ImmediateQueue()
        #: True between a ``BEGIN IMMEDIATE``/``EXCLUSIVE`` and the transaction's end.
        self._writing = False

    def __await__(self) -> Generator[Any, None, Connection]:
        return self._connect().__await__()

    async def _connect(self) -> Connection:
        if self._connection is None:
            self._connection = await self._on_thread(self._open)
        return self

    def _open(self) -> sqlite3.Connection:
        connection = self._connector()
        # Commits run here, on the loop's thread; the checkpoints that SQLite would run
        # inside one go to the connection's thread instead (:meth:`commit`). The log is
        # truncated when it restarts, so its size says what is not yet checkpointed.
        connection.execute("PRAGMA wal_autocheckpoint = 0")
        connection.execute("PRAGMA journal_size_limit = 0")
        return connection

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: Any) -> None:
        self._conn.isolation_level = value

    def _inline(self) -> bool:
        return self._writing and self._conn.in_transaction

    async def _on_thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    async def _run(self, fn: Callable[..., _T], *args: Any) -> _T:
        """``fn`` here when this connection holds the write lock, else on its thread."""
        if self._inline():
            return fn(*args)
        return await self._on_thread(fn, *args)

    def cursor(self) -> _CursorOpening:
        return _CursorOpening(self)

    async def _execute(self, cursor: sqlite3.Cursor, sql: str, parameters: Any) -> None:
        """One statement, keeping track of whether this connection holds the write lock."""
        if _TAKES_LOCK.match(sql):
            if not self._try_lock(cursor, sql, parameters):  # taken by another: wait on the thread
                await self._on_thread(self._take_lock, cursor, sql, parameters)
            self._writing = True
            return
        if _ENDS.match(sql):  # as commit() and rollback(): here, the checkpoint on the thread
            self._writing = False
            cursor.execute(sql, parameters)
            await self._checkpoint_if_due()
            return
        await self._run(cursor.execute, sql, parameters)

    def _try_lock(self, cursor: sqlite3.Cursor, sql: str, parameters: Any) -> bool:
        """One try at ``BEGIN IMMEDIATE`` without waiting (busy timeout 0 for it): False when
        another connection holds the lock."""
        self._conn.execute("PRAGMA busy_timeout = 0")
        try:
            cursor.execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
                raise
            return False
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(self._timeout_s * 1000)}")
        return True

    def _take_lock(self, cursor: sqlite3.Cursor, sql: str, parameters: Any) -> None:
        """``BEGIN IMMEDIATE``, tried every :data:`LOCK_POLL_S` while another connection holds
        the lock, for the connection's timeout at most (on the connection's thread), marked on
        the lock board meanwhile."""
        deadline = time.monotonic() + self._timeout_s
        marked = False
        try:
            while not self._try_lock(cursor, sql, parameters):
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked")
                if self._board is not None:  # the holder may end its transaction early
                    self._board.waiting()
                    marked = True
                time.sleep(LOCK_POLL_S)
        finally:
            if marked and self._board is not None:
                self._board.done_waiting()

    async def commit(self) -> None:
        """Here, never on the thread: in WAL mode a commit waits for no other connection and
        appends the transaction's pages to the log (no fsync with ``synchronous=NORMAL``); a
        hand-off was ~230 µs of CPU per transaction. The checkpoint, which copies the log into
        the database and syncs, runs on the thread once the log passes
        :data:`CHECKPOINT_AT_BYTES`."""
        self._writing = False
        self._conn.commit()
        await self._checkpoint_if_due()

    async def _checkpoint_if_due(self) -> None:
        """A checkpoint on the thread once the log passes :data:`CHECKPOINT_AT_BYTES` (tried
        at most every :data:`CHECKPOINT_EVERY_S`)."""
        if self._wal is None or time.monotonic() - self._checked_at < CHECKPOINT_EVERY_S:
            return
        try:
            grown = os.stat(self._wal).st_size >= CHECKPOINT_AT_BYTES
        except OSError:  # no log (yet): nothing to copy
            return
        if grown:
            await self._on_thread(self._checkpoint)

    def _checkpoint(self) -> None:
        self._checked_at = time.monotonic()
        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    async def rollback(self) -> None:
        """Here, never on the thread: ending a transaction without writing it never waits for
        another connection, and with none open (SQLAlchemy's pool resets every connection it
        gets back, after each commit too) it does nothing; a hand-off was ~200 µs per
        transaction (``benchmarks/outbound_floor.py``'s SQL pieces)."""
        self._writing = False
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is None:
            return
        self._writing = False
        try:
            await self._on_thread(self._connection.close)
        finally:
            self._connection = None
            self._executor.shutdown(wait=False)

    def stop(self) -> None:
        """Close without waiting (SQLAlchemy's terminate): the thread closes the connection."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._executor.submit(connection.close)
        self._executor.shutdown(wait=False)

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        await self._run(partial(self._conn.create_function, *args, **kwargs))


class _ImmediateQueue:
    """aiosqlite's request queue as SQLAlchemy's isolation-level setter uses it: the call runs
    at once (it only sets an attribute) and its future gets the result."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(exc)


class _CursorOpening:
    """``connection.cursor()``: awaited, or entered with ``async with``, as aiosqlite's."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __await__(self) -> Generator[Any, None, Cursor]:
        return self._open().__await__()

    async def _open(self) -> Cursor:
        return Cursor(self._connection, self._connection._conn.cursor())

    async def __aenter__(self) -> Cursor:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        return None


class Cursor:
    """A ``sqlite3`` cursor whose calls run where its connection says (:meth:`Connection._run`)."""

    def __init__(self, connection: Connection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        await self._connection._execute(self._cursor, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> Cursor:
        await self._connection._run(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return await self._connection._run(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        size = self._cursor.arraysize if size is None else size
        return await self._connection._run(self._cursor.fetchmany, size)

    async def fetchall(self) -> list[Any]:
        return await self._connection._run(self._cursor.fetchall)

    async def close(self) -> None:
        self._cursor.close()  # no I/O: finalises the statement

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Sequence[Any] | None:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


def connect(database: str, **kwargs: Any) -> Connection:
    """A connection to ``database`` (``sqlite3.connect``'s arguments), opened when awaited."""
    kwargs["check_same_thread"] = False  # used from the loop's thread and its own
    timeout_s = float(kwargs.get("timeout", 5.0))
    board = LockBoard.of(database)
    return Connection(partial(sqlite3.connect, database, **kwargs), timeout_s, board,
                      None if board is None else os.path.abspath(database) + "-wal")  # fmt: skip
