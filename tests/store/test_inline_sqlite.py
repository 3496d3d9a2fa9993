"""SQLite's statements run on the event loop's thread while a write transaction holds the lock,
and on the connection's thread otherwise (hub/store/inline_sqlite.py), with the same results
and errors as through aiosqlite."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError

from hub.core.errors import StorageError
from hub.store import inline_sqlite
from hub.store.db import Database


@pytest.fixture
async def scratch(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}", busy_timeout_ms=5000)
    async with db.engine.begin() as conn:
        await conn.execute(sa.text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield db
    await db.aclose()


def _trace(db: Database) -> list[tuple[str, bool]]:
    """Every statement sqlite3 ran, with whether it ran on this (the loop's) thread."""
    ran: list[tuple[str, bool]] = []
    loop_thread = threading.get_ident()

    @event.listens_for(db.engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        raw: sqlite3.Connection = dbapi_connection.driver_connection._conn
        raw.set_trace_callback(
            lambda sql: ran.append((" ".join(sql.split()[:2]).upper(),
                                    threading.get_ident() == loop_thread))
        )  # fmt: skip

    return ran


async def test_a_write_transactions_statements_run_on_the_loops_thread(tmp_path: Path) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'trace.db'}")
    ran = _trace(db)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
        ran.clear()
        async with db.write() as session:
            await session.execute(sa.text("INSERT INTO item (name) VALUES ('a')"))
            assert (await session.execute(sa.text("SELECT count(*) FROM item"))).scalar() == 1
        async with db.read() as session:
            assert (await session.execute(sa.text("SELECT name FROM item"))).scalar() == "a"
    finally:
        await db.aclose()
    # (taking the lock sets the busy timeout around its polling: PRAGMAs, left out here)
    assert [r for r in ran if not r[0].startswith("PRAGMA")] == [
        ("BEGIN IMMEDIATE", True),  # the lock was free: taken at once (else the thread waits)
        ("INSERT INTO", True),
        ("SELECT COUNT(*)", True),
        ("COMMIT", True),  # waits for nobody in WAL mode; no checkpoint inside it
        ("BEGIN DEFERRED", False),  # a read: may be long, never inline
        ("SELECT NAME", False),
        ("ROLLBACK", True),  # ending a read never waits: no hand-off
    ]


async def test_waiting_for_another_writer_leaves_the_loop_free(
    scratch: Database, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock
    ticks = 0
    ticked = asyncio.Event()
    writing = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not writing.is_set():
            ticks += 1
            if ticks == 5:
                ticked.set()
            await asyncio.sleep(0.005)

    async def write() -> None:
        async with scratch.write() as session:
            await session.execute(sa.text("INSERT INTO item (name) VALUES ('b')"))
        writing.set()

    ticker = asyncio.create_task(tick())
    writer = asyncio.create_task(write())
    await ticked.wait()  # the loop runs while the writer waits for the lock on its thread
    assert not writer.done()
    holder.execute("COMMIT")
    holder.close()
    await writer
    await ticker
    async with scratch.read() as session:
        assert (await session.execute(sa.text("SELECT name FROM item"))).scalar() == "b"


async def test_an_error_inline_is_sqlalchemys_and_rolls_the_transaction_back(
    scratch: Database,
) -> None:
    async with scratch.write() as session:
        await session.execute(sa.text("INSERT INTO item (name) VALUES ('dup')"))
    with pytest.raises(StorageError) as caught:
        async with scratch.write() as session:
            await session.execute(sa.text("INSERT INTO item (name) VALUES ('kept?')"))
            await session.execute(sa.text("INSERT INTO item (name) VALUES ('dup')"))
    assert isinstance(caught.value.__cause__, IntegrityError)
    async with scratch.read() as session:
        names = (await session.execute(sa.text("SELECT name FROM item ORDER BY id"))).scalars()
        assert list(names) == ["dup"]
    # The connection is usable again, and inline again inside the next write.
    async with scratch.write() as session:
        await session.execute(sa.text("INSERT INTO item (name) VALUES ('next')"))
    async with scratch.read() as session:
        assert (await session.execute(sa.text("SELECT count(*) FROM item"))).scalar() == 2


async def test_a_rolled_back_savepoint_keeps_the_transaction_and_its_lock(
    scratch: Database,
) -> None:
    async with scratch.write() as session:
        await session.execute(sa.text("INSERT INTO item (name) VALUES ('outer')"))
        with pytest.raises(IntegrityError):
            async with session.begin_nested():
                await session.execute(sa.text("INSERT INTO item (name) VALUES ('outer')"))
        await session.execute(sa.text("INSERT INTO item (name) VALUES ('after')"))
    async with scratch.read() as session:
        names = (await session.execute(sa.text("SELECT name FROM item ORDER BY id"))).scalars()
        assert list(names) == ["outer", "after"]


async def test_many_rows_and_executemany_come_back_in_order(scratch: Database) -> None:
    async with scratch.write() as session:
        await session.execute(sa.text("INSERT INTO item (name) VALUES (:name)"),
                              [{"name": f"n{i:03d}"} for i in range(300)])  # fmt: skip
        inline = await session.execute(sa.text("SELECT name FROM item ORDER BY id"))
        assert [r[0] for r in inline] == [f"n{i:03d}" for i in range(300)]
    async with scratch.read() as session:
        read = (await session.execute(sa.text("SELECT name FROM item ORDER BY id"))).scalars()
        assert list(read) == [f"n{i:03d}" for i in range(300)]


async def test_a_closed_connection_says_so() -> None:
    connection = await inline_sqlite.connect(":memory:")
    await connection.close()
    with pytest.raises(ValueError, match="no active connection"):
        await connection.cursor()


async def test_a_writer_waits_for_the_lock_until_the_timeout_then_says_locked(
    tmp_path: Path,
) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}", busy_timeout_ms=200)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE item (id INTEGER PRIMARY KEY, name TEXT)"))
        holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError, match="database is locked"):
            async with db.write() as session:
                await session.execute(sa.text("INSERT INTO item (name) VALUES ('never')"))
        holder.execute("COMMIT")
        holder.close()
        # The connection's busy timeout is back for its other statements, and it writes again.
        async with db.write() as session:
            await session.execute(sa.text("INSERT INTO item (name) VALUES ('later')"))
            timeout = (await session.execute(sa.text("PRAGMA busy_timeout"))).scalar()
        assert timeout == 200
        async with db.read() as session:
            names = (await session.execute(sa.text("SELECT name FROM item"))).scalars()
            assert list(names) == ["later"]
    finally:
        await db.aclose()


