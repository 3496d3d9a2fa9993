"""The SMS crash drill at full size: a worker SIGKILLed twice mid-campaign, counted at the fake.

    python benchmarks/crash_drill.py                       # 5,000 SMS at qps 1000, no latency
    python benchmarks/crash_drill.py --latency-ms 300      # the provider answers in 300 ms
    python benchmarks/crash_drill.py --redis-url redis://127.0.0.1:6390/0 --json

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
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SECRET_ID, SECRET_KEY = "AKIDdrill", "drill-secret"
_HUB = ("-c", "import sys; from hub.cli import main; sys.exit(main())")
_CONFIG = """\
hub: {{data_dir: "{data_dir}"}}
storage: {{url: "sqlite+aiosqlite:///{data_dir}/hub.db"}}
redis: {{url: "{redis_url}", key_prefix: {prefix}}}
logging: {{level: WARNING}}
dispatch: {{batch_size: 200, block_ms: 100}}
channels:
  default: sms
  sms:
    provider: tencent
    tencent:
      enabled: true
      endpoint: "{fake_url}"
      qps: {qps}
      secret_id: ${{HUB_DRILL_SECRET_ID}}
      secret_key: ${{HUB_DRILL_SECRET_KEY}}
      path_secret: ${{HUB_DRILL_PATH_SECRET}}
      sdk_app_id: "1400000000"
      sign_name: 主动服务
      status_settle_seconds: {settle}
quiet_hours: {{bypass: [policy_push]}}
routing: {{chains: {{default: [sms]}}}}
"""


def _hub(env: dict[str, str], config: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, *_HUB, "--config", str(config), *args],
                                cwd=ROOT, env=env, stdout=out, stderr=out)  # fmt: skip


def _run(env: dict[str, str], config: Path, *args: str, log: Path) -> None:
    if _hub(env, config, *args, log=log).wait() != 0:
        raise SystemExit(f"hub {' '.join(args)} failed: see {log}")


def _statuses(db: Path) -> Counter[str]:
    with sqlite3.connect(db, timeout=30) as conn:
        return Counter(dict(conn.execute("SELECT status, count(*) FROM message GROUP BY status")))


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
    env = {**os.environ, "HUB_DRILL_SECRET_ID": SECRET_ID, "HUB_DRILL_SECRET_KEY": SECRET_KEY,
           "HUB_DRILL_PATH_SECRET": uuid.uuid4().hex, "PYTHONPATH": str(ROOT)}  # fmt: skip
    fake = subprocess.Popen(
        [sys.executable, "-m", "channels.fakes.tencent_sms", "--port", "0",
         "--secret-id", SECRET_ID, "--secret-key", SECRET_KEY,
         "--latency-ms", str(options.latency_ms)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    try:
        assert fake.stdout is not None
        fake_url = fake.stdout.readline().decode().strip()
        data_dir = scratch / "var"
        data_dir.mkdir()
        config = scratch / "config.yaml"
        config.write_text(_CONFIG.format(
            data_dir=data_dir, redis_url=options.redis_url, prefix=f"drill{uuid.uuid4().hex[:8]}",
            fake_url=fake_url, qps=options.qps, settle=options.settle,
        ), encoding="utf-8")  # fmt: skip
        log = scratch / "hub.log"
        _run(env, config, "db", "upgrade", log=log)
        # About one contact in thirty has a second number: 0.967 enterprises per message.
        _run(env, config, "demo", "--enterprises", str(round(options.n * 0.967)), log=log)
        _run(env, config, "send", "policy_push", "--audience", "all",
             "--set", "policy_title=专精特新奖补", log=log)  # fmt: skip
        db = data_dir / "hub.db"
        total = _statuses(db)["queued"]
        began = time.monotonic()
        for wait in (options.first_kill, options.second_kill):
            before = _statuses(db)["queued"]
            workers.append(_hub(env, config, "worker", log=log))
            while _statuses(db)["queued"] == before:  # started: its first claim
                time.sleep(0.02)
            time.sleep(wait)
            workers[-1].send_signal(signal.SIGKILL)
            workers[-1].wait()
        killed = time.monotonic()
        at_kill = _statuses(db)
        workers.append(_hub(env, config, "worker", log=log))
        while True:
            counts = _statuses(db)
            if counts["queued"] + counts["sending"] == 0 or time.monotonic() - killed > 600:
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
            "unsent_at_last_kill": at_kill["queued"] + at_kill["sending"],
            "accepted": sum(accepted.values()),
            "lost": len(numbers - set(accepted)),
            "duplicates": sum(times - 1 for times in accepted.values() if times > 1),
            "seconds_after_last_kill": round(finished - killed, 1),
            "seconds_total": round(finished - began, 1),
            "final_statuses": dict(_statuses(db)),
            "unknown_sends": dict(_codes(db)),
        }
    finally:
        for proc in [*workers, fake]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
        if fake.stdout is not None:
            fake.stdout.close()


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
        result = drill(options, Path(scratch))
    if options.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0 if result["lost"] == 0 and result["duplicates"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
