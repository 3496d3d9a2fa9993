"""The storage contract, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from hub.core.errors import StorageError
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, Tier
from hub.store.db import Database
from hub.store.models import Base, Campaign, Enterprise, EnterpriseTag, Message
from hub.store.schema_version import current_revision, head_revision

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def add_enterprise(db: Database, uscc: str = "91230202MA1B2C3D4X") -> int:
    async with db.write() as session:
        enterprise = Enterprise(
            uscc=uscc,
            name="测试企业",
            tier=Tier.KEY,
            industry="制造业",
            region="龙沙区",
            created_at=T0,
            updated_at=T0,
        )
        session.add(enterprise)
        await session.flush()
        return enterprise.id


def test_the_shipped_head_read_without_alembic_is_alembics_head() -> None:
    from alembic.script import ScriptDirectory

    from hub.store.migrate import alembic_config

    alembic_head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert alembic_head is not None
    assert head_revision() == alembic_head


async def test_an_empty_database_has_no_revision(tmp_path: Path) -> None:
    db = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    try:
        assert await current_revision(db) is None
    finally:
        await db.aclose()


async def test_migration_is_at_head_and_matches_the_models(any_db: Database) -> None:
    assert await current_revision(any_db) == head_revision()

    def diff(connection: sa.Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))

    async with any_db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []


async def test_datetimes_come_back_aware_in_utc(any_db: Database) -> None:
    shanghai = timezone(timedelta(hours=8))
    async with any_db.write() as session:
        session.add(
            Enterprise(
                uscc="U1",
                name="n",
                tier=Tier.GENERAL,
                created_at=datetime(2026, 11, 23, 10, 0, tzinfo=shanghai),
                updated_at=T0,
            )
        )
    async with any_db.read() as session:
        stored = await session.scalar(sa.select(Enterprise).where(Enterprise.uscc == "U1"))
    assert stored is not None
    assert stored.created_at == T0
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)


async def test_naive_datetime_is_refused(any_db: Database) -> None:
    with pytest.raises(StorageError, match="naive"):
        async with any_db.write() as session:
            session.add(
                Enterprise(
                    uscc="U2",
                    name="n",
                    tier=Tier.GENERAL,
                    created_at=datetime(2026, 1, 1),
                    updated_at=T0,
                )
            )


async def test_uscc_is_the_natural_key(any_db: Database) -> None:
    await add_enterprise(any_db, "U3")
    with pytest.raises(StorageError) as info:
        await add_enterprise(any_db, "U3")
    assert isinstance(info.value.__cause__, IntegrityError)


async def test_enum_columns_refuse_unknown_values(any_db: Database) -> None:
    async with any_db.engine.begin() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                sa.text(
                    "INSERT INTO enterprise (uscc, name, tier, industry, region, stage, "
                    "credit_status, created_at, updated_at) VALUES "
                    "('U4', 'n', 'vip', '', '', 'operating', 'good', :t, :t)"
                ),
                {"t": T0},
            )


async def test_idempotency_key_admits_one_message(any_db: Database) -> None:
    enterprise_id = await add_enterprise(any_db)
    async with any_db.write() as session:
        campaign = Campaign(
            kind=MessageKind.NOTICE,
            trigger="cli",
            trigger_key="k",
            audience="all",
            status="active",
            created_by="t",
            created_at=T0,
            updated_at=T0,
        )
        session.add(campaign)
        await session.flush()
        campaign_id = campaign.id

    def message() -> Message:
        return Message(
            idempotency_key="a" * 64,
            campaign_id=campaign_id,
            kind=MessageKind.NOTICE,
            enterprise_id=enterprise_id,
            channel=ChannelName.SANDBOX,
            address="x",
            status=MessageStatus.QUEUED,
            body="b",
            created_at=T0,
            updated_at=T0,
        )

    async with any_db.write() as session:
        session.add(message())
    with pytest.raises(StorageError):
        async with any_db.write() as session:
            session.add(message())
    async with any_db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


async def test_failed_write_rolls_back_everything(any_db: Database) -> None:
    enterprise_id = await add_enterprise(any_db)
    with pytest.raises(StorageError):
        async with any_db.write() as session:
            session.add(EnterpriseTag(enterprise_id=enterprise_id, tag="专精特新"))
            await session.flush()
            session.add(EnterpriseTag(enterprise_id=enterprise_id, tag="专精特新"))
    async with any_db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(EnterpriseTag)) == 0


async def test_concurrent_writers_all_commit(any_db: Database) -> None:
    """Read-modify-write from many tasks at once: no lost update, no 'database is locked'."""
    enterprise_id = await add_enterprise(any_db)

    async def bump() -> None:
        async with any_db.write() as session:
            enterprise = await session.get(
                Enterprise, enterprise_id, with_for_update=any_db.dialect == "postgresql"
            )
            assert enterprise is not None
            await asyncio.sleep(0)  # let the others try to write in between
            enterprise.industry = (
                str(int(enterprise.industry or "0") + 1) if enterprise.industry.isdigit() else "1"
            )
            enterprise.updated_at = T0

    await asyncio.gather(*(bump() for _ in range(20)))
    async with any_db.read() as session:
        stored = await session.get(Enterprise, enterprise_id)
    assert stored is not None
    assert stored.industry == "20"


async def test_health_reports_ok(any_db: Database) -> None:
    health = await any_db.health()
    assert health["status"] == "ok"
    assert health["dialect"] == any_db.dialect


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1


async def test_sqlite_write_takes_the_lock_at_begin(tmp_path: Path) -> None:
    """BEGIN IMMEDIATE: a second writer waits at BEGIN (busy timeout), not mid-transaction."""
    from hub.store.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path / 'lock.db'}"
    await upgrade(url)
    first = Database.open(url, busy_timeout_ms=100)
    second = Database.open(url, busy_timeout_ms=100)
    try:
        async with first.write() as session:
            await session.execute(sa.select(1))
            with pytest.raises(StorageError, match="locked"):
                async with second.write() as other:
                    await other.execute(sa.select(1))
            # a reader is not blocked by the writer (WAL)
            async with second.read() as reader:
                assert await reader.scalar(sa.select(sa.func.count()).select_from(Enterprise)) == 0
    finally:
        await first.aclose()
        await second.aclose()


async def test_unreachable_database_reports_error() -> None:
    db = Database.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        health = await db.health()
    finally:
        await db.aclose()
    assert health["status"] == "error"
