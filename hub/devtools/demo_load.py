"""``hub demo``: load the demo registry through the same import path a clerk uses.

The demo rows are written as CSV files under ``<data_dir>/demo/`` and imported like any other
file, so the demo exercises the real validation and upsert: the registry, then the enterprise
data the programs read (credit events, policies, licences, annual-report filings:
:mod:`hub.devtools.demo_records`, dated from the clock's day) and the FAQ library of smart
answers (``demo_faq.csv``, saved versioned and audit-logged by ``hub.knowledge.faq.
save_faq_entries`` as ``hub import faq`` saves it). Then the demo staff accounts
(:func:`hub.devtools.demo_data.demo_staff`) are added, with the web admin's demo password
(``DEMO_PASSWORD``, on accounts that have none), so requests get a handler and the API can be
tried with a token, and the visit plan is made for the clock's day (:func:`hub.visits.plan.
plan_visits`): every officer's enterprises of each tier get their visit of the current period,
the first of each on the first working day, so proposals are due at once (``hub visits due``).
Running it twice on one day changes nothing. Loading sends nothing: the programs send when their
schedules fire (``hub schedules run NAME``, or ``hub run``'s scheduler; ``visit_plan`` sends the
visit proposals).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.app.config import Settings
from hub.app.runtime import open_database
from hub.core.clock import SHANGHAI, Clock, SystemClock
from hub.core.workdays import WorkdayCalendar
from hub.devtools.demo_data import (
    DEMO_PASSWORD,
    demo_departments,
    demo_enterprises,
    demo_officers,
    demo_staff,
    write_csv,
)
from hub.devtools.demo_records import (
    demo_annual_reports,
    demo_credit_events,
    demo_licences,
    demo_policies,
    unique_enterprises,
)
from hub.importing.service import ImportKind, ImportReport, import_file
from hub.store.db import Database
from hub.tickets.policy import load_calendar
from hub.tickets.staff import NewStaff, StaffRole, add_missing_staff, list_staff, set_officer
from hub.tickets.staff_passwords import set_missing_passwords
from hub.visits.plan import PlanResult, plan_visits
from hub.visits.settings import TierSettings, default_tiers

ACTOR = "demo"
#: The demo FAQ library (常见问题库, package data), imported as a clerk's ``hub import faq``.
DEMO_FAQ = package_files("hub.devtools") / "demo_faq.csv"


@dataclass(frozen=True, slots=True)
class DemoReport:
    """One import report per file, the demo staff accounts created or already there, and the
    visits planned."""

    imports: dict[str, ImportReport]
    staff_created: list[str]
    staff_existing: list[str]
    visits: PlanResult = field(default_factory=PlanResult)

    def as_dict(self) -> dict[str, Any]:
        return {
            **{name: report.as_dict() for name, report in self.imports.items()},
            "staff": {"created": self.staff_created, "existing": self.staff_existing},
            "visits": {
                "created": self.visits.created,
                "already_planned": self.visits.already_planned,
                "periods": {tier: plan.period for tier, plan in self.visits.by_tier.items()},
            },
        }


def write_demo_files(folder: Path, *, enterprises: int, today: date) -> dict[ImportKind, Path]:
    """Write the demo files in import order (departments first: officers refer to them, and so
    on; the enterprise data last, it names enterprises), dated from ``today``."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[ImportKind, Path] = {
        kind: folder / f"{kind}.csv"
        for kind in ("departments", "officers", "enterprises", "credit", "policies", "licences",
                     "annual-reports", "faq")
    }  # fmt: skip
    registry = list(demo_enterprises(enterprises))
    known = unique_enterprises(registry)
    write_csv(files["departments"], demo_departments())
    write_csv(files["officers"], demo_officers())
    write_csv(files["enterprises"], registry)
    write_csv(files["credit"], demo_credit_events(known, today))
    write_csv(files["policies"], demo_policies(today))
    write_csv(files["licences"], demo_licences(known, today))
    write_csv(files["annual-reports"], demo_annual_reports(known, today))
    files["faq"].write_bytes(DEMO_FAQ.read_bytes())
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
            officer=row["officer"] or None,
        )
        for row in demo_staff()
    ]


async def _link_unlinked_officers(db: Database, clock: Clock, accounts: list[NewStaff]) -> None:
    """Link the demo officer accounts a demo made before accounts had an officer (they would
    see nothing); an account an admin has linked keeps its officer."""
    unlinked = {v.username for v in await list_staff(db) if v.officer_id is None}
    for account in accounts:
        if account.officer is not None and account.username in unlinked:
            await set_officer(db, clock, account.username, account.officer, actor=ACTOR)


async def load_demo(
    settings: Settings, *, enterprises: int = 300, clock: Clock | None = None
) -> DemoReport:
    """Import the demo registry and enterprise data (dated from ``clock``'s day in the hub's
    zone), then add the demo staff."""
    clock = clock or SystemClock()
    async with open_database(settings) as db:
        async with db.read() as session:  # config's years and the ones admins entered
            calendar = await load_calendar(session, settings)
        return await load_demo_into(
            db, settings.data_dir / "demo", clock, enterprises=enterprises, tz=settings.hub.tz,
            tiers=settings.tiers, calendar=calendar,
        )  # fmt: skip


async def load_demo_into(
    db: Database,
    folder: Path,
    clock: Clock,
    *,
    enterprises: int = 300,
    tz: ZoneInfo = SHANGHAI,
    tiers: Mapping[str, TierSettings] | None = None,
    calendar: WorkdayCalendar | None = None,
) -> DemoReport:
    """:func:`load_demo` on an open database, the files written to ``folder`` (``tiers`` and
    ``calendar``: the plan's; default: the seeded tiers and the statutory calendar)."""
    today = clock.now().astimezone(tz).date()
    files = write_demo_files(folder, enterprises=enterprises, today=today)
    reports: dict[str, ImportReport] = {}
    accounts = demo_accounts()
    for kind, path in files.items():
        reports[kind] = await import_file(db, kind, path, clock, actor=ACTOR)
    created = await add_missing_staff(db, clock, accounts, actor=ACTOR)
    await _link_unlinked_officers(db, clock, accounts)
    # The web admin's password, on the accounts that have none yet (a changed one stays).
    await set_missing_passwords(db, clock, [a.username for a in accounts], DEMO_PASSWORD,
                                actor=ACTOR)  # fmt: skip
    existing = [a.username for a in accounts if a.username not in created]
    async with db.write() as session:
        planned = await plan_visits(
            session, tiers=tiers or default_tiers(), calendar=calendar or WorkdayCalendar(),
            today=today, now=clock.now(),
        )  # fmt: skip
    return DemoReport(reports, created, existing, planned)
