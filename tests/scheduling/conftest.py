"""Fixtures of the scheduling tests: the pipeline over the seeded sample registry."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from tests.pipeline import Hub, build, setup
from tests.seed import seed_registry


@pytest.fixture
async def hub(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Hub:
    """The outbox pipeline (sandbox channel) over the five sample enterprises of tests.seed."""
    await seed_registry(db)
    pipeline = build(db, redis_client, redis_keys, clock)
    await setup(pipeline)
    return pipeline