async def test_a_writer_waiting_for_the_lock_says_so_on_the_lock_board(
    scratch: Database, tmp_path: Path
) -> None:
    board = scratch.lock_board
    assert board is not None
    assert board.path == str(tmp_path / "inline.db") + "-lockwait"
    assert board.waited_s() == 0.0
    holder = sqlite3.connect(tmp_path / "inline.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer holds the lock

    async def write() -> None:
        async with scratch.write() as session:
            await session.execute(sa.text("INSERT INTO item (name) VALUES ('c')"))

    writer = asyncio.create_task(write())
    for _ in range(2_000):  # the writer's thread polls, and marks the board as it waits
        if board.waited_s() > 0.0:
            break
        await asyncio.sleep(0.002)
    assert board.waited_s() > 0.0
    assert not writer.done()
    holder.execute("COMMIT")
    holder.close()
    await writer
    assert board.waited_s() == 0.0  # it has the lock: nobody waits now


def test_an_in_memory_database_has_no_lock_board() -> None:
    assert Database.open("sqlite+aiosqlite:///:memory:").lock_board is None


async def test_commits_checkpoint_the_log_on_the_thread_once_it_has_grown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline_sqlite, "CHECKPOINT_EVERY_S", 0.0)  # check at every commit
    path = tmp_path / "grow.db"
    db = Database.open(f"sqlite+aiosqlite:///{path}")
    ran = _trace(db)
    wal = Path(f"{path}-wal")
    try:
        async with db.engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE blob (id INTEGER PRIMARY KEY, data BLOB)"))
        sizes = []
        for _ in range(12):  # 12 x 512 KiB: past the log's limit, and again after a restart
            async with db.write() as session:
                await session.execute(sa.text("INSERT INTO blob (data) VALUES (:data)"),
                                      {"data": b"x" * 512 * 1024})  # fmt: skip
            sizes.append(wal.stat().st_size)  # noqa: ASYNC240
        async with db.read() as session:
            assert (await session.execute(sa.text("SELECT count(*) FROM blob"))).scalar() == 12
            # SQLite's own checkpoint, which would run inside a commit on the loop, is off.
            assert (await session.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar() == 0
    finally:
        await db.aclose()
    checkpoints = [on_loop for sql, on_loop in ran if sql.startswith("PRAGMA WAL_CHECKPOINT")]
    assert checkpoints  # SQLite's own is off: without ours the log would only grow
    assert not any(checkpoints)  # on the connection's thread, never the loop's
    assert max(sizes) < 2 * inline_sqlite.CHECKPOINT_AT_BYTES  # the log restarted from zero
    assert any(later < earlier for earlier, later in itertools.pairwise(sizes))
