"""hub.infra.redis_server: the embedded server's life (start, reuse, re-attach after SIGKILL),
URLs (a server's, a Redis Cluster's)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hub.core.errors import QueueError
from hub.infra.redis_server import (
    SOCKET_FILE,
    EmbeddedRedis,
    connected_clients,
    mask_url,
    open_redis,
    redis_health,
    start_embedded,
)
from tests.redis_fixtures import cluster_url, server7_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Run in a child process: start the embedded server, write a key, report the server's pid,
# then wait to be killed.
OWNER = """
import asyncio, sys
from pathlib import Path
from hub.infra.redis_server import open_redis

async def main() -> None:
    handle = await open_redis(None, data_dir=Path(sys.argv[1]))
    await handle.client.set("left-behind", "by the owner")
    print(handle.embedded.pid(), flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.fixture
async def data_dir(tmp_path: Path) -> AsyncIterator[Path]:
    """A data_dir whose embedded server, if a test left one running, is stopped afterwards."""
    path = tmp_path / "redis"
    yield path
    server = EmbeddedRedis(path.resolve(), attached=True)
    if server.is_running():
        await asyncio.to_thread(server.stop)


async def test_embedded_server_starts_is_reused_and_stops(data_dir: Path) -> None:
    first = await open_redis(None, data_dir=data_dir)
    second = await open_redis("embedded", data_dir=data_dir)
    assert first.embedded is not None
    assert second.embedded is not None
    assert first.embedded is second.embedded  # one server per data_dir per process
    assert not first.embedded.attached
    pid = first.embedded.pid()
    assert pid is not None
    assert pid_alive(pid)
    assert (data_dir / SOCKET_FILE).is_socket()

    health = await redis_health(first.client)
    assert health["status"] == "ok"
    assert str(health["version"]).startswith("6.2.")

    await second.aclose()
    await first.client.set("kept", "yes")
    await first.aclose(stop_server=True)
    assert not pid_alive(pid)
    assert not (data_dir / SOCKET_FILE).exists()

    # The data was saved on shutdown and comes back with the next server.
    async with await open_redis(None, data_dir=data_dir) as again:
        assert again.embedded is not None
        assert again.embedded.pid() != pid
        assert await again.client.get("kept") == "yes"
        await again.aclose(stop_server=True)


async def test_a_server_left_by_a_sigkilled_process_is_re_attached(data_dir: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OWNER, str(data_dir), stdout=asyncio.subprocess.PIPE, env=env
    )
    assert owner.stdout is not None
    try:
        async with asyncio.timeout(30):
            server_pid = int((await owner.stdout.readline()).decode())
    finally:
        owner.kill()  # SIGKILL: no atexit, no cleanup; the daemonized server survives
        await owner.wait()
    assert owner.returncode == -signal.SIGKILL
    assert pid_alive(server_pid)

    handle = await open_redis(None, data_dir=data_dir)
    assert handle.embedded is not None
    assert handle.embedded.attached
    assert handle.embedded.pid() == server_pid  # the same server, not a second one
    assert await handle.client.get("left-behind") == "by the owner"
    await handle.aclose(stop_server=True)
    assert not pid_alive(server_pid)


def test_only_this_process_connected_tells_other_clients_apart(tmp_path: Path) -> None:
    server = start_embedded(tmp_path / "redis")
    try:
        assert server.only_this_process_connected()
        with redis.Redis(
            unix_socket_path=str(server.socket_path), client_name="someone-else"
        ) as other:
            other.ping()
            assert not server.only_this_process_connected()
    finally:
        server.stop()


def test_a_socket_path_too_long_for_unix_sockets_is_refused(tmp_path: Path) -> None:
    with pytest.raises(QueueError, match="longer than"):
        start_embedded(tmp_path / ("x" * 120))


async def test_a_real_server_url_connects() -> None:
    async with await open_redis(server7_url(), data_dir=Path("unused")) as handle:
        assert handle.embedded is None
        health = await redis_health(handle.client)
        assert health["status"] == "ok"
        assert int(str(health["version"]).split(".")[0]) >= 7
        assert await handle.client.ping()


async def test_a_cluster_url_connects_to_the_cluster_and_learns_every_master() -> None:
    async with await open_redis(cluster_url(), data_dir=Path("unused")) as handle:
        assert isinstance(handle.client, RedisCluster)
        assert handle.location == cluster_url()
        health = await redis_health(handle.client)
        assert health["status"] == "ok", health
        assert int(str(health["version"]).split(".")[0]) >= 7
        assert len(handle.client.get_primaries()) == 3


async def test_connected_clients_lists_the_connections_of_every_cluster_node() -> None:
    async with await open_redis(
        cluster_url(), data_dir=Path("unused"), client_name="every-node"
    ) as handle:
        client = handle.client
        assert isinstance(client, RedisCluster)
        primaries = {f"{n.host}:{n.port}" for n in client.get_primaries()}
        # A key on each primary: this client then holds a connection to every node.
        for node in client.get_primaries():
            key = next(
                k for k in (f"probe-{i}" for i in range(10_000))
                if client.get_node_from_key(k) == node
            )  # fmt: skip
            await client.get(key)
        mine = [c for c in await connected_clients(client) if c["name"].startswith("every-node")]
        assert {c["laddr"] for c in mine} == primaries
        assert len(primaries) == 3


async def test_connected_clients_of_a_server_include_this_connection() -> None:
    async with await open_redis(
        server7_url(), data_dir=Path("unused"), client_name="one-server"
    ) as handle:
        names = [c["name"] for c in await connected_clients(handle.client)]
        assert any(name.startswith("one-server") for name in names)


async def test_an_unreachable_cluster_is_a_queue_error() -> None:
    with pytest.raises(QueueError, match=r"connecting to redis\+cluster://127\.0\.0\.1:1"):
        await open_redis("redis+cluster://127.0.0.1:1", data_dir=Path("unused"))


async def test_a_unix_url_connects_to_the_embedded_server(data_dir: Path) -> None:
    server = await asyncio.to_thread(start_embedded, data_dir)
    async with await open_redis(server.url, data_dir=Path("unused")) as handle:
        assert handle.embedded is None
        assert (await redis_health(handle.client))["status"] == "ok"


async def test_an_unreachable_server_is_a_queue_error() -> None:
    with pytest.raises(QueueError, match=r"connecting to redis://127\.0\.0\.1:1/0"):
        await open_redis("redis://127.0.0.1:1/0", data_dir=Path("unused"))


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:6379", "postgresql://x", "redis://:x@[bad", "redis+cluster://127.0.0.1:1/3"],
)
async def test_a_bad_url_is_a_queue_error(url: str) -> None:
    with pytest.raises(QueueError):
        await open_redis(url, data_dir=Path("unused"))


async def test_health_reports_a_server_that_is_down() -> None:
    nowhere = Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    try:
        health = await redis_health(nowhere)
    finally:
        await nowhere.aclose()
    assert health["status"] == "down"
    assert "ConnectionError" in str(health["error"])


def test_passwords_are_masked_in_urls() -> None:
    assert (
        mask_url("redis://user:s3cret@redis.example:6379/0")
        == "redis://user:***@redis.example:6379/0"
    )
    assert mask_url("rediss://:s3cret@h/1") == "rediss://:***@h/1"
    assert mask_url("redis://h:6379/0") == "redis://h:6379/0"
    assert mask_url("redis://:s3cret@[bad") == "redis://***"
