"""Schema migrations (Alembic), run by ``hub db upgrade`` and by the tests.

Which revision the code ships and the database is at: :mod:`hub.store.schema_version`, which
every process reads on start without importing Alembic.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_sync(url: str, revision: str = "head") -> None:
    """Upgrade the schema; safe to run on an up-to-date database."""
    command.upgrade(alembic_config(url), revision)


async def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade from async code: Alembic's env runs its own event loop, so use a thread."""
    await asyncio.to_thread(upgrade_sync, url, revision)
