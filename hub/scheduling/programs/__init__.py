"""Seed programs, one module each: what a schedule's fire (or an import) sends beyond a campaign.

``PROGRAMS`` is the table of them (name -> :class:`~hub.scheduling.programs.base.Program`); how a
program plugs in is in :mod:`hub.scheduling.programs.base`. The table lives here because it
imports every program module, and each of them imports ``base``.
"""

from __future__ import annotations

from typing import Final

from hub.scheduling.programs.base import Program

PROGRAMS: Final[dict[str, Program]] = {}
