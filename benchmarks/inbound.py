"""Inbound benchmark: replies/s through the Tencent SMS reply webhook to a classified record.

    python benchmarks/inbound.py                      # 5,000 replies from 1,000 enterprises
    python benchmarks/inbound.py --n 20000 --json     # one JSON object on stdout
    python benchmarks/inbound.py --keep /tmp/inbound  # keep the scratch dir (config, logs, db)
    python benchmarks/inbound.py --database-url "$HUB_TEST_POSTGRES_URL" \
        --redis-url "$HUB_TEST_REDIS_URL"             # on PostgreSQL and a Redis server
    python benchmarks/inbound.py --profile /tmp/prof  # each hub api/worker under cProfile

What runs, all on this machine, in a scratch directory: a fresh SQLite database (or, with
``--database-url``, a fresh database of this run's own on that PostgreSQL server, dropped
afterwards), migrated, with
``--enterprises`` demo enterprises imported (``hub import``, setup, not measured); Redis embedded
(or ``--redis-url``); the Tencent SMS fake in its own process (the acknowledgements the hub
sends go there); ``hub api`` (uvicorn: the webhook) and ``hub worker`` processes (the inbound
worker beside the dispatcher), exactly as deployed. This process plays Tencent's servers: it
POSTs reply callbacks (``/webhooks/sms/tencent/<secret>/reply``) over real HTTP.

Replies come from the imported contacts' mobiles: mostly free-text requests (a new ticket, or
appended to the enterprise's open one within the append window, plus a ``ticket_ack`` SMS
back), some progress queries, help and bare digits (requests, nothing awaits a rating).

Figures:
- ``replies_per_s``: replies ÷ (first POST → last reply classified, ``classified_at``), with
  ``--concurrency`` requests in flight: ingest and classify together, end to end;
- ``webhook_per_s``: the webhook's own acceptance rate in the same run;
- ``p99_webhook_ms`` (and p50/p95): webhook response time of a second, paced run offering half
  of ``replies_per_s`` (``--paced-share``; open loop: each request leaves at its scheduled
  time), and ``p99_classified_ms``: receipt → classified in that run;
- ``commits`` of each run: the webhook's group commits (batches, mean replies a batch) and
  where their time went, p50/p99/max ms: ``lock_wait`` (``BEGIN IMMEDIATE`` waiting for the
  SQLite writer lock; on PostgreSQL a pooled connection and ``BEGIN``), ``hold`` (statements
  and ``COMMIT``), ``push`` (the inbound stream, after the commit);
- ``new_ticket_share``: the share of the throughput run's replies that opened a ticket (the
  rest: appended to the enterprise's open ticket, queries, help). 71 % of the replies are
  requests, but a contact's second request within the append window joins its open ticket:
  with the default 1,000 enterprises and ``--n 3000`` about 32 % open one. Issue 17's mix
  (70 % new tickets) needs each contact to reply once: ``--enterprises`` at least ``--n``;
- ``processes``: peak RSS (``VmHWM``) and CPU seconds of each ``hub api`` / ``hub worker``
  child at the end of the runs, and ``cpu_ms_per_reply``: its CPU from the first request on
  (start-up excluded) ÷ the replies of both runs.

``--profile DIR`` runs each ``hub api`` and ``hub worker`` child under cProfile (a thread-CPU
timer: the main thread's CPU, not its waits) and counts its SQL statements (SQLAlchemy
``before_cursor_execute``: every statement incl. ``BEGIN`` and ``SAVEPOINT``) and commits:
``DIR/<role>.prof``, ``DIR/<role>.sql.json`` and a summary (``DIR/summary.txt``: each
process's top functions by cumulative time); the JSON gains ``profile``: statements and
commits per reply of each process. Profiled rates are slower.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import pstats
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.fakes.tencent_sms_push import reply_event
from hub.app.config import load_settings
from hub.devtools import processes
from hub.devtools.bench import SIGN_NAME, bench_config, secret_env, tencent_fake_options
from hub.devtools.bench_measure import cpu_seconds, peak_rss_mb
from hub.devtools.demo_data import demo_departments, demo_enterprises, demo_officers, write_csv
from hub.devtools.scratch_database import scratch_postgres
from hub.infra.redis_server import EMBEDDED, EmbeddedRedis, start_embedded
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.models import Contact, InboundReply, Ticket

PACED_SECONDS = 15.0  # of traffic in the latency run
STALL_SECONDS = 60.0  # no reply classified for this long: the run failed
DATABASE_URL_ENV = "HUB_BENCH_DATABASE_URL"
_TEXTS = (
    "请问{n}号厂房的用电增容申请什么时候能批下来",
    "我们企业想了解一下今年的稳岗补贴怎么申请，第{n}次咨询",
    "厂区门口道路破损严重，影响货车进出，编号{n}",
    "招工难，希望帮忙对接职业院校，岗位{n}个",
    "查询进度",
    "帮助",
    "{d}",
)
#: A ``hub`` child as ``hub ROLE`` runs, writing ``$HUB_INBOUND_TAG.batches.json`` when it stops
#: (SIGTERM at the run's end): each group commit of the webhooks' replies (``ReplyAccepter``),
#: as ``[began_at, replies, lock_wait_s, hold_s, push_s]``. With ``HUB_INBOUND_PROFILE=1``
#: it runs under cProfile with a thread-CPU timer (waits in epoll are not CPU) and counts its
#: SQL statements and commits: ``$HUB_INBOUND_TAG.prof`` and ``.sql.json``. With
#: ``HUB_INBOUND_LOCKS=1`` it writes ``.locks.json``: each SQLite write transaction as
#: ``[released_at, held_s]`` (from ``BEGIN IMMEDIATE`` returned to ``COMMIT``/``ROLLBACK``).
#: ``HUB_INBOUND_WORKER_BUDGET`` = "seconds,minimum": the inbound worker's transaction budget
#: and smallest chunk, for trying other values than the worker's defaults.
_CHILD_ENTRY = """
import cProfile, collections, json, os, sys, time
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from hub.inbound import accept_batch
tag = os.environ["HUB_INBOUND_TAG"]
profiled = os.environ.get("HUB_INBOUND_PROFILE") == "1"
holds = []
if os.environ.get("HUB_INBOUND_LOCKS") == "1":
    @sa.event.listens_for(Engine, "after_cursor_execute")
    def _locked(conn, cursor, statement, params, context, executemany):
        if statement.startswith("BEGIN IMMEDIATE"):
            conn.info["bench_locked"] = time.perf_counter()
    @sa.event.listens_for(Engine, "commit")
    @sa.event.listens_for(Engine, "rollback")
    def _released(conn):
        locked = conn.info.pop("bench_locked", None)
        if locked is not None:
            holds.append([time.time(), time.perf_counter() - locked])
