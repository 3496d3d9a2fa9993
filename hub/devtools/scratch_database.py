"""A scratch PostgreSQL database for a benchmark run: created empty, dropped afterwards.

``hub bench --database-url`` and ``benchmarks/import_registry.py --postgres`` run on a database
of their own on the server the URL names, so a run never mixes with (or truncates) the data of
the database the URL points at.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool


@asynccontextmanager
async def scratch_postgres(url: str) -> AsyncIterator[str]:
    """Create an empty database on the server of ``url``; yield its URL; drop it afterwards.

    The drop forces out connections still open (a worker killed mid-run leaves none for long,
    but a crashed one may hold its socket until the server notices).
    """
    server = sa.engine.make_url(url)
    name = f"hub_bench_{uuid.uuid4().hex[:8]}"
    # NullPool: a fresh connection for the DROP, whatever happened to the first one meanwhile
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            async with admin.connect() as connection:
                await connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        await admin.dispose()
