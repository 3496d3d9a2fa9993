"""A simulated year: 2027, day by day, with its calendar entered, over a registry of every tier.

A clock the test controls walks every day of 2027. Each morning the day's arrivals come in as
`hub import` brings them (a CSV file through the import service, then the program the CLI sets
going on what it saved: credit_warning, policy_match) or, for every other credit event and
policy, as a POST to the API (which runs the same program); then every shipped schedule
(schedules/*.yaml, synced) is fired through the real HubScheduler at each of its fire times that
day, and held messages are released as the clock passes the morning. In the middle (15 June,
between the 08:30 and the 09:00 fires) every component is closed and reopened on the same
database and Redis: the scheduler catches up the missed fires, and the day is run once more.
The counts at the end are computed from the scenario data (tests/scheduling/programs/
year_scenario.py), not by the programs.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.credit import CreditEventStatus
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, MessageStatus
from hub.core.workdays import WorkdayCalendar
from hub.importing.service import import_file
from hub.outbound.outbox import release_held
from hub.scheduling.programs import PROGRAMS, credit_warning, policy_match
from hub.scheduling.programs.base import ProgramContext, ProgramFire, ProgramSettings
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.scheduling.schedule_store import StoredSchedule, stored_schedules, sync_schedules
from hub.scheduling.scheduler import HubScheduler
from hub.scheduling.schedules import load_schedule_file
from hub.store.db import Database
from hub.store.enterprise_data import Licence
from hub.store.messaging import Campaign, Message
from hub.tickets.staff import NewStaff, StaffRole, add_staff, issue_token
from hub.web.api import router as api_router
from tests.conftest import PROJECT_ROOT
from tests.importing.factories import make_uscc
from tests.pipeline import Hub, build, setup
from tests.scheduling.programs import year_scenario as scenario
from tests.seed import seed_registry

YEAR_START = date(2027, 1, 1)
RESTART_DAY = date(2027, 6, 15)
SEED = scenario.registry()


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


@dataclass
class Running:
    """The components of one process lifetime, as the app opens them."""

    hub: Hub
    scheduler: HubScheduler
    settings: ProgramSettings
    schedules: list[StoredSchedule]

    def context(self) -> ProgramContext:
        """What an import's program runs with (app.runtime.program_context)."""
        return ProgramContext(self.hub.db, self.hub.outbox, self.hub.clock, self.settings)


async def start(db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock) -> Running:
    hub = build(db, redis, keys, clock)
    await setup(hub)
    settings = ProgramSettings(
        calendar=WorkdayCalendar.from_years(scenario.CALENDAR_2027.years),
        public_base_url="https://hub.example.cn",
    )
    scheduler = HubScheduler(db, redis, keys, hub.outbox, clock, programs=settings)
    return Running(hub, scheduler, settings, await stored_schedules(db))


# --- arrivals, as `hub import` takes them ----------------------------------------------------


