"""The admin pages at city size: 100,000 enterprises and 50,000 tickets on SQLite (issue 15).

    python benchmarks/admin_pages.py                      # 100,000 enterprises, 50,000 tickets
    python benchmarks/admin_pages.py --enterprises 20000 --tickets 10000 --runs 5 --json

The rows are written in bulk (SQLAlchemy Core inserts of 5,000 rows) into a migrated SQLite
file: departments with industries, officers, enterprises (5% key, 25% general, 70% ordinary),
one contact each, tickets over the last 120 days in every state with their ``created`` and
``resolved`` events and ratings (some malicious), two messages per enterprise over 40 days
(every channel and status, some held by quiet hours), replies, and this quarter's visits of the
key and general enterprises. Then each page's data is timed ``--runs`` times (the median and
the slowest are printed), for an admin (everything) and for a handler (one department):

- ``dashboard``: :func:`hub.queries.dashboard.read_dashboard` and the quarter's
  :func:`hub.reports.visits.visit_compliance`, as the page reads them;
- ``GET /admin/dashboard``: the whole page through the app (signed in through the form, as the
  admin and as the handler), HTML included.

The target is 300 ms per page.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import (
    ChannelName,
    DepartmentRole,
    MessageKind,
    MessageStatus,
    Stage,
    TicketEventType,
    TicketState,
    Tier,
    Urgency,
    VisitStatus,
)
from hub.core.workdays import WorkdayCalendar
from hub.outbound.quiet_hours import QUIET_REASON_PREFIX
from hub.queries.dashboard import read_dashboard
from hub.queries.scope import Visibility
from hub.queries.tickets import TicketScope
from hub.reports.visits import visit_compliance
from hub.store.db import Database
from hub.store.migrate import upgrade
from hub.store.models import (
    Contact,
    Department,
    Enterprise,
    InboundReply,
    Message,
    Officer,
    Rating,
    Staff,
    Ticket,
    TicketEvent,
    Visit,
)
from hub.tickets.staff import StaffRole
from hub.visits.periods import period_of
from hub.visits.settings import default_tiers

NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)  # Wednesday 10:00 in Shanghai
CLOCK = FixedClock(NOW)
DEPARTMENTS = 12
OFFICERS = 200
REGIONS = ("龙沙区", "建华区", "铁锋区", "昂昂溪区", "富拉尔基区", "碾子山区", "梅里斯区", "讷河市")
CHUNK = 5_000
ADMIN = "bench-admin"
PASSWORD = "bench-password-2026"
OPEN = (TicketState.NEW, TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.REOPENED)


def _industry(n: int) -> str:
    return f"行业{n:02d}"


async def _insert(db: Database, table: Any, rows: Iterator[dict[str, Any]]) -> int:
    """Insert ``rows`` in chunks of :data:`CHUNK` (one transaction each)."""
    written = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            written += await _write(db, table, chunk)
            chunk = []
    if chunk:
        written += await _write(db, table, chunk)
    return written


async def _write(db: Database, table: Any, chunk: list[dict[str, Any]]) -> int:
    async with db.write() as session:
        await session.execute(sa.insert(table), chunk)
    return len(chunk)


def _stamp(at: datetime) -> dict[str, datetime]:
    return {"created_at": at, "updated_at": at}


async def build(db: Database, enterprises: int, tickets: int, seed: int) -> dict[str, int]:
    """Write the city's rows (module docstring); the counts written, by table."""
    rng = random.Random(seed)
    made: dict[str, int] = {}
    made["department"] = await _insert(db, Department.__table__, (
        {"id": d + 1, "code": f"D{d:02d}", "name": f"市第{d + 1}局",
         "role": DepartmentRole.DEPARTMENT,
         "industries": f"{_industry(2 * d)};{_industry(2 * d + 1)}",
         **_stamp(NOW)}
        for d in range(DEPARTMENTS)
    ))  # fmt: skip
    made["staff"] = await _insert(db, Staff.__table__, (
        {"id": d + 1, "username": f"h{d}", "name": f"承办人{d}", "role": StaffRole.HANDLER.value,
         "department_id": d + 1, **_stamp(NOW)}
        for d in range(DEPARTMENTS)
    ))  # fmt: skip
    made["staff"] += await _insert(db, Staff.__table__, iter([
        {"username": ADMIN, "name": "管理员", "role": StaffRole.ADMIN.value, **_stamp(NOW)}
    ]))  # fmt: skip
    made["officer"] = await _insert(db, Officer.__table__, (
        {"id": o + 1, "code": f"LL{o:03d}", "name": f"联络员{o}", **_stamp(NOW)}
        for o in range(OFFICERS)
    ))  # fmt: skip
    tiers = rng.choices(list(Tier), weights=(5, 25, 70), k=enterprises)
    made["enterprise"] = await _insert(db, Enterprise.__table__, (
        {"id": e + 1, "uscc": f"91230200{e:010d}", "name": f"第{e}号企业有限公司",
         "tier": tiers[e], "industry": _industry(e % (2 * DEPARTMENTS)),
         "region": REGIONS[e % len(REGIONS)], "stage": Stage.OPERATING,
         "officer_id": e % OFFICERS + 1, **_stamp(NOW - timedelta(days=400))}
        for e in range(enterprises)
    ))  # fmt: skip
    made["contact"] = await _insert(db, Contact.__table__, (
        {"id": e + 1, "enterprise_id": e + 1, "natural_key": f"+86139{e:08d}",
         "name": f"联系人{e}", "mobile": f"+86139{e:08d}", **_stamp(NOW - timedelta(days=400))}
        for e in range(enterprises)
    ))  # fmt: skip
    made |= await _tickets(db, rng, enterprises, tickets)
    made |= await _messages(db, rng, enterprises)
    made["visit"] = await _visits(db, rng, tiers)
    return made


