"""The deployment docs/deploy.md describes, run as it says: separate processes on PostgreSQL.

A fresh PostgreSQL database migrated by `hub db upgrade`; `hub api`, two `hub worker` and a
`hub scheduler` started as child processes with one config.yaml (the test Redis server, or the
test Redis Cluster, with a key prefix of the test's own); a campaign sent from the CLI to the
sandbox channel reaches every recipient's inbox exactly once, with one delivery attempt per
message, whichever worker took it; the scheduler holds the leader lock while it runs and gives
it up on SIGTERM, and every process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hub.app.config import Settings, load_settings
from hub.cli import main
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus
from hub.devtools.processes import Child, hub_argv, run_hub, start_process, stop_all, wait_for_http
from hub.devtools.scratch_database import scratch_postgres
from hub.infra.redis_server import open_redis
from hub.store.db import Database
from hub.store.models import DeliveryAttempt, Message
from tests.conftest import required_env
from tests.redis_fixtures import cluster_url, server7_url
from tests.wall_clock import NEVER_QUIET

# Six processes start on a shared 2-core machine: slower than the suite's 120 s default allows.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(400)]
SCHEDULER_LOCK = "scheduler"  # hub.scheduling.scheduler's leader lock name


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """An empty database of this test's own on the test server, dropped afterwards."""
    manager = scratch_postgres(required_env("HUB_TEST_POSTGRES_URL"))
    loop = asyncio.new_event_loop()
    try:
        yield loop.run_until_complete(manager.__aenter__())
    finally:
        loop.run_until_complete(manager.__aexit__(None, None, None))
        loop.close()


@pytest.fixture(params=["server", "cluster"])
def deployed(
    request: pytest.FixtureRequest, write_config: Callable[..., Path], fresh_postgres: str,
    tmp_path: Path,
) -> Iterator[tuple[Settings, str, dict[str, Child]]]:  # fmt: skip
    """`hub db upgrade`, the demo registry, then api + 2 workers + scheduler running, on a
    Redis server or a Redis Cluster."""
    port = _free_port()
    redis_url = server7_url() if request.param == "server" else cluster_url()
    config = write_config(
        storage={"url": "${HUB_DATABASE_URL}", "pool_size": 5}, redis={"url": redis_url},
        web={"port": port}, quiet_hours=NEVER_QUIET,
    )  # fmt: skip
    env = {**os.environ, "HUB_DATABASE_URL": fresh_postgres}
    env.pop("HUB_CONFIG", None)
    argv = ("--config", str(config))
    run_hub(*argv, "db", "upgrade", env=env, log=tmp_path / "upgrade.log")
    run_hub(*argv, "demo", "--enterprises", "40", env=env, log=tmp_path / "demo.log")
    roles = {"api": "api", "worker-1": "worker", "worker-2": "worker", "scheduler": "scheduler"}
    children = {
        name: start_process(hub_argv(*argv, role), env=env, log=tmp_path / f"{name}.log")
        for name, role in roles.items()
    }
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", timeout_s=90, children=children.values())
        yield load_settings(config, env=env), base, children
    finally:
        stop_all(children.values())


def test_api_two_workers_and_a_scheduler_on_postgresql_deliver_a_campaign_once(
    deployed: tuple[Settings, str, dict[str, Child]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings, base, children = deployed
    health = httpx.get(f"{base}/healthz", timeout=10).json()
    assert health["database"] == {**health["database"], "status": "ok", "dialect": "postgresql"}
    assert health["redis"]["status"] == "ok"
    assert httpx.get(f"{base}/metrics", timeout=10).status_code == 200

    monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
    capsys.readouterr()
    code = main(["--config", str(settings.source), "send", "notice", "--audience", "all",
                 "--set", "text=部署验证", "--wait", "--timeout", "60", "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report
    assert report["created"] >= 40
    assert report["final"]["pending"] == 0

    messages = asyncio.run(_sent_messages(settings))
    assert len(messages) == report["created"]
    assert {row.status for row in messages} == {MessageStatus.SENT}
    assert {row.attempts for row in messages} == {1}, "one delivery attempt per message"
    delivered, leader = asyncio.run(_inboxes(settings, {row.contact_id for row in messages}))
    assert sorted(delivered) == sorted(row.id for row in messages), "each exactly once"
    assert leader is not None, "the scheduler holds the leader lock"
    stop_all(children.values())
    assert asyncio.run(_inboxes(settings, set()))[1] is None, "released on SIGTERM"
    codes = {name: child.proc.returncode for name, child in children.items()}
    assert codes == dict.fromkeys(children, 0)


async def _inboxes(settings: Settings, contacts: set[int]) -> tuple[list[int], str | None]:
    """The message ids in the contacts' sandbox inboxes, and the scheduler lock's holder."""
    keys = RedisKeys(settings.redis.key_prefix)
    async with await open_redis(settings.redis.url, data_dir=settings.data_dir) as handle:
        delivered: list[int] = []
        for contact_id in contacts:
            inbox = await handle.client.lrange(keys.sandbox_inbox(contact_id), 0, -1)
            delivered += [json.loads(entry)["message_id"] for entry in inbox]
        return delivered, await handle.client.get(keys.lock(SCHEDULER_LOCK))


async def _sent_messages(settings: Settings) -> list[sa.Row[tuple[int, int, str, int]]]:
    """Every message with its contact, status and number of delivery attempts."""
    db = Database.open(settings.database_url)
    try:
        async with db.read() as session:
            attempts = (
                sa.select(sa.func.count(DeliveryAttempt.id))
                .where(DeliveryAttempt.message_id == Message.id)
                .scalar_subquery()
            )
            query = sa.select(Message.id, Message.contact_id, Message.status,
                              attempts.label("attempts"))  # fmt: skip
            return list((await session.execute(query)).all())
    finally:
        await db.aclose()
