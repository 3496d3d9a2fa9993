"""Where the crash and fault drills run: one machine's set-up, or the set-up of many machines.

A pytest plugin (``pytest_plugins`` in tests/conftest.py). The ``drill_setup`` fixture runs a
test twice:

- ``sqlite-redis``: a SQLite file and the Redis 7 test server (what ``write_config`` gives),
  with the test's own number of worker processes;
- ``postgres-cluster``: the test session's PostgreSQL database (emptied first) and the
  three-master Redis Cluster of ``scripts/test-services.sh``, with one more worker process:
  the processes share nothing but the two servers, as on different machines.

:class:`DrillDatabase` reads the drill's database from the test (synchronously, between
polls): ``sqlite3`` for a file, asyncpg on a loop of its own for PostgreSQL.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis
import sqlalchemy as sa
import yaml

from hub.core.keys import RedisKeys
from hub.store.models import Base
from tests.redis_fixtures import cluster_url

SQLITE_REDIS = "sqlite-redis"
POSTGRES_CLUSTER = "postgres-cluster"


class DrillDatabase:
    """Plain SQL on the drill's database; ``?`` placeholders on both kinds."""

    def __init__(self, url: str) -> None:
        parsed = sa.engine.make_url(url)
        self.url = url
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        self._sqlite_file = Path(str(parsed.database)) if self.is_sqlite else None
        self._asyncpg_url = parsed.set(drivername="postgresql").render_as_string(
            hide_password=False
        )

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Every row of one query, as tuples."""
        if self._sqlite_file is not None:
            with sqlite3.connect(self._sqlite_file, timeout=10) as conn:
                return [tuple(row) for row in conn.execute(sql, params).fetchall()]
        numbered = sql
        for n in range(1, len(params) + 1):
            numbered = numbered.replace("?", f"${n}", 1)
        return asyncio.run(self._fetch(numbered, params))

    async def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        conn = await asyncpg.connect(self._asyncpg_url)
        try:
            return [tuple(record) for record in await conn.fetch(sql, *params)]
        finally:
            await conn.close()

    def execute(self, sql: str) -> None:
        """One statement that returns nothing (PostgreSQL only: TRUNCATE)."""
        asyncio.run(self._execute(sql))

    async def _execute(self, sql: str) -> None:
        conn = await asyncpg.connect(self._asyncpg_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()


@dataclass(frozen=True)
class DrillSetup:
    """The servers of one drill run and how many worker processes it adds."""

    name: str
    #: ``storage:``/``redis:`` sections to merge over ``write_config``'s (empty: its own).
    overrides: dict[str, Any] = field(default_factory=dict)
    #: Worker processes beyond what the drill itself needs (the cluster runs one more).
    extra_workers: int = 0
    #: Seconds a drill allows for what must happen "within seconds" (a flush noticed by the
    #: heartbeat, not by the reconciler's ten minutes). On the cluster set-up each reply costs
    #: PostgreSQL round trips and twice the processes share the machine's two cores.
    within_seconds: float = 15.0

    @property
    def on_cluster(self) -> bool:
        return self.name == POSTGRES_CLUSTER

    def config(self, write_config: Callable[..., Path], **overrides: Any) -> Path:
        """``write_config(**overrides)`` on this set-up's servers."""
        merged = {**overrides}
        for section, values in self.overrides.items():
            merged[section] = {**merged.get(section, {}), **values}
        return write_config(**merged)

    @staticmethod
    def database(config: Path) -> DrillDatabase:
        """The database a config written by :meth:`config` points at."""
        settings = yaml.safe_load(config.read_text(encoding="utf-8"))
        return DrillDatabase(settings["storage"]["url"])


@pytest.fixture(params=[SQLITE_REDIS, pytest.param(POSTGRES_CLUSTER, marks=pytest.mark.postgres)])
def drill_setup(request: pytest.FixtureRequest) -> DrillSetup:
    """Each drill on one machine's set-up and on PostgreSQL + the Redis Cluster."""
    if request.param == SQLITE_REDIS:
        return DrillSetup(SQLITE_REDIS)
    return postgres_cluster_setup(request)


def postgres_cluster_setup(request: pytest.FixtureRequest) -> DrillSetup:
    """The ``postgres-cluster`` set-up, its database emptied (for a test of that set-up only)."""
    url: str = request.getfixturevalue("postgres_url")
    tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    DrillDatabase(url).execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    overrides = {"storage": {"url": url}, "redis": {"url": cluster_url()}}
    return DrillSetup(POSTGRES_CLUSTER, overrides, extra_workers=1, within_seconds=60.0)


def sync_redis(url: str) -> redis.Redis | redis.RedisCluster:
    """A blocking client of the drill's Redis (a server's URL or ``redis+cluster://``)."""
    scheme, _, rest = url.partition("://")
    if scheme == "redis+cluster":
        return redis.RedisCluster.from_url(f"redis://{rest}", decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True)


def delete_hub_keys(client: redis.RedisCluster, prefix: str) -> None:
    """What a FLUSHALL does to one hub, on a shared cluster: every key under ``prefix`` goes,
    the epoch key last (the hub notices the flush by its absence: the rest must be gone by
    then, or a rebuild could be undone by a late delete)."""
    keys = RedisKeys(prefix)
    epoch = keys.redis_epoch()
    doomed = [k for k in client.scan_iter(match=keys.pattern(), count=1000) if k != epoch]
    for key in doomed:
        client.delete(key)
    client.delete(epoch)