if os.environ.get("HUB_INBOUND_WORKER_BUDGET"):
    from hub.inbound import worker
    budget, smallest = os.environ["HUB_INBOUND_WORKER_BUDGET"].split(",")
    worker.MIN_PER_TRANSACTION = int(smallest)
    _worker_init = worker.InboundWorker.__init__
    def _budgeted(self, *args, **kwargs):
        _worker_init(self, *args, **{**kwargs, "transaction_budget_s": float(budget)})
    worker.InboundWorker.__init__ = _budgeted
accepters = []
_init = accept_batch.ReplyAccepter.__init__
def _kept(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    accepters.append(self)
accept_batch.ReplyAccepter.__init__ = _kept
counts = collections.Counter()
if profiled:
    @sa.event.listens_for(Engine, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, executemany):
        counts["statements"] += 1
        counts["executemany" if executemany else "single"] += 1
        counts[statement.split(None, 1)[0].upper()] += 1
    @sa.event.listens_for(Engine, "commit")
    def _commit(conn):
        counts["commits"] += 1
from hub.cli import main
profile = cProfile.Profile(time.thread_time) if profiled else None
try:
    code = profile.runcall(main) if profile else main()
finally:
    if profile:
        profile.dump_stats(tag + ".prof")
        with open(tag + ".sql.json", "w") as file:
            json.dump(dict(counts), file)
    with open(tag + ".batches.json", "w") as file:
        json.dump([[t.began_at, t.replies, t.lock_wait_s, t.hold_s, t.push_s]
                   for a in accepters for t in a.stats.timings], file)
    with open(tag + ".locks.json", "w") as file:
        json.dump(holds, file)
sys.exit(code)
"""


class Bench:
    """One run: setup, the throughput run, the paced run, teardown."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        self.data_dir = scratch / "var"
        self.config = scratch / "config.yaml"
        self.env = processes.environment(**secret_env())
        self.path_secret = self.env["HUB_BENCH_PATH_SECRET"]
        self.procs: list[processes.Child] = []
        self.embedded: EmbeddedRedis | None = None
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.sent = 0
        self.roles: dict[str, processes.Child] = {}
        self.tags: dict[str, Path] = {}  # each child's files: <tag>.batches.json, ...
        self.cpu_at_start: dict[str, float] = {}

    async def run(self) -> dict[str, Any]:
        if self.args.database_url is None:
            return await self.measure()
        # PostgreSQL: a database of this run's own on the server, dropped afterwards; its URL
        # reaches the children by environment, so no password lands in the config file.
        async with scratch_postgres(self.args.database_url) as url:
            self.env[DATABASE_URL_ENV] = url
            return await self.measure()

    async def measure(self) -> dict[str, Any]:
        fake_url = await self.start_fake()
        config = bench_config(
            data_dir=self.data_dir, redis_url=self.args.redis_url or EMBEDDED,
            prefix=f"inb{secrets.token_hex(3)}", fake_url=fake_url, qps=100_000,
            # The webhook and the workers write one SQLite file: wait for a lock, do not fail.
            bypass=["ticket_ack"], busy_timeout_ms=30_000, sections=_sections(self.port),
            storage_url=None if self.args.database_url is None else f"${{{DATABASE_URL_ENV}}}",
        )  # fmt: skip
        self.config.write_text(config, encoding="utf-8")
        settings = load_settings(self.config, env=self.env)
        self.data_dir.mkdir(exist_ok=True)
        await upgrade(settings.database_url)
        await self.import_registry()
        if self.args.redis_url is None:
            self.embedded = await asyncio.to_thread(start_embedded, self.data_dir / "redis")
        db = Database.open(settings.database_url)
        try:
            async with db.read() as session:
                mobiles = [m for m in (await session.scalars(sa.select(Contact.mobile))).all() if m]
            await self.start_hub()
            self.cpu_at_start = {r: cpu_seconds(c.pid) for r, c in self.roles.items()}
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.args.concurrency)
            ) as http:
                first_window = time.time()
                first = await self.throughput(http, db, mobiles)
                second_window = time.time()
                rate = self.args.paced_rate or max(
                    1.0, first["replies_per_s"] * self.args.paced_share
                )
                count = int(min(self.args.n, rate * PACED_SECONDS))
                second = await self.paced(http, db, mobiles, rate, count)
                end_window = time.time()
            usage = self.usage()
        finally:
            await self.stop()
            await db.aclose()
            if self.embedded is not None:
                await asyncio.to_thread(self.embedded.stop)
        batches = _read_batches(self.tags["api"])
        first["commits"] = commit_summary(batches, first_window, second_window)
        second["commits"] = commit_summary(batches, second_window, end_window)
        if self.args.lock_holds:
            for run, since, until in ((first, first_window, second_window),
                                      (second, second_window, end_window)):  # fmt: skip
                run["lock_held_ms"] = {role: lock_holds(tag, since, until)
                                       for role, tag in self.tags.items()}  # fmt: skip
        report = {"n": self.args.n, "enterprises": self.args.enterprises,
                  "concurrency": self.args.concurrency, "workers": self.args.workers,
                  **first, "paced": second, "p99_webhook_ms": second["p99_webhook_ms"],
                  "processes": usage, "database": db.dialect,
                  "redis": "embedded" if self.args.redis_url is None else "server"}  # fmt: skip
        if self.args.profile is not None:
            report["profile"] = profile_summary(self.args.profile, self.sent)
        return report

    def usage(self) -> dict[str, dict[str, float]]:
        """Each hub child's peak RSS and CPU so far (read while it still runs), and its CPU
        per reply sent once it had started (start-up excluded)."""
        usage = {}
        for role, child in self.roles.items():
            cpu = cpu_seconds(child.pid)
            serving = cpu - self.cpu_at_start.get(role, 0.0)
            usage[role] = {
                "peak_rss_mb": peak_rss_mb(child.pid),
                "cpu_s": round(cpu, 2),
                "cpu_ms_per_reply": round(serving * 1000 / max(1, self.sent), 3),
            }
        return usage

    # --- set-up -----------------------------------------------------------------------------

    async def start_fake(self) -> str:
        fake, url = await asyncio.to_thread(
            processes.start_fake, "tencent_sms", *tencent_fake_options(self.env), "--no-record",
            env=self.env, log=self.scratch / "fake.log",
        )  # fmt: skip
        self.procs.append(fake)
        return url

    async def import_registry(self) -> None:
        rows = list(demo_enterprises(self.args.enterprises, 20261123))[: self.args.enterprises]
        files = {"departments": demo_departments(), "officers": demo_officers(),
                 "enterprises": rows}  # fmt: skip
        for kind, data in files.items():
            path = self.scratch / f"{kind}.csv"
            write_csv(path, data)
            log = self.scratch / f"import-{kind}.log"
            await asyncio.to_thread(processes.run_hub, "--config", str(self.config), "import",
                                    kind, str(path), env=self.env, log=log)  # fmt: skip

    async def start_hub(self) -> None:
        config = ("--config", str(self.config))
        roles = {"api": "api", **{f"worker-{n}": "worker" for n in range(self.args.workers)}}
        for log, role in roles.items():
            argv = [sys.executable, "-c", _CHILD_ENTRY, *config, role]
            self.tags[log] = (
                self.scratch if self.args.profile is None else self.args.profile
            ) / log
            env = {**self.env, "HUB_INBOUND_TAG": str(self.tags[log])}
            if self.args.profile is not None:
                env["HUB_INBOUND_PROFILE"] = "1"
            if self.args.lock_holds:
                env["HUB_INBOUND_LOCKS"] = "1"
            if self.args.worker_budget is not None:
                env["HUB_INBOUND_WORKER_BUDGET"] = self.args.worker_budget
            log_file = self.scratch / f"{log}.log"
            child = processes.start_process(argv, env=env, log=log_file)
            self.procs.append(child)
            self.roles[log] = child
        healthz = f"{self.base}/healthz"
        await asyncio.to_thread(processes.wait_for_http, healthz, children=self.procs)
        await asyncio.sleep(1.0)  # the workers' groups and first claims

    async def stop(self) -> None:
        """SIGTERM: each role finishes its batch and exits."""
        await asyncio.to_thread(processes.stop_all, self.procs)

    # --- the runs ---------------------------------------------------------------------------

    async def post(self, http: aiohttp.ClientSession, mobile: str) -> float:
        """One reply callback as Tencent sends it; the response time in ms."""
        n = self.sent
        self.sent += 1
        text = _TEXTS[n % len(_TEXTS)].format(n=n, d=n % 5 + 1)
        # ``extend`` keeps two equal texts from one number in one second distinct replies.
        event = reply_event(mobile, text, at=int(time.time()), sign=SIGN_NAME, extend=str(n))
        url = f"{self.base}/webhooks/sms/tencent/{self.path_secret}/reply"
        began = time.perf_counter()
        async with http.post(url, json=event) as answer:
            body = await answer.json(content_type=None)
            if answer.status != 200 or body.get("result") != 0:
                raise RuntimeError(f"webhook answered {answer.status}: {body}")
        return (time.perf_counter() - began) * 1000

    async def throughput(
        self, http: aiohttp.ClientSession, db: Database, mobiles: Sequence[str]
    ) -> dict[str, Any]:
        say(f"throughput: {self.args.n} replies, {self.args.concurrency} in flight")
        queue: asyncio.Queue[str] = asyncio.Queue()
        for i in range(self.args.n):
            queue.put_nowait(mobiles[i % len(mobiles)])
        times: list[float] = []

        async def client() -> None:
            while not queue.empty():
                times.append(await self.post(http, queue.get_nowait()))

        started = datetime.now(UTC)
        began = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(self.args.concurrency)))
        accepted_s = time.perf_counter() - began
        done = await self.classified(db, started, self.args.n)
        total_s = (done["last"] - started).total_seconds()
        return {"replies_per_s": round(self.args.n / total_s, 1),
                "webhook_per_s": round(self.args.n / accepted_s, 1),
                "total_s": round(total_s, 2), "classes": done["classes"],
                "new_tickets": done["new_tickets"],
                "new_ticket_share": round(done["new_tickets"] / self.args.n, 3),
                "throughput_webhook_p99_ms": round(_percentile(times, 0.99), 1)}  # fmt: skip

    async def paced(
        self, http: aiohttp.ClientSession, db: Database, mobiles: Sequence[str], rate: float,
        count: int,
    ) -> dict[str, Any]:  # fmt: skip
        say(f"paced: {count} replies at {rate:.0f}/s")
        started = datetime.now(UTC)
        began = time.perf_counter()

        async def at(i: int) -> float:
            await asyncio.sleep(max(0.0, began + i / rate - time.perf_counter()))
            return await self.post(http, mobiles[(self.sent + i) % len(mobiles)])

        times = sorted(await asyncio.gather(*(at(i) for i in range(count))))
        done = await self.classified(db, started, count)
        return {"rate_per_s": round(rate, 1), "replies": count,
                "p50_webhook_ms": round(_percentile(times, 0.50), 1),
                "p95_webhook_ms": round(_percentile(times, 0.95), 1),
                "p99_webhook_ms": round(_percentile(times, 0.99), 1),
                "max_webhook_ms": round(times[-1], 1),
                "p99_classified_ms": done["p99_lag_ms"]}  # fmt: skip

    async def classified(self, db: Database, since: datetime, count: int) -> dict[str, Any]:
        """Wait until the ``count`` replies received since ``since`` are all classified; an
        error when none more was classified for :data:`STALL_SECONDS` (a slow run on a loaded
        machine still finishes)."""
        query = sa.select(sa.func.count()).where(
            InboundReply.received_at >= since, InboundReply.classified_at.is_not(None)
        )
        done, progressed = -1, time.monotonic()
        while done < count:
            async with db.read() as session:
                now_done = await session.scalar(query) or 0
            if now_done > done:
                done, progressed = now_done, time.monotonic()
            elif time.monotonic() - progressed > STALL_SECONDS:
                raise RuntimeError(
                    f"{done} of {count} replies classified, none more for {STALL_SECONDS:.0f} s "
                    f"(see {self.scratch})"
                )
            if done < count:
                await asyncio.sleep(0.2)
        async with db.read() as session:
            rows = (await session.execute(
                sa.select(InboundReply.received_at, InboundReply.classified_at,
                          InboundReply.classification).where(InboundReply.received_at >= since)
            )).all()  # fmt: skip
            new_tickets = await session.scalar(
                sa.select(sa.func.count(Ticket.id))
                .join(InboundReply, Ticket.source_reply_id == InboundReply.id)
                .where(InboundReply.received_at >= since)
            )
        lags = sorted((r.classified_at - r.received_at).total_seconds() * 1000 for r in rows)
        classes: dict[str, int] = {}
        for r in rows:
            key = str(r.classification) if r.classification else "failed"
            classes[key] = classes.get(key, 0) + 1
        return {"last": max(r.classified_at for r in rows), "classes": classes,
                "new_tickets": new_tickets or 0,
                "p99_lag_ms": round(_percentile(lags, 0.99), 1)}  # fmt: skip


