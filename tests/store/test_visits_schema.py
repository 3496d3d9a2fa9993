"""Migration 0007 (liaison visits): up from 0006 keeping the rows there, down and up again, on
SQLite and PostgreSQL; the new message kinds accepted and a made-up one refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from hub.core.errors import StorageError
from hub.core.vocab import ContactVia, MessageKind, Tier, VisitStatus
from hub.store.db import Database
from hub.store.migrate import alembic_config, upgrade_sync
from hub.store.models import Campaign, Enterprise, LiaisonContact, Visit
from hub.store.schema_version import current_revision, head_revision
from tests.conftest import _admin_sql, _in_thread, required_env

T0 = datetime(2027, 1, 4, 2, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own (migrations run on it up and down)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"
        return
    base = sa.engine.make_url(required_env("HUB_TEST_POSTGRES_URL"))
    name = f"{base.database}_v{uuid.uuid4().hex[:10]}"
    _in_thread(_admin_sql(base, f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        _in_thread(_admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    db = Database.open(url)
    try:
        async with db.engine.begin() as connection:
            rows: list[tuple[object, ...]] = []
            for statement in statements:
                result = await connection.execute(sa.text(statement))
                if result.returns_rows:
                    rows.extend(tuple(r) for r in result)
            return rows
    finally:
        await db.aclose()


async def test_0007_goes_up_from_0006_keeping_visits_and_down_again(fresh_url: str) -> None:
    upgrade_sync(fresh_url, "0006")
    await _execute(
        fresh_url,
        "INSERT INTO enterprise (id, uscc, name, tier, industry, region, stage, credit_status,"
        " created_at, updated_at) VALUES (1, 'U1', '甲', 'key', '', '', 'operating', 'good',"
        " '2027-01-04 02:00:00', '2027-01-04 02:00:00')",
        "INSERT INTO visit (id, enterprise_id, period, status, details, created_at, updated_at)"
        " VALUES (1, 1, '2027Q1', 'planned', '{}', '2027-01-04 02:00:00', '2027-01-04 02:00:00')",
    )
    upgrade_sync(fresh_url)
    rows = await _execute(fresh_url, "SELECT period, status, due_on, slots FROM visit")
    assert [(p, s, d) for p, s, d, _ in rows] == [("2027Q1", "planned", None)]
    assert rows[0][3] in ("[]", [])  # the old visit has offered no slots yet
    command.downgrade(alembic_config(fresh_url), "0006")
    assert await _execute(fresh_url, "SELECT period, status FROM visit") == [("2027Q1", "planned")]
    upgrade_sync(fresh_url)
    db = Database.open(fresh_url)
    try:
        assert await current_revision(db) == head_revision()
    finally:
        await db.aclose()


async def test_visit_cycle_rows_and_kinds_are_stored(any_db: Database) -> None:
    async with any_db.write() as session:
        enterprise = Enterprise(uscc="U1", name="甲", tier=Tier.KEY, created_at=T0, updated_at=T0)
        session.add(enterprise)
        await session.flush()
        session.add_all([
            Visit(enterprise_id=enterprise.id, period="2027Q1", status=VisitStatus.PROPOSED,
                  due_on=date(2027, 1, 12), slots=["2027-01-12T09:30:00+08:00"],
                  proposed_at=T0, details={}, created_at=T0, updated_at=T0),
            LiaisonContact(enterprise_id=enterprise.id, at=T0, via=ContactVia.PHONE,
                           notes="电话了解用工需求", source="cli", created_at=T0, updated_at=T0),
            *[Campaign(kind=kind, trigger="t", trigger_key=kind.value, audience="all",
                       status="done", created_by="test", created_at=T0, updated_at=T0)
              for kind in (MessageKind.VISIT_UPDATE, MessageKind.OFFICER_TASK,
                           MessageKind.REPORT_DELIVERY)],
        ])  # fmt: skip
    async with any_db.read() as session:
        visit = (await session.scalars(sa.select(Visit))).one()
        assert (visit.due_on, visit.slots) == (date(2027, 1, 12), ["2027-01-12T09:30:00+08:00"])
        assert (await session.scalars(sa.select(LiaisonContact.via))).all() == [ContactVia.PHONE]
    with pytest.raises(StorageError):
        async with any_db.write() as session:
            await session.execute(
                sa.text(
                    "INSERT INTO campaign (kind, trigger, trigger_key, audience, status,"
                    " created_by, created_at, updated_at) VALUES ('visit_gossip', 't', 'x',"
                    " 'all', 'done', 'test', '2027-01-04', '2027-01-04')"
                )
            )
