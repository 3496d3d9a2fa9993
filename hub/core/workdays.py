"""The Chinese working-day calendar (工作日历): statutory holidays, make-up workdays, admin years.

Where a day's status comes from, in order:

1. an admin-entered calendar for its year (config ``calendar.years`` or the admin API): the days
   it lists as holidays are days off, the days it lists as workdays (调休上班) are workdays;
2. otherwise ``chinese-calendar`` when it covers the year (2004–2026 in 1.11; it raises
   ``NotImplementedError`` outside its range);
3. otherwise Monday–Friday. Such a year is *provisional*: deadlines that count any of its days
   are marked provisional, and the hub warns once per year (in Chinese and English) so an admin
   enters the year's holidays. It never raises for a missing year — a ticket received in
   December 2026 whose deadline lands in 2027 works today.

An admin calendar patches the base day by day: for a year chinese-calendar covers, days it does
not list keep their statutory status, so a local correction does not have to repeat the
national holidays; for an uncovered year the base is Monday–Friday. Entering a year (even with
empty lists, meaning "plain Monday–Friday") makes it non-provisional.

The calendar is immutable; entering a year builds a new one (``with_year``). Per-day answers
are cached, since deadline computation runs for thousands of tickets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal, Protocol

import chinese_calendar
import structlog

from hub.core.errors import UsageError

CalendarSource = Literal["admin", "chinese_calendar", "fallback"]

# Even the Spring Festival with its weekends is ~10 days off; this long a run of days off means
# the admin data is broken, and stopping beats looping to the end of the calendar.
_MAX_DAYS_OFF_IN_A_ROW = 120


class YearCalendarLike(Protocol):
    """One year as an admin enters it, ISO strings or dates (``hub.core.settings.YearCalendar``)."""

    @property
    def holidays(self) -> Iterable[date | str]: ...

    @property
    def workdays(self) -> Iterable[date | str]: ...


@dataclass(frozen=True, slots=True)
class YearDays:
    """One year's admin-entered days, parsed: holidays (放假) and make-up workdays (调休上班)."""

    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value.strip())


def year_calendar_problems(year: int, entered: YearCalendarLike) -> list[str]:
    """What is wrong with an admin-entered year, in Chinese; empty when it can be used.

    For config validators (raise ``ValueError`` with these) and the admin API (answer 400).
    """
    problems: list[str] = []
    if not 1900 <= year <= 9998:
        problems.append(f"年份 {year} 不在 1900–9998 之间 (year)")
    seen: dict[date, str] = {}
    for field, label in (("holidays", "节假日"), ("workdays", "调休上班日")):
        for raw in getattr(entered, field):
            try:
                day = _as_date(raw)
            except (TypeError, ValueError):
                problems.append(f"{label} {raw!r} 不是 YYYY-MM-DD 格式的日期 ({field})")
                continue
            if day.year != year:
                problems.append(f"{label} {day.isoformat()} 不属于 {year} 年 ({field})")
            elif seen.get(day, field) != field:
                problems.append(
                    f"{day.isoformat()} 同时被录入为节假日和调休上班日 (holidays/workdays)"
                )
            seen[day] = field
    return problems


def parse_year_calendar(year: int, entered: YearCalendarLike) -> YearDays:
    """Parse and check one admin-entered year; ``UsageError`` listing every problem."""
    problems = year_calendar_problems(year, entered)
    if problems:
        raise UsageError(f"{year} 年工作日历有误：" + "；".join(problems))
    return YearDays(
        holidays=frozenset(_as_date(d) for d in entered.holidays),
        workdays=frozenset(_as_date(d) for d in entered.workdays),
    )


def year_days_from_rows(rows: Iterable[tuple[date, bool]]) -> dict[int, YearDays]:
    """Group per-day rows ``(day, is_workday)`` (the ``workday_override`` table) by year."""
    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day, is_workday in rows:
        holidays.setdefault(day.year, set())
        workdays.setdefault(day.year, set())
        (workdays if is_workday else holidays)[day.year].add(day)
    return {
        year: YearDays(holidays=frozenset(holidays[year]), workdays=frozenset(workdays[year]))
        for year in holidays
    }


def log_missing_year(year: int) -> None:
    """The default warning for a year with no calendar data (structlog, Chinese + English)."""
    # Fetched here, not at import: it runs once per year, and stays correct when tests or the
    # CLI reconfigure structlog after this module was imported.
    structlog.get_logger(__name__).warning(
        "workday_calendar_missing",
        year=year,
        message=(
            f"{year} 年工作日历未录入（chinese-calendar 无该年数据），暂按周一至周五计算，"
            "相关办理时限为临时时限；请管理员录入该年节假日和调休上班日 / "
            f"no holiday calendar for {year}: counting Monday-Friday and marking deadlines "
            "provisional until an admin enters the year's holidays and make-up workdays"
        ),
    )


def _statutory_covers(year: int) -> bool:
    try:
        chinese_calendar.is_workday(date(year, 1, 1))
    except NotImplementedError:
        return False
    return True