async def _tickets(
    db: Database, rng: random.Random, enterprises: int, count: int
) -> dict[str, int]:
    tickets: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    ratings: list[dict[str, Any]] = []
    for t in range(count):
        received = NOW - timedelta(minutes=rng.randrange(120 * 24 * 60))
        deadline = received + timedelta(days=rng.choice((1, 3, 7, 21, 42)))
        state = rng.choices(list(TicketState), weights=(5, 10, 10, 10, 60, 5))[0]
        enterprise = rng.randrange(enterprises) + 1
        resolved = None
        if state in (TicketState.RESOLVED, TicketState.CLOSED):
            resolved = min(received + timedelta(hours=rng.randrange(1, 24 * 30)), NOW)
        closed = resolved + timedelta(days=1) if state is TicketState.CLOSED and resolved else None
        tickets.append({
            "id": t + 1, "number": f"GD2026{t:07d}", "enterprise_id": enterprise,
            "contact_id": enterprise, "department_id": None if state is TicketState.NEW
            else (enterprise - 1) % (2 * DEPARTMENTS) // 2 + 1,
            "subject": f"诉求{t}", "body": "企业诉求内容", "urgency": Urgency.GENERAL,
            "state": state, "received_at": received, "deadline_at": deadline,
            "resolved_at": resolved, "closed_at": closed,
            "close_reason": "rated" if closed else None, "channel": ChannelName.SMS,
            **_stamp(received),
        })  # fmt: skip
        events.append({"ticket_id": t + 1, "type": TicketEventType.CREATED, "actor": "bench",
                       "at": received, "data": {}})  # fmt: skip
        if resolved is not None:
            events.append({"ticket_id": t + 1, "type": TicketEventType.RESOLVED, "actor": "h",
                           "at": resolved, "data": {}})  # fmt: skip
        if closed is not None:
            ratings.append({"ticket_id": t + 1, "contact_id": enterprise,
                            "score": rng.choices((5, 4, 3, 2, 1), weights=(50, 25, 12, 8, 5))[0],
                            "at": closed, "malicious": rng.random() < 0.01})  # fmt: skip
    return {
        "ticket": await _insert(db, Ticket.__table__, iter(tickets)),
        "ticket_event": await _insert(db, TicketEvent.__table__, iter(events)),
        "rating": await _insert(db, Rating.__table__, iter(ratings)),
    }


