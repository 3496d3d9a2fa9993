"""What scheduling reads from the settings: the ``tiers:`` section (how often each tier of
enterprise is visited; pure pydantic data) and the config file, beside which ``schedules/`` may
sit (:class:`ConfigFile`, which the app's settings satisfy)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import Field, field_validator

from hub.core.settings import FrozenSettings
from hub.visits.periods import CADENCES


class ConfigFile(Protocol):
    """The config.yaml the settings were loaded from (None: built in code, as tests do)."""

    @property
    def source(self) -> Path | None: ...


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
