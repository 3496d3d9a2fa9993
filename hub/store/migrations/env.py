"""Alembic environment: runs migrations on the hub's async engine (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import concurrent.futures

from alembic import context
from sqlalchemy import Connection

from hub.store.db import Database
from hub.store.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    database = Database.open(config.get_main_option("sqlalchemy.url") or "")
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await database.aclose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_run_async())
    else:
        # Called from inside an event loop (a sync helper used by async code): run the
        # migration on a loop of its own in a worker thread and wait for it.
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, _run_async()).result()
