"""What scheduling reads from the settings: the ``tiers:`` section (how often each tier of
enterprise is visited; pure pydantic data) and the config file, beside which ``schedules/`` may
sit (:class:`ConfigFile`, which the app's settings satisfy)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import Field

from hub.core.settings import FrozenSettings


class ConfigFile(Protocol):
    """The config.yaml the settings were loaded from (None: built in code, as tests do)."""

    @property
    def source(self) -> Path | None: ...


class TierSettings(FrozenSettings):
    """How often enterprises of one tier are visited, and contacted between visits."""

    visit_every_months: int = Field(ge=1)
    contact_every_months: int | None = Field(default=None, ge=1)


def default_tiers() -> dict[str, TierSettings]:
    """The three tiers as the service plan sets them (key, general, ordinary)."""
    return {
        "key": TierSettings(visit_every_months=3, contact_every_months=1),
        "general": TierSettings(visit_every_months=6),
        "ordinary": TierSettings(visit_every_months=12),
    }
