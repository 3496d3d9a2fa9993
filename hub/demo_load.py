"""``hub demo``: load the demo registry through the same import path a clerk uses.

The demo rows are written as CSV files under ``<data_dir>/demo/`` and imported like any other
file, so the demo exercises the real validation and upsert; running it twice changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from hub.clock import SystemClock
from hub.config import Settings
from hub.demo_data import demo_departments, demo_enterprises, demo_officers, write_csv
from hub.importing.service import ImportKind, ImportReport, import_file
from hub.runtime import open_database


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


async def load_demo(settings: Settings, *, enterprises: int = 300) -> dict[str, ImportReport]:
    """Import the demo departments, officers and enterprises; returns one report per file."""
    files = write_demo_files(settings.data_dir / "demo", enterprises=enterprises)
    reports: dict[str, ImportReport] = {}
    async with open_database(settings) as db:
        for kind, path in files.items():
            reports[kind] = await import_file(db, kind, path, SystemClock())
    return reports