def _read_batches(tag: Path, suffix: str = ".batches.json") -> list[list[float]]:
    """A child's group commits or lock holds (see :data:`_CHILD_ENTRY`); none without a file."""
    path = tag.with_name(tag.name + suffix)
    if not path.exists():
        return []
    batches: list[list[float]] = json.loads(path.read_text(encoding="utf-8"))
    return batches


def lock_holds(tag: Path, since: float, until: float) -> dict[str, Any]:
    """How long a child's SQLite write transactions that ended in a run held the lock, in ms."""
    held = [h[1] * 1000 for h in _read_batches(tag, ".locks.json") if since <= h[0] < until]
    if not held:
        return {"transactions": 0}
    return {"transactions": len(held), "p50": round(_percentile(held, 0.5), 1),
            "p99": round(_percentile(held, 0.99), 1), "max": round(max(held), 1),
            "sum_s": round(sum(held) / 1000, 2)}  # fmt: skip


def commit_summary(
    batches: Sequence[Sequence[float]], since: float, until: float
) -> dict[str, Any]:
    """Where the group commits of a run spent their time, in ms: waiting for the write lock,
    holding it (statements and COMMIT), pushing to the stream; p50/p99/max of each."""
    run = [b for b in batches if since <= b[0] < until]
    if not run:
        return {"batches": 0}
    mean = sum(b[1] for b in run) / len(run)
    summary: dict[str, Any] = {"batches": len(run), "mean_replies": round(mean, 2)}
    for index, name in ((2, "lock_wait"), (3, "hold"), (4, "push")):
        values = [b[index] * 1000 for b in run]
        summary[name] = {"p50": round(_percentile(values, 0.50), 1),
                         "p99": round(_percentile(values, 0.99), 1),
                         "max": round(max(values), 1)}  # fmt: skip
    return summary


