"""Benchmark policy matching: 200 policies against 100,000 enterprises, to messages on the outbox.

    python benchmarks/policy_match.py                          # 100,000 x 200, SQLite, test Redis
    python benchmarks/policy_match.py --enterprises 10000 --policies 50

A fresh migrated SQLite database gets the demo departments, officers and a registry of
``--enterprises`` enterprises (the files ``hub demo`` writes). A policy file of ``--policies``
policies with varied eligibility (one to three of: industries, tiers, regions, stages, tags, drawn
from the demo registry's values; a few open to everyone) is imported through ``import_file`` (the
CLI's path), and ``policy_match.run_on_changes`` sends each policy to the enterprises it is for
through the outbox (sandbox channel: no provider involved); contacts at their daily cap
(``routing.max_per_contact_per_day``, 3 by default) are deferred, not skipped. Then the daily
fire runs again the same day (``policy_match.run``): the reached are left out and the deferred
are still at their cap, so it must create nothing, and its time is what a day's fire costs.

Also timed: the eligibility alone, one ``COUNT`` per policy (the SQL a match is), so the
matching can be told apart from the outbox's planning, rendering and storing.
Redis is ``--redis URL``, else ``HUB_TEST_REDIS_URL``, else an embedded redis-server in the
scratch folder (keys under a fresh prefix). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
from hub.core.vocab import ChannelName, Stage, Tier
from hub.devtools.demo_data import INDUSTRIES, REGIONS, write_csv
from hub.devtools.demo_load import write_demo_files
from hub.importing.service import import_file
from hub.infra.queue import Queue
from hub.infra.redis_server import open_redis
from hub.outbound.outbox import Outbox
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.rendering.templates import load_folder
from hub.scheduling.programs import policy_match
from hub.scheduling.programs.base import ProgramContext, ProgramFire
from hub.store.db import Database
from hub.store.enterprise_data import Policy
from hub.store.migrate import upgrade
from hub.store.models import Enterprise, Message

CLOCK = FixedClock(datetime(2027, 1, 4, 2, 0, tzinfo=UTC))  # a Monday, 10:00 in Shanghai
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TAGS = ("规上企业", "高新技术企业", "专精特新", "科技型中小企业", "小微企业", "外贸企业",
        "招商引资项目", "首贷户")  # fmt: skip
HEADER = ["policy_id", "title", "apply_by", "free_apply", "url", "industries", "tiers",
          "regions", "stages", "tags"]  # fmt: skip


def policy_rows(count: int, seed: int = 2027) -> list[dict[str, str]]:
    """``count`` policies, each restricting one to three fields (every tenth: none)."""
    rng = random.Random(seed)
    choices: dict[str, list[str]] = {
        "industries": list(INDUSTRIES), "tiers": [t.value for t in Tier], "regions": list(REGIONS),
        "stages": [s.value for s in Stage], "tags": list(TAGS),
    }  # fmt: skip
    rows = []
    for n in range(count):
        fields = [] if n % 10 == 0 else rng.sample(list(choices), rng.randint(1, 3))
        values = {f: ";".join(rng.sample(choices[f], rng.randint(1, 2))) for f in fields}
        rows.append({
            "policy_id": f"ZC-2027-{n:04d}", "title": f"2027年度惠企政策第{n + 1}项",
            "apply_by": "2027-06-30", "free_apply": "是" if n % 4 == 0 else "否",
            "url": f"https://zwfw.example.gov.cn/zc/{n}",
            **{f: values.get(f, "") for f in choices},
        })  # fmt: skip
    return rows


async def count(db: Database, table: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(table)) or 0)


async def eligibility_seconds(db: Database) -> tuple[float, int]:
    """One COUNT per policy over the registry: the matching alone, and its total matches."""
    began = time.perf_counter()
    matched = 0
    async with db.read() as session:
        for policy in await session.scalars(sa.select(Policy)):
            where = policy_match.eligibility(policy).where()
            stmt = sa.select(sa.func.count()).select_from(Enterprise).where(where)
            matched += int(await session.scalar(stmt) or 0)
    return time.perf_counter() - began, matched


async def bench(folder: Path, enterprises: int, policies: int, redis_url: str | None) -> Any:
    url = f"sqlite+aiosqlite:///{folder / 'hub.db'}"
    await upgrade(url)
    db = Database.open(url)
    handle = await open_redis(redis_url, data_dir=folder / "redis")
    try:
        # The registry as `hub demo` writes it (departments, officers, enterprises), not its
        # enterprise data: the policies are this benchmark's own.
        demo = write_demo_files(folder / "demo", enterprises=enterprises, today=CLOCK.now().date())
        for kind in ("departments", "officers", "enterprises"):
            await import_file(db, kind, demo[kind], CLOCK)
        path = folder / "policies.csv"
        write_csv(path, policy_rows(policies))

        queue = Queue(handle.client, RedisKeys(f"b{uuid.uuid4().hex[:10]}"), clock=CLOCK)
        await queue.ensure_groups(["sandbox"])
        renderer = TemplateRenderer(load_folder(TEMPLATES).catalog)
        planning = PlanningPolicy(ChannelName.SANDBOX, frozenset({"sandbox"}))
        ctx = ProgramContext(db, Outbox(db, queue, renderer, CLOCK, planning), CLOCK)

        report = await import_file(db, "policies", path, CLOCK)
        assert report.changes is not None
        matching, matched = await eligibility_seconds(db)
        began = time.perf_counter()
        sent = await policy_match.run_on_changes(ctx, report.changes)
        send_seconds = time.perf_counter() - began
        created = await count(db, Message)

        began = time.perf_counter()
        daily = await policy_match.run(ctx, ProgramFire("policy_push", CLOCK.now()))
        daily_seconds = time.perf_counter() - began
        if daily.created or await count(db, Message) != created:
            raise SystemExit("the daily fire after the import created messages")
        return {
            "enterprises": enterprises, "policies": report.created, "matches": matched,
            "eligibility_seconds": round(matching, 2),
            "send_seconds": round(send_seconds, 1), "messages_created": sent.created,
            "skipped": sent.skipped, "deferred": sent.not_sent.get(policy_match.DEFERRED, 0),
            "messages_per_second": round(sent.created / send_seconds),
            "daily_seconds": round(daily_seconds, 2), "daily_created": daily.created,
        }  # fmt: skip
    finally:
        await handle.aclose()
        await db.aclose()


def main(argv: list[str] | None = None) -> int:
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in (("--enterprises", 100_000), ("--policies", 200)):
        options.add_argument(name, type=int, default=default)
    options.add_argument("--redis", default=os.environ.get("HUB_TEST_REDIS_URL"))
    args = options.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hub-policies-") as scratch:
        figures = asyncio.run(bench(Path(scratch), args.enterprises, args.policies, args.redis))
    print(json.dumps(figures, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
