"""Issue 14's simulated year: 2027 walked day by day over ten enterprises of every tier and three
liaison officers, the visit-cycle schedules fired by the scheduler at their cron times and the
people answering, phoning and recording between the fires (tests/visits/year_support.py).

Run 1, everyone cooperates: each enterprise picks a slot of each proposal by SMS, each officer
records each visit done on its day and phones the key enterprises each key-contact task lists.
Then each key enterprise has exactly 4 visits done, each general 2, each ordinary 1, none on a
day off; each key enterprise was contacted in each of the 12 months; 12 ledgers and 2 work
reports were written under data_dir/reports and delivered to the office (each ledger by the
25th); and every kind of message was sent exactly as many times as the people's acts call for.

Run 2: some enterprises never answer some proposals (for one, the officer given the no-answer
task agrees a time by phone), one answers with another time ("下周二上午可以"), some officers
record visits not done (made up later, once past the quarter) or record nothing, and two officers
let a month's key-contact task lie. The compliance
figures (hub.reports.visits.visit_compliance) by tier, officer and region for each quarter,
half-year and the year, the monthly contact coverage, and the no-answer tasks match what the
simulation did, counted from its own journal.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, MessageStatus, Tier, VisitStatus
from hub.reports.visits import STATES, VisitCompliance, VisitFigures, visit_compliance
from hub.scheduling.programs import key_contact
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.store.db import Database
from hub.store.models import Visit
from hub.visits.contact import monthly_contact
from hub.visits.periods import parse_period
from hub.visits.settings import default_tiers
from hub.visits.tasks import NO_ANSWER_TASK
from tests.visits.year_support import (
    CALENDAR,
    FIRM,
    FIRMS,
    LAST_DAY,
    OFFICE_HEAD_MOBILE,
    OFFICER_BY_MOBILE,
    OFFICERS,
    Journal,
    Script,
    World,
    at,
    messages,
    mobile_of,
    open_world,
    walk,
)

TIERS = default_tiers()
MONTHS = [f"2027-{m:02d}" for m in range(1, 13)]
#: Each tier's visit periods of 2027, written out (the cadence: quarter, half-year, year).
CADENCE = {
    Tier.KEY: {
        "2027Q1": (date(2027, 1, 1), date(2027, 3, 31)),
        "2027Q2": (date(2027, 4, 1), date(2027, 6, 30)),
        "2027Q3": (date(2027, 7, 1), date(2027, 9, 30)),
        "2027Q4": (date(2027, 10, 1), date(2027, 12, 31)),
    },
    Tier.GENERAL: {
        "2027H1": (date(2027, 1, 1), date(2027, 6, 30)),
        "2027H2": (date(2027, 7, 1), date(2027, 12, 31)),
    },
    Tier.ORDINARY: {"2027": (date(2027, 1, 1), date(2027, 12, 31))},
}
REPORT_PERIODS = ("2027Q1", "2027Q2", "2027Q3", "2027Q4", "2027H1", "2027H2", "2027")
PER_FIRM = {Tier.KEY: 4, Tier.GENERAL: 2, Tier.ORDINARY: 1}
#: Days each fire is repeated on (tests/visits/year_support.walk): January (the plan, the first
#: proposals, answers, reminders, the first key-contact tasks, the ledger of December and the
#: 2026H2 work report) and 20 February, a make-up Saturday with a visit.
AGAIN_ON = frozenset({date(2027, 1, d) for d in range(1, 32)} | {date(2027, 2, 20)})


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(SECRET_ENV, "test-link-secret-0123456789abcdefghijklmnop")
    return tmp_path / "data"


# --- expected, from the journal and the calendar alone ------------------------------------------


def workday_before(day: date) -> date:
    day -= timedelta(days=1)
    while not CALENDAR.is_workday(day):
        day -= timedelta(days=1)
    return day


def workdays_after(moment: datetime, n: int) -> datetime:
    """The same local time ``n`` working days after ``moment``'s day."""
    local = moment.astimezone(SHANGHAI)
    day = local.date()
    while n:
        day += timedelta(days=1)
        n -= CALENDAR.is_workday(day)
    return datetime.combine(day, local.timetz())


def contact_day(month: str) -> date:
    """The first working day on or after the month's 20th (visits.contact_by_day)."""
    day = date.fromisoformat(f"{month}-20")
    while not CALENDAR.is_workday(day):
        day += timedelta(days=1)
    return day


def month_of(moment: datetime) -> str:
    return f"{moment.astimezone(SHANGHAI):%Y-%m}"


def contacted(journal: Journal, month: str, before: datetime | None = None) -> set[str]:
    """The firms the people contacted in ``month`` (before ``before``)."""
    return {name for name, moment, _ in journal.contacts
            if month_of(moment) == month and (before is None or moment < before)}  # fmt: skip


