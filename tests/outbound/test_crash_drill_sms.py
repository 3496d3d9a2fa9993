"""The SMS crash drill: a worker SIGKILLed during provider calls, twice, sends no number twice.

Real processes: the Tencent SMS fake (signature-checking, with latency, answering
``PullSmsSendStatusByPhoneNumber``) and `hub worker` subprocesses on a SQLite file and the test
Redis, and again on PostgreSQL and the Redis Cluster with a second worker running beside each
(``drill_setup``). Each kill lands while the victim holds rows in ``sending`` — requests in
flight at the fake, which accepts some of them after the victim is gone. The worker started next
must find the dead one's entries at once (no heartbeat; ``reclaim_idle_seconds`` is set far
away) and resolve its unknown sends by the status query: every number accepted exactly once,
none lost.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hub.cli import main
from hub.devtools.processes import start_fake, stop_all
from hub.outbound.unknown_sends import NOT_TAKEN, RESENT_UNKNOWN, TAKEN
from tests.drill_setup import DrillDatabase, DrillSetup
from tests.outbound.test_crash_recovery import _counts, _wait_for, _worker
from tests.wall_clock import NEVER_QUIET

# Three or four worker processes and the fake: more than the suite's default two minutes on a
# busy machine.
pytestmark = pytest.mark.timeout(300)

SECRET_ID, SECRET_KEY = "AKIDdrill", "drill-secret"
ENTERPRISES = 120
LATENCY_MS = 300


@contextmanager
def _tencent_fake() -> Iterator[str]:
    fake, url = start_fake(
        "tencent_sms", "--secret-id", SECRET_ID, "--secret-key", SECRET_KEY,
        "--sdk-app-id", "1400000000", "--latency-ms", str(LATENCY_MS),
    )  # fmt: skip
    try:
        yield url
    finally:
        stop_all([fake], timeout_s=20)


def _accepted(fake_url: str) -> Counter[str]:
    """How many times the fake accepted each number."""
    with urllib.request.urlopen(f"{fake_url}/__fake__/received", timeout=30) as answer:
        received = json.loads(answer.read())["received"]
    return Counter(
        number
        for r in received
        for number, code in zip(r["phone_numbers"], r["codes"], strict=True)
        if code == "Ok"
    )


def _sending_of(store: DrillDatabase, pid: int) -> int:
    ((count,),) = store.rows(
        "SELECT count(*) FROM message WHERE status = 'sending' AND status_reason LIKE ?",
        f"%-{pid}）",
    )
    return int(count)


def _attempt_codes(store: DrillDatabase) -> Counter[str]:
    rows = store.rows("SELECT error_code FROM delivery_attempt")
    return Counter(code for (code,) in rows if code)


def _mobiles(store: DrillDatabase) -> dict[int, str]:
    return dict(store.rows("SELECT id, address FROM message"))


def _kill_while_sending(proc: subprocess.Popen[bytes], store: DrillDatabase) -> None:
    """SIGKILL ``proc`` at a moment it holds rows in ``sending`` (requests in flight)."""
    _wait_for(lambda: _sending_of(store, proc.pid) > 0, 60, "the victim to be sending")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _drill_config(
    write_config: Callable[..., Path], setup: DrillSetup, fake_url: str, **overrides: Any
) -> Path:
    settings: dict[str, Any] = {
        # Idle takeover far beyond the test: only liveness can bring the entries back fast.
        "dispatch": {"batch_size": 20, "block_ms": 50, "reclaim_idle_seconds": 600,
                     "reconcile_every_seconds": 600},
        "channels": {"default": "sms", "sms": {"provider": "tencent", "tencent": {
            "enabled": True, "endpoint": fake_url, "qps": 25,
            "secret_id": "${HUB_DRILL_SECRET_ID}", "secret_key": "${HUB_DRILL_SECRET_KEY}",
            "path_secret": "${HUB_DRILL_PATH_SECRET}", "sdk_app_id": "1400000000",
            "sign_name": "主动服务", "status_settle_seconds": 2,
        }}},
        "routing": {"chains": {"default": ["sms"]}},
        "quiet_hours": NEVER_QUIET,
    }  # fmt: skip
    settings.update(overrides)
    return setup.config(write_config, **settings)


def test_a_worker_killed_twice_during_provider_calls_sends_every_number_once(
    write_config: Callable[..., Path], drill_setup: DrillSetup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUB_DRILL_SECRET_ID", SECRET_ID)
    monkeypatch.setenv("HUB_DRILL_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("HUB_DRILL_PATH_SECRET", "drill-path")
    with _tencent_fake() as fake_url:
        config = _drill_config(write_config, drill_setup, fake_url)
        assert main(["--config", str(config), "demo", "--enterprises", str(ENTERPRISES)]) == 0
        assert main(["--config", str(config), "send", "policy_push", "--audience", "all",
                     "--set", "policy_title=专精特新奖补"]) == 0  # fmt: skip
        store = drill_setup.database(config)
        total = _counts(store)["queued"]
        assert total > ENTERPRISES

        started: list[subprocess.Popen[bytes]] = []
        try:
            first = _worker(config)
            started.append(first)
            _kill_while_sending(first, store)
            second = _worker(config)
            started.append(second)
            _kill_while_sending(second, store)
            assert _counts(store).get("queued", 0) > 0  # both kills landed mid-campaign
            killed_at = time.monotonic()
            # On the cluster set-up two workers (two machines) share what the victims left.
            started.extend(_worker(config) for _ in range(1 + drill_setup.extra_workers))

            def final() -> bool:
                counts = _counts(store)
                return counts.get("sent", 0) + counts.get("delivered", 0) == total

            _wait_for(final, 90, "every message sent")
            recovered_s = time.monotonic() - killed_at
        finally:
            for proc in started:
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
                    proc.wait(timeout=20)
        accepted = _accepted(fake_url)
    numbers = set(_mobiles(store).values())
    assert set(accepted) == numbers  # none lost
    assert [n for n, times in accepted.items() if times > 1] == []  # none sent twice
    codes = _attempt_codes(store)
    # The kills left sends in flight, and the status query resolved them; nothing went blind.
    assert codes[TAKEN] + codes[NOT_TAKEN] > 0
    assert codes[RESENT_UNKNOWN] == 0
    assert recovered_s < 60, recovered_s