async def _messages(db: Database, rng: random.Random, enterprises: int) -> dict[str, int]:
    release = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    statuses = list(MessageStatus)
    channels = (ChannelName.SMS, ChannelName.WECHAT, ChannelName.WECOM, ChannelName.SANDBOX)

    def messages() -> Iterator[dict[str, Any]]:
        for m in range(2 * enterprises):
            at = NOW - timedelta(minutes=rng.randrange(40 * 24 * 60))
            status = rng.choices(statuses, weights=(2, 1, 1, 30, 60, 3, 2, 1))[0]
            held = status is MessageStatus.HELD
            yield {
                "id": m + 1, "idempotency_key": f"bench-{m}", "kind": MessageKind.POLICY_PUSH,
                "enterprise_id": m % enterprises + 1, "contact_id": m % enterprises + 1,
                "channel": rng.choice(channels), "address": "+8613900000000", "status": status,
                "status_reason": f"{QUIET_REASON_PREFIX}（21:00–08:00），将于 11-26 08:00 发送"
                if held else None,
                "body": "【主动服务】政策推送", "params": {}, "attempts": 1,
                "next_attempt_at": release if held else None, **_stamp(at),
            }  # fmt: skip

    def replies() -> Iterator[dict[str, Any]]:
        for r in range(enterprises // 5):
            yield {
                "channel": ChannelName.SMS, "provider": "tencent", "provider_msg_id": f"r{r}",
                "sender": "+8613900000000", "text": "收到", "raw": {},
                "received_at": NOW - timedelta(minutes=rng.randrange(40 * 24 * 60)),
                "enterprise_id": r * 5 % enterprises + 1,
            }  # fmt: skip

    return {
        "message": await _insert(db, Message.__table__, messages()),
        "inbound_reply": await _insert(db, InboundReply.__table__, replies()),
    }


async def _visits(db: Database, rng: random.Random, tiers: list[Tier]) -> int:
    quarter = period_of(NOW.astimezone(SHANGHAI).date(), 3).label
    half = period_of(NOW.astimezone(SHANGHAI).date(), 6).label

    def visits() -> Iterator[dict[str, Any]]:
        for e, tier in enumerate(tiers):
            if tier is Tier.ORDINARY:
                continue
            done = rng.random() < 0.6
            yield {
                "enterprise_id": e + 1, "officer_id": e % OFFICERS + 1,
                "period": quarter if tier is Tier.KEY else half,
                "status": VisitStatus.DONE if done else VisitStatus.PLANNED,
                "visited_at": NOW - timedelta(days=rng.randrange(1, 50)) if done else None,
                "details": {}, "slots": [], **_stamp(NOW - timedelta(days=60)),
            }  # fmt: skip

    return await _insert(db, Visit.__table__, visits())


Timed = Callable[[], Awaitable[object]]


async def timings(job: Timed, runs: int) -> dict[str, float]:
    """Median and slowest of ``runs`` calls, in ms (one warm-up call first), wall clock and the
    process's CPU time (every thread: aiosqlite's included), which a machine shared with other
    work inflates far less than the wall clock."""
    await job()
    wall, cpu = [], []
    for _ in range(runs):
        began, began_cpu = time.perf_counter(), time.process_time()
        await job()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return {"median_ms": round(statistics.median(wall), 1), "max_ms": round(max(wall), 1),
            "cpu_median_ms": round(statistics.median(cpu), 1)}  # fmt: skip


def dashboard_jobs(db: Database) -> dict[str, Timed]:
    """The dashboard's reads, as an admin and as the first department's handler."""
    handler = TicketScope.for_staff(
        role=StaffRole.HANDLER, username="h0", department_id=1, business_office=False,
        visibility=Visibility(frozenset({_industry(0), _industry(1)})),
    )  # fmt: skip
    quarter = period_of(NOW.astimezone(SHANGHAI).date(), 3)

    async def compliance() -> object:
        async with db.read() as session:
            return await visit_compliance(
                session, quarter, tiers=default_tiers(), calendar=WorkdayCalendar(),
                today=NOW.astimezone(SHANGHAI).date(),
            )  # fmt: skip

    return {
        "dashboard figures (admin)": lambda: read_dashboard(db, TicketScope.operator(), NOW),
        "dashboard figures (handler)": lambda: read_dashboard(db, handler, NOW),
        "visit compliance, quarter": compliance,
    }


@contextlib.asynccontextmanager
async def built_city(
    folder: Path, enterprises: int, tickets: int, seed: int
) -> AsyncIterator[tuple[Database, dict[str, int]]]:
    """A migrated SQLite database in ``folder`` holding the city :func:`build` makes, and the
    rows it made; closed on leaving."""
    url = f"sqlite+aiosqlite:///{folder / 'hub.db'}"
    await upgrade(url)
    db = Database.open(url)
    try:
        yield db, await build(db, enterprises, tickets, seed)
    finally:
        await db.aclose()


async def page_timings(
    db: Database, folder: Path, jobs_of: Callable[[Any], dict[str, Timed]], runs: int
) -> dict[str, Any]:
    """:func:`timings` of each page ``jobs_of(client)`` names, signed in as :data:`ADMIN`."""
    async with signed_in_app(db, folder) as (_app, client):
        return {label: await timings(job, runs) for label, job in jobs_of(client).items()}


@contextlib.asynccontextmanager
async def signed_in_app(db: Database, folder: Path) -> AsyncIterator[tuple[Any, Any]]:
    """The hub's app (admin mounted, embedded Redis for sessions) and a client signed in as
    :data:`ADMIN` through the sign-in form. Imported here: FastAPI only where pages are timed."""
    from prometheus_client import CollectorRegistry

    from hub.core.keys import RedisKeys
    from hub.infra.redis_server import open_redis
    from hub.web.app import create_app

    handle = await open_redis(None, data_dir=folder / "redis")
    try:
        app = create_app(db, handle.client, metrics=CollectorRegistry(), clock=CLOCK,
                         keys=RedisKeys("bench-admin"))  # fmt: skip
        async with signed_in_client(app, db, ADMIN) as client:
            yield app, client
    finally:
        await handle.aclose(stop_server=True)


@contextlib.asynccontextmanager
async def signed_in_client(app: Any, db: Database, username: str) -> AsyncIterator[Any]:
    """A client of ``app`` signed in as ``username`` (given :data:`PASSWORD` first)."""
    import re

    import httpx

    from hub.tickets.staff_passwords import set_password

    await set_password(db, CLOCK, username, PASSWORD, actor="bench", min_length=8)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        form = (await client.get("/admin/login")).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert token is not None
        signed = await client.post("/admin/login", data={
            "csrf_token": token.group(1), "username": username, "password": PASSWORD,
            "next": ""})  # fmt: skip
        assert signed.status_code == 303, signed.text
        yield client


async def fetch(client: Any, path: str) -> object:
    """GET ``path`` with a signed-in client; anything but 200 ends the benchmark."""
    response = await client.get(path)
    if response.status_code != 200:
        raise SystemExit(f"{path}: {response.status_code}")
    return response


def page_jobs(app: Any, client: Any) -> dict[str, Timed]:
    """Each admin page, fetched whole (HTML) by the signed-in admin."""

    async def get(path: str) -> object:
        response = await client.get(path)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code}")
        return response

    # The tickets workbench: build numbers tickets GD2026 + 7 digits, ids 1..N, newest first.
    tickets = {
        "GET /admin/tickets": "/admin/tickets",
        "GET /admin/tickets?state=in_progress": "/admin/tickets?state=in_progress",
        "GET /admin/tickets?q=<enterprise>": "/admin/tickets?q=第1234号企业",
        "GET /admin/tickets?q=<number>": "/admin/tickets?q=GD20260001234",
        "GET /admin/tickets?overdue=1": "/admin/tickets?overdue=1",
        "GET /admin/tickets?before=<page 2>": "/admin/tickets?before=49951",
        "GET /admin/tickets/<number>": "/admin/tickets/GD20260001234",
    }
    return {"GET /admin/dashboard": lambda: get("/admin/dashboard")} | {
        name: (lambda path=path: get(path)) for name, path in tickets.items()
    }


