"""``deadlines:`` of config.yaml: the working days each urgency class of ticket is given
(pure data; the database's policy versions override it once an admin changes it)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from hub.core.vocab import Urgency

#: The longest deadline a class may have, in working days.
MAX_DEADLINE_DAYS = 365


def _working_days(value: int) -> int:
    # 0 is a same-day deadline (即办); a negative or huge count has no meaning and a huge one
    # would walk the calendar for ages.
    if not 0 <= value <= MAX_DEADLINE_DAYS:
        raise ValueError(f"办理时限应为 0 到 {MAX_DEADLINE_DAYS} 个工作日，而不是 {value}")
    return value


#: A deadline in working days, 0 (same day) to MAX_DEADLINE_DAYS.
WorkingDays = Annotated[int, AfterValidator(_working_days)]


def default_deadlines() -> dict[Urgency, int]:
    """The working days each urgency class gets when config.yaml sets none (docs/design.md)."""
    return {
        Urgency.IMMEDIATE: 0,
        Urgency.URGENT: 2,
        Urgency.GENERAL: 5,
        Urgency.COMPLEX: 15,
        Urgency.HARD: 30,
    }
