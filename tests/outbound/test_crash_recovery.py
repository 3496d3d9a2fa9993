"""Nothing accepted is lost when a worker is SIGKILLed or Redis is flushed mid-run.

Outbound: every message ends sent once. Inbound: every stored reply is applied once, by the
worker that takes over a killed worker's claimed entries, and after a FLUSHALL (at start or
mid-run) by the worker whose heartbeat sees Redis empty and puts the replies back.

Real processes: `hub worker` subprocesses against a real Redis and a SQLite file; the sandbox
channel is slowed to a few dozen messages a second by its token bucket so the run is still
going when the test strikes. The database is the truth: every message must end ``sent``
with exactly one successful attempt on record.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
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
from tests.wall_clock import NEVER_QUIET

DRILL = {
    "dispatch": {"batch_size": 10, "block_ms": 50, "reclaim_idle_seconds": 1,
                 "reconcile_every_seconds": 0.5},
    "channels": {"sandbox": {"qps": 20}},
    "quiet_hours": NEVER_QUIET,
}  # fmt: skip
ENTERPRISES = 150


def _worker(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main())",
         "--config", str(config), "worker"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ},
    )  # fmt: skip


@contextmanager
def _workers(config: Path, count: int) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = [_worker(config) for _ in range(count)]
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


def _counts(db_file: Path) -> dict[str, int]:
    with sqlite3.connect(db_file, timeout=10) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM message GROUP BY status").fetchall())


def _sent_attempts(db_file: Path) -> dict[int, int]:
    with sqlite3.connect(db_file, timeout=10) as conn:
        rows = conn.execute(
            "SELECT message_id, count(*) FROM delivery_attempt WHERE outcome = 'sent' "
            "GROUP BY message_id"
        ).fetchall()
    return dict(rows)


def _pending_of(client: redis.Redis, stream: str, group: str, pid: int) -> int:
    """Entries of ``stream`` claimed and not acknowledged by the worker process ``pid``."""
    consumers = client.xinfo_consumers(stream, group)
    return sum(int(c["pending"]) for c in consumers if c["name"].endswith(f"-{pid}"))


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _prepare(write_config: Callable[..., Path], **overrides: Any) -> tuple[Path, Path, int]:
    config = write_config(**{**DRILL, **overrides})
    assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
    assert main(["--config", str(config), "send", "notice", "--audience", "all",
                 "--set", "text=请于月底前完成年报公示"]) == 0  # fmt: skip
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    db_file = Path(settings["hub"]["data_dir"]) / "hub.db"
    queued = _counts(db_file).get("queued", 0)
    assert queued > 150
    return config, db_file, queued


def _all_sent_once(db_file: Path, total: int) -> None:
    counts = _counts(db_file)
    assert counts.get("sent", 0) + counts.get("skipped", 0) == sum(counts.values())
    assert counts["sent"] == total
    sent = _sent_attempts(db_file)
    assert len(sent) == total
    assert set(sent.values()) == {1}  # one successful send on record per message


def test_a_worker_killed_mid_run_loses_nothing(write_config: Callable[..., Path]) -> None:
    config, db_file, total = _prepare(write_config)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    client = redis.Redis.from_url(settings["redis"]["url"], decode_responses=True)
    stream = RedisKeys(settings["redis"]["key_prefix"]).outbound_stream("sandbox")

    def pending_of(pid: int) -> int:
        return _pending_of(client, stream, RedisKeys.OUTBOUND_GROUP, pid)

    with _workers(config, 2) as (victim, survivor):
        _wait_for(lambda: _counts(db_file).get("sent", 0) >= 10, 60, "the first sends")
        # Strike while the victim holds claimed entries: they must not die with it.
        _wait_for(lambda: pending_of(victim.pid) > 0, 30, "the victim to hold a batch")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
        assert _counts(db_file).get("sent", 0) < total  # the run was not over
        _wait_for(lambda: _counts(db_file).get("sent", 0) == total, 90, "every message sent")
        _wait_for(lambda: pending_of(victim.pid) == 0, 30, "the victim's entries reclaimed")
        assert survivor.poll() is None
    _all_sent_once(db_file, total)
    client.close()


def test_redis_flushed_mid_run_loses_nothing(write_config: Callable[..., Path]) -> None:
    # Its own embedded Redis: FLUSHALL must not touch the shared test server.
    config, db_file, total = _prepare(write_config, redis={"url": "embedded"})
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    socket_path = Path(settings["hub"]["data_dir"]) / "redis" / "redis.sock"
    client = redis.Redis(unix_socket_path=str(socket_path))
    try:
        with _workers(config, 1):
            _wait_for(lambda: _counts(db_file).get("sent", 0) >= 10, 60, "the first sends")
            client.flushall()
            assert _counts(db_file).get("sent", 0) < total  # the run was not over
            _wait_for(lambda: _counts(db_file).get("sent", 0) == total, 90, "every message sent")
        _all_sent_once(db_file, total)
    finally:
        client.shutdown(nosave=True)
        client.close()


def test_after_a_flushall_sending_resumes_within_seconds(write_config: Callable[..., Path]) -> None:
    # The reconciler and idle reclaim far away: only the heartbeat may notice the flush.
    slow = {"batch_size": 10, "block_ms": 50, "reclaim_idle_seconds": 600,
            "reconcile_every_seconds": 600}  # fmt: skip
    config, db_file, total = _prepare(write_config, redis={"url": "embedded"}, dispatch=slow)
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    socket_path = Path(settings["hub"]["data_dir"]) / "redis" / "redis.sock"
    client = redis.Redis(unix_socket_path=str(socket_path))
    try:
        with _workers(config, 1):
            _wait_for(lambda: _counts(db_file).get("sent", 0) >= 10, 60, "the first sends")
            client.flushall()
            flushed_at, sent_then = time.monotonic(), _counts(db_file).get("sent", 0)
            assert sent_then < total  # the run was not over
            # Sending resumes after a heartbeat or two, not after the reconciler's 600 s.
            _wait_for(lambda: _counts(db_file).get("sent", 0) > sent_then + 20, 15,
                      "sending to resume")  # fmt: skip
            assert time.monotonic() - flushed_at < 15
            _wait_for(lambda: _counts(db_file).get("sent", 0) == total, 90, "every message sent")
        _all_sent_once(db_file, total)
    finally:
        client.shutdown(nosave=True)
        client.close()


def _replies(db_file: Path) -> list[tuple[int, str | None, int | None]]:
    with sqlite3.connect(db_file, timeout=10) as conn:
        return conn.execute(
            "SELECT id, classified_at, ticket_id FROM inbound_reply ORDER BY id"
        ).fetchall()


def _classified(db_file: Path) -> int:
    return sum(1 for _id, classified_at, _ticket in _replies(db_file) if classified_at)


def _accept_questions(config: Path, db_file: Path, *, entries_lost: bool = False) -> int:
    """One question from the first contact of each enterprise, through the inbound path;
    ``entries_lost``: stored and answered, their stream entries gone (a FLUSHALL to come)."""
    with sqlite3.connect(db_file, timeout=10) as conn:
        mobiles = [m for (m,) in conn.execute(
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
    write_config: Callable[..., Path],
) -> None:
    # Idle reclaim ten minutes away: the survivor takes the victim's replies over because its
    # heartbeat expired (~10 s), not because they looked idle.
    config = write_config(
        **{**DRILL, "dispatch": {**DRILL["dispatch"], "reclaim_idle_seconds": 600}}
    )
    assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    db_file = Path(settings["hub"]["data_dir"]) / "hub.db"
    # Stored and on the stream before any worker runs: the victim claims a whole batch.
    total = _accept_questions(config, db_file)
    assert total == ENTERPRISES
    client = redis.Redis.from_url(settings["redis"]["url"], decode_responses=True)
    stream = RedisKeys(settings["redis"]["key_prefix"]).inbound_stream()

    def pending_of(pid: int) -> int:
        return _pending_of(client, stream, RedisKeys.INBOUND_GROUP, pid)

    with _workers(config, 1) as (victim,):
        _wait_for(lambda: pending_of(victim.pid) > 0, 60, "the victim to claim replies")
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    assert _classified(db_file) < total  # it died with replies in hand
    assert pending_of(victim.pid) > 0
    with _workers(config, 1) as (survivor,):
        _wait_for(lambda: _classified(db_file) == total, 90, "every reply classified")
        _wait_for(lambda: pending_of(victim.pid) == 0, 30, "the victim's entries reclaimed")
        assert survivor.poll() is None
    replies = _replies(db_file)
    assert all(ticket_id is not None for _id, _at, ticket_id in replies)
    with sqlite3.connect(db_file, timeout=10) as conn:
        opened = conn.execute(
            "SELECT source_reply_id, count(*) FROM ticket GROUP BY source_reply_id"
        ).fetchall()
    # Every question opened exactly one ticket: none lost with the victim, none applied twice.
    assert {reply_id for reply_id, _count in opened} == {r[0] for r in replies}
    assert {count for _reply_id, count in opened} == {1}
    client.close()


def _opened_once(db_file: Path) -> None:
    """Every stored reply opened exactly one ticket: none lost, none applied twice."""
    replies = _replies(db_file)
    with sqlite3.connect(db_file, timeout=10) as conn:
        opened = conn.execute(
            "SELECT source_reply_id, count(*) FROM ticket GROUP BY source_reply_id"
        ).fetchall()
    assert {reply_id for reply_id, _count in opened} == {r[0] for r in replies}
    assert {count for _reply_id, count in opened} == {1}


def _flush_drill(write_config: Callable[..., Path]) -> tuple[Path, Path, redis.Redis, str]:
    """A demo on its own embedded Redis (FLUSHALL must not touch the shared test server),
    the reconciler and idle reclaim far away: only the heartbeat may notice the flush."""
    slow = {"batch_size": 10, "block_ms": 50, "reclaim_idle_seconds": 600,
            "reconcile_every_seconds": 600}  # fmt: skip
    config = write_config(**{**DRILL, "dispatch": slow, "redis": {"url": "embedded"}})
    assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
    settings = yaml.safe_load(config.read_text(encoding="utf-8"))
    data_dir = Path(settings["hub"]["data_dir"])
    client = redis.Redis(unix_socket_path=str(data_dir / "redis" / "redis.sock"))
    epoch = RedisKeys(settings["redis"]["key_prefix"]).redis_epoch()
    return config, data_dir / "hub.db", client, epoch


def test_replies_stored_before_a_flushall_are_classified_once_by_a_started_worker(
    write_config: Callable[..., Path],
) -> None:
    config, db_file, client, _epoch = _flush_drill(write_config)
    try:
        total = _accept_questions(config, db_file)
        client.flushall()  # before any worker ran: a Redis replaced, restarted without data
        with _workers(config, 1) as (worker,):
            _wait_for(lambda: _classified(db_file) == total, 30, "every reply classified")
            assert worker.poll() is None
        _opened_once(db_file)
    finally:
        client.shutdown(nosave=True)
        client.close()


def test_replies_stored_when_redis_is_flushed_mid_run_are_classified_once_within_seconds(
    write_config: Callable[..., Path],
) -> None:
    config, db_file, client, epoch = _flush_drill(write_config)
    try:
        with _workers(config, 1) as (worker,):
            _wait_for(lambda: bool(client.exists(epoch)), 30, "the worker's first beat")
            total = _accept_questions(config, db_file, entries_lost=True)
            assert _classified(db_file) == 0  # stored, answered, and on no stream it reads
            client.flushall()
            flushed_at = time.monotonic()
            _wait_for(lambda: _classified(db_file) == total, 15, "every reply classified")
            took = time.monotonic() - flushed_at
            assert worker.poll() is None
        _opened_once(db_file)
        assert took < 15
    finally:
        client.shutdown(nosave=True)
        client.close()
