"""Quiet hours: the window wraps midnight, and held messages are released when it opens."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from hub.core.clock import SHANGHAI
from hub.core.settings import YearCalendar
from hub.core.vocab import MessageKind
from hub.core.workdays import WorkdayCalendar
from hub.outbound.quiet_hours import hold_until, quiet_hold
from hub.outbound.settings import QuietHours, QuietWindow


def shanghai(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "release"),
    [
        (shanghai(20, 59), None),
        (shanghai(21, 0), shanghai(8, 0, day=24)),
        (shanghai(23, 30), shanghai(8, 0, day=24)),
        (shanghai(0, 10), shanghai(8, 0)),
        (shanghai(7, 59), shanghai(8, 0)),
        (shanghai(8, 0), None),
        (shanghai(12, 0), None),
    ],
)
def test_default_window_wraps_midnight(now: datetime, release: datetime | None) -> None:
    held = hold_until(now.astimezone(UTC), QuietHours(), SHANGHAI)
    assert held == (release.astimezone(UTC) if release else None)


def test_a_daytime_window_does_not_wrap() -> None:
    window = QuietWindow(start=time(12, 0), end=time(13, 30))
    assert hold_until(shanghai(12, 15), window, SHANGHAI) == shanghai(13, 30).astimezone(UTC)
    assert hold_until(shanghai(13, 30), window, SHANGHAI) is None


def test_urgent_kinds_bypass_and_kinds_may_have_their_own_window() -> None:
    quiet = QuietHours(
        per_kind={MessageKind.VISIT_REMINDER: QuietWindow(start=time(22, 0), end=time(7, 0))}
    )
    assert quiet.window(MessageKind.CREDIT_WARNING) is None
    assert hold_until(shanghai(21, 30), quiet.window(MessageKind.VISIT_REMINDER), SHANGHAI) is None
    assert hold_until(shanghai(21, 30), quiet.window(MessageKind.NOTICE), SHANGHAI) is not None


# --- whole days off by the working-day calendar (quiet_hours.days_off) -------------------------


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "release"),
    [
        # Friday 22:00: the night window ends Saturday 08:00, a day off -> Monday 08:00.
        (local(2026, 9, 25, 22, 0), local(2026, 9, 28, 8, 0)),
        # Sunday 20 Sep 2026 is a make-up workday: a daytime message goes at once.
        (local(2026, 9, 20, 10, 0), None),
        # National Day holiday 1-7 Oct: the 1st waits for Thursday 8 Oct 08:00.
        (local(2026, 10, 1, 10, 0), local(2026, 10, 8, 8, 0)),
        # Saturday 10 Oct 2026 is a make-up workday.
        (local(2026, 10, 10, 9, 0), None),
        # A plain Saturday afternoon -> Monday morning.
        (local(2026, 11, 28, 15, 0), local(2026, 11, 30, 8, 0)),
        # A working Monday at noon goes at once.
        (local(2026, 11, 30, 12, 0), None),
    ],
)
def test_days_off_hold_until_the_next_working_morning(
    now: datetime, release: datetime | None
) -> None:
    calendar = WorkdayCalendar()
    held = hold_until(now.astimezone(UTC), QuietHours(days_off=True), SHANGHAI, days_off=calendar)
    assert held == (release.astimezone(UTC) if release else None)


def test_without_days_off_a_weekend_afternoon_goes_at_once() -> None:
    saturday = datetime(2026, 11, 28, 15, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert hold_until(saturday, QuietHours(), SHANGHAI) is None


def test_an_entered_2027_calendar_decides_days_off_in_2027() -> None:
    # 2027 is beyond chinese-calendar: without data Mon–Fri counts, with data the entry wins.
    friday_holiday = datetime(2027, 1, 1, 10, 0, tzinfo=SHANGHAI)  # a Friday
    assert hold_until(friday_holiday, QuietHours(), SHANGHAI, days_off=WorkdayCalendar()) is None
    entered = WorkdayCalendar.from_years(
        {2027: YearCalendar(holidays=(date(2027, 1, 1),), workdays=())}
    )
    assert hold_until(friday_holiday, QuietHours(), SHANGHAI, days_off=entered) == datetime(
        2027, 1, 4, 8, 0, tzinfo=SHANGHAI
    ).astimezone(UTC)


def test_a_hold_says_the_window_and_when_the_message_goes() -> None:
    hold = quiet_hold(shanghai(22, 6).astimezone(UTC), QuietHours(), SHANGHAI)
    assert hold is not None
    assert hold.release_at == shanghai(8, 0, day=24).astimezone(UTC)
    assert hold.reason == "免打扰时段（21:00–08:00），将于 11-24 08:00 发送"
    assert quiet_hold(shanghai(10, 0), QuietHours(), SHANGHAI) is None
    assert quiet_hold(shanghai(22, 0), None, SHANGHAI) is None


def test_a_hold_over_days_off_says_so() -> None:
    saturday = local(2026, 11, 28, 15, 0)
    hold = quiet_hold(saturday, QuietHours(days_off=True), SHANGHAI, days_off=WorkdayCalendar())
    assert hold is not None
    assert hold.reason == "免打扰时段（21:00–08:00，休息日全天），将于 11-30 08:00 发送"
