"""``hub demo``: load the demo registry through the same import path a clerk uses.

The demo rows are written as CSV files under ``<data_dir>/demo/`` and imported like any other
file, so the demo exercises the real validation and upsert; then the demo staff accounts
(:func:`hub.devtools.demo_data.demo_staff`) are added, so requests get a handler and the API can be
tried with a token. Running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.app.config import Settings
from hub.app.runtime import open_database
from hub.core.clock import SystemClock
from hub.devtools.demo_data import (
    demo_departments,
    demo_enterprises,
    demo_officers,
    demo_staff,
    write_csv,
)
from hub.importing.service import ImportKind, ImportReport, import_file
from hub.tickets.staff import NewStaff, StaffRole, add_missing_staff

ACTOR = "demo"


@dataclass(frozen=True, slots=True)
class DemoReport:
    """One import report per file, and the demo staff accounts created or already there."""

    imports: dict[str, ImportReport]
    staff_created: list[str]
    staff_existing: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            **{name: report.as_dict() for name, report in self.imports.items()},
            "staff": {"created": self.staff_created, "existing": self.staff_existing},
        }


def write_demo_files(folder: Path, *, enterprises: int) -> dict[ImportKind, Path]:
    """Write the three demo files (departments first: officers refer to them, and so on)."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[ImportKind, Path] = {
        "departments": folder / "departments.csv",
        "officers": folder / "officers.csv",
        "enterprises": folder / "enterprises.csv",
    }
    write_csv(files["departments"], demo_departments())
    write_csv(files["officers"], demo_officers())
    write_csv(files["enterprises"], demo_enterprises(enterprises))
    return files


def demo_accounts() -> list[NewStaff]:
    """The demo staff as ``add_staff`` takes them (empty columns: none)."""
    return [
        NewStaff(
            username=row["username"],
            name=row["name"],
            role=StaffRole(row["role"]),
            department=row["department"] or None,
            district=row["district"] or None,
            mobile=row["mobile"] or None,
            wecom_userid=row["wecom_userid"] or None,
        )
        for row in demo_staff()
    ]


async def load_demo(settings: Settings, *, enterprises: int = 300) -> DemoReport:
    """Import the demo departments, officers and enterprises, then add the demo staff."""
    files = write_demo_files(settings.data_dir / "demo", enterprises=enterprises)
    reports: dict[str, ImportReport] = {}
    clock = SystemClock()
    accounts = demo_accounts()
    async with open_database(settings) as db:
        for kind, path in files.items():
            reports[kind] = await import_file(db, kind, path, clock)
        created = await add_missing_staff(db, clock, accounts, actor=ACTOR)
    existing = [a.username for a in accounts if a.username not in created]
    return DemoReport(reports, created, existing)
