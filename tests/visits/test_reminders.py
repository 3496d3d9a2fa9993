"""The officer's reminders of a confirmed visit: the working day before at 15:00 (a Monday visit
on the Friday), the morning of the visit at 08:00; none for a visit not confirmed.

The 2027 calendar is entered (2027 is not in chinese-calendar): Monday 5 April is a holiday.
Times are Shanghai wall-clock times.
"""

from __future__ import annotations

from datetime import date, datetime, time

from hub.core.clock import SHANGHAI
from hub.core.vocab import VisitStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.store.db import Database
from hub.store.registry import Enterprise
from hub.visits.reminders import DueReminder, ReminderStep, due_reminders, reminder_step
from hub.visits.settings import VisitsSettings
from tests.seed import seed_registry
from tests.visits import dossier_rows as rows

CALENDAR = WorkdayCalendar().with_year(2027, YearDays(holidays=frozenset({date(2027, 4, 5)})))
SETTINGS = VisitsSettings()  # remind_before_at 15:00, remind_day_at 08:00


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


def step(visit_at: datetime, now: datetime) -> ReminderStep | None:
    return reminder_step(visit_at, now, calendar=CALENDAR, settings=SETTINGS)


MONDAY = date(2027, 3, 8)
FRIDAY = date(2027, 3, 5)


def test_a_monday_visit_is_reminded_on_the_friday_afternoon() -> None:
    visit = at(MONDAY, 9, 30)
    assert step(visit, at(FRIDAY, 14, 59)) is None
    assert step(visit, at(FRIDAY, 15, 0)) is ReminderStep.BEFORE
    assert step(visit, at(FRIDAY, 20, 0)) is ReminderStep.BEFORE
    assert step(visit, at(date(2027, 3, 4), 15, 0)) is None  # Thursday: Friday is between
    assert step(visit, at(date(2027, 3, 6), 15, 0)) is None  # Saturday is no working day
    assert step(visit, at(date(2027, 3, 7), 15, 0)) is None  # nor Sunday


def test_the_morning_of_the_visit_from_eight_until_the_visit() -> None:
    visit = at(MONDAY, 14, 30)
    assert step(visit, at(MONDAY, 7, 59)) is None
    assert step(visit, at(MONDAY, 8, 0)) is ReminderStep.DAY
    assert step(visit, at(MONDAY, 14, 29)) is ReminderStep.DAY
    assert step(visit, at(MONDAY, 14, 30)) is None  # its time has come
    assert step(visit, at(MONDAY, 15, 0)) is None


def test_a_visit_after_a_holiday_is_reminded_on_the_working_day_before_it() -> None:
    tuesday = date(2027, 4, 6)  # after the Qingming Monday
    visit = at(tuesday, 9, 30)
    assert step(visit, at(date(2027, 4, 2), 15, 0)) is ReminderStep.BEFORE  # Friday
    assert step(visit, at(date(2027, 4, 5), 15, 0)) is None  # the holiday itself
    assert step(visit, at(tuesday, 8, 0)) is ReminderStep.DAY


def test_the_key_names_visit_step_and_day_so_a_moved_visit_is_new() -> None:
    first = DueReminder(7, 1, 1, at(MONDAY, 9, 30), MONDAY, ReminderStep.BEFORE)
    moved = DueReminder(7, 1, 1, at(date(2027, 3, 9), 9, 30), date(2027, 3, 9),
                        ReminderStep.BEFORE)  # fmt: skip
    assert first.key == "visit:7:before:2027-03-08"
    assert moved.key != first.key


async def test_only_confirmed_visits_with_an_officer_are_due(any_db: Database) -> None:
    ids = await seed_registry(any_db)
    async with any_db.write() as session:
        jia = await session.get(Enterprise, ids["甲机械"])
        assert jia is not None
        assert jia.officer_id is not None
        jia_officer = jia.officer_id
        visits = (  # (enterprise, period, status, agreed time): only 甲机械's is due
            ("甲机械", "2027Q1", VisitStatus.CONFIRMED, at(MONDAY, 9, 30)),
            ("丙软件", "2027H1", VisitStatus.PROPOSED, at(MONDAY, 10, 0)),
            ("戊建筑", "2027", VisitStatus.PLANNED, at(MONDAY, 11, 0)),
            ("乙商贸", "2027H1", VisitStatus.CONFIRMED, at(MONDAY, 14, 30)),  # no officer at all
        )
        made = [
            await rows.visit(session, ids[name], None, period, status, proposed_for=agreed)
            for name, period, status, agreed in visits
        ]
        confirmed = made[0]
    async with any_db.read() as session:
        due = await due_reminders(session, at(FRIDAY, 15, 0), calendar=CALENDAR,
                                  settings=SETTINGS)  # fmt: skip
        later = await due_reminders(session, at(date(2027, 3, 9), 8, 0), calendar=CALENDAR,
                                    settings=SETTINGS)  # fmt: skip
    assert due == [DueReminder(confirmed, ids["甲机械"], jia_officer, at(MONDAY, 9, 30), MONDAY,
                               ReminderStep.BEFORE)]  # fmt: skip
    assert later == []  # the visit's day has passed
