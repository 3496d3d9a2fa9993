"""What the visit cycle reads from config.yaml: ``tiers:`` (how often each tier of enterprise
is visited and contacted) and ``visits:`` (how a visit is proposed, answered and reminded).
"""

from __future__ import annotations

from datetime import time

from pydantic import Field, field_validator, model_validator

from hub.core.settings import FrozenSettings
from hub.visits.periods import CADENCES


class VisitsSettings(FrozenSettings):
    """``visits:`` (defaults follow the seeds' practice; every value is a working-day count or a
    Shanghai wall-clock time).

    - ``propose_workdays_before``: the proposal goes this many working days before the day the
      plan gave the visit;
    - ``lead_workdays``: the first slot offered is at least this many working days after the
      proposal (the enterprise needs time to answer);
    - ``slots``: how many times a proposal offers (2–3); ``slot_times``: the officer's visiting
      hours they are drawn from; ``work_start``/``work_end``: the officer's working hours (a
      time an enterprise proposes outside them is kept but flagged to the officer);
    - ``answer_within_workdays``: no answer by then puts a task on the officer's list to phone;
    - ``remind_before_at``: the officer's reminder the working day before, at this time;
      ``remind_day_at``: the morning of the visit;
    - ``contact_by_day``: a key enterprise with no contact this month by this day of the month
      puts a reminder on its officer's list.
    """

    propose_workdays_before: int = Field(default=10, ge=1, le=60)
    lead_workdays: int = Field(default=3, ge=1, le=30)
    slots: int = Field(default=3, ge=2, le=3)
    slot_times: tuple[time, ...] = (time(9, 30), time(14, 30))
    work_start: time = time(9, 0)
    work_end: time = time(17, 30)
    answer_within_workdays: int = Field(default=3, ge=1, le=20)
    remind_before_at: time = time(15, 0)
    remind_day_at: time = time(8, 0)
    contact_by_day: int = Field(default=20, ge=1, le=28)

    @model_validator(mode="after")
    def _slot_times_in_working_hours(self) -> VisitsSettings:
        if not self.slot_times:
            raise ValueError("slot_times 不能为空")
        outside = [t for t in self.slot_times if not self.work_start <= t < self.work_end]
        if outside:
            shown = ", ".join(t.strftime("%H:%M") for t in outside)
            raise ValueError(f"slot_times 不在工作时间 work_start–work_end 内: {shown}")
        if self.work_start >= self.work_end:
            raise ValueError("work_start 必须早于 work_end")
        return self


class TierSettings(FrozenSettings):
    """How often enterprises of one tier are visited, and contacted between visits."""

    visit_every_months: int = Field(ge=1)
    contact_every_months: int | None = Field(default=None, ge=1)

    @field_validator("visit_every_months")
    @classmethod
    def _whole_periods(cls, months: int) -> int:
        if months not in CADENCES:  # the plan names periods of the calendar year
            allowed = ", ".join(str(m) for m in sorted(CADENCES))
            raise ValueError(f"走访周期须能整分一年（{allowed} 个月）")
        return months


def default_tiers() -> dict[str, TierSettings]:
    """The three tiers as the service plan sets them (key, general, ordinary)."""
    return {
        "key": TierSettings(visit_every_months=3, contact_every_months=1),
        "general": TierSettings(visit_every_months=6),
        "ordinary": TierSettings(visit_every_months=12),
    }