def profile_summary(folder: Path, replies: int) -> dict[str, Any]:
    """Each profiled process's SQL statements and commits, in all and per reply; its top
    functions by cumulative time go to ``folder/summary.txt``."""
    report: dict[str, Any] = {}
    with (folder / "summary.txt").open("w", encoding="utf-8") as summary:
        for counts_file in sorted(folder.glob("*.sql.json")):
            role = counts_file.name.removesuffix(".sql.json")
            counts = json.loads(counts_file.read_text(encoding="utf-8"))
            report[role] = {
                "statements": counts.get("statements", 0),
                "commits": counts.get("commits", 0),
                "statements_per_reply": round(counts.get("statements", 0) / max(1, replies), 2),
                "commits_per_reply": round(counts.get("commits", 0) / max(1, replies), 2),
                "by_kind": {k: v for k, v in sorted(counts.items())
                            if k not in ("statements", "commits")},
            }  # fmt: skip
            prof = folder / f"{role}.prof"
            if prof.exists():
                summary.write(f"===== {role} =====\n")
                pstats.Stats(str(prof), stream=summary).sort_stats("cumulative").print_stats(40)
    return report


def _sections(port: int) -> str:
    """What this run adds to the bench config: the webhook's port, the tickets' departments."""
    return (
        f"web: {{host: 127.0.0.1, port: {port}}}\n"
        "tickets: {default_department: FGW, business_office_department: YSJ}\n"
    )


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def say(text: str) -> None:
    sys.stderr.write(f"[inbound] {text}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5_000, help="replies in the throughput run")
    parser.add_argument("--enterprises", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--workers", type=int, default=1, help="hub worker processes")
    parser.add_argument("--redis-url", default=None, help="a Redis server (default: embedded)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server (postgresql+asyncpg://…): the run creates a "
        "database of its own there and drops it (default: SQLite)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run each hub api/worker under cProfile, counting SQL; files here",
    )
    parser.add_argument(
        "--paced-share",
        type=float,
        default=0.5,
        help="the paced run offers this share of the throughput run's replies/s",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=None,
        help="the paced run offers this many replies/s (instead of --paced-share)",
    )
    parser.add_argument(
        "--lock-holds",
        action="store_true",
        help="report how long each process's SQLite write transactions held the lock",
    )
    parser.add_argument(
        "--worker-budget",
        default=None,
        metavar="SECONDS,MIN",
        help="try the inbound worker with this transaction budget and smallest chunk",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the scratch dir here")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.database_url is not None and not args.database_url.startswith("postgresql+asyncpg://"):
        parser.error("--database-url: a postgresql+asyncpg:// URL")
    if args.profile is not None:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="hub-inbound-")) if args.keep is None else args.keep
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        report = asyncio.run(Bench(args, scratch).run())
    except BaseException:
        say(f"failed: the logs are kept in {scratch}")  # a failed run's logs say why
        raise
    if args.keep is None:
        shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        paced = report["paced"]
        print(
            f"{report['n']} replies: {report['replies_per_s']} replies/s stored and classified "
            f"(webhook alone {report['webhook_per_s']}/s, {report['total_s']} s)"
        )
        print(
            f"at {paced['rate_per_s']}/s: webhook p50 {paced['p50_webhook_ms']} ms, "
            f"p99 {paced['p99_webhook_ms']} ms; received→classified p99 "
            f"{paced['p99_classified_ms']} ms"
        )
        print(
            f"classes: {report['classes']}; new tickets: {report['new_tickets']} "
            f"({report['new_ticket_share']:.0%} of the replies)"
        )
        for role, usage in report["processes"].items():
            print(f"{role}: peak RSS {usage['peak_rss_mb']} MB, CPU {usage['cpu_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
