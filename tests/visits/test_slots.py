"""The times a visit proposal offers: working days and the officer's hours only, after the lead
time, near the visit's day, never on the officer's busy times, spread over days."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hub.core.clock import SHANGHAI
from hub.visits.settings import VisitsSettings
from hub.visits.slots import VISIT_SPAN, choose_slots, parse_slots, slot_label
from tests.visits.plan_support import calendar_2027

CALENDAR = calendar_2027()
SETTINGS = VisitsSettings()  # 3 slots at 09:30 and 14:30, 3 working days' lead


def at(day: str, hhmm: str = "09:30") -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=SHANGHAI)


def choose(due_on: str, now: datetime, **kwargs: object) -> list[datetime]:
    return choose_slots(
        due_on=date.fromisoformat(due_on), now=now, settings=SETTINGS, calendar=CALENDAR,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def test_slots_are_near_the_day_on_different_days_morning_and_afternoon_alternated() -> None:
    slots = choose("2027-03-16", at("2027-03-01", "09:00"))  # due Tuesday 16 March
    assert slots == [at("2027-03-15"), at("2027-03-16"), at("2027-03-17", "14:30")]


def test_no_slot_on_a_day_off_and_make_up_saturdays_count_as_working_days() -> None:
    # Due in the Spring Festival (6–12 February 2027); Saturday 13 February is a make-up day.
    slots = choose("2027-02-08", at("2027-01-25", "09:00"))
    assert [s.date() for s in slots] == [date(2027, 2, 5), date(2027, 2, 13), date(2027, 2, 15)]
    for slot in slots:
        assert CALENDAR.is_workday(slot.date())
        assert slot.timetz().replace(tzinfo=None) in SETTINGS.slot_times


def test_no_slot_outside_the_officers_hours_whatever_the_settings() -> None:
    settings = VisitsSettings(slot_times=(time(10, 0), time(15, 0), time(16, 30)), slots=3)
    slots = choose_slots(due_on=date(2027, 5, 10), now=at("2027-04-26", "08:00"),
                         settings=settings, calendar=CALENDAR)  # fmt: skip
    assert len(slots) == 3
    assert all(settings.work_start <= s.time() < settings.work_end for s in slots)
    assert {s.time() for s in slots} <= set(settings.slot_times)


def test_the_first_slot_respects_the_lead_time() -> None:
    # Proposed Monday 1 March for a visit due the next day: 3 working days' lead -> Thursday.
    slots = choose("2027-03-02", at("2027-03-01", "09:30"))
    assert slots[0].date() == date(2027, 3, 4)
    assert [s.date() for s in slots] == [date(2027, 3, 4), date(2027, 3, 5), date(2027, 3, 8)]
    # A lead over a holiday counts working days: proposed 30 April, Labour Day 1–5 May.
    after_holiday = choose("2027-05-06", at("2027-04-30", "09:30"))
    assert min(after_holiday).date() >= CALENDAR.add_workdays(date(2027, 4, 30), 3)[0]
    assert min(after_holiday).date() == date(2027, 5, 10)  # 6, 7 and 10 May


def test_never_on_the_officers_busy_times() -> None:
    busy = [at("2027-03-15", "10:00"), at("2027-03-16"), at("2027-03-16", "14:30"),
            at("2027-03-17", "14:00")]  # fmt: skip
    slots = choose("2027-03-16", at("2027-03-01", "09:00"), busy=busy)
    assert all(abs(slot - taken) >= VISIT_SPAN for slot in slots for taken in busy)
    # 16 March is taken all day, 15 March in the morning, 17 March in the afternoon.
    assert slots == [at("2027-03-15", "14:30"), at("2027-03-17"), at("2027-03-18")]


def test_a_second_slot_on_a_day_only_when_the_officer_has_no_other_free_day() -> None:
    free_day = date(2027, 3, 16)
    day, busy = date(2027, 1, 4), []
    while day < date(2027, 7, 1):
        if day != free_day:
            busy += [at(day.isoformat()), at(day.isoformat(), "14:30")]
        day += timedelta(days=1)
    slots = choose("2027-03-16", at("2027-03-01", "09:00"), busy=busy)
    assert slots == [at("2027-03-16"), at("2027-03-16", "14:30")]  # fewer than 3: all there is
    assert choose("2027-03-16", at("2027-03-01", "09:00"), busy=[*busy, *slots]) == []


def test_days_inside_the_period_and_not_turned_down_come_first() -> None:
    # Due on the last working day of 2027Q1 (Wednesday 31 March): not into April.
    inside = choose("2027-03-31", at("2027-03-15", "09:00"), last_day=date(2027, 3, 31))
    assert [s.date() for s in inside] == [date(2027, 3, 29), date(2027, 3, 30), date(2027, 3, 31)]
    # A re-proposal avoids the days the enterprise turned down.
    turned_down = {s.date() for s in inside}
    again = choose("2027-03-31", at("2027-03-22", "09:00"), last_day=date(2027, 3, 31),
                   avoid_days=turned_down)  # fmt: skip
    assert not {s.date() for s in again} & turned_down
    assert [s.date() for s in again] == [date(2027, 3, 25), date(2027, 3, 26), date(2027, 4, 1)]


def test_labels_and_stored_form() -> None:
    assert slot_label(at("2027-03-16")) == "3月16日（周二）上午9:30"
    assert slot_label(at("2027-03-16", "14:30")) == "3月16日（周二）下午2:30"
    assert slot_label(at("2027-12-31", "12:00")) == "12月31日（周五）中午12:00"
    stored = [at("2027-03-16").isoformat(), "not a time", at("2027-03-17", "14:30").isoformat()]
    assert stored[0] == "2027-03-16T09:30:00+08:00"
    assert parse_slots(stored) == [at("2027-03-16"), at("2027-03-17", "14:30")]
    assert parse_slots(None) == []
