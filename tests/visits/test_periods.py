"""Visit periods: the tier cadence cuts the calendar year into named periods."""

from __future__ import annotations

from datetime import date

import pytest

from hub.core.errors import UsageError
from hub.visits.periods import parse_period, period_of, periods_within


@pytest.mark.parametrize(
    ("day", "months", "label", "first", "last"),
    [
        (date(2027, 2, 14), 3, "2027Q1", date(2027, 1, 1), date(2027, 3, 31)),
        (date(2027, 12, 31), 3, "2027Q4", date(2027, 10, 1), date(2027, 12, 31)),
        (date(2027, 7, 1), 6, "2027H2", date(2027, 7, 1), date(2027, 12, 31)),
        (date(2027, 6, 30), 6, "2027H1", date(2027, 1, 1), date(2027, 6, 30)),
        (date(2027, 5, 5), 12, "2027", date(2027, 1, 1), date(2027, 12, 31)),
        (date(2028, 2, 29), 1, "2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        (date(2027, 4, 1), 2, "2027B2", date(2027, 3, 1), date(2027, 4, 30)),
        (date(2027, 9, 1), 4, "2027T3", date(2027, 9, 1), date(2027, 12, 31)),
    ],
)
def test_a_day_falls_in_one_named_period_of_its_cadence(
    day: date, months: int, label: str, first: date, last: date
) -> None:
    period = period_of(day, months)
    assert (period.label, period.first, period.last) == (label, first, last)
    assert day in period
    assert parse_period(label) == period


def test_the_next_period_follows_without_a_gap_across_the_year_end() -> None:
    q4 = parse_period("2027Q4")
    assert q4.next() == parse_period("2028Q1")
    assert q4.next().first == date(2028, 1, 1)


def test_periods_within_a_half_year_are_its_two_quarters() -> None:
    labels = [p.label for p in periods_within(parse_period("2027H2"), 3)]
    assert labels == ["2027Q3", "2027Q4"]


@pytest.mark.parametrize("label", ["2027Q5", "2027H3", "27Q1", "2027-13", "2027X1", ""])
def test_a_period_label_that_names_no_period_is_refused_with_the_label(label: str) -> None:
    with pytest.raises(UsageError, match="期间"):
        parse_period(label)


def test_a_cadence_that_does_not_divide_the_year_is_refused() -> None:
    with pytest.raises(UsageError, match="5 个月"):
        period_of(date(2027, 1, 1), 5)
