"""Seed programs, one module each: what a schedule's fire (or an import) sends beyond a campaign.

``PROGRAMS`` is the table of them (name -> :class:`~hub.scheduling.programs.base.Program`); how a
program plugs in is in :mod:`hub.scheduling.programs.base`. The table lives here because it
imports every program module, and each of them imports ``base``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from hub.scheduling.programs import (
    credit_report,
    credit_warning,
    key_contact,
    ledger,
    policy_match,
    procedure_reminders,
    visit_plan,
    visit_reminders,
    work_report,
)
from hub.scheduling.programs.base import Program

PROGRAMS: Final[dict[str, Program]] = {
    credit_report.NAME: credit_report.PROGRAM,
    credit_warning.NAME: credit_warning.PROGRAM,
    procedure_reminders.NAME: procedure_reminders.PROGRAM,
    policy_match.NAME: policy_match.PROGRAM,
    visit_plan.NAME: visit_plan.PROGRAM,
    visit_reminders.NAME: visit_reminders.PROGRAM,
    ledger.NAME: ledger.PROGRAM,
    work_report.NAME: work_report.PROGRAM,
    key_contact.NAME: key_contact.PROGRAM,
}


def check_program_data(templates_folder: Path) -> None:
    """Read the admin-edited data the programs keep beside the templates
    (``credit_warning/guidance.yaml``): ConfigError naming file, key and line when it is broken.
    ``hub templates check`` and process start-up call it, so a bad edit is found before a
    credit event arrives rather than when its warning cannot be sent."""
    credit_warning.load_guidance(
        templates_folder / credit_warning.NAME / credit_warning.GUIDANCE_FILE
    )