async def bench(folder: Path, enterprises: int, tickets: int, runs: int, seed: int) -> Any:
    began = time.perf_counter()
    async with built_city(folder, enterprises, tickets, seed) as (db, made):
        build_seconds = round(time.perf_counter() - began, 1)
        results = {name: await timings(job, runs) for name, job in dashboard_jobs(db).items()}
        async with signed_in_app(db, folder) as (app, client):
            # The visit count the page shows is kept and recounted in the background: counted
            # once first, as a running hub has it (timed above, "visit compliance").
            from hub.web.admin.dashboard import compliance_cache

            await compliance_cache(app.state, app.state.admin).refresh()
            for name, job in page_jobs(app, client).items():
                results[name] = await timings(job, runs)
            async with signed_in_client(app, db, "h0") as handler:  # the first department's
                results["GET /admin/dashboard (handler)"] = await timings(
                    lambda: fetch(handler, "/admin/dashboard"), runs
                )
        return {"rows": made, "build_seconds": build_seconds, "runs": runs, "timings": results}


BenchFn = Callable[[Path, int, int, int, int], Awaitable[dict[str, Any]]]


def run_bench(
    argv: list[str] | None, description: str, bench: BenchFn, prefix: str, *, runs: int = 9
) -> int:
    """The admin page benchmarks' command line: build the city in a temporary folder, run
    ``bench(folder, enterprises, tickets, runs, seed)``, print its timings (or ``--json``)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--tickets", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=runs, help="timed calls per page (median)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        result = asyncio.run(
            bench(Path(folder), args.enterprises, args.tickets, args.runs, args.seed)
        )
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    built = f" (built in {result['build_seconds']} s)" if "build_seconds" in result else ""
    print(f"rows: {result['rows']}{built}")
    width = max((len(name) for name in result["timings"]), default=0)
    for name, figures in result["timings"].items():
        median, slowest, cpu = figures["median_ms"], figures["max_ms"], figures["cpu_median_ms"]
        print(f"{name:{width}} median {median:7.1f} ms   max {slowest:7.1f} ms"
              f"   cpu median {cpu:7.1f} ms")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    """Build the rows, time the pages' reads, print the figures."""
    return run_bench(argv, __doc__.splitlines()[0], bench, "hub-admin-bench-")


if __name__ == "__main__":
    sys.exit(main())
