"""The database: one async engine, read and write sessions, the same code on SQLite and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so two writers queue on the lock at BEGIN instead of one failing with
"database is locked" when it upgrades a read lock halfway through. Reads use plain deferred
transactions and never block a writer (WAL).

On SQLite one process's write transactions also queue on an asyncio lock: two connections of
one process meeting in SQLite's busy handler sleep in steps of milliseconds (1, 2, 5 … 100 ms),
which held 16 concurrent webhook requests to about 30 writes a second. Waiting on the lock
costs nothing; only writers of other processes meet the busy handler.

The SQLite driver is aiosqlite's interface with one change (:mod:`hub.store.inline_sqlite`):
while a connection holds the write lock its statements run on the event loop's thread, not
handed to the connection's thread one by one; taking the lock, committing and reading still go
to the thread. The inbound worker's CPU per reply halved with it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from hub.core.errors import StorageError
from hub.store import inline_sqlite
from hub.store.lock_board import LockBoard

_BEGIN_OPTION = "hub_sqlite_begin"


class Database:
    """Owns the engine; hands out sessions. Create with :meth:`open`, close with :meth:`aclose`."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        lock_timeout_s: float = 5.0,
        lock_board: LockBoard | None = None,
    ) -> None:
        self.engine = engine
        #: SQLite: where a writer of another process says it waits for the lock (the inbound
        #: worker ends its chunk early for it); None on PostgreSQL and in memory.
        self.lock_board = lock_board
        self._writer = engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
        # SQLite has one writer at a time; this process's writers take turns here first (one
        # lock per event loop: a Database may outlive the loop it was first used on).
        self._serialise = engine.dialect.name == "sqlite"
        self._write_locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}
        self._lock_timeout_s = lock_timeout_s

    @classmethod
    def open(
        cls, url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 10, echo: bool = False
    ) -> Database:
        """Create the engine (no I/O yet). SQLite files get their folder created."""
        if url.startswith("sqlite"):
            engine = _sqlite_engine(url, busy_timeout_ms=busy_timeout_ms, echo=echo)
            board = LockBoard.of(sa.engine.make_url(url).database or "")
            return cls(engine, lock_timeout_s=busy_timeout_ms / 1000, lock_board=board)
        engine = create_async_engine(url, pool_size=pool_size, pool_pre_ping=True, echo=echo)
        return cls(engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for reading; rolled back at the end."""
        async with AsyncSession(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            except SQLAlchemyError as exc:
                raise StorageError(f"database read failed: {exc}") from exc

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A write transaction (BEGIN IMMEDIATE on SQLite), committed when the block ends."""
        lock = self._loop_lock() if self._serialise else None
        if lock is None:
            async with self._session_for_write() as session:
                yield session
            return
        try:
            await asyncio.wait_for(lock.acquire(), self._lock_timeout_s)
        except TimeoutError:
            raise StorageError(
                f"database write failed: waited {self._lock_timeout_s:g} s for this process's "
                "other writer (a write inside another write's block?)"
            ) from None
        try:
            async with self._session_for_write() as session:
                yield session
        finally:
            lock.release()

    def _loop_lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._write_locks.get(loop)
        if lock is None:
            for old in [o for o in self._write_locks if o.is_closed()]:
                del self._write_locks[old]
            lock = self._write_locks[loop] = asyncio.Lock()
        return lock

    @asynccontextmanager
    async def _session_for_write(self) -> AsyncIterator[AsyncSession]:
        async with AsyncSession(self._writer, expire_on_commit=False) as session:
            try:
                async with session.begin():
                    yield session
            except SQLAlchemyError as exc:
                raise StorageError(f"database write failed: {exc}") from exc

    async def health(self) -> dict[str, Any]:
        """Round-trip a query; report the dialect and latency, or the error."""
        started = time.perf_counter()
        try:
            async with self.engine.connect() as conn:
                await conn.execute(sa.text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            return {"status": "error", "dialect": self.dialect, "error": str(exc)}
        latency = round((time.perf_counter() - started) * 1000, 2)
        return {"status": "ok", "dialect": self.dialect, "latency_ms": latency}

    async def aclose(self) -> None:
        await self.engine.dispose()


def _sqlite_engine(url: str, *, busy_timeout_ms: int, echo: bool) -> AsyncEngine:
    path = sa.engine.make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(
        url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000},
        # Statements of a write transaction run on the loop's thread (hub/store/inline_sqlite.py).
        module=AsyncAdapt_aiosqlite_dbapi(inline_sqlite, sqlite3),
    )  # fmt: skip

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine
