"""The admin's own pages at city size: the audit log page over a large log, and the cost a
signed-in page pays for its session (Redis) and its staff and password checks (issue 15).

    python benchmarks/admin_audit_page.py                  # 300,000 audit entries
    python benchmarks/admin_audit_page.py --entries 50000 --runs 5 --json

A migrated SQLite file gets ``--entries`` audit entries (bulk Core inserts: 200 actors, 30
actions, one entry a minute back from now, one actor much rarer than the others), Redis is the
embedded server in a temporary folder. Then, signed in as an admin through the real form, each
request is timed ``--runs`` times (median and slowest, milliseconds): the password page (the
session and the checks, little else), the audit page unfiltered, by a common and a rare
actor, by action, by a day, and its second page. The target is 300 ms per page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import open_redis
from hub.store.db import Database
from hub.store.migrate import upgrade_sync
from hub.store.models import AuditLog
from hub.tickets.staff import NewStaff, StaffRole, add_staff
from hub.tickets.staff_passwords import set_password
from hub.web.app import create_app

NOW = datetime(2027, 3, 15, 2, 0, tzinfo=UTC)
PASSWORD = "benchmark-password"
_BATCH = 5000


async def _fill(db: Database, entries: int) -> None:
    rows: list[dict[str, Any]] = []
    async with db.write() as session:
        for n in range(entries):
            actor = "rare-actor" if n % 10_000 == 0 else f"staff-{n % 200:03d}"
            rows.append({"at": NOW - timedelta(minutes=entries - n), "actor": actor,
                         "action": f"thing.action_{n % 30:02d}", "target_type": "ticket",
                         "target_id": f"T{n}", "detail": {"n": n}})  # fmt: skip
            if len(rows) == _BATCH:
                await session.execute(sa.insert(AuditLog), rows)
                rows = []
        if rows:
            await session.execute(sa.insert(AuditLog), rows)


async def _timed(client: httpx.AsyncClient, path: str, runs: int) -> dict[str, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


async def run(entries: int, runs: int, folder: Path) -> dict[str, Any]:
    path = folder / "hub.db"
    upgrade_sync(f"sqlite+aiosqlite:///{path}")
    db = Database.open(f"sqlite+aiosqlite:///{path}")
    handle = await open_redis(None, data_dir=folder / "redis", client_name="bench-admin")
    clock = FixedClock(NOW)
    try:
        await add_staff(db, clock, NewStaff("boss", "管理员", StaffRole.ADMIN), actor="bench")
        await set_password(db, clock, "boss", PASSWORD, actor="bench", min_length=8)
        started = time.perf_counter()
        await _fill(db, entries)
        fill_s = time.perf_counter() - started
        app = create_app(db, handle.client, metrics=CollectorRegistry(), clock=clock,
                         keys=RedisKeys("bench-admin"))  # fmt: skip
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            form = await client.get("/admin/login")
            token = form.text.split('name="csrf_token" value="')[1].split('"')[0]
            signed = await client.post("/admin/login", data={
                "csrf_token": token, "username": "boss", "password": PASSWORD})  # fmt: skip
            assert signed.status_code == 303, signed.text
            first = await client.get("/admin/audit")
            before = first.text.split("before=")[1].split('"')[0]
            day = (NOW - timedelta(days=2)).astimezone().date().isoformat()
            pages = {
                "password_page": "/admin/account/password",
                "audit": "/admin/audit",
                "audit_common_actor": "/admin/audit?actor=staff-007",
                "audit_rare_actor": "/admin/audit?actor=rare-actor",
                "audit_action": "/admin/audit?action=thing.action_05",
                "audit_one_day": f"/admin/audit?date_from={day}&date_to={day}",
                "audit_page_2": f"/admin/audit?before={before}",
            }
            timings = {name: await _timed(client, p, runs) for name, p in pages.items()}
    finally:
        await handle.aclose()
        await db.aclose()
    return {"entries": entries, "fill_seconds": round(fill_s, 1), "runs": runs,
            "pages": timings}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        result = asyncio.run(run(args.entries, args.runs, Path(folder)))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['entries']} audit entries (filled in {result['fill_seconds']} s), "
          f"{result['runs']} runs each:")  # fmt: skip
    for name, figures in result["pages"].items():
        print(f"  {name:<20} median {figures['median_ms']:>7} ms   max {figures['max_ms']:>7} ms")


if __name__ == "__main__":
    main()
