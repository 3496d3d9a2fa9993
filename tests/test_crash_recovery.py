"""Nothing accepted is lost when a worker is SIGKILLed or Redis is flushed mid-run.

Real processes: `hub worker` subprocesses against a real Redis and a SQLite file; the sandbox
channel is slowed to a few dozen messages a second by its token bucket so the run is still
going when the test strikes. The database is the truth: every message must end ``sent``
with exactly one successful attempt on record.
"""

from __future__ import annotations

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

from hub.cli import main
from hub.keys import RedisKeys
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


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def _prepare(write_config: Callable[..., Path], **overrides: Any) -> tuple[Path, Path, int]:
    config = write_config(**DRILL, **overrides)
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
        consumers = client.xinfo_consumers(stream, RedisKeys.OUTBOUND_GROUP)
        return sum(int(c["pending"]) for c in consumers if c["name"].endswith(f"-{pid}"))

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
