"""Nothing accepted is lost when a worker is SIGKILLed or Redis is flushed mid-run.

Outbound: every message ends sent once. Inbound: every stored reply is applied once, by the
worker that takes over a killed worker's claimed entries, and after a FLUSHALL (at start or
mid-run) by the worker whose heartbeat sees Redis empty and puts the replies back.

Real processes: `hub worker` subprocesses against a real Redis and a SQLite file, and again
against PostgreSQL and the three-master Redis Cluster with one more worker (``drill_setup``:
processes that share only the servers, as on several machines; there a "flush" deletes the
hub's keys, the cluster being shared). The sandbox channel is slowed to a few dozen messages a
second by its token bucket so the run is still going when the test strikes. The database is
the truth: every message must end ``sent`` with exactly one successful attempt on record.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from channels.base import InboundReply
from hub.app.config import load_settings
from hub.app.runtime import open_components
from hub.cli import main
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.infra.queue import Queue
from tests.drill_setup import DrillDatabase, DrillSetup, delete_hub_keys, sync_redis
from tests.wall_clock import NEVER_QUIET

# Several worker processes, a campaign and the servers of the cluster set-up: more than the
# suite's default two minutes on a busy machine.
pytestmark = pytest.mark.timeout(300)

DRILL = {
    "dispatch": {"batch_size": 10, "block_ms": 50, "reclaim_idle_seconds": 1,
                 "reconcile_every_seconds": 0.5},
    "channels": {"sandbox": {"qps": 20}},
    "quiet_hours": NEVER_QUIET,
}  # fmt: skip
ENTERPRISES = 150


def _worker(config: Path, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`hub worker` on ``config``; what it prints goes to ``log`` (appended), or nowhere."""
    with open(log or os.devnull, "ab") as out:  # the child keeps its own copy of the handle
        return subprocess.Popen(
            [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main())",
             "--config", str(config), "worker"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ},
        )  # fmt: skip


