"""What scheduling reads from the settings: the config file, beside which ``schedules/`` may
sit (:class:`ConfigFile`, which the app's settings satisfy)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class ConfigFile(Protocol):
    """The config.yaml the settings were loaded from (None: built in code, as tests do)."""

    @property
    def source(self) -> Path | None: ...
