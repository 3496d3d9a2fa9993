"""``hub demo`` makes the visit plan: the demo officers (WeCom, mobile, some on Telegram) have
enterprises of each tier and visits of the current periods, the first due at once so the
``visit_plan`` program proposes them; loading again plans nothing more."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from pathlib import Path

import sqlalchemy as sa

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import Tier, VisitStatus
from hub.devtools.demo_load import load_demo_into
from hub.store.db import Database
from hub.store.models import Enterprise, Officer, Visit
from tests.visits.plan_support import calendar_2027

NOW = datetime(2027, 3, 1, 10, 0, tzinfo=SHANGHAI)  # a Monday, in 2027Q1, 2027H1 and 2027


async def test_demo_officers_have_visits_of_each_tier_due_now(db: Database, tmp_path: Path) -> None:
    calendar = calendar_2027()
    first = await load_demo_into(
        db, tmp_path / "demo", FixedClock(NOW), enterprises=300, calendar=calendar
    )
    again = await load_demo_into(
        db, tmp_path / "demo", FixedClock(NOW), enterprises=300, calendar=calendar
    )

    async with db.read() as session:
        officers = (await session.scalars(sa.select(Officer))).all()
        rows = (
            await session.execute(
                sa.select(Visit, Enterprise.tier, Officer.code)
                .join(Enterprise, Visit.enterprise_id == Enterprise.id)
                .join(Officer, Visit.officer_id == Officer.id)
            )
        ).all()
    assert all(o.mobile and o.wecom_userid for o in officers)
    assert any(o.telegram_chat_id for o in officers)
    assert first.visits.created == len(rows) > 0
    assert (again.visits.created, again.visits.already_planned) == (0, len(rows))
    assert {tier: plan.period for tier, plan in first.visits.by_tier.items()} == {
        "key": "2027Q1",
        "general": "2027H1",
        "ordinary": "2027",
    }
    assert {tier for _, tier, _ in rows} == set(Tier)
    by_officer: dict[str, list[date]] = defaultdict(list)
    for visit, _, code in rows:
        assert visit.status == VisitStatus.PLANNED
        assert visit.due_on is not None
        assert calendar.is_workday(visit.due_on)
        by_officer[code].append(visit.due_on)
    # every officer with enterprises has a visit due today: its proposal goes out at once
    assert {code: min(days) for code, days in by_officer.items()} == {
        code: date(2027, 3, 1) for code in by_officer
    }
    assert len(by_officer) >= len(officers) // 2