class Importer:
    """Brings the day's rows in as they arrive in production: a CSV file imported as `hub import
    KIND FILE` imports it, or, for every other credit event and policy, one POST each to
    /api/v1/credit-events and /api/v1/policies by an admin."""

    def __init__(self, folder: Path, token: str) -> None:
        self.folder = folder
        self.headers = {"Authorization": f"Bearer {token}"}
        self.files = 0

    async def __call__(self, running: Running, kind: Any, rows: list[dict[str, str]]) -> None:
        by_api = [r for r in rows if kind in API_PATHS and r[API_KEYS[kind]][-1] in "02468"]
        if by_api:
            await self.post(running, kind, by_api)
        if by_file := [r for r in rows if r not in by_api]:
            await self.import_file(running, kind, by_file)

    async def import_file(self, running: Running, kind: Any, rows: list[dict[str, str]]) -> None:
        self.files += 1
        path = self.folder / f"{kind}-{self.files}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        report = await import_file(running.hub.db, kind, path, running.hub.clock)
        assert report.rejected == 0, path.read_text(encoding="utf-8")
        assert report.changes is not None
        react = {"credit": credit_warning.run_on_changes, "policies": policy_match.run_on_changes}
        if kind in react and report.changes.changed:  # hub/cli/registry.py's _ON_CHANGES
            await react[kind](running.context(), report.changes)

    async def post(self, running: Running, kind: str, rows: list[dict[str, str]]) -> None:
        app = FastAPI()
        app.include_router(
            api_router(running.hub.db, running.hub.clock, programs=running.context())
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
            for row in rows:
                answer = await client.post(
                    API_PATHS[kind], json=api_body(kind, row), headers=self.headers
                )
                assert answer.status_code == 200, answer.text


API_PATHS = {"credit": "/api/v1/credit-events", "policies": "/api/v1/policies"}
API_KEYS = {"credit": "event_id", "policies": "policy_id"}


def api_body(kind: str, row: dict[str, str]) -> dict[str, Any]:
    """The JSON body of the API call that brings in what ``row`` says in the import file."""
    body: dict[str, Any] = {k: (v or None) for k, v in row.items()}
    if kind == "policies":
        for field in ("industries", "tiers", "regions", "stages", "tags"):
            body[field] = row[field].split(";") if row[field] else []
        body["free_apply"] = row["free_apply"] == "是"
    return body


def uscc(enterprise: int) -> str:
    return make_uscc(enterprise + 1)  # seed_registry numbers enterprises from 1


def event_row(event: scenario.Event, repaired: date | None = None) -> dict[str, str]:
    return {
        "event_id": event.event_id, "uscc": uscc(event.enterprise), "type": event.type.value,
        "authority": "市市场监督管理局",
        "decided_on": (event.arrives - timedelta(days=3)).isoformat(),
        "summary": f"事件{event.event_id}的事由",
        "status": CreditEventStatus.REPAIRED.value if repaired else CreditEventStatus.ACTIVE.value,
        "repaired_on": repaired.isoformat() if repaired else "",
    }  # fmt: skip


def policy_row(policy: scenario.PolicySpec, apply_by: date | None) -> dict[str, str]:
    return {
        "policy_id": policy.policy_id, "title": f"政策{policy.policy_id}", "summary": "扶持资金",
        "department": "市工业和信息化局", "apply_by": apply_by.isoformat() if apply_by else "",
        "free_apply": "是" if policy.free_apply else "否",
        "url": f"https://gov.example.cn/{policy.policy_id}",
        "industries": ";".join(policy.industries), "tiers": ";".join(t.value for t in policy.tiers),
        "regions": ";".join(policy.regions), "stages": ";".join(s.value for s in policy.stages),
        "tags": ";".join(policy.tags), "text": "正文",
    }  # fmt: skip


def licence_row(spec: scenario.LicenceSpec, renewed: date | None = None) -> dict[str, str]:
    return {
        "uscc": uscc(spec.enterprise), "kind": "食品经营许可证", "number": spec.number,
        "expires_on": spec.expires.isoformat(), "authority": "市市场监督管理局",
        "renewed_on": renewed.isoformat() if renewed else "",
    }  # fmt: skip


def filing_row(enterprise: int, filed: date) -> dict[str, str]:
    return {"uscc": uscc(enterprise), "year": "2026", "filed_on": filed.isoformat()}


def arrivals(day: date) -> dict[str, list[dict[str, str]]]:
    """The rows imported on the morning of ``day``, by import kind."""
    found: dict[str, list[dict[str, str]]] = {}
    for event in scenario.EVENTS:
        if day in (event.arrives, event.reimported):
            found.setdefault("credit", []).append(event_row(event))
        if day == event.repaired:
            found.setdefault("credit", []).append(event_row(event, repaired=day))
    for policy in scenario.POLICIES:
        if day == policy.arrives:
            found.setdefault("policies", []).append(policy_row(policy, policy.apply_by))
        if day == policy.changed:
            found.setdefault("policies", []).append(policy_row(policy, date(2027, 12, 31)))
    for spec in scenario.LICENCES:
        if day == spec.renewed:
            found.setdefault("licences", []).append(licence_row(spec, renewed=day))
    for i in range(scenario.SIZE):
        if scenario.filing_day(i) == day:
            found.setdefault("annual-reports", []).append(filing_row(i, day))
    return found


# --- a day ------------------------------------------------------------------------------------


async def fire_due(
    running: Running, first: datetime, last: datetime, *, again: bool = False
) -> int:
    """Fire, through the scheduler, every stored schedule's fire times in [first, last], in
    order, releasing what is held as the clock passes each; then release what is held up to
    ``last``. Returns the messages created. ``again``: the fires ran before, and the scheduler
    must answer with the earlier run, not run it again."""
    due: list[tuple[datetime, str, StoredSchedule]] = []
    for stored in running.schedules:
        trigger = stored.spec.trigger()
        fire_time = trigger.get_next_fire_time(None, first)
        while fire_time is not None and fire_time <= last:
            due.append((fire_time, stored.spec.name, stored))
            fire_time = trigger.get_next_fire_time(fire_time, fire_time + timedelta(seconds=1))
    created = 0
    released_to = first
    for fire_time, _, stored in sorted(due, key=lambda d: d[:2]):
        running.hub.clock.set(fire_time)
        if fire_time > released_to:  # the dispatcher's release pass, as the morning comes
            await release_held(running.hub.db, running.hub.queue, running.hub.clock)
            released_to = fire_time
        result = await running.scheduler.fire(stored, fire_time, require_enabled=True)
        assert (result.created, result.status) == (not again, "done"), result
        created += result.messages_created
    running.hub.clock.set(last)
    await release_held(running.hub.db, running.hub.queue, running.hub.clock)
    return created


async def morning_imports(running: Running, importer: Importer, day: date) -> None:
    running.hub.clock.set(at(day, 8))
    for kind, rows in arrivals(day).items():
        await importer(running, kind, rows)


async def rerun_programs(running: Running, day: date) -> int:
    """Run every shipped schedule's program once more for ``day``, as a manual run would."""
    created = 0
    for stored in running.schedules:
        spec = stored.spec
        fire_time = spec.trigger().get_next_fire_time(None, at(day, 0))
        if fire_time is None or fire_time.astimezone(SHANGHAI).date() != day:
            continue
        the_fire = ProgramFire(
            spec.name, fire_time, spec.audience_expr(), dict(spec.variables), spec.channel
        )
        outcome = await PROGRAMS[spec.program].run(running.context(), the_fire)
        created += outcome.created
    return created


# --- what was sent ------------------------------------------------------------------------------


async def enterprise_messages(db: Database) -> Counter[tuple[str, str, int | None]]:
    """(kind, trigger key, enterprise) -> messages to its contacts, not skipped."""
    stmt = (
        sa.select(Message.kind, Campaign.trigger_key, Message.enterprise_id)
        .join(Campaign, Message.campaign_id == Campaign.id)
        .where(Message.contact_id.is_not(None), Message.status != MessageStatus.SKIPPED)
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return Counter((kind.value, key, ent) for kind, key, ent in rows)


async def sent_days(db: Database, kind: MessageKind) -> dict[tuple[str, int | None], list[date]]:
    """(trigger key, enterprise) -> the local days its messages of ``kind`` were created."""
    stmt = (
        sa.select(Campaign.trigger_key, Message.enterprise_id, Message.created_at)
        .join(Campaign, Message.campaign_id == Campaign.id)
        .where(Message.kind == kind, Message.status != MessageStatus.SKIPPED)
    )
    found: dict[tuple[str, int | None], list[date]] = {}
    async with db.read() as session:
        for key, ent, created in (await session.execute(stmt)).all():
            found.setdefault((key, ent), []).append(created.astimezone(SHANGHAI).date())
    return found


OFFICER_NAMES = {"LL001": "李明", "LL002": "张丽娟"}  # as tests.seed registers them


async def officer_messages(db: Database) -> Counter[tuple[str, str]]:
    """(kind, officer code) -> messages to liaison officers, not skipped. A notice to an
    officer has no contact, enterprise or campaign: the greeting names him."""
    stmt = sa.select(Message.kind, Message.body).where(
        Message.contact_id.is_(None), Message.status != MessageStatus.SKIPPED
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    found: Counter[tuple[str, str]] = Counter()
    for kind, body in rows:
        [code] = [c for c, name in OFFICER_NAMES.items() if name in body]
        found[kind.value, code] += 1
    return found


# --- the year --------------------------------------------------------------------------------


# The year exercises the programs and the scheduler, not Redis versions (the programs' own tests
# run on both): one Redis keeps it under a minute in CI.
@pytest.mark.parametrize("redis_client", ["server7"], indirect=True)
async def test_a_simulated_year_sends_each_item_exactly_once_across_a_restart(
    db: Database,
    redis_client: Redis,
    redis_keys: RedisKeys,
    clock: FixedClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SECRET_ENV, "test-link-secret-0123456789abcdefghijklmnop")
    ids = await seed_registry(db, SEED)
    await add_staff(db, clock, NewStaff("admin", "管理员", StaffRole.ADMIN), actor="test")
    importer = Importer(tmp_path, await issue_token(db, clock, "admin", actor="test"))
    clock.set(at(date(2026, 12, 28), 10))
    specs = [load_schedule_file(p) for p in sorted((PROJECT_ROOT / "schedules").glob("*.yaml"))]
    await sync_schedules(db, specs, clock, actor="test")
    running = await start(db, redis_client, redis_keys, clock)
    assert {s.spec.program for s in running.schedules} == set(PROGRAMS)
    # Before the year: every licence, and the filings made in 2026.
    await importer(running, "licences", [licence_row(s) for s in scenario.LICENCES])
    await importer(running, "annual-reports", [
        filing_row(i, day) for i in range(scenario.SIZE)
        if (day := scenario.filing_day(i)) is not None and day.year == 2026
    ])  # fmt: skip

    reopened: list[Database] = []
    day = YEAR_START
    while day.year == 2027:
        await morning_imports(running, importer, day)
        if day != RESTART_DAY:
            await fire_due(running, at(day, 8, 1), at(day, 23, 59))
        else:
            await fire_due(running, at(day, 8, 1), at(day, 8, 45))
            # Down at 08:45 (the 09:00 fires missed); every component opened anew at 10:00
            # on the same database file and Redis.
            database = Database.open(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
            reopened.append(database)
            clock.set(at(day, 10))
            running = await start(database, redis_client, redis_keys, clock)
            caught = await running.scheduler.catch_up()
            # Caught up: the fires missed while down that are within their catch_up_grace.
            caught_up = {"key_contact", "ledger", "policy_push", "procedure_reminder",
                         "visit_plan", "visit_reminders"}  # fmt: skip
            assert {r.schedule for r in caught} == caught_up
            assert await running.scheduler.catch_up() == []
            # From 10:01: ledger's 10:00 fire, the moment of the restart, was caught up above.
            await fire_due(running, at(day, 10, 1), at(day, 23, 59))  # nothing more is due
            assert await rerun_programs(running, day) == 0  # the day run again: nothing new
            assert await fire_due(running, at(day, 0), at(day, 23, 59), again=True) == 0
        day += timedelta(days=1)
    try:
        await assert_the_calendar_was_kept(running)
        await assert_the_year(running.hub.db, ids)
    finally:
        for database in reopened:
            await database.aclose()


async def assert_the_calendar_was_kept(running: Running) -> None:
    """1 January (元旦) held the credit reports to Monday 4 January's morning, 1 July (a
    Thursday) sent them at once; every held message went out by the year's end."""
    [report] = [s for s in running.schedules if s.spec.program == "credit_report"]
    january = await running.scheduler.fire(report, at(date(2027, 1, 1), 9))
    assert not january.created
    assert january.detail is not None
    assert january.detail.startswith("休息日不发送，将于 01-04 09:00 发送")
    july = await running.scheduler.fire(report, at(date(2027, 7, 1), 9))
    assert july.detail is not None
    assert not july.created
    assert "休息日" not in july.detail
    async with running.hub.db.read() as session:
        held = await session.scalar(
            sa.select(sa.func.count()).where(Message.status == MessageStatus.HELD)
        )
    assert held == 0


async def assert_the_year(db: Database, ids: dict[str, int]) -> None:
    by_index = {i: ids[seed.name] for i, seed in enumerate(SEED)}
    sent = await enterprise_messages(db)
    kinds = Counter(kind for kind, _, _ in sent.elements())

    # Credit reports: exactly two per key enterprise (2026 H2 in January, 2027 H1 in July).
    reports = Counter(ent for kind, _, ent in sent.elements() if kind == "credit_report")
    key_ids = {by_index[i] for i, s in enumerate(SEED) if s.tier.value == "key"}
    assert reports == {ent: 2 for ent in key_ids}
    officers = await officer_messages(db)
    with_key = {s.officer for s in SEED if s.tier.value == "key" and s.officer}
    assert {o: n for (k, o), n in officers.items() if k == "credit_report_digest"} == {
        o: 2 for o in with_key
    }

    # Credit warnings: one warning per event, one closing notice per repaired event, to the
    # enterprise's one contact; one notice per event to its officer.
    warnings = Counter(key for kind, key, _ in sent.elements() if kind == "credit_warning")
    expected = {f"credit:{e.event_id}:warning": 1 for e in scenario.EVENTS}
    expected |= {f"credit:{e.event_id}:closed": 1 for e in scenario.EVENTS if e.repaired}
    assert warnings == expected
    for key, ent in ((k, e) for kind, k, e in sent if kind == "credit_warning"):
        event = next(e for e in scenario.EVENTS if key.startswith(f"credit:{e.event_id}:"))
        assert ent == by_index[event.enterprise]
    notices = Counter(
        SEED[e.enterprise].officer for e in scenario.EVENTS if SEED[e.enterprise].officer
    )
    assert {o: n for (k, o), n in officers.items() if k == "credit_warning"} == dict(notices)

    # Policies: each eligible enterprise gets each policy exactly once, nobody else gets it.
    policies = Counter((key, ent) for kind, key, ent in sent.elements() if kind == "policy_push")
    assert policies == {
        (f"policy:{p.policy_id}", by_index[i]): 1
        for p in scenario.POLICIES
        for i, seed in enumerate(SEED)
        if scenario.eligible(p, seed)
    }

    # Licences: one reminder at each configured offset, on that day; none after renewal.
    licence_ids = await _licence_ids(db)
    days = await sent_days(db, MessageKind.PROCEDURE_REMINDER)
    licences = {k: v for k, v in days.items() if k[0].startswith("licence:")}
    assert licences == {
        (f"licence:{licence_ids[s.number]}:{s.expires.isoformat()}:{n}d", by_index[s.enterprise]): [
            when
        ]
        for s in scenario.LICENCES
        for n, when in scenario.licence_reminders(s).items()
    }

    # Annual reports: each step's reminder once, on the step's first day, until the filing.
    annual = {k: v for k, v in days.items() if k[0].startswith("annual:")}
    assert annual == {
        (f"annual:2026:{step}", by_index[i]): [scenario.ANNUAL_STEPS[step]]
        for i in range(scenario.SIZE)
        for step in scenario.annual_reminders(i)
    }
    assert set(kinds) == {
        "credit_report", "credit_warning", "policy_push", "procedure_reminder"
    }  # fmt: skip


async def _licence_ids(db: Database) -> dict[str, int]:
    async with db.read() as session:
        return dict((await session.execute(sa.select(Licence.number, Licence.id))).all())
