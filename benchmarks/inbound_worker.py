"""The inbound worker alone: stored replies classified and applied per second, SQL per reply.

    python benchmarks/inbound_worker.py                 # 3,000 replies from 1,000 enterprises
    python benchmarks/inbound_worker.py --n 3000 --per-transaction 100 --json
    python benchmarks/inbound_worker.py --database-url postgresql+asyncpg://…/db  # on PostgreSQL

What ``benchmarks/inbound.py`` measures end to end (webhook + worker on one SQLite file), without
the webhook: the replies are stored first (:func:`hub.inbound.accept.accept_reply`, as a webhook
stores them, not measured), then ONE production worker (:func:`hub.app.runtime.inbound_worker`,
built from the same config as ``hub worker``) drains the stream. The texts and the senders are
``inbound.py``'s (requests, progress queries, help, bare digits, from the demo enterprises'
contacts in turn), so the 1,000-enterprise default gives its mix of ~70 % new tickets.

Figures: ``replies_per_s`` (first claim → stream drained, the SQLite pause between chunks
included), ``cpu_ms_per_reply`` (the process's CPU over the drain, every thread: the event
loop's and aiosqlite's; ``main_thread_ms_per_reply`` the event loop's alone), and the SQL the
worker's engine executed per reply (SQLAlchemy ``Engine`` events: every statement including
``BEGIN``/``SAVEPOINT``, and the commits), by first keyword.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import json
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.inbound import _TEXTS as TEXTS  # the same mix as the end-to-end run
from channels.base import InboundReply
from hub.app.config import load_settings
from hub.app.runtime import inbound_worker, open_components
from hub.core.vocab import ChannelName
from hub.devtools import processes
from hub.devtools.bench import bench_config, secret_env
from hub.devtools.demo_data import demo_departments, demo_enterprises, demo_officers, write_csv
from hub.devtools.scratch_database import scratch_postgres
from hub.inbound.accept import accept_reply
from hub.infra.redis_server import EMBEDDED, start_embedded
from hub.store.migrate import upgrade
from hub.store.models import Contact
from hub.store.models import InboundReply as StoredReply


class StatementCounter:
    """Counts what every SQLAlchemy engine of this process executes (the appendix's wrapper)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        #: Every statement's first 70 characters, counted (``--statements``).
        self.texts: collections.Counter[str] = collections.Counter()
        sa.event.listen(Engine, "before_cursor_execute", self._statement)
        sa.event.listen(Engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any,
                   executemany: bool) -> None:  # fmt: skip
        self.counts["statements"] += 1
        self.counts[statement.split(None, 1)[0].upper()] += 1
        self.texts[" ".join(statement.split())[:70]] += 1

    def _commit(self, conn: Any) -> None:
        self.counts["commits"] += 1

    def reset(self) -> None:
        self.counts.clear()
        self.texts.clear()


async def run_on(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """The run on SQLite, or on a scratch database of the PostgreSQL server named."""
    if not args.database_url:
        return await run(args, scratch)
    async with scratch_postgres(args.database_url) as url:
        return await run(argparse.Namespace(**{**vars(args), "database_url": url}), scratch)


async def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    env = processes.environment(**secret_env())
    data_dir = scratch / "var"
    data_dir.mkdir(exist_ok=True)
    embedded = None
    if args.redis_url is None:
        embedded = await asyncio.to_thread(start_embedded, data_dir / "redis")
    config = scratch / "config.yaml"
    config.write_text(bench_config(
        data_dir=data_dir, redis_url=args.redis_url or EMBEDDED,
        prefix=f"inw{secrets.token_hex(3)}", fake_url="http://127.0.0.1:9", qps=100_000,
        bypass=["ticket_ack"], busy_timeout_ms=30_000,
        sections="tickets: {default_department: FGW, business_office_department: YSJ}\n",
    ), encoding="utf-8")  # fmt: skip
    if args.database_url:
        sqlite = f'url: "sqlite+aiosqlite:///{data_dir}/hub.db"'
        text = config.read_text(encoding="utf-8").replace(sqlite, f'url: "{args.database_url}"')
        config.write_text(text, encoding="utf-8")
    try:
        settings = load_settings(config, env=env)
        await upgrade(settings.database_url)
        import_registry(args, scratch, config, env)
        counter = StatementCounter()
        async with open_components(settings) as hub:
            worker = inbound_worker(hub, consumer="bench-worker")
            if args.per_transaction:
                worker.per_transaction = args.per_transaction
            if args.budget is not None:
                worker.transaction_budget_s = args.budget or None
            async with hub.db.read() as session:
                mobiles = [m for m in (await session.scalars(sa.select(Contact.mobile))) if m]
            say(f"storing {args.n} replies")
            for n in range(args.n):
                text = TEXTS[n % len(TEXTS)].format(n=n, d=n % 5 + 1)
                sender = mobiles[n % len(mobiles)]
                reply = InboundReply(provider="tencent", provider_msg_id=f"b-{n}",
                                     sender=sender, text=text, raw={})  # fmt: skip
                await accept_reply(hub.db, hub.queue, hub.clock, ChannelName.SMS, reply)
            await worker.refresh_knowledge()
            say(f"draining with per_transaction={worker.per_transaction}")
            counter.reset()
            # CPU, not wall: the machine is shared (the thread timer leaves out waiting).
            profile = cProfile.Profile(time.thread_time) if args.profile else None
            if profile is not None:
                profile.enable()
            began = time.perf_counter()
            cpu_began, main_began = time.process_time(), time.thread_time()
            handled = 0
            while batch := await worker.run_once(block_ms=1):
                handled += len(batch)
            elapsed = time.perf_counter() - began
            cpu_s, main_s = time.process_time() - cpu_began, time.thread_time() - main_began
            if profile is not None:
                profile.disable()
                profile.dump_stats(str(args.profile))
            counts = dict(counter.counts)
            top = counter.texts.most_common(args.statements)
            async with hub.db.read() as session:
                classes = dict((str(c), int(n)) for c, n in (await session.execute(
                    sa.select(StoredReply.classification, sa.func.count())
                    .group_by(StoredReply.classification)
                )).all())  # fmt: skip
    finally:
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)
    per_reply = {k: round(v / max(1, handled), 2) for k, v in sorted(counts.items())}
    return {"n": args.n, "handled": handled, "enterprises": args.enterprises,
            "per_transaction": worker.per_transaction,
            "budget_s": getattr(worker, "transaction_budget_s", None), "seconds": round(elapsed, 2),
            "replies_per_s": round(handled / elapsed, 1), "cpu_s": round(cpu_s, 2),
            "cpu_ms_per_reply": round(1000 * cpu_s / max(1, handled), 3),
            "main_thread_ms_per_reply": round(1000 * main_s / max(1, handled), 3),
            "sql_per_reply": per_reply,
            "classes": classes,
            "statements": {text: round(n / max(1, handled), 2) for text, n in top},
            "database": "postgresql" if args.database_url else "sqlite"}  # fmt: skip


def import_registry(args: argparse.Namespace, scratch: Path, config: Path,
                    env: dict[str, str]) -> None:  # fmt: skip
    rows = list(demo_enterprises(args.enterprises, 20261123))[: args.enterprises]
    files = {"departments": demo_departments(), "officers": demo_officers(), "enterprises": rows}
    for kind, data in files.items():
        path = scratch / f"{kind}.csv"
        write_csv(path, data)
        processes.run_hub("--config", str(config), "import", kind, str(path), env=env,
                          log=scratch / f"import-{kind}.log")  # fmt: skip


def say(text: str) -> None:
    print(f"[inbound-worker] {text}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3_000, help="replies stored, then drained")
    parser.add_argument("--enterprises", type=int, default=1_000, help="demo enterprises")
    parser.add_argument(
        "--per-transaction",
        type=int,
        default=0,
        help="replies per write transaction (default: the worker's own)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds a chunk should hold the lock (0: always --per-transaction; default: the "
        "worker's own)",
    )
    parser.add_argument("--redis-url", default=None, help="a Redis server (default: embedded)")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server: the run makes a scratch database there (default: SQLite)",
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the scratch dir here")
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        help="also list the N most frequent statements, per reply",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="write a cProfile of the drain (the worker's main thread, CPU time) here",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="hub-inbound-worker-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        report = asyncio.run(run_on(args, scratch))
    finally:
        if args.keep is None:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
