"""``storage:`` of config.yaml: the database URL and the pool (pure pydantic data).

The app's settings place a relative SQLite path under the data folder
(:attr:`hub.app.config.Settings.database_url`).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from hub.core.settings import FrozenSettings


class StorageSettings(FrozenSettings):
    """``url`` is a SQLAlchemy async URL; relative SQLite paths are resolved against data_dir."""

    url: str = "sqlite+aiosqlite:///hub.db"
    busy_timeout_ms: int = Field(default=5000, ge=0)
    pool_size: int = Field(default=10, ge=1)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value
