"""Migration 0005 (enterprise data): up from 0004 and down again, on SQLite and PostgreSQL, and
the natural keys the tables hold to."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.errors import StorageError
from hub.core.vocab import Tier
from hub.store.db import Database
from hub.store.migrate import alembic_config, upgrade_sync
from hub.store.models import AnnualReport, CreditEvent, Enterprise, Licence
from hub.store.schema_version import current_revision, head_revision
from tests.conftest import _admin_sql, _in_thread, required_env

T0 = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
NEW_TABLES = {"credit_event", "policy", "licence", "annual_report"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (migrations run on it up and down)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        return
    base = sa.engine.make_url(required_env("HUB_TEST_POSTGRES_URL"))
    name = f"{base.database}_m{uuid.uuid4().hex[:10]}"
    _in_thread(_admin_sql(base, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _in_thread(_admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _tables(url: str) -> set[str]:
    db = Database.open(url)
    try:
        async with db.engine.connect() as connection:
            return set(await connection.run_sync(lambda c: sa.inspect(c).get_table_names()))
    finally:
        await db.aclose()


async def test_0005_goes_up_from_0004_down_and_up_again(fresh_url: str) -> None:
    upgrade_sync(fresh_url, "0004")
    before = await _tables(fresh_url)
    assert {"credit_record", "policy"} <= before
    upgrade_sync(fresh_url, "0005")
    after = await _tables(fresh_url)
    assert after - before == NEW_TABLES - {"policy"}
    assert before - after == {"credit_record"}
    command.downgrade(alembic_config(fresh_url), "0004")
    assert await _tables(fresh_url) == before
    upgrade_sync(fresh_url)
    db = Database.open(fresh_url)
    try:
        assert await current_revision(db) == head_revision()
    finally:
        await db.aclose()


async def test_natural_keys_admit_one_row_each(any_db: Database) -> None:
    async with any_db.write() as session:
        enterprise = Enterprise(uscc="U1", name="n", tier=Tier.KEY, created_at=T0, updated_at=T0)
        session.add(enterprise)
        await session.flush()
        enterprise_id = enterprise.id

    def rows() -> list[object]:
        return [
            CreditEvent(event_id="E1", enterprise_id=enterprise_id,
                        type=CreditEventType.ADMIN_PENALTY, authority="a",
                        decided_on=date(2026, 1, 1), summary="", status=CreditEventStatus.ACTIVE,
                        created_at=T0, updated_at=T0),
            Licence(enterprise_id=enterprise_id, kind="k", number="1",
                    expires_on=date(2027, 1, 1), created_at=T0, updated_at=T0),
            AnnualReport(enterprise_id=enterprise_id, year=2025, filed_on=date(2026, 3, 1),
                         created_at=T0, updated_at=T0),
        ]  # fmt: skip

    async with any_db.write() as session:
        session.add_all(rows())
    for row in rows():
        with pytest.raises(StorageError):
            async with any_db.write() as session:
                session.add(row)
