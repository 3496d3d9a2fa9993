"""Benchmark credit warnings: one ``hub import credit`` of 10,000 events to warnings on the outbox.

    python benchmarks/credit_warnings.py                    # 10,000 events, SQLite, test Redis
    python benchmarks/credit_warnings.py --events 2000 --redis redis://127.0.0.1:6379/0

A fresh migrated SQLite database gets the demo departments, officers and a registry of as many
enterprises as events (``hub.devtools.demo_data``); then one credit file with one active event
per enterprise (the four types in turn) is imported through ``import_file`` (the CLI's path) and
``credit_warning.run_on_changes`` sends the warnings through the outbox (sandbox channel, so no
provider is involved): one per contact, and the officer notices. Then the same file is imported
and the program run on the first import's changes again: nothing may be created.

Redis is ``--redis URL``, else ``HUB_TEST_REDIS_URL``, else an embedded redis-server in the
scratch folder (keys under a fresh prefix). Prints one JSON line: the import and the warnings'
seconds, messages created, and the repeat's.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName
from hub.devtools.demo_data import demo_departments, demo_enterprises, demo_officers, write_csv
from hub.importing.service import import_file
from hub.infra.queue import Queue
from hub.infra.redis_server import open_redis
from hub.outbound.outbox import Outbox
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.rendering.templates import load_folder
from hub.scheduling.programs import credit_warning
from hub.scheduling.programs.base import ProgramContext
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.models import Enterprise, Message

CLOCK = FixedClock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))
TYPES = ("dishonest_debtor", "abnormal_operation", "admin_penalty", "serious_dishonesty")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


async def messages(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Message)) or 0)


async def bench(folder: Path, events: int, redis_url: str | None) -> dict[str, Any]:
    url = f"sqlite+aiosqlite:///{folder / 'hub.db'}"
    await upgrade(url)
    db = Database.open(url)
    handle = await open_redis(redis_url, data_dir=folder / "redis")
    try:
        for kind, rows in (
            ("departments", demo_departments()),
            ("officers", demo_officers()),
            ("enterprises", itertools.islice(demo_enterprises(events), events)),
        ):
            path = folder / f"{kind}.csv"
            write_csv(path, rows)
            await import_file(db, kind, path, CLOCK)  # type: ignore[arg-type]
        async with db.read() as session:
            usccs = list(await session.scalars(sa.select(Enterprise.uscc).order_by(Enterprise.id)))
        credit = folder / "credit.csv"
        header = ["event_id", "uscc", "type", "authority", "decided_on", "summary"]
        rows_ = [dict(zip(header, (f"XY-{i:06d}", uscc, TYPES[i % 4], "市市场监督管理局",
                                   "2026-10-15", "未按规定公示信息"), strict=True))
                 for i, uscc in enumerate(usccs[:events])]  # fmt: skip
        write_csv(credit, rows_)

        queue = Queue(handle.client, RedisKeys(f"b{uuid.uuid4().hex[:10]}"), clock=CLOCK)
        await queue.ensure_groups(["sandbox"])
        renderer = TemplateRenderer(load_folder(TEMPLATES).catalog)
        policy = PlanningPolicy(ChannelName.SANDBOX, frozenset({"sandbox"}))
        ctx = ProgramContext(db, Outbox(db, queue, renderer, CLOCK, policy), CLOCK)

        began = time.perf_counter()
        report = await import_file(db, "credit", credit, CLOCK)
        imported = time.perf_counter()
        assert report.changes is not None
        outcome = await credit_warning.run_on_changes(ctx, report.changes)
        warned = time.perf_counter()
        created = await messages(db)

        again = await import_file(db, "credit", credit, CLOCK)
        repeat_began = time.perf_counter()
        repeat = await credit_warning.run_on_changes(ctx, report.changes)
        repeat_seconds = time.perf_counter() - repeat_began
        if await messages(db) != created or repeat.created or again.created or again.updated:
            raise SystemExit("the repeat created messages or changed events")
        return {
            "events": report.created, "import_seconds": round(imported - began, 2),
            "warn_seconds": round(warned - imported, 2),
            "events_per_second": round(report.created / (warned - imported)),
            "messages_created": outcome.created, "skipped": outcome.skipped,
            "not_sent": dict(outcome.not_sent), "repeat_seconds": round(repeat_seconds, 2),
            "repeat_created": repeat.created, "repeat_duplicates": repeat.duplicates,
        }  # fmt: skip
    finally:
        await handle.aclose()
        await db.aclose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--redis", default=os.environ.get("HUB_TEST_REDIS_URL"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hub-credit-") as folder:
        result = asyncio.run(bench(Path(folder), args.events, args.redis))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
