"""What CLI tests share: running a coroutine on the database a test's config.yaml names (to
seed it before a command, or read it after)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from hub.app.config import load_settings
from hub.store.db import Database

T = TypeVar("T")


def on_database(config: Path, act: Callable[[Database], Awaitable[T]]) -> T:
    """Open the config's database, run ``act`` on it, close it; what ``act`` gave."""

    async def run() -> T:
        db = Database.open(load_settings(config).database_url)
        try:
            return await act(db)
        finally:
            await db.aclose()

    return asyncio.run(run())
