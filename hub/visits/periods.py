"""Visit periods: a tier's cadence (``tiers.<tier>.visit_every_months``) cuts the year into
periods, and each enterprise has one visit due per period.

A period is named by its year and its block of months: ``2027`` (12 months), ``2027H1`` (6),
``2027Q1`` (3), ``2027-03`` (1), and ``2027B1`` (2) or ``2027T1`` (4) for the other cadences
that divide the year. A cadence that does not divide twelve months has no calendar periods and
is refused where the settings are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from hub.core.errors import UsageError

#: Months per period -> the letter its blocks are named by ("" for none: a year or a month).
_LETTERS: Final = {12: "", 6: "H", 4: "T", 3: "Q", 2: "B", 1: ""}
_LABEL_RE: Final = re.compile(r"^(\d{4})(?:([HTQB])([1-6])|-(\d{2}))?$")
CADENCES: Final = frozenset(_LETTERS)


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A block of months: ``first`` and ``last`` days included; ``label`` as the CLI takes it."""

    first: date
    last: date
    months: int
    label: str

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.first <= day <= self.last

    def next(self) -> Period:
        """The period after this one, of the same length."""
        return period_of(self.last + timedelta(days=1), self.months)


def check_cadence(months: int) -> None:
    """Refuse a cadence that does not cut the year into whole periods."""
    if months not in CADENCES:
        allowed = "、".join(str(m) for m in sorted(CADENCES))
        raise UsageError(f"走访周期 {months} 个月无法按自然年划分，可选：{allowed}")


def period_of(day: date, months: int) -> Period:
    """The period of ``months`` months that contains ``day``."""
    check_cadence(months)
    block = (day.month - 1) // months
    first = date(day.year, block * months + 1, 1)
    end_month = first.month + months  # the month after the period, 13 meaning next January
    last = (
        date(day.year + 1, 1, 1) if end_month > 12 else date(day.year, end_month, 1)
    ) - timedelta(days=1)
    return Period(first, last, months, _label(day.year, months, block, first.month))


def _label(year: int, months: int, block: int, first_month: int) -> str:
    if months == 12:
        return str(year)
    if months == 1:
        return f"{year}-{first_month:02d}"
    return f"{year}{_LETTERS[months]}{block + 1}"


def parse_period(label: str) -> Period:
    """``2027``, ``2027H1``, ``2027Q3``, ``2027-05``, ``2027B2``, ``2027T3`` -> the period."""
    found = _LABEL_RE.match(label.strip().upper())
    if found is None:
        raise UsageError(f"无法识别的期间 {label!r}，应为 2027、2027H1、2027Q1 或 2027-03")
    year = int(found.group(1))
    if not 1900 <= year <= 2999:  # date() has no year 0, and a 9999 period would end past it
        raise UsageError(f"无法识别的期间 {label!r}：年份应在 1900–2999 之间")
    letter, number, month = found.group(2), found.group(3), found.group(4)
    if month is not None:
        if not 1 <= int(month) <= 12:
            raise UsageError(f"无法识别的期间 {label!r}：月份应为 01–12")
        return period_of(date(year, int(month), 1), 1)
    if letter is None:
        return period_of(date(year, 1, 1), 12)
    months = next(m for m, x in _LETTERS.items() if x == letter)
    if int(number) > 12 // months:
        raise UsageError(f"无法识别的期间 {label!r}：一年只有 {12 // months} 个")
    return period_of(date(year, (int(number) - 1) * months + 1, 1), months)


def periods_within(outer: Period, months: int) -> list[Period]:
    """The periods of ``months`` months that overlap ``outer`` (quarters of a half-year)."""
    check_cadence(months)
    found: list[Period] = []
    current = period_of(outer.first, months)
    while current.first <= outer.last:
        found.append(current)
        current = current.next()
    return found
