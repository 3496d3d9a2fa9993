"""The hub's Redis layer runs on every test Redis, the three-master Redis Cluster too."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.infra.redis_server import RedisClient
from tests.redis_fixtures import ALL_REDIS_KINDS, open_test_redis


@pytest.fixture(params=ALL_REDIS_KINDS)
async def redis_client(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[RedisClient]:
    """``tests.redis_fixtures.redis_client``, on the Redis Cluster as well."""
    handle = await open_test_redis(request, request.param, tmp_path)
    try:
        yield handle.client
    finally:
        await handle.aclose()
