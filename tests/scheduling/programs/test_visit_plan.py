"""visit_plan: the daily fire plans the visits and proposes the due ones, once; a fire on a day
off holds the proposals to the next working morning. The sample registry on a fixed 2027 clock
(甲机械 key and 丙软件 general have officers; 戊建筑 is exiting; 乙商贸 and 丁餐饮 have none)."""

from __future__ import annotations

from datetime import date, datetime, time

import sqlalchemy as sa

from hub.core.clock import SHANGHAI
from hub.core.vocab import MessageKind, MessageStatus, VisitStatus
from hub.scheduling.programs import visit_plan as program
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramOutcome,
    ProgramSettings,
    day_off_hold,
)
from hub.scheduling.schedules import load_schedule_file
from hub.store.models import Enterprise, Message, Visit
from hub.visits.slots import parse_slots, slot_label
from tests.conftest import PROJECT_ROOT
from tests.pipeline import Hub
from tests.visits.plan_support import calendar_2027

SETTINGS = ProgramSettings(calendar=calendar_2027())


def half_past_nine(day: date) -> datetime:
    return datetime.combine(day, time(9, 30), tzinfo=SHANGHAI)


async def fire(hub: Hub, day: date) -> ProgramOutcome:
    """The daily fire of ``day`` at 09:30, as the scheduler runs it (held on a day off)."""
    at = half_past_nine(day)
    hub.clock.set(at)
    ctx = ProgramContext(hub.db, hub.outbox, hub.clock, SETTINGS, day_off_hold(SETTINGS, at))
    return await program.run(ctx, ProgramFire(schedule="visit_plan", fire_time=at))


async def visits(hub: Hub) -> dict[str, Visit]:
    async with hub.db.read() as session:
        rows = await session.execute(
            sa.select(Enterprise.name, Visit).join(Visit, Visit.enterprise_id == Enterprise.id)
        )
        return {name: row for name, row in rows.all()}


async def proposals(hub: Hub) -> list[Message]:
    async with hub.db.read() as session:
        kind = Message.kind == MessageKind.VISIT_PROPOSAL
        return list((await session.scalars(sa.select(Message).where(kind))).all())


async def test_a_daily_fire_plans_and_proposes_the_due_visits_once(hub: Hub) -> None:
    monday = date(2027, 1, 4)  # the first working day of 2027
    outcome = await fire(hub, monday)
    assert (outcome.items, outcome.created, outcome.duplicates, outcome.skipped) == (2, 2, 0, 0)
    planned = await visits(hub)
    assert sorted(planned) == ["丙软件", "甲机械"]  # 戊建筑 is exiting
    assert (planned["甲机械"].period, planned["丙软件"].period) == ("2027Q1", "2027H1")
    for visit in planned.values():
        assert visit.status is VisitStatus.PROPOSED
        slots = parse_slots(visit.slots)
        assert len(slots) == 3
        assert min(slots).date() >= date(2027, 1, 7)  # 3 working days after Monday
        assert all(SETTINGS.calendar.is_workday(s.date()) for s in slots)

    again = await fire(hub, monday)  # the same day once more: nothing new
    assert (again.items, again.created, again.duplicates) == (0, 0, 0)
    assert len(await proposals(hub)) == 2

    # Delivered on the sandbox with the numbered times.
    assert await hub.dispatcher.run_once("sandbox") == 2
    jia = planned["甲机械"]
    (message,) = [m for m in await proposals(hub) if m.enterprise_id == jia.enterprise_id]
    assert message.contact_id is not None
    (delivered,) = await hub.sandbox.inbox(message.contact_id)
    body = str(delivered["body"])
    for n, slot in enumerate(parse_slots(jia.slots), start=1):
        assert f"{n}. {slot_label(slot)}" in body
    assert "联络员李明拟到贵企业走访" in body


async def test_a_fire_on_a_day_off_holds_the_proposals_to_the_next_working_morning(
    hub: Hub,
) -> None:
    saturday = date(2027, 1, 2)  # New Year holiday
    outcome = await fire(hub, saturday)
    assert (outcome.items, outcome.created) == (2, 2)
    monday_morning = datetime.combine(date(2027, 1, 4), time(9, 0), tzinfo=SHANGHAI)
    for message in await proposals(hub):
        assert message.status is MessageStatus.HELD
        assert message.next_attempt_at == monday_morning
    for visit in (await visits(hub)).values():
        assert visit.due_on is not None
        assert visit.due_on >= date(2027, 1, 4)
        # The lead time counts from Monday, when the proposal goes out.
        assert min(parse_slots(visit.slots)).date() >= date(2027, 1, 7)
    assert await hub.dispatcher.run_once("sandbox") == 0


def test_the_shipped_schedule_runs_the_program_every_morning_holding_days_off() -> None:
    spec = load_schedule_file(PROJECT_ROOT / "schedules" / "visit_plan.yaml")
    assert (spec.program, spec.kind, spec.cron) == ("visit_plan", MessageKind.VISIT_PROPOSAL,
                                                    "30 9 * * *")  # fmt: skip
    assert spec.workdays_only
    assert spec.enabled