class WorkdayCalendar:
    """Which days are working days in China, and counting them.

    ``overrides`` maps a year to its admin-entered calendar (``YearDays``, or anything with
    ``holidays`` and ``workdays`` such as ``hub.core.settings.YearCalendar``). ``warn`` is called
    once per year that has no data at all (default: a structlog warning).
    """

    def __init__(
        self,
        overrides: Mapping[int, YearDays | YearCalendarLike] | None = None,
        *,
        warn: Callable[[int], None] = log_missing_year,
    ) -> None:
        self._years: dict[int, YearDays] = {
            year: days if isinstance(days, YearDays) else parse_year_calendar(year, days)
            for year, days in (overrides or {}).items()
        }
        self._warn = warn
        self._warned: set[int] = set()
        self._covered: dict[int, bool] = {}
        self._days: dict[date, bool] = {}

    @classmethod
    def from_years(
        cls,
        years: Mapping[int, YearCalendarLike],
        *,
        warn: Callable[[int], None] = log_missing_year,
    ) -> WorkdayCalendar:
        """From config (``settings.calendar.years``) or any year → calendar mapping."""
        return cls(years, warn=warn)

    @property
    def admin_years(self) -> frozenset[int]:
        return frozenset(self._years)

    def with_year(self, year: int, entered: YearDays | YearCalendarLike) -> WorkdayCalendar:
        """A new calendar with one year entered (or replaced); this one is left as it was."""
        years: dict[int, YearDays | YearCalendarLike] = dict(self._years)
        years[year] = entered
        return WorkdayCalendar(years, warn=self._warn)

    # -- one day ---------------------------------------------------------------------------

    def source(self, year: int) -> CalendarSource:
        """Where the year's days come from: ``admin``, ``chinese_calendar`` or ``fallback``."""
        if year in self._years:
            return "admin"
        return "chinese_calendar" if self._statutory(year) else "fallback"

    def is_provisional(self, day: date) -> bool:
        """True when the day's year has no data and is counted Monday–Friday."""
        return self.source(day.year) == "fallback"

    def span_provisional(self, first: date, last: date) -> bool:
        """True when any day from ``first`` to ``last`` (inclusive, either order) is provisional."""
        low, high = sorted((first.year, last.year))
        return any(self.source(year) == "fallback" for year in range(low, high + 1))

    def is_workday(self, day: date) -> bool:
        """True on a working day: Monday–Friday or a make-up workday, and not a holiday."""
        known = self._days.get(day)
        if known is None:
            known = self._days[day] = self._lookup(day)
        return known

    def is_day_off(self, day: date) -> bool:
        """True on a weekend or holiday that is not a make-up workday (quiet hours' whole days)."""
        return not self.is_workday(day)

    def _statutory(self, year: int) -> bool:
        covered = self._covered.get(year)
        if covered is None:
            covered = self._covered[year] = _statutory_covers(year)
        return covered

    def _lookup(self, day: date) -> bool:
        if isinstance(day, datetime):
            raise TypeError("WorkdayCalendar takes dates; convert the datetime to a local date")
        entered = self._years.get(day.year)
        if entered is not None:
            if day in entered.workdays:
                return True
            if day in entered.holidays:
                return False
        if self._statutory(day.year):
            return bool(chinese_calendar.is_workday(day))
        if entered is None and day.year not in self._warned:
            self._warned.add(day.year)
            self._warn(day.year)
        return day.weekday() < 5

    # -- counting --------------------------------------------------------------------------

    def next_workday(self, day: date) -> date:
        """The first working day strictly after ``day``."""
        return self.add_workdays(day, 1)[0]

    def workday_on_or_after(self, day: date) -> date:
        """``day`` itself when it is a working day, else the next one."""
        return day if self.is_workday(day) else self.next_workday(day)

    def add_workdays(self, start: date, n: int) -> tuple[date, bool]:
        """The ``n``-th working day after ``start`` (before it when ``n`` < 0), and provisional.

        ``start`` itself is not counted (民法典 第二百零一条), whatever kind of day it is; ``n`` = 0
        returns ``start``. Provisional is True when any counted day lies in a fallback year.
        """
        if n == 0:
            return start, False
        step = timedelta(days=1 if n > 0 else -1)
        day, left, off_in_a_row = start, abs(n), 0
        while left:
            day += step
            if self.is_workday(day):
                left -= 1
                off_in_a_row = 0
            else:
                off_in_a_row += 1
                if off_in_a_row > _MAX_DAYS_OFF_IN_A_ROW:
                    raise UsageError(
                        f"工作日历数据有误：{day.isoformat()} 前后连续 {_MAX_DAYS_OFF_IN_A_ROW} "
                        "天以上没有工作日，请检查录入的节假日 (calendar.years)"
                    )
        return day, self.span_provisional(start + step, day)

    def workdays_between(self, a: date, b: date) -> int:
        """Working days after ``a`` up to and including ``b``; when ``b`` is before ``a``, minus
        the working days from ``b`` up to but excluding ``a``.

        The inverse of ``add_workdays``: ``workdays_between(a, add_workdays(a, n)[0]) == n``.
        """
        one = timedelta(days=1)
        first, last, sign = (a + one, b, 1) if b >= a else (b, a - one, -1)
        count, day = 0, first
        while day <= last:
            count += self.is_workday(day)
            day += one
        return sign * count
