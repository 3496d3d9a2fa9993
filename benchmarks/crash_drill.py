"""The SMS crash drill at full size: a worker SIGKILLed twice mid-campaign, counted at the fake.

    python benchmarks/crash_drill.py                       # 5,000 SMS at qps 1000, no latency
    python benchmarks/crash_drill.py --latency-ms 300      # the provider answers in 300 ms
    python benchmarks/crash_drill.py --redis-url redis://127.0.0.1:6390/0 --json
    python benchmarks/crash_drill.py --redis-url redis+cluster://127.0.0.1:7390   # a Redis Cluster

A campaign of ``policy_push`` SMS (one personalised message per contact) is queued, then
``hub worker`` starts against the signature-checking Tencent SMS fake (a process of its own);
it is SIGKILLed ``--first-kill`` seconds after its first claim, started again, SIGKILLed
``--second-kill`` seconds after the restarted worker's first claim (a worker takes a second
or two to start, more on a busy machine: counted from the claim, each kill lands
mid-campaign), and started a third time. The fake counts what
it accepted per number: lost = numbers never accepted, duplicates = accepted more than once.
Also printed: the seconds from the last kill until every message had a final status, and how
the unknown sends were resolved (attempt error codes). Redis: a server URL (the test
services' by default), so a killed worker takes no embedded server with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.devtools import processes
from hub.devtools.bench import bench_config, secret_env, tencent_fake_options

ROOT = Path(__file__).resolve().parent.parent


def _statuses(db: Path) -> Counter[str]:
    with sqlite3.connect(db, timeout=30) as conn:
        return Counter(dict(conn.execute("SELECT status, count(*) FROM message GROUP BY status")))


def _unsent(counts: Counter[str]) -> int:
    """Messages still to go: queued or being sent."""
    return counts["queued"] + counts["sending"]


class DrillMissed(Exception):
    """The campaign had finished before a kill: it did not land mid-campaign."""

    def __init__(self, kill: int, total: int) -> None:
        super().__init__(
            f"kill {kill} did not land mid-campaign: all {total} messages were done before it "
            "(a larger --n, a lower --qps or earlier --first-kill/--second-kill)"
        )


def _codes(db: Path) -> Counter[str]:
    with sqlite3.connect(db, timeout=30) as conn:
        rows = conn.execute("SELECT error_code, count(*) FROM delivery_attempt "
                            "WHERE error_code LIKE 'Unknown%' GROUP BY error_code")  # fmt: skip
        return Counter(dict(rows))


def _numbers(db: Path) -> set[str]:
    with sqlite3.connect(db, timeout=30) as conn:
        return {address for (address,) in conn.execute("SELECT address FROM message")}


def _accepted(fake_url: str) -> Counter[str]:
    with urllib.request.urlopen(f"{fake_url}/__fake__/received", timeout=120) as answer:
        received = json.loads(answer.read())["received"]
    return Counter(n for r in received
                   for n, code in zip(r["phone_numbers"], r["codes"], strict=True)
                   if code == "Ok")  # fmt: skip


def drill(options: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    env = processes.environment(**secret_env(), PYTHONPATH=str(ROOT))
    log = scratch / "hub.log"
    fake, fake_url = processes.start_fake(
        "tencent_sms", *tencent_fake_options(env), "--latency-ms", str(options.latency_ms),
        env=env, log=scratch / "fake.log", cwd=ROOT,
    )  # fmt: skip
    workers: list[processes.Child] = []
    try:
        data_dir = scratch / "var"
        data_dir.mkdir()
        config = scratch / "config.yaml"
        config.write_text(bench_config(
            data_dir=data_dir, redis_url=options.redis_url, prefix=f"drill{uuid.uuid4().hex[:8]}",
            fake_url=fake_url, qps=options.qps, default_channel="sms",
            status_settle_s=options.settle,
        ), encoding="utf-8")  # fmt: skip

        def hub(*args: str) -> None:
            processes.run_hub("--config", str(config), *args, env=env, log=log, cwd=ROOT)

        def worker() -> processes.Child:
            argv = processes.hub_argv("--config", str(config), "worker")
            return processes.start_process(argv, env=env, log=log, cwd=ROOT)

        hub("db", "upgrade")
        # About one contact in thirty has a second number: 0.967 enterprises per message.
        hub("demo", "--enterprises", str(round(options.n * 0.967)))
        hub("send", "policy_push", "--audience", "all", "--set", "policy_title=专精特新奖补")
        db = data_dir / "hub.db"
        total = _statuses(db)["queued"]
        began = time.monotonic()
        for number, wait in enumerate((options.first_kill, options.second_kill), start=1):
            before = _statuses(db)["queued"]
            workers.append(worker())
            while (counts := _statuses(db))["queued"] == before:  # started: its first claim
                if _unsent(counts) == 0:
                    raise DrillMissed(number, total)
                time.sleep(0.02)
            time.sleep(wait)
            if _unsent(_statuses(db)) == 0:
                raise DrillMissed(number, total)
            workers[-1].kill()
        killed = time.monotonic()
        at_kill = _statuses(db)
        workers.append(worker())
        while True:
            counts = _statuses(db)
            if _unsent(counts) == 0 or time.monotonic() - killed > 600:
                break
            time.sleep(0.2)
        finished = time.monotonic()
        accepted = _accepted(fake_url)
        numbers = _numbers(db)
        return {
            "messages": total,
            "qps": options.qps,
            "latency_ms": options.latency_ms,
            "kills_at_s": [options.first_kill, options.first_kill + options.second_kill],
            "unsent_at_last_kill": _unsent(at_kill),
            "accepted": sum(accepted.values()),
            "lost": len(numbers - set(accepted)),
            "duplicates": sum(times - 1 for times in accepted.values() if times > 1),
            "seconds_after_last_kill": round(finished - killed, 1),
            "seconds_total": round(finished - began, 1),
            "final_statuses": dict(_statuses(db)),
            "unknown_sends": dict(_codes(db)),
        }
    finally:
        processes.stop_all([*workers, fake], timeout_s=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="about this many SMS")
    parser.add_argument("--qps", type=float, default=1000.0)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the fake's answer time")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="status_settle_seconds: the fake reports at once")  # fmt: skip
    parser.add_argument("--first-kill", type=float, default=2.5)
    parser.add_argument("--second-kill", type=float, default=1.5)
    parser.add_argument("--redis-url", default=os.environ.get("HUB_TEST_REDIS_URL", ""))
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args(argv)
    if not options.redis_url:
        parser.error("--redis-url (or HUB_TEST_REDIS_URL: source var/test-services/env)")
    with tempfile.TemporaryDirectory(prefix="crash-drill-") as scratch:
        try:
            result = drill(options, Path(scratch))
        except DrillMissed as missed:
            print(f"crash drill: {missed}", file=sys.stderr)
            return 2
    if options.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