def expected_contact_tasks(journal: Journal) -> list[tuple[str, str, frozenset[str]]]:
    """One task per officer and month whose key firms were not all contacted by the key_contact
    fire (09:00) of the month's contact day, listing those."""
    found = []
    for month in MONTHS:
        cutoff = at(contact_day(month), time(9))
        reached = contacted(journal, month, cutoff)
        for officer in OFFICERS:
            mine = [f.name for f in FIRMS if f.officer == officer and f.tier is Tier.KEY]
            left = frozenset(name for name in mine if name not in reached)
            if left:
                found.append((officer, month, left))
    return found


#: One row of figures: "due" and the count of each state (on_time, late, missed, in_progress,
#: not_yet_due), a state no visit is in counting as 0.
Figures = Counter[str]


def as_figures(f: VisitFigures) -> Figures:
    return Counter({"due": f.due, **{state: getattr(f, state) for state in STATES}})


def expected_compliance(journal: Journal, label: str, today: date) -> dict[str, dict[str, Figures]]:
    """The figures of report period ``label`` on ``today``: total, by tier, officer, region."""
    period = parse_period(label)
    rows: dict[str, dict[str, Figures]] = {"total": {}, "tier": {}, "officer": {}, "region": {}}
    for firm in FIRMS:
        for visit_period, (first, last) in CADENCE[firm.tier].items():
            if first > period.last or last < period.first:
                continue
            key = (firm.name, visit_period)
            done = journal.done.get(key)
            if done is not None:
                state = "on_time" if done.astimezone(SHANGHAI).date() <= last else "late"
            elif first > today:
                state = "not_yet_due"
            elif last < today or key in journal.not_done:
                state = "missed"
            else:
                state = "in_progress"
            for part, name in (("total", ""), ("tier", firm.tier.value),
                               ("officer", firm.officer), ("region", firm.region)):  # fmt: skip
                rows[part].setdefault(name, Counter()).update(("due", state))
    return rows


def actual_compliance(report: VisitCompliance) -> dict[str, dict[str, Figures]]:
    return {
        "total": {"": as_figures(report.total)},
        "tier": {f.code: as_figures(f) for f in report.by_tier if f.due},
        "officer": {f.code: as_figures(f) for f in report.by_officer},
        "region": {f.name: as_figures(f) for f in report.by_region},
    }


async def assert_compliance(db: Database, journal: Journal, label: str, today: date) -> None:
    async with db.read() as session:
        report = await visit_compliance(
            session, parse_period(label), tiers=TIERS, calendar=CALENDAR, today=today
        )
    assert actual_compliance(report) == expected_compliance(journal, label, today), (label, today)
    # Contact coverage of the key firms, each month of the period begun by today.
    for month in report.contact:
        reached = contacted(journal, month.month)
        keys = [f for f in FIRMS if f.tier is Tier.KEY]
        assert (month.total.total, sorted(month.total.not_contacted)) == (
            len(keys),
            sorted(f.name for f in keys if f.name not in reached),
        ), month.month
        assert {o.code: o.contacted for o in month.by_officer} == {
            code: sum(f.name in reached for f in keys if f.officer == code) for code in OFFICERS
        }, month.month


# --- what the hub sent -------------------------------------------------------------------------


def reminder_moments(journal: Journal) -> Counter[str]:
    """Per officer: the reminders due by the year's end, two per appointment (the working day
    before at 15:00, the day itself at 08:00)."""
    end = at(LAST_DAY, time(23, 59))
    found: Counter[str] = Counter()
    for appointment in journal.appointments:
        day = appointment.when.astimezone(SHANGHAI).date()
        before = at(workday_before(day), time(15))
        assert appointment.answered_at < before  # agreed at least a working day ahead
        for moment in (before, at(day, time(8))):
            found[FIRM[appointment.key[0]].officer] += moment <= end
    return +found


def no_answer_tasks(journal: Journal, script: Script) -> Counter[str]:
    """Per firm: the tasks due by the year's end, one per proposal left unanswered 3 working
    days (visits.answer_within_workdays) after it went, sent at the next visit_reminders fire
    (08:00 or 15:00)."""
    last_fire = at(LAST_DAY, time(15))
    return Counter(
        key[0]
        for (_, proposed_at), key in journal.proposals.items()
        if key in script.silent and workdays_after(proposed_at, 3) <= last_fire
    )