@contextmanager
def _workers(
    config: Path, count: int, log: Path | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [_worker(config, log) for _ in range(count)]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _counts(store: DrillDatabase) -> dict[str, int]:
    return dict(store.rows("SELECT status, count(*) FROM message GROUP BY status"))


def _sent_attempts(store: DrillDatabase) -> dict[int, int]:
    return dict(store.rows(
        "SELECT message_id, count(*) FROM delivery_attempt WHERE outcome = 'sent' "
        "GROUP BY message_id"
    ))  # fmt: skip


def _pending_of(client: redis.Redis | redis.RedisCluster, stream: str, group: str, pid: int) -> int:
    """Entries of ``stream`` claimed and not acknowledged by the worker process ``pid``."""
    consumers = client.xinfo_consumers(stream, group)
    return sum(int(c["pending"]) for c in consumers if c["name"].endswith(f"-{pid}"))


def _exists(client: redis.Redis | redis.RedisCluster, key: str) -> bool:
    """Whether ``key`` exists; False while the worker has not started its embedded server."""
    try:
        return bool(client.exists(key))
    except redis.ConnectionError:
        return False


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _prepare(
    write_config: Callable[..., Path], setup: DrillSetup, **overrides: Any
) -> tuple[Path, DrillDatabase, int]:
    config = setup.config(write_config, **{**DRILL, **overrides})
    assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
    assert main(["--config", str(config), "send", "notice", "--audience", "all",
                 "--set", "text=请于月底前完成年报公示"]) == 0  # fmt: skip
    store = setup.database(config)
    queued = _counts(store).get("queued", 0)
    assert queued > 150
    return config, store, queued


def _all_sent_once(store: DrillDatabase, total: int) -> None:
    counts = _counts(store)
    assert counts.get("sent", 0) + counts.get("skipped", 0) == sum(counts.values())
    assert counts["sent"] == total
    sent = _sent_attempts(store)
    assert len(sent) == total
    assert set(sent.values()) == {1}  # one successful send on record per message


@contextmanager
def _flushable(
    config: Path,
) -> Iterator[tuple[redis.Redis | redis.RedisCluster, Callable[[], Any]]]:
    """A client of the drill's Redis and what flushes it: FLUSHALL on its own embedded server
    (it must not touch the shared test server), the hub's keys on the shared cluster."""
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    if settings["redis"]["url"] != "embedded":
        cluster = sync_redis(settings["redis"]["url"])
        assert isinstance(cluster, redis.RedisCluster)
        try:
            yield cluster, lambda: delete_hub_keys(cluster, settings["redis"]["key_prefix"])
        finally:
            cluster.close()
        return
    socket_path = Path(settings["hub"]["data_dir"]) / "redis" / "redis.sock"
    client = redis.Redis(unix_socket_path=str(socket_path))
    try:
        yield client, client.flushall
    finally:
        client.shutdown(nosave=True)
        client.close()


def test_a_worker_killed_mid_run_loses_nothing(
    write_config: Callable[..., Path], drill_setup: DrillSetup
) -> None:
    config, store, total = _prepare(write_config, drill_setup)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    client = sync_redis(settings["redis"]["url"])
    stream = RedisKeys(settings["redis"]["key_prefix"]).outbound_stream("sandbox")

    def pending_of(pid: int) -> int:
        return _pending_of(client, stream, RedisKeys.OUTBOUND_GROUP, pid)

    with _workers(config, 2 + drill_setup.extra_workers) as (victim, *survivors):
        _wait_for(lambda: _counts(store).get("sent", 0) >= 10, 60, "the first sends")
        # Strike while the victim holds claimed entries: they must not die with it.
        _wait_for(lambda: pending_of(victim.pid) > 0, 30, "the victim to hold a batch")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert _counts(store).get("sent", 0) < total  # the run was not over
        _wait_for(lambda: _counts(store).get("sent", 0) == total, 90, "every message sent")
        _wait_for(lambda: pending_of(victim.pid) == 0, 30, "the victim's entries reclaimed")
        assert all(survivor.poll() is None for survivor in survivors)
    _all_sent_once(store, total)
    client.close()


def test_redis_flushed_mid_run_loses_nothing(
    write_config: Callable[..., Path], drill_setup: DrillSetup
) -> None:
    config, store, total = _prepare(write_config, drill_setup, redis={"url": "embedded"})
    with _flushable(config) as (_client, flush), _workers(config, 1 + drill_setup.extra_workers):
        _wait_for(lambda: _counts(store).get("sent", 0) >= 10, 60, "the first sends")
        flush()
        assert _counts(store).get("sent", 0) < total  # the run was not over
        _wait_for(lambda: _counts(store).get("sent", 0) == total, 90, "every message sent")
    _all_sent_once(store, total)


def test_after_a_flushall_sending_resumes_within_seconds(
    write_config: Callable[..., Path], drill_setup: DrillSetup
) -> None:
    # The reconciler and idle reclaim far away: only the heartbeat may notice the flush.
    slow = {"batch_size": 10, "block_ms": 50, "reclaim_idle_seconds": 600,
            "reconcile_every_seconds": 600}  # fmt: skip
    config, store, total = _prepare(
        write_config, drill_setup, redis={"url": "embedded"}, dispatch=slow
    )
    with _flushable(config) as (_client, flush), _workers(config, 1 + drill_setup.extra_workers):
        _wait_for(lambda: _counts(store).get("sent", 0) >= 10, 60, "the first sends")
        flush()
        flushed_at, sent_then = time.monotonic(), _counts(store).get("sent", 0)
        assert sent_then < total  # the run was not over
        # Sending resumes after a heartbeat or two, not after the reconciler's 600 s.
        within = drill_setup.within_seconds
        _wait_for(lambda: _counts(store).get("sent", 0) > sent_then + 20, within,
                  "sending to resume")  # fmt: skip
        assert time.monotonic() - flushed_at < within
        _wait_for(lambda: _counts(store).get("sent", 0) == total, 90, "every message sent")
    _all_sent_once(store, total)


def _replies(store: DrillDatabase) -> list[tuple[Any, ...]]:
    return store.rows("SELECT id, classified_at, ticket_id FROM inbound_reply ORDER BY id")


def _classified(store: DrillDatabase) -> int:
    return sum(1 for _id, classified_at, _ticket in _replies(store) if classified_at)


def _accept_questions(config: Path, store: DrillDatabase, *, entries_lost: bool = False) -> int:
    """One question from the first contact of each enterprise, through the inbound path;
    ``entries_lost``: stored and answered, their stream entries gone (a FLUSHALL to come)."""
    mobiles = [m for (m,) in store.rows(
        "SELECT min(mobile) FROM contact WHERE mobile IS NOT NULL GROUP BY enterprise_id"
    )]  # fmt: skip

    async def accept() -> None:
        async with open_components(load_settings(config)) as hub:
            # Entries lost: pushed where no worker reads (the FLUSHALL takes them too).
            queue = Queue(hub.redis, RedisKeys("lost")) if entries_lost else hub.queue
            for n, mobile in enumerate(mobiles):
                text = f"营业执照变更需要什么材料？（第{n}问）"
                reply = InboundReply("sandbox", f"drill-{n}", mobile, text)
                await accept_reply(hub.db, queue, hub.clock, ChannelName.SANDBOX, reply)

    asyncio.run(accept())
    return len(mobiles)


def test_an_inbound_worker_killed_mid_batch_applies_every_reply_once(
    write_config: Callable[..., Path], drill_setup: DrillSetup
) -> None:
    # Idle reclaim ten minutes away: the survivor takes the victim's replies over because its
    # heartbeat expired (~10 s), not because they looked idle.
    config = drill_setup.config(
        write_config, **{**DRILL, "dispatch": {**DRILL["dispatch"], "reclaim_idle_seconds": 600}}
    )
    assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    store = drill_setup.database(config)
    # Stored and on the stream before any worker runs: the victim claims a whole batch.
    total = _accept_questions(config, store)
    assert total == ENTERPRISES
    client = sync_redis(settings["redis"]["url"])
    stream = RedisKeys(settings["redis"]["key_prefix"]).inbound_stream()

    def pending_of(pid: int) -> int:
        return _pending_of(client, stream, RedisKeys.INBOUND_GROUP, pid)

    with _workers(config, 1) as (victim,):
        _wait_for(lambda: pending_of(victim.pid) > 0, 60, "the victim to claim replies")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    assert _classified(store) < total  # it died with replies in hand
    assert pending_of(victim.pid) > 0
    with _workers(config, 1 + drill_setup.extra_workers) as survivors:
        _wait_for(lambda: _classified(store) == total, 90, "every reply classified")
        _wait_for(lambda: pending_of(victim.pid) == 0, 30, "the victim's entries reclaimed")
        assert all(survivor.poll() is None for survivor in survivors)
    replies = _replies(store)
    assert all(ticket_id is not None for _id, _at, ticket_id in replies)
    # Every question opened exactly one ticket: none lost with the victim, none applied twice.
    _opened_once(store)
    client.close()


def _opened_once(store: DrillDatabase) -> None:
    """Every stored reply opened exactly one ticket: none lost, none applied twice."""
    replies = _replies(store)
    opened = store.rows("SELECT source_reply_id, count(*) FROM ticket GROUP BY source_reply_id")
    assert {reply_id for reply_id, _count in opened} == {r[0] for r in replies}
    assert {count for _reply_id, count in opened} == {1}


def _flush_drill(
    write_config: Callable[..., Path], setup: DrillSetup
) -> tuple[Path, DrillDatabase, str]:
    """A demo on its own embedded Redis (or the hub's keys on the cluster: see _flushable),
    the reconciler and idle reclaim far away: only the heartbeat may notice the flush."""
    slow = {"batch_size": 10, "block_ms": 50, "reclaim_idle_seconds": 600,
            "reconcile_every_seconds": 600}  # fmt: skip
    config = setup.config(write_config, **{**DRILL, "dispatch": slow, "redis": {"url": "embedded"}})
    assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    epoch = RedisKeys(settings["redis"]["key_prefix"]).redis_epoch()
    return config, setup.database(config), epoch


def test_replies_stored_before_a_flushall_are_classified_once_by_a_started_worker(
    write_config: Callable[..., Path], drill_setup: DrillSetup
) -> None:
    config, store, _epoch = _flush_drill(write_config, drill_setup)
    with _flushable(config) as (_client, flush):
        total = _accept_questions(config, store)
        flush()  # before any worker ran: a Redis replaced, restarted without data
        with _workers(config, 1 + drill_setup.extra_workers) as workers:
            _wait_for(lambda: _classified(store) == total, 90, "every reply classified")
            assert all(worker.poll() is None for worker in workers)
    _opened_once(store)


def test_replies_stored_when_redis_is_flushed_mid_run_are_classified_once_within_seconds(
    write_config: Callable[..., Path], drill_setup: DrillSetup
) -> None:
    config, store, epoch = _flush_drill(write_config, drill_setup)
    log = config.parent / "workers.log"
    with _flushable(config) as (client, flush):
        with _workers(config, 1 + drill_setup.extra_workers, log) as workers:
            _wait_for(lambda: _exists(client, epoch), 30, "the worker's first beat")
            # The first beat's rebuild (of nothing) is over: it cannot take the replies stored
            # next, which must wait for the flush.
            _wait_for(lambda: "redis initialised for the hub" in log.read_text(errors="replace"),
                      60, "the first beat's rebuild")  # fmt: skip
            total = _accept_questions(config, store, entries_lost=True)
            assert _classified(store) == 0  # stored, answered, and on no stream it reads
            flush()
            flushed_at = time.monotonic()
            within = drill_setup.within_seconds
            _wait_for(lambda: _classified(store) == total, within, "every reply classified")
            took = time.monotonic() - flushed_at
            assert all(worker.poll() is None for worker in workers)
        _opened_once(store)
        assert took < within
