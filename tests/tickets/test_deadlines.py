"""Working-day deadlines: receipt day not counted, 24:00 Shanghai, holidays, 2027, extensions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.app.config import Settings
from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.core.settings import YearCalendar
from hub.core.vocab import Urgency
from hub.core.workdays import WorkdayCalendar
from hub.tickets.deadlines.rules import (
    DeadlineRule,
    compute_deadline,
    end_of_day,
    extend,
    is_overdue,
    recompute,
    remaining_workdays,
    touches_year,
)

ADMIN_2027 = YearCalendar(holidays=("2027-01-01", "2027-01-02", "2027-01-03"))


class Warnings:
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


@pytest.fixture
def rule() -> DeadlineRule:
    return DeadlineRule(Settings().deadlines)


def sh(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=SHANGHAI)


def test_the_seed_classes_are_the_config_defaults(rule: DeadlineRule) -> None:
    assert rule.classes == {"immediate": 0, "urgent": 2, "general": 5, "complex": 15, "hard": 30}


# 2026: Mid-Autumn Fri 25–Sun 27 Sep, National Day Thu 1–Wed 7 Oct,
# make-up workdays Sun 20 Sep and Sat 10 Oct.
@pytest.mark.parametrize(
    ("received", "urgency", "due"),
    [
        (sh(2026, 9, 17), "urgent", date(2026, 9, 20)),  # Fri 18, Sun 20 (make-up) — due Sunday
        (sh(2026, 9, 18), "urgent", date(2026, 9, 21)),  # Sun 20 counts, then Mon 21
        (sh(2026, 9, 24), "urgent", date(2026, 9, 29)),  # over Mid-Autumn: Mon 28, Tue 29
        (sh(2026, 9, 30), "general", date(2026, 10, 13)),  # 8, 9, 10 (Sat), 12, 13
        (sh(2026, 9, 30), "urgent", date(2026, 10, 9)),
        (sh(2026, 10, 1), "urgent", date(2026, 10, 9)),  # received on a holiday
        (sh(2026, 10, 9), "urgent", date(2026, 10, 12)),  # Sat 10 (make-up), Mon 12
        (sh(2026, 9, 23), "complex", date(2026, 10, 21)),
        (sh(2026, 9, 1), "hard", date(2026, 10, 19)),
        (sh(2026, 2, 2), "hard", date(2026, 3, 20)),  # across the Spring Festival
        (sh(2026, 9, 18), "immediate", date(2026, 9, 18)),  # a workday: that day
        (sh(2026, 10, 3), "immediate", date(2026, 10, 8)),  # a holiday: next working day
        (sh(2026, 9, 19), "immediate", date(2026, 9, 20)),  # Sat → the Sunday make-up day
        (sh(2026, 10, 10), "immediate", date(2026, 10, 10)),  # a Saturday make-up workday
        (sh(2026, 10, 11), "immediate", date(2026, 10, 12)),  # Sun
    ],
)
def test_deadlines_around_the_2026_national_day(
    rule: DeadlineRule,
    calendar: WorkdayCalendar,
    warned: Warnings,
    received: datetime,
    urgency: str,
    due: date,
) -> None:
    deadline = rule.deadline(received, urgency, calendar)
    assert deadline.due_date == due
    assert deadline.due_at == datetime.combine(
        due + timedelta(days=1), datetime.min.time(), SHANGHAI
    )
    assert deadline.due_at.tzinfo is UTC
    assert deadline.provisional is False
    assert deadline.working_days == rule.classes[urgency]
    assert deadline.urgency == urgency
    assert warned.years == []


def test_the_deadline_is_24_00_shanghai_which_is_16_00_utc(
    rule: DeadlineRule, calendar: WorkdayCalendar
) -> None:
    deadline = rule.deadline(sh(2026, 9, 18), "urgent", calendar)
    assert deadline.due_at == datetime(2026, 9, 21, 16, 0, tzinfo=UTC)
    assert end_of_day(date(2026, 9, 21)) == deadline.due_at


@pytest.mark.parametrize(
    ("received_utc", "urgency", "due"),
    [
        # 23:30 Friday in Shanghai is 15:30 UTC the same day: received on Friday
        (datetime(2026, 9, 18, 15, 30, tzinfo=UTC), "immediate", date(2026, 9, 18)),
        (datetime(2026, 9, 18, 15, 30, tzinfo=UTC), "urgent", date(2026, 9, 21)),
        # 00:30 Saturday in Shanghai is still Friday in UTC: received on Saturday (a day off)
        (datetime(2026, 9, 18, 16, 30, tzinfo=UTC), "immediate", date(2026, 9, 20)),
        # 23:30 on Wed 30 Sep in Shanghai, the eve of National Day
        (datetime(2026, 9, 30, 15, 30, tzinfo=UTC), "immediate", date(2026, 9, 30)),
        (datetime(2026, 9, 30, 16, 0, tzinfo=UTC), "immediate", date(2026, 10, 8)),
    ],
)
def test_the_receipt_day_is_the_shanghai_day(
    rule: DeadlineRule, calendar: WorkdayCalendar, received_utc: datetime, urgency: str, due: date
) -> None:
    assert rule.deadline(received_utc, urgency, calendar).due_date == due


@pytest.mark.parametrize(
    ("received", "urgency", "without_2027", "with_2027"),
    [
        # Mon 28 Dec: 29, 30, 31, Fri 1 Jan 2027 (Mon–Fri guess), Mon 4 Jan
        (sh(2026, 12, 28), "general", date(2027, 1, 4), date(2027, 1, 5)),
        (sh(2026, 12, 31), "urgent", date(2027, 1, 4), date(2027, 1, 5)),
        (sh(2026, 12, 30), "urgent", date(2027, 1, 1), date(2027, 1, 4)),
        (sh(2026, 12, 1), "hard", date(2027, 1, 12), date(2027, 1, 13)),
        (sh(2026, 12, 20), "complex", date(2027, 1, 8), date(2027, 1, 11)),  # a Sunday
        (sh(2027, 1, 1), "immediate", date(2027, 1, 1), date(2027, 1, 4)),  # Fri
    ],
)
def test_december_2026_deadlines_landing_in_2027(
    rule: DeadlineRule,
    warned: Warnings,
    received: datetime,
    urgency: str,
    without_2027: date,
    with_2027: date,
) -> None:
    guessed = rule.deadline(received, urgency, WorkdayCalendar(warn=warned))
    assert (guessed.due_date, guessed.provisional) == (without_2027, True)
    assert warned.years == [2027]

    entered = WorkdayCalendar({2027: ADMIN_2027}, warn=warned)
    known = rule.deadline(received, urgency, entered)
    assert (known.due_date, known.provisional) == (with_2027, False)
    assert warned.years == [2027]  # nothing new: 2027 is entered
    assert recompute(guessed, entered) == known


@pytest.mark.parametrize(
    ("received", "urgency"),
    [
        (sh(2026, 12, 31), "immediate"),  # due the same day: no 2027 day counted
        (sh(2026, 12, 28), "urgent"),  # due Wed 30 Dec
    ],
)
def test_a_deadline_that_stays_in_2026_is_not_provisional(
    rule: DeadlineRule, calendar: WorkdayCalendar, received: datetime, urgency: str
) -> None:
    assert rule.deadline(received, urgency, calendar).provisional is False


def test_thousands_of_deadlines_into_2027_warn_once(
    rule: DeadlineRule, calendar: WorkdayCalendar, warned: Warnings
) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    for minutes in range(0, 31 * 24 * 60, 15):
        for urgency in rule.classes:
            rule.deadline(start + timedelta(minutes=minutes), urgency, calendar)
    assert warned.years == [2027]


def test_an_extension_counts_on_from_the_current_due_date(
    rule: DeadlineRule, calendar: WorkdayCalendar
) -> None:
    deadline = rule.deadline(sh(2026, 9, 30), "general", calendar)
    assert deadline.due_date == date(2026, 10, 13)
    longer = extend(deadline, 5, calendar)
    assert longer.due_date == date(2026, 10, 20)  # 14, 15, 16, 19, 20
    assert longer.extensions == (5,)
    assert longer.received_at == deadline.received_at  # the clock is never reset
    assert longer.working_days == 5
    again = extend(longer, 2, calendar)
    assert (again.due_date, again.extensions) == (date(2026, 10, 22), (5, 2))
    assert recompute(again, calendar) == again


def test_an_extension_of_an_immediate_request_received_on_a_holiday(
    rule: DeadlineRule, calendar: WorkdayCalendar
) -> None:
    deadline = rule.deadline(sh(2026, 10, 3), "immediate", calendar)
    assert extend(deadline, 1, calendar).due_date == date(2026, 10, 9)


def test_an_extension_into_2027_is_provisional_until_2027_is_entered(
    rule: DeadlineRule, calendar: WorkdayCalendar
) -> None:
    deadline = rule.deadline(sh(2026, 12, 14), "general", calendar)
    assert (deadline.due_date, deadline.provisional) == (date(2026, 12, 21), False)
    longer = extend(deadline, 10, calendar)
    assert (longer.due_date, longer.provisional) == (date(2027, 1, 4), True)
    assert touches_year(longer, 2027)
    assert not touches_year(deadline, 2027)

    entered = calendar.with_year(2027, ADMIN_2027)
    fixed = recompute(longer, entered)
    assert (fixed.due_date, fixed.provisional, fixed.extensions) == (date(2027, 1, 5), False, (10,))


@pytest.mark.parametrize("extra", [0, -1])
def test_an_extension_must_add_working_days(
    rule: DeadlineRule, calendar: WorkdayCalendar, extra: int
) -> None:
    deadline = rule.deadline(sh(2026, 9, 30), "general", calendar)
    with pytest.raises(UsageError, match="延期须为至少 1 个工作日"):
        extend(deadline, extra, calendar)


@pytest.mark.parametrize(
    ("now", "overdue", "remaining"),
    [
        (sh(2026, 9, 30, 10), False, 5),  # the receipt day: 8, 9, 10, 12, 13 are left
        (sh(2026, 10, 3, 10), False, 5),  # a holiday: nothing used up yet
        (sh(2026, 10, 8, 9), False, 4),  # the first counted day: 9, 10, 12, 13 after it
        (sh(2026, 10, 12, 18), False, 1),
        (sh(2026, 10, 13, 23, 59), False, 0),  # the last day: due at 24:00 tonight
        (sh(2026, 10, 14, 0, 0), True, -1),  # 24:00 passed: Wed 14 is the first day late
        (sh(2026, 10, 16, 12), True, -3),
    ],
)
def test_overdue_and_remaining_working_days(
    rule: DeadlineRule, calendar: WorkdayCalendar, now: datetime, overdue: bool, remaining: int
) -> None:
    deadline = rule.deadline(sh(2026, 9, 30), "general", calendar)
    assert is_overdue(deadline, now.astimezone(UTC)) is overdue
    assert remaining_workdays(now.astimezone(UTC), deadline, calendar) == remaining


def test_just_after_a_friday_deadline_it_is_overdue_by_no_working_day_yet(
    rule: DeadlineRule, calendar: WorkdayCalendar
) -> None:
    deadline = rule.deadline(sh(2026, 10, 14), "urgent", calendar)
    assert deadline.due_date == date(2026, 10, 16)  # Fri
    now = sh(2026, 10, 17, 9)  # Sat
    assert is_overdue(deadline, now) is True
    assert remaining_workdays(now, deadline, calendar) == 0


def test_the_boundary_instant_is_overdue(rule: DeadlineRule, calendar: WorkdayCalendar) -> None:
    deadline = rule.deadline(sh(2026, 9, 18), "urgent", calendar)
    assert is_overdue(deadline, deadline.due_at - timedelta(microseconds=1)) is False
    assert is_overdue(deadline, deadline.due_at) is True


@pytest.mark.parametrize("urgency", ["紧急", "urgent", " urgent ", Urgency.URGENT])
def test_a_class_is_named_by_value_or_chinese_label(
    rule: DeadlineRule, calendar: WorkdayCalendar, urgency: str
) -> None:
    deadline = rule.deadline(sh(2026, 9, 18), urgency, calendar)
    assert (deadline.urgency, deadline.due_date) == ("urgent", date(2026, 9, 21))


def test_admin_edited_classes_are_used(calendar: WorkdayCalendar) -> None:
    classes = {str(k): v for k, v in Settings().deadlines.items()}
    classes.update(general=10, simple=1)
    rule = DeadlineRule(classes)
    assert rule.deadline(sh(2026, 9, 30), "general", calendar).due_date == date(2026, 10, 20)
    assert rule.deadline(sh(2026, 9, 30), "simple", calendar).due_date == date(2026, 10, 8)


def test_an_unknown_class_is_refused_listing_the_known_ones(
    rule: DeadlineRule, calendar: WorkdayCalendar
) -> None:
    with pytest.raises(UsageError, match=r"未知的办理时限类别 'soon'.*immediate、urgent"):
        rule.deadline(sh(2026, 9, 30), "soon", calendar)


def test_negative_working_days_are_refused(calendar: WorkdayCalendar) -> None:
    with pytest.raises(UsageError, match="办理时限不能为负数"):
        DeadlineRule({"urgent": -2})
    with pytest.raises(UsageError, match="办理时限不能为负数"):
        compute_deadline(sh(2026, 9, 30), -1, calendar)


def test_a_naive_receipt_time_is_refused(rule: DeadlineRule, calendar: WorkdayCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        rule.deadline(datetime(2026, 9, 30, 10, 0), "general", calendar)