async def assert_messages(world: World, *, reports: int) -> None:
    """Every kind exactly as often as the people's acts call for, to the right person."""
    journal = world.journal
    sent = await messages(world.db)
    assert all(status is not MessageStatus.HELD for *_, status in sent)
    kinds = Counter(kind for kind, *_ in sent)
    contact_tasks = expected_contact_tasks(journal)
    silent_tasks = no_answer_tasks(journal, world.script)
    visits = sum(PER_FIRM[f.tier] for f in FIRMS)
    assert len(journal.proposals) == visits + len(journal.not_done)  # one more per not done
    assert kinds == +Counter(
        {
            MessageKind.VISIT_PROPOSAL: len(journal.proposals),
            MessageKind.VISIT_UPDATE: sum(not a.by_phone for a in journal.appointments),
            MessageKind.VISIT_REMINDER: sum(reminder_moments(journal).values()),
            MessageKind.OFFICER_TASK: len(contact_tasks) + sum(silent_tasks.values()),
            MessageKind.REPORT_DELIVERY: reports,
        }
    )
    # Proposals to each firm's contact, one per proposal shown; reminders to the right officer.
    by_mobile = {mobile_of(f): f.name for f in FIRMS}
    proposals = Counter(by_mobile[a] for k, a, *_ in sent if k is MessageKind.VISIT_PROPOSAL)
    assert proposals == Counter(key[0] for key in journal.proposals.values())
    reminders = Counter(OFFICER_BY_MOBILE[a] for k, a, *_ in sent
                        if k is MessageKind.VISIT_REMINDER)  # fmt: skip
    assert reminders == reminder_moments(journal)
    # The key-contact tasks: one per officer and month with a key firm not contacted by the
    # contact day, listing exactly those; the no-answer tasks: the silent firms' proposals.
    assert sorted(journal.contact_tasks) == sorted(contact_tasks)
    silent = Counter(
        next(f.name for f in FIRMS if f.name in body)
        for k, _, _, body, _ in sent
        if k is MessageKind.OFFICER_TASK and NO_ANSWER_TASK in body
    )
    assert silent == silent_tasks
    assert all(key_contact.TASK in body or NO_ANSWER_TASK in body
               for k, _, _, body, _ in sent if k is MessageKind.OFFICER_TASK)  # fmt: skip


