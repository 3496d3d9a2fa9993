"""The harness of the simulated visit year (tests/visits/test_simulated_year.py).

A clock under the test's control walks every day of 2027 with the 2027 calendar entered (the
holidays and make-up workdays of tests/scheduling/programs/year_scenario.py). Each day the
visit-cycle schedules shipped in schedules/ (visit_plan, visit_reminders, key_contact, ledger,
work_report) are fired through the real :class:`HubScheduler` at each of their cron times, and
the people act between the fires, through the paths they use in production:

- 11:00, working days: each enterprise reads the proposal that reached it (not held) and picks
  a slot (or, as the script says, another time) by SMS reply — stored by
  :func:`hub.inbound.accept.accept_reply` as the SMS webhook stores it and applied by the
  :class:`InboundWorker` (classifier, ReplyApplier, hub.visits.answers) — unless the script
  keeps it silent;
- 11:30, working days: each officer acts on a key-contact task (officer_task) he got, phoning
  every enterprise it lists (:func:`hub.visits.outcome.record_contact`), unless the script says
  he let that month's task lie; on a no-answer task he phones the silent enterprise and records
  the time agreed (:func:`record_agreed_time`) when the script says so;
- 17:30: each officer records the visits agreed for that day, done at the agreed time
  (:func:`record_done`), or not done (:func:`record_not_done`), or nothing at all, as the
  script says.

:class:`Journal` keeps what the people did (answers, appointments, visits done and not done,
contacts); the test computes every expected figure from it and from the calendar, never from
the programs' own helpers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.app.config import Settings
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import (
    ChannelName,
    ContactVia,
    MessageKind,
    MessageStatus,
    Stage,
    Tier,
    VisitStatus,
)
from hub.core.workdays import WorkdayCalendar
from hub.inbound.accept import accept_reply
from hub.inbound.answers import Answerer
from hub.inbound.apply import ReplyApplier
from hub.inbound.worker import InboundWorker
from hub.outbound.outbox import release_held
from hub.scheduling.programs import PROGRAMS, key_contact
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramSettings,
    day_off_hold,
)
from hub.scheduling.schedule_store import StoredSchedule, stored_schedules, sync_schedules
from hub.scheduling.scheduler import HubScheduler
from hub.scheduling.schedules import load_schedule_file
from hub.store.db import Database
from hub.store.models import Contact, Enterprise, Message, Officer, Visit
from hub.tickets.policy import TicketPolicy
from hub.tickets.settings import TicketsSettings
from hub.visits.outcome import record_agreed_time, record_contact, record_done, record_not_done
from hub.visits.slots import parse_slots
from tests.conftest import PROJECT_ROOT
from tests.importing.factories import make_uscc
from tests.pipeline import Hub, build, setup
from tests.scheduling.programs.year_scenario import CALENDAR_2027
from tests.ticket_factory import make_org

CALENDAR: Final = WorkdayCalendar.from_years(CALENDAR_2027.years)
FIRST_DAY: Final = date(2027, 1, 1)
LAST_DAY: Final = date(2027, 12, 31)
#: The shipped schedules of the visit cycle and the two reports (schedules/<name>.yaml).
SCHEDULES: Final = ("visit_plan", "visit_reminders", "key_contact", "ledger", "work_report")
BASE_URL: Final = "https://hub.example.cn"
OFFICE_HEAD_MOBILE: Final = "+8613800000004"  # 钱主任, head of 营商办 (tests/ticket_factory.py)
T0: Final = datetime(2026, 12, 1, tzinfo=SHANGHAI)
RELEASE_AT: Final = time(9, 0)
ANSWER_AT: Final = time(11, 0)
CONTACT_AT: Final = time(11, 30)
RECORD_AT: Final = time(17, 30)


@dataclass(frozen=True)
class Firm:
    """An enterprise of the registry: its name (no name inside another), tier, officer, region."""

    name: str
    tier: Tier
    officer: str
    region: str


FIRMS: Final = (
    Firm("甲重点", Tier.KEY, "LL001", "龙沙区"),
    Firm("乙重点", Tier.KEY, "LL001", "建华区"),
    Firm("丙重点", Tier.KEY, "LL002", "龙沙区"),
    Firm("丁重点", Tier.KEY, "LL003", "建华区"),
    Firm("戊一般", Tier.GENERAL, "LL001", "龙沙区"),
    Firm("己一般", Tier.GENERAL, "LL002", "建华区"),
    Firm("庚一般", Tier.GENERAL, "LL003", "龙沙区"),
    Firm("辛普通", Tier.ORDINARY, "LL002", "建华区"),
    Firm("壬普通", Tier.ORDINARY, "LL003", "龙沙区"),
    Firm("癸普通", Tier.ORDINARY, "LL001", "建华区"),
)
FIRM: Final = {f.name: f for f in FIRMS}
OFFICERS: Final = {
    "LL001": ("李明", "+8613800001001"),
    "LL002": ("张丽娟", "+8613800001002"),
    "LL003": ("王强", "+8613800001003"),
}
OFFICER_BY_MOBILE: Final = {mobile: code for code, (_, mobile) in OFFICERS.items()}
#: How the enterprises write "slot n", in turn (the classifier reads each).
SLOT_WORDS: Final = ("{n}", "选{n}", "第{cn}个")
_CN_DIGITS: Final = "零一二三"


def mobile_of(firm: Firm) -> str:
    return f"+86139000010{FIRMS.index(firm):02d}"


def uscc_of(firm: Firm) -> str:
    return make_uscc(FIRMS.index(firm) + 1)


def at(day: date, hhmm: time) -> datetime:
    return datetime.combine(day, hhmm, tzinfo=SHANGHAI)


# --- what the people do -----------------------------------------------------------------------

VisitKey = tuple[str, str]  # (firm name, visit period label)


@dataclass(frozen=True)
class Script:
    """What the people choose. ``silent``: visits whose proposals the enterprise never answers;
    ``phoned``: silent ones whose officer, given the no-answer task, agrees a time by phone and
    records it (:func:`record_agreed_time`); ``moves``: visits whose first proposal the
    enterprise answers with another time ("下周二上午可以": next week's Tuesday 09:00);
    ``outcomes``: per visit, what the officer records for each appointment in turn ("done",
    "not_done": recorded not done, "absent": nothing recorded), "done" after the listed ones;
    ``not_done_before``: per visit, every appointment before that day is recorded not done
    (the visit slips past its period and is made up late); ``ignored_tasks``: (officer, month)
    key-contact tasks the officer lets lie."""

    silent: frozenset[VisitKey] = frozenset()
    phoned: frozenset[VisitKey] = frozenset()
    moves: frozenset[VisitKey] = frozenset()
    outcomes: Mapping[VisitKey, tuple[str, ...]] = field(default_factory=dict)
    not_done_before: Mapping[VisitKey, date] = field(default_factory=dict)
    ignored_tasks: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Appointment:
    """A time agreed: by the enterprise's reply (``by_phone`` False) or by the officer's call."""

    key: VisitKey
    when: datetime
    answered_at: datetime
    by_phone: bool = False


@dataclass
class Journal:
    """What the people did, as the simulation's own record."""

    #: (visit id, proposal moment) -> the visit, for each proposal an enterprise was shown.
    proposals: dict[tuple[int, datetime], VisitKey] = field(default_factory=dict)
    appointments: list[Appointment] = field(default_factory=list)
    done: dict[VisitKey, datetime] = field(default_factory=dict)
    not_done: list[VisitKey] = field(default_factory=list)
    absent: list[VisitKey] = field(default_factory=list)
    #: (firm name, moment, source: reply / visit / phone): every contact the people made.
    contacts: list[tuple[str, datetime, str]] = field(default_factory=list)
    #: (officer, month, firms the task listed) for each key-contact task received.
    contact_tasks: list[tuple[str, str, frozenset[str]]] = field(default_factory=list)
    settled: dict[VisitKey, int] = field(default_factory=dict)  # appointments recorded so far


# --- the world --------------------------------------------------------------------------------


@dataclass
class World:
    """The components of the running hub and the simulation's state."""

    hub: Hub
    scheduler: HubScheduler
    schedules: list[StoredSchedule]
    settings: ProgramSettings
    worker: InboundWorker
    script: Script
    journal: Journal
    firm_ids: dict[str, int]
    officer_ids: dict[str, int]
    seen_message_id: int = 0
    replies: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def db(self) -> Database:
        return self.hub.db

    @property
    def clock(self) -> FixedClock:
        return self.hub.clock

    def firm_of(self, enterprise_id: int) -> Firm:
        return next(FIRM[n] for n, i in self.firm_ids.items() if i == enterprise_id)


async def seed(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    """The office (营商办 with its head, tests/ticket_factory.make_org), the three officers and
    the ten enterprises, one contact each: (enterprise ids, officer ids) by name and code."""
    await make_org(db, T0)
    stamp = {"created_at": T0, "updated_at": T0}
    async with db.write() as session:
        officers = {code: Officer(code=code, name=name, mobile=mobile, **stamp)
                    for code, (name, mobile) in OFFICERS.items()}  # fmt: skip
        session.add_all(officers.values())
        await session.flush()
        firms: dict[str, int] = {}
        for firm in FIRMS:
            enterprise = Enterprise(
                uscc=uscc_of(firm), name=firm.name, tier=firm.tier, industry="制造业",
                region=firm.region, stage=Stage.OPERATING, officer_id=officers[firm.officer].id,
                **stamp,
            )  # fmt: skip
            session.add(enterprise)
            await session.flush()
            firms[firm.name] = enterprise.id
            mobile = mobile_of(firm)
            session.add(Contact(enterprise_id=enterprise.id, natural_key=mobile,
                                name=f"{firm.name}联系人", mobile=mobile, **stamp))  # fmt: skip
    return firms, {code: o.id for code, o in officers.items()}


async def open_world(
    db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock, data_dir: Path,
    script: Script, *, schedules: tuple[str, ...] = SCHEDULES,
) -> World:  # fmt: skip
    """Seed, sync the shipped schedules named, and start the hub's pieces as the app does."""
    firm_ids, officer_ids = await seed(db)
    hub = build(db, redis, keys, clock)
    await setup(hub)
    clock.set(at(date(2026, 12, 28), time(10)))
    specs = [load_schedule_file(PROJECT_ROOT / "schedules" / f"{name}.yaml") for name in schedules]
    await sync_schedules(db, specs, clock, actor="test")
    settings = ProgramSettings(
        calendar=CALENDAR, public_base_url=BASE_URL, reports_dir=data_dir / "reports",
        business_office="YSB",
    )  # fmt: skip
    scheduler = HubScheduler(db, redis, keys, hub.outbox, clock, programs=settings)
    config = Settings(calendar=CALENDAR_2027, tickets=TicketsSettings(
        default_department="FGW", business_office_department="YSB"))  # fmt: skip
    planner = hub.outbox.planner
    applier = ReplyApplier(config, Answerer(planner.renderer, planner.policy))
    worker = InboundWorker(db, hub.queue, clock, applier, consumer="w1", block_ms=1)
    return World(hub, scheduler, await stored_schedules(db), settings, worker, script,
                 Journal(), firm_ids, officer_ids)  # fmt: skip


# --- a day ------------------------------------------------------------------------------------


async def walk(
    world: World, first: date = FIRST_DAY, last: date = LAST_DAY, *,
    again_on: frozenset[date] = frozenset(),
) -> None:  # fmt: skip
    """Every day from ``first`` to ``last``: the schedules' fires and the people's acts, in
    time order, held messages released as the clock passes each moment. On the days
    ``again_on`` each fire is repeated at once, as the scheduler and as a manual run (the
    program straight from the PROGRAMS table): neither may send anything again."""
    day = first
    while day <= last:
        await run_day(world, day, again=day in again_on)
        day += timedelta(days=1)


async def run_day(world: World, day: date, *, again: bool = False) -> None:
    steps: list[tuple[datetime, int, StoredSchedule | str]] = []
    start = at(day, time(0))
    for stored in world.schedules:
        trigger = stored.spec.trigger()
        fire_time = trigger.get_next_fire_time(None, start)
        while fire_time is not None and fire_time.astimezone(SHANGHAI).date() == day:
            steps.append((fire_time, 0, stored))
            fire_time = trigger.get_next_fire_time(fire_time, fire_time + timedelta(seconds=1))
    if CALENDAR.is_workday(day):
        steps += [(at(day, ANSWER_AT), 1, "answer"), (at(day, CONTACT_AT), 1, "contact")]
    steps.append((at(day, RECORD_AT), 1, "record"))
    released = False
    for moment, _, step in sorted(steps, key=lambda s: (s[0], s[1])):
        world.clock.set(moment)
        if not released and moment >= at(day, RELEASE_AT):
            # The dispatcher's release pass: a day off's hold ends at a working day's 09:00
            # (programs' morning), so one pass a day at the first moment after it is enough.
            await release_held(world.db, world.hub.queue, world.clock)
            released = True
        if isinstance(step, str):
            await ACTS[step](world, moment)
            continue
        result = await world.scheduler.fire(step, moment, require_enabled=True)
        assert (result.created, result.status) == (True, "done"), result
        if again:
            await fire_again(world, step, moment, result.run_id)


async def fire_again(
    world: World, stored: StoredSchedule, moment: datetime, run_id: int | None
) -> None:
    """The fire just run, repeated: the scheduler answers with the earlier run; the program
    run by hand (with the scheduler's day-off hold) finds everything sent."""
    repeat = await world.scheduler.fire(stored, moment, require_enabled=True)
    assert (repeat.created, repeat.run_id) == (False, run_id), repeat
    spec = stored.spec
    fire = ProgramFire(spec.name, moment, spec.audience_expr(), dict(spec.variables),
                       spec.channel)  # fmt: skip
    hold = day_off_hold(world.settings, moment) if spec.workdays_only else None
    context = ProgramContext(world.db, world.hub.outbox, world.clock, world.settings, hold)
    outcome = await PROGRAMS[spec.program].run(context, fire)
    assert outcome.created == 0, (spec.name, moment, outcome)


async def answer_proposals(world: World, now: datetime) -> None:
    """Each enterprise shown a proposal (its latest visit_proposal not held) picks a slot by
    SMS, unless the script keeps it silent; the worker applies the replies."""
    async with world.db.read() as session:
        visits = (await session.scalars(
            sa.select(Visit).where(Visit.status == VisitStatus.PROPOSED).order_by(Visit.id)
        )).all()  # fmt: skip
        held = set(await session.scalars(
            sa.select(Message.enterprise_id).where(
                Message.kind == MessageKind.VISIT_PROPOSAL, Message.status == MessageStatus.HELD
            )
        ))  # fmt: skip
    picks: list[tuple[Visit, VisitKey, datetime]] = []
    for visit in visits:
        if visit.enterprise_id in held or visit.proposed_at is None:
            continue  # the proposal has not reached the enterprise yet (a day off's hold)
        key = (world.firm_of(visit.enterprise_id).name, visit.period)
        if (visit.id, visit.proposed_at) in world.journal.proposals:
            continue  # shown before: answered, or left unanswered by a silent enterprise
        world.journal.proposals[(visit.id, visit.proposed_at)] = key
        if key in world.script.silent:
            continue
        slots = parse_slots(visit.slots)
        if key in world.script.moves and all(a.key != key for a in world.journal.appointments):
            words = "下周二上午可以"
            local = now.astimezone(SHANGHAI).date()
            wanted = at(local + timedelta(days=8 - local.weekday()), time(9))
        else:
            n = (FIRMS.index(FIRM[key[0]]) + len(world.journal.proposals)) % len(slots) + 1
            words = SLOT_WORDS[n % len(SLOT_WORDS)].format(n=n, cn=_CN_DIGITS[n])
            wanted = slots[n - 1]
        reply = InboundReply("sms", f"sim-{next(world.replies)}", mobile_of(FIRM[key[0]]), words)
        await accept_reply(world.db, world.hub.queue, world.clock, ChannelName.SMS, reply)
        picks.append((visit, key, wanted))
    while picks and await world.worker.run_once():
        pass
    async with world.db.read() as session:
        for visit, key, wanted in picks:
            after = await session.get(Visit, visit.id)
            assert after is not None
            assert (after.status, after.proposed_for) == (VisitStatus.CONFIRMED, wanted), key
            world.journal.appointments.append(Appointment(key, wanted, now))
            world.journal.contacts.append((key[0], now, "reply"))


async def act_on_contact_tasks(world: World, now: datetime) -> None:
    """Each officer phones the enterprises a key-contact task he got lists, and the silent
    enterprise of a no-answer task when the script says so (new tasks only)."""
    async with world.db.read() as session:
        tasks = (await session.execute(
            sa.select(Message.id, Message.address, Message.body)
            .where(Message.kind == MessageKind.OFFICER_TASK, Message.id > world.seen_message_id)
            .order_by(Message.id)
        )).all()  # fmt: skip
    month = f"{now.year}-{now.month:02d}"
    for message_id, address, body in tasks:
        world.seen_message_id = max(world.seen_message_id, message_id)
        officer = OFFICER_BY_MOBILE[address]
        if key_contact.TASK not in body:
            await act_on_no_answer_task(world, now, officer, body)
            continue
        listed = frozenset(f.name for f in FIRMS if f.officer == officer and f.name in body)
        world.journal.contact_tasks.append((officer, month, listed))
        if (officer, month) in world.script.ignored_tasks:
            continue
        async with world.db.write() as session:
            for name in sorted(listed):
                await record_contact(
                    session, uscc_of(FIRM[name]), via=ContactVia.PHONE, at=None,
                    notes="电话了解企业近况", officer=officer, source="simulated", now=now,
                )  # fmt: skip
                world.journal.contacts.append((name, now, "phone"))


async def act_on_no_answer_task(world: World, now: datetime, officer: str, body: str) -> None:
    """The officer phones the enterprise and records the time agreed (10:00 on the third
    working day from today), for the visits the script has phoned."""
    [firm] = [f for f in FIRMS if f.name in body]
    async with world.db.write() as session:
        visit = await session.scalar(sa.select(Visit).where(
            Visit.enterprise_id == world.firm_ids[firm.name],
            Visit.status == VisitStatus.PROPOSED,
        ))  # fmt: skip
        assert visit is not None, body
        key = (firm.name, visit.period)
        if key not in world.script.phoned:
            return
        day, left = now.astimezone(SHANGHAI).date(), 3
        while left:
            day += timedelta(days=1)
            left -= CALENDAR.is_workday(day)
        agreed = at(day, time(10))
        await record_agreed_time(session, visit.id, at=agreed, by=f"officer:{officer}", now=now,
                                 calendar=CALENDAR)  # fmt: skip
    world.journal.appointments.append(Appointment(key, agreed, now, by_phone=True))


async def record_visits(world: World, now: datetime) -> None:
    """Each officer records the visits agreed for today, as the script says."""
    day_start = at(now.astimezone(SHANGHAI).date(), time(0))
    async with world.db.read() as session:
        visits = (await session.scalars(
            sa.select(Visit).where(
                Visit.status == VisitStatus.CONFIRMED, Visit.proposed_for >= day_start,
                Visit.proposed_for < day_start + timedelta(days=1),
            ).order_by(Visit.id)
        )).all()  # fmt: skip
    journal = world.journal
    for visit in visits:
        assert visit.proposed_for is not None
        key = (world.firm_of(visit.enterprise_id).name, visit.period)
        turn = journal.settled.get(key, 0)
        journal.settled[key] = turn + 1
        planned = world.script.outcomes.get(key, ())
        outcome = planned[turn] if turn < len(planned) else "done"
        if now.astimezone(SHANGHAI).date() < world.script.not_done_before.get(key, date.min):
            outcome = "not_done"
        by = f"officer:{FIRM[key[0]].officer}"
        async with world.db.write() as session:
            if outcome == "done":
                await record_done(
                    session, visit.id, at=visit.proposed_for, notes="走访了解生产经营情况",
                    problems=(), by=by, now=now, policy=TicketPolicy(calendar=CALENDAR),
                )  # fmt: skip
                journal.done[key] = visit.proposed_for
                journal.contacts.append((key[0], visit.proposed_for, "visit"))
            elif outcome == "not_done":
                await record_not_done(session, visit.id, reason="企业负责人临时外出", by=by,
                                      now=now)  # fmt: skip
                journal.not_done.append(key)
            else:
                journal.absent.append(key)


ACTS: Final = {
    "answer": answer_proposals,
    "contact": act_on_contact_tasks,
    "record": record_visits,
}


# --- what the hub holds at the end --------------------------------------------------------------


async def messages(db: Database) -> list[tuple[MessageKind, str, datetime, str, MessageStatus]]:
    """(kind, address, created, body, status) of every message, in order."""
    async with db.read() as session:
        rows = await session.execute(
            sa.select(Message.kind, Message.address, Message.created_at, Message.body,
                      Message.status).order_by(Message.id)
        )  # fmt: skip
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]
