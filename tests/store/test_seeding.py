"""Start-up seeding by several processes at once: every one starts, the rows are seeded once.

On PostgreSQL processes started together on a fresh database all found the templates missing,
all inserted them, and all but one failed on the unique key (3 of 4 in a run of this test
before hub.store.seeding): `hub api` beside `hub worker`s exited at start.
"""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.core.errors import StorageError
from hub.rendering.template_store import seed_templates
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.schedules import load_schedules
from hub.store.db import Database
from hub.store.models import Schedule, Template, TemplateVersion
from hub.store.seeding import seed_concurrently
from tests.conftest import PROJECT_ROOT

STARTING = 4  # processes starting at the same moment


def _handles(db: Database) -> list[Database]:
    """One Database per "process" (its own engine and connections) on ``db``'s database."""
    url = db.engine.url.render_as_string(hide_password=False)
    return [Database.open(url) for _ in range(STARTING)]


async def _count(db: Database, model: type[object]) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def test_processes_seeding_templates_together_all_start_with_one_version_each(
    any_db: Database, clock: FixedClock, settings: Settings
) -> None:
    handles = _handles(any_db)
    try:
        catalogs = await asyncio.gather(*(
            seed_templates(h, PROJECT_ROOT / "templates", clock, settings) for h in handles
        ))  # fmt: skip
    finally:
        await asyncio.gather(*(h.aclose() for h in handles))
    keys = [sorted((s.kind, s.channel, s.version) for s in catalog) for catalog in catalogs]
    assert keys[0], "the shipped templates are seeded"
    assert all(k == keys[0] for k in keys)
    assert {version for _, _, version in keys[0]} == {1}
    assert await _count(any_db, TemplateVersion) == await _count(any_db, Template)


async def test_schedulers_seeding_schedules_together_all_start(
    any_db: Database, clock: FixedClock
) -> None:
    specs = load_schedules(PROJECT_ROOT / "schedules")
    handles = _handles(any_db)

    async def seed(db: Database) -> None:
        """What `hub scheduler` does at start (hub.app.processes.serve)."""
        await seed_concurrently(
            lambda: sync_schedules(db, specs, clock, "seed", update_existing=False)
        )

    try:
        await asyncio.gather(*(seed(h) for h in handles))
    finally:
        await asyncio.gather(*(h.aclose() for h in handles))
    assert await _count(any_db, Schedule) == len(specs)


class _Driver(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failed(sqlstate: str) -> StorageError:
    error = StorageError("database write failed")
    error.__cause__ = IntegrityError("INSERT ...", {}, _Driver(sqlstate))
    return error


async def test_a_lost_unique_race_seeds_once_more_and_other_errors_are_raised() -> None:
    calls: list[str] = []

    async def seed(failure: StorageError | None) -> str:
        calls.append("seed")
        if failure is not None and len(calls) == 1:
            raise failure
        return "seeded"

    assert await seed_concurrently(lambda: seed(_failed("23505"))) == "seeded"
    assert calls == ["seed", "seed"]
    calls.clear()
    with pytest.raises(StorageError):
        await seed_concurrently(lambda: seed(_failed("23503")))  # a foreign key: a real error
    assert calls == ["seed"]
