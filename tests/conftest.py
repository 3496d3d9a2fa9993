"""Shared fixtures: real databases (SQLite file, PostgreSQL server), real Redis, settings.

``make test`` starts a Redis 7 and a PostgreSQL server (scripts/test-services.sh) and exports
HUB_TEST_REDIS_URL and HUB_TEST_POSTGRES_URL. A fixture that needs one of them fails, never
skips, when it is missing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
import yaml

from hub.app.config import Settings, load_settings
from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.migrate import upgrade_sync
from hub.store.models import Base

pytest_plugins = ["tests.redis_fixtures", "tests.drill_setup"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def required_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.fail(
            f"{name} is not set: run the suite with `make test` "
            "(or `scripts/test-services.sh start && source var/test-services/env`)"
        )
    return value


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "hub.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL database of this test session's own, migrated once, dropped at the end.

    Each session gets its own database on the test server, so several test runs at once (two
    developers, or a run beside `hub bench`) never truncate each other's tables.
    """
    base = sa.engine.make_url(required_env("HUB_TEST_POSTGRES_URL"))
    name = f"{base.database}_{uuid.uuid4().hex[:10]}"
    _in_thread(_admin_sql(base, f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        upgrade_sync(url)
        yield url
    finally:
        _in_thread(_admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _in_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to the end on a thread of its own (the caller may be inside a loop)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coro).result()


async def _admin_sql(base: sa.engine.URL, statement: str) -> None:
    """Run one statement outside a transaction on the server's maintenance database."""
    conn = await asyncpg.connect(
        host=base.host, port=base.port, user=base.username, password=base.password,
        database="postgres",
    )  # fmt: skip
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _truncate_all(db: Database) -> None:
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    async with db.write() as session:
        await session.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database: SQLite and PostgreSQL (storage contract tests)."""
    if request.param == "sqlite":
        path = tmp_path / "hub.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        db = Database.open(f"sqlite+aiosqlite:///{path}")
    else:
        db = Database.open(request.getfixturevalue("postgres_url"))
        await _truncate_all(db)
    try:
        yield db
    finally:
        await db.aclose()


@pytest.fixture
async def db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty SQLite database (tests whose subject is not storage)."""
    path = tmp_path / "hub.db"
    shutil.copy(sqlite_template, path)
    database = Database.open(f"sqlite+aiosqlite:///{path}")
    try:
        yield database
    finally:
        await database.aclose()


@pytest.fixture
def clock() -> FixedClock:
    """Monday 2026-11-23 10:00 in Shanghai."""
    return FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


@pytest.fixture
def write_config(tmp_path: Path, sqlite_template: Path) -> Callable[..., Path]:
    """Write a config.yaml for a test: its own SQLite file and data dir, the test Redis.

    Keyword arguments are merged over the defaults (nested dicts merge).
    """

    def write(**overrides: Any) -> Path:
        data_dir = tmp_path / "var"
        data_dir.mkdir(exist_ok=True)
        db_path = data_dir / "hub.db"
        if not db_path.exists():
            shutil.copy(sqlite_template, db_path)
        config: dict[str, Any] = {
            "hub": {"data_dir": str(data_dir)},
            "storage": {"url": f"sqlite+aiosqlite:///{db_path}"},
            "redis": {
                "url": required_env("HUB_TEST_REDIS_URL"),
                "key_prefix": f"t{uuid.uuid4().hex[:12]}",
            },
            "dispatch": {"block_ms": 50},
        }
        _merge(config, overrides)
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
        return path

    return write


@pytest.fixture
def settings(write_config: Callable[..., Path]) -> Settings:
    return load_settings(write_config())


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> None:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