async def done_visits(db: Database) -> list[tuple[int, str, datetime | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(Visit.enterprise_id, Visit.period, Visit.visited_at).where(
                Visit.status == VisitStatus.DONE
            )
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def assert_visits_done(world: World) -> None:
    """The visits done are the journal's, at its times, each on a working day."""
    names = {i: n for n, i in world.firm_ids.items()}
    found = {(names[e], p): v for e, p, v in await done_visits(world.db)}
    assert found == world.journal.done
    for visited in found.values():
        assert visited is not None
        assert CALENDAR.is_workday(visited.astimezone(SHANGHAI).date()), visited


# --- run 1 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("redis_client", ["server7"], indirect=True)
async def test_a_year_where_everyone_cooperates(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock, data_dir: Path
) -> None:
    world = await open_world(db, redis_client, redis_keys, clock, data_dir, Script())
    await walk(world, again_on=AGAIN_ON)
    journal = world.journal

    # Exactly 4 visits per key enterprise, 2 per general, 1 per ordinary; none on a day off.
    await assert_visits_done(world)
    assert Counter(name for name, _ in journal.done) == {f.name: PER_FIRM[f.tier] for f in FIRMS}
    assert not journal.not_done
    assert not journal.absent

    # Each key enterprise contacted in each of the 12 months, as the hub counts it too.
    keys = {f.name for f in FIRMS if f.tier is Tier.KEY}
    async with db.read() as session:
        for month in MONTHS:
            assert keys <= contacted(journal, month), month
            coverage = await monthly_contact(session, parse_period(month), tiers=TIERS)
            assert {c.enterprise for c in coverage if c.contacted} == keys, month

    # 12 ledgers (December's to November's), each delivered by the 25th of the month after;
    # 2 work reports (2026H2 in January, 2027H1 in July): files under data_dir/reports.
    reports = data_dir / "reports"
    ledgers = ["ledger-2026-12.xlsx", *(f"ledger-2027-{m:02d}.xlsx" for m in range(1, 12))]
    work_reports = ["work-report-2026H2.docx", "work-report-2027H1.docx"]
    assert sorted(p.name for p in reports.iterdir()) == sorted(ledgers + work_reports)
    deliveries = [(a, c.astimezone(SHANGHAI).date(), b) for k, a, c, b, _ in await messages(db)
                  if k is MessageKind.REPORT_DELIVERY]  # fmt: skip
    assert {a for a, _, _ in deliveries} == {OFFICE_HEAD_MOBILE}
    delivered = {next(n for n in ledgers + work_reports if n in b): d for _, d, b in deliveries}
    assert len(delivered) == len(deliveries) == 14
    for number, name in enumerate(ledgers, start=1):
        day = delivered[name]
        assert (day.year, day.month) == (2027, number), name
        assert day.day <= 25, (name, day)
    assert [delivered[n].month for n in work_reports] == [1, 7]

    await assert_messages(world, reports=14)
    for label in REPORT_PERIODS:
        await assert_compliance(db, journal, label, LAST_DAY)
    assert expected_compliance(journal, "2027", LAST_DAY)["total"][""] == Counter(
        due=25, on_time=25
    )


# --- run 2 -------------------------------------------------------------------------------------

SCRIPT_2 = Script(
    silent=frozenset({
        ("丁重点", "2027Q2"), ("丁重点", "2027Q3"), ("己一般", "2027H1"), ("壬普通", "2027"),
        ("庚一般", "2027H1"),
    }),
    phoned=frozenset({("庚一般", "2027H1")}),  # the officer agrees a time by phone
    moves=frozenset({("辛普通", "2027")}),  # answers 下周二上午可以
    outcomes={
        ("甲重点", "2027Q1"): ("not_done",),  # recorded not done, proposed again, made up
        ("丙重点", "2027Q3"): ("not_done", "not_done"),  # twice, then made up
        ("戊一般", "2027H2"): ("not_done",),
        ("乙重点", "2027Q2"): ("absent",),  # the officer never records it
        ("癸普通", "2027"): ("absent",),
    },
    # Missed at every appointment until the quarter is over: made up in April, late.
    not_done_before={("乙重点", "2027Q1"): date(2027, 4, 1)},
    ignored_tasks=frozenset({("LL002", "2027-05"), ("LL003", "2027-08")}),
)  # fmt: skip
CHECKPOINT = date(2027, 8, 16)


@pytest.mark.parametrize("redis_client", ["server7"], indirect=True)
async def test_a_year_with_silent_enterprises_and_missed_visits_gives_matching_figures(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock, data_dir: Path
) -> None:
    # The two reports are Run 1's; this run walks the visit cycle's schedules only.
    cycle = ("visit_plan", "visit_reminders", "key_contact")
    world = await open_world(
        db, redis_client, redis_keys, clock, data_dir, SCRIPT_2, schedules=cycle
    )
    await walk(world, last=CHECKPOINT)
    journal = world.journal
    # Mid-year: Q3 in progress, Q4 not yet due; each figure as the journal has it so far.
    for label in ("2027Q3", "2027H2", "2027"):
        await assert_compliance(db, journal, label, CHECKPOINT)
    await walk(world, first=CHECKPOINT + timedelta(days=1))

    # The script was played out: every not-done and absent visit happened as written.
    slipped = [k for k in journal.not_done if k in SCRIPT_2.not_done_before]
    assert len(slipped) >= 2
    assert Counter(k for k in journal.not_done if k not in SCRIPT_2.not_done_before) == Counter(
        {k: v.count("not_done") for k, v in SCRIPT_2.outcomes.items() if "not_done" in v}
    )
    [made_up] = [v for k, v in journal.done.items() if k in SCRIPT_2.not_done_before]
    assert made_up.astimezone(SHANGHAI).date() >= date(2027, 4, 1)
    assert sorted(journal.absent) == sorted(k for k, v in SCRIPT_2.outcomes.items()
                                            if "absent" in v)  # fmt: skip
    silent_proposals = {key for key in journal.proposals.values() if key in SCRIPT_2.silent}
    assert silent_proposals == SCRIPT_2.silent
    await assert_visits_done(world)
    absent = {k for k, v in SCRIPT_2.outcomes.items() if "absent" in v}
    assert not set(journal.done) & (SCRIPT_2.silent - SCRIPT_2.phoned | absent)
    # The time agreed by phone after the no-answer task, and the time the enterprise proposed
    # itself ("下周二上午可以", a Tuesday 09:00), were the visits' times.
    for key in SCRIPT_2.phoned | SCRIPT_2.moves:
        [appointment] = [a for a in journal.appointments if a.key == key]
        assert journal.done[key] == appointment.when
    [moved] = SCRIPT_2.moves
    local = journal.done[moved].astimezone(SHANGHAI)
    assert (local.weekday(), local.hour) == (1, 9)

    await assert_messages(world, reports=0)
    for label in REPORT_PERIODS:
        await assert_compliance(db, journal, label, LAST_DAY)
    # The year over: the ordinary visit never recorded and the silent one are missed.
    await assert_compliance(db, journal, "2027", date(2028, 1, 1))
    expected = expected_compliance(journal, "2027", date(2028, 1, 1))
    # What the script makes of the year, as the figures must show it.
    assert expected["total"][""] == Counter(due=25, on_time=18, late=1, missed=6)
    assert expected["tier"][Tier.ORDINARY.value]["missed"] == 2
    # Two months had a key firm left uncontacted (tasks let lie), as the coverage shows.
    gaps = [m for m in MONTHS if {f.name for f in FIRMS if f.tier is Tier.KEY}
            - contacted(journal, m)]  # fmt: skip
    assert gaps == ["2027-05", "2027-08"]
