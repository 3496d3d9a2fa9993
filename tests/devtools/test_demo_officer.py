"""``hub demo``'s officer account: ``demo-officer`` stands for the demo officer ``DEMO_OFFICER``
(his name, linked), so it signs in to see that officer's enterprises, not none; a demo database
made before the link gets it on the next run."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.devtools.demo_data import DEMO_OFFICER, demo_officers, demo_staff
from hub.devtools.demo_load import load_demo_into
from hub.store.db import Database
from hub.store.models import Enterprise, Officer, Staff
from hub.tickets.staff import list_staff


def test_the_demo_officer_account_is_the_demo_officers() -> None:
    officer = next(row for row in demo_officers() if row["code"] == DEMO_OFFICER)
    account = next(row for row in demo_staff() if row["role"] == "officer")
    assert (account["username"], account["name"]) == ("demo-officer", officer["name"])
    assert account["officer"] == DEMO_OFFICER
    assert all(row["officer"] == "" for row in demo_staff() if row["role"] != "officer")


async def test_the_demo_links_its_officer_account_and_relinks_an_old_one(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    await load_demo_into(db, tmp_path / "demo", clock, enterprises=40)
    views = {v.username: v for v in await list_staff(db)}
    assert views["demo-officer"].officer_code == DEMO_OFFICER
    async with db.read() as session:
        served = await session.scalar(
            sa.select(sa.func.count()).select_from(Enterprise).join(Officer)
            .where(Officer.code == DEMO_OFFICER)
        )  # fmt: skip
    assert served  # he has enterprises to see

    async with db.write() as session:  # as a demo made before accounts had an officer left it
        await session.execute(sa.update(Staff).values(officer_id=None))
    await load_demo_into(db, tmp_path / "demo", clock, enterprises=40)
    views = {v.username: v for v in await list_staff(db)}
    assert views["demo-officer"].officer_code == DEMO_OFFICER
    assert views["demo-admin"].officer_code is None
