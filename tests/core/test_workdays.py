"""The working-day calendar: chinese-calendar's 2026, admin-entered years, the Mon–Fri fallback."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar
import pytest
import structlog

from hub.core.errors import UsageError
from hub.core.settings import CalendarSettings, YearCalendar
from hub.core.workdays import (
    WorkdayCalendar,
    YearDays,
    parse_year_calendar,
    year_calendar_problems,
    year_days_from_rows,
)


class Warnings:
    """Collects the years the calendar warned about."""

    def __init__(self) -> None:
        self.years: list[int] = []

    def __call__(self, year: int) -> None:
        self.years.append(year)


@pytest.fixture
def warned() -> Warnings:
    return Warnings()


@pytest.fixture
def calendar(warned: Warnings) -> WorkdayCalendar:
    return WorkdayCalendar(warn=warned)


# Hypothetical admin data for 2027 (the State Council publishes it in late 2026).
ADMIN_2027 = YearCalendar(holidays=("2027-01-01", "2027-01-02", "2027-01-03"))


def test_chinese_calendar_has_no_2027_so_the_fallback_is_needed() -> None:
    # The premise of the fallback tests below; if a newer chinese-calendar covers 2027,
    # move them to its first uncovered year.
    assert chinese_calendar.is_workday(date(2026, 12, 31)) is True
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(2027, 1, 1))


# chinese-calendar 1.11's 2026: Mid-Autumn Fri 25–Sun 27 Sep, National Day Thu 1–Wed 7 Oct,
# make-up workdays Sun 20 Sep and Sat 10 Oct (as the issue says).
@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 9, 18), True),  # Fri
        (date(2026, 9, 19), False),  # Sat
        (date(2026, 9, 20), True),  # Sun, make-up workday for National Day
        (date(2026, 9, 24), True),
        (date(2026, 9, 25), False),  # Fri, Mid-Autumn
        (date(2026, 9, 26), False),
        (date(2026, 9, 27), False),
        (date(2026, 9, 28), True),
        (date(2026, 9, 30), True),
        (date(2026, 10, 1), False),  # National Day
        (date(2026, 10, 2), False),
        (date(2026, 10, 5), False),  # Mon
        (date(2026, 10, 7), False),  # Wed, last holiday
        (date(2026, 10, 8), True),  # Thu
        (date(2026, 10, 9), True),
        (date(2026, 10, 10), True),  # Sat, make-up workday
        (date(2026, 10, 11), False),  # Sun
        (date(2026, 10, 12), True),
    ],
)
def test_2026_national_day_comes_from_chinese_calendar(
    calendar: WorkdayCalendar, warned: Warnings, day: date, workday: bool
) -> None:
    assert calendar.is_workday(day) is workday
    assert calendar.is_day_off(day) is not workday
    assert calendar.source(2026) == "chinese_calendar"
    assert calendar.is_provisional(day) is False
    assert warned.years == []


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 9, 18), date(2026, 9, 20)),  # Fri → the Sunday make-up workday
        (date(2026, 9, 24), date(2026, 9, 28)),  # over Mid-Autumn
        (date(2026, 9, 30), date(2026, 10, 8)),  # over National Day
        (date(2026, 10, 9), date(2026, 10, 10)),  # Fri → the Saturday make-up workday
        (date(2026, 10, 10), date(2026, 10, 12)),
    ],
)
def test_next_workday(calendar: WorkdayCalendar, day: date, expected: date) -> None:
    assert calendar.next_workday(day) == expected


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 9, 18), 1, date(2026, 9, 20)),
        (date(2026, 9, 18), 2, date(2026, 9, 21)),
        (date(2026, 9, 30), 1, date(2026, 10, 8)),
        (date(2026, 9, 30), 3, date(2026, 10, 10)),
        (date(2026, 9, 30), 5, date(2026, 10, 13)),
        (date(2026, 10, 3), 1, date(2026, 10, 8)),  # from a holiday: the holiday is not counted
        (date(2026, 2, 2), 30, date(2026, 3, 20)),  # across the Spring Festival
        (date(2026, 9, 1), 30, date(2026, 10, 19)),
        (date(2026, 10, 8), -1, date(2026, 9, 30)),  # backwards over National Day
        (date(2026, 9, 21), -1, date(2026, 9, 20)),
        (date(2026, 9, 21), -2, date(2026, 9, 18)),
        (date(2026, 10, 3), 0, date(2026, 10, 3)),
    ],
)
def test_add_workdays_skips_holidays_and_counts_make_up_days(
    calendar: WorkdayCalendar, start: date, n: int, expected: date
) -> None:
    assert calendar.add_workdays(start, n) == (expected, False)


@pytest.mark.parametrize(
    ("a", "b", "count"),
    [
        (date(2026, 9, 18), date(2026, 9, 18), 0),
        (date(2026, 9, 18), date(2026, 9, 21), 2),  # Sun 20 (make-up) and Mon 21
        (date(2026, 9, 30), date(2026, 10, 7), 0),  # the whole National Day holiday
        (date(2026, 9, 30), date(2026, 10, 12), 4),  # 8, 9, 10 (Sat), 12
        (date(2026, 10, 12), date(2026, 9, 30), -4),  # 30 Sep, 8, 9, 10 Oct
        (date(2025, 12, 31), date(2026, 12, 31), 248),  # 2026's statutory working days
    ],
)
def test_workdays_between(calendar: WorkdayCalendar, a: date, b: date, count: int) -> None:
    assert calendar.workdays_between(a, b) == count


def test_every_2026_day_agrees_with_chinese_calendar(calendar: WorkdayCalendar) -> None:
    statutory = set(chinese_calendar.get_workdays(date(2026, 1, 1), date(2026, 12, 31)))
    for i in range(365):
        day = date(2026, 1, 1) + timedelta(days=i)
        assert calendar.is_workday(day) is (day in statutory), day


def test_workdays_between_inverts_add_workdays(calendar: WorkdayCalendar) -> None:
    starts = [date(2026, 9, 10) + timedelta(days=i) for i in range(40)]
    for start in starts:
        for n in (-7, -2, -1, 1, 2, 5, 15, 30):
            end, _ = calendar.add_workdays(start, n)
            assert calendar.workdays_between(start, end) == n, (start, n)


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2027, 1, 1), True),  # Fri: a workday by Mon–Fri (really New Year's Day)
        (date(2027, 1, 2), False),  # Sat
        (date(2027, 1, 3), False),  # Sun
        (date(2027, 1, 4), True),  # Mon
        (date(2027, 2, 6), False),  # Sat (Spring Festival eve in 2027, unknown here)
        (date(2027, 2, 8), True),  # Mon
    ],
)
def test_a_year_without_data_falls_back_to_monday_to_friday(
    calendar: WorkdayCalendar, warned: Warnings, day: date, workday: bool
) -> None:
    assert calendar.is_workday(day) is workday
    assert calendar.source(2027) == "fallback"
    assert calendar.is_provisional(day) is True
    assert warned.years == [2027]


def test_the_fallback_warns_once_per_year_and_never_raises(
    calendar: WorkdayCalendar, warned: Warnings
) -> None:
    day = date(2026, 12, 1)
    for _ in range(3):
        end, provisional = calendar.add_workdays(day, 600)  # into 2029
        assert provisional is True
    assert end.year == 2029
    assert calendar.workdays_between(date(2003, 12, 1), date(2004, 1, 31)) > 0  # before 2004
    assert warned.years == [2027, 2028, 2029, 2003]


def test_the_default_warning_is_a_structlog_warning_in_chinese_and_english() -> None:
    calendar = WorkdayCalendar()
    with structlog.testing.capture_logs() as logs:
        calendar.is_workday(date(2027, 1, 1))
        calendar.is_workday(date(2027, 1, 4))
    assert len(logs) == 1
    (entry,) = logs
    assert entry["log_level"] == "warning"
    assert entry["event"] == "workday_calendar_missing"
    assert entry["year"] == 2027
    assert "2027 年工作日历未录入" in entry["message"]
    assert "no holiday calendar for 2027" in entry["message"]


def test_an_entered_year_is_not_provisional_and_skips_its_holidays(warned: Warnings) -> None:
    calendar = WorkdayCalendar.from_years({2027: ADMIN_2027}, warn=warned)
    assert calendar.source(2027) == "admin"
    assert calendar.is_workday(date(2027, 1, 1)) is False  # entered holiday (Fri)
    assert calendar.is_workday(date(2027, 1, 4)) is True  # Mon, not listed: Mon–Fri base
    assert calendar.is_workday(date(2027, 1, 9)) is False  # Sat, not listed
    assert calendar.add_workdays(date(2026, 12, 31), 1) == (date(2027, 1, 4), False)
    assert calendar.is_provisional(date(2027, 6, 1)) is False
    assert warned.years == []


def test_an_entered_year_with_no_days_means_plain_monday_to_friday(warned: Warnings) -> None:
    calendar = WorkdayCalendar({2027: YearDays()}, warn=warned)
    assert calendar.add_workdays(date(2026, 12, 31), 1) == (date(2027, 1, 1), False)
    assert warned.years == []


def test_an_admin_calendar_wins_over_chinese_calendar_day_by_day(warned: Warnings) -> None:
    # A local correction to 2026: an extra holiday on Mon 21 Sep, a make-up day on Sun 11 Oct.
    local = YearCalendar(holidays=("2026-09-21",), workdays=("2026-10-11",))
    calendar = WorkdayCalendar({2026: local}, warn=warned)
    assert calendar.source(2026) == "admin"
    assert calendar.is_workday(date(2026, 9, 21)) is False
    assert calendar.is_workday(date(2026, 10, 11)) is True
    # days the admin did not list keep their statutory status
    assert calendar.is_workday(date(2026, 9, 20)) is True
    assert calendar.is_workday(date(2026, 10, 1)) is False
    assert calendar.add_workdays(date(2026, 9, 18), 2) == (date(2026, 9, 22), False)
    assert calendar.add_workdays(date(2026, 10, 9), 2) == (date(2026, 10, 11), False)
    assert warned.years == []


def test_config_calendar_years_build_a_calendar() -> None:
    settings = CalendarSettings(years={2027: ADMIN_2027})
    calendar = WorkdayCalendar.from_years(settings.years)
    assert calendar.admin_years == frozenset({2027})
    assert calendar.is_workday(date(2027, 1, 1)) is False


def test_with_year_returns_a_new_calendar_and_leaves_the_old_one(warned: Warnings) -> None:
    before = WorkdayCalendar(warn=warned)
    assert before.is_workday(date(2027, 1, 1)) is True
    after = before.with_year(2027, ADMIN_2027)
    assert after.is_workday(date(2027, 1, 1)) is False
    assert before.is_workday(date(2027, 1, 1)) is True
    assert before.source(2027) == "fallback"
    assert after.source(2027) == "admin"


def test_rows_of_the_override_table_group_into_years() -> None:
    rows = [(date(2027, 1, 1), False), (date(2027, 2, 20), True), (date(2028, 1, 1), False)]
    years = year_days_from_rows(rows)
    assert years == {
        2027: YearDays(
            holidays=frozenset({date(2027, 1, 1)}), workdays=frozenset({date(2027, 2, 20)})
        ),
        2028: YearDays(holidays=frozenset({date(2028, 1, 1)})),
    }
    calendar = WorkdayCalendar(years)
    assert calendar.is_workday(date(2027, 2, 20)) is True  # a Saturday entered as make-up day
    assert calendar.source(2028) == "admin"


@dataclass(frozen=True)
class Entered:
    """A year as the admin API receives it: strings, not yet checked (config checks its own)."""

    holidays: tuple[str, ...] = ()
    workdays: tuple[str, ...] = ()


@pytest.mark.parametrize(
    ("entered", "problem"),
    [
        (Entered(holidays=("2028-01-01",)), "2028-01-01 不属于 2027 年"),
        (Entered(holidays=("2027-13-01",)), "'2027-13-01' 不是 YYYY-MM-DD 格式的日期"),
        (
            Entered(holidays=("2027-02-06",), workdays=("2027-02-06",)),
            "2027-02-06 同时被录入为节假日和调休上班日",
        ),
    ],
)
def test_bad_admin_data_is_refused_naming_the_problem(entered: Entered, problem: str) -> None:
    assert any(problem in text for text in year_calendar_problems(2027, entered))
    with pytest.raises(UsageError, match=problem):
        parse_year_calendar(2027, entered)
    with pytest.raises(UsageError, match="2027 年工作日历有误"):
        WorkdayCalendar({2027: entered})


def test_good_admin_data_has_no_problems() -> None:
    assert year_calendar_problems(2027, ADMIN_2027) == []


def test_a_year_entered_as_all_holidays_stops_instead_of_looping() -> None:
    every_day = tuple((date(2027, 1, 1) + timedelta(days=i)).isoformat() for i in range(365))
    calendar = WorkdayCalendar({2027: YearCalendar(holidays=every_day)})
    with pytest.raises(UsageError, match="连续 120 天以上没有工作日"):
        calendar.add_workdays(date(2026, 12, 31), 1)


def test_a_datetime_is_refused_rather_than_cached_under_the_wrong_key(
    calendar: WorkdayCalendar,
) -> None:
    with pytest.raises(TypeError):
        calendar.is_workday(datetime(2026, 10, 1, 12, 0))
