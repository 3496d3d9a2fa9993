"""A 2027 working-day calendar and a registry of officers and tiered enterprises for the plan
and listing tests (chinese-calendar has no 2027: the year is entered as an admin would)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa

from hub.core.vocab import Stage, Tier
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.store.db import Database
from hub.store.models import Enterprise, Officer
from tests.importing.factories import make_uscc

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _span(first: str, last: str) -> set[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return {date.fromordinal(d) for d in range(start.toordinal(), end.toordinal() + 1)}


# The 2027 holidays as the State Council's pattern would set them (New Year, Spring Festival,
# Qingming, Labour Day, Dragon Boat, Mid-Autumn, National Day) and two make-up Saturdays.
HOLIDAYS_2027 = frozenset(
    _span("2027-01-01", "2027-01-03")
    | _span("2027-02-06", "2027-02-12")
    | _span("2027-04-03", "2027-04-05")
    | _span("2027-05-01", "2027-05-05")
    | _span("2027-06-09", "2027-06-11")
    | _span("2027-09-15", "2027-09-17")
    | _span("2027-10-01", "2027-10-07")
)
MAKEUP_2027 = frozenset({date(2027, 2, 13), date(2027, 10, 9)})


def calendar_2027() -> WorkdayCalendar:
    """The calendar with 2027 entered (no provisional-year warning)."""
    entered = YearDays(holidays=HOLIDAYS_2027, workdays=MAKEUP_2027)
    return WorkdayCalendar(warn=lambda _year: None).with_year(2027, entered)


async def add_officers(db: Database, codes: Sequence[str]) -> dict[str, int]:
    """Officers by code -> id (names 联络员<code>, a WeCom user id each)."""
    ids: dict[str, int] = {}
    async with db.write() as session:
        for code in codes:
            officer = Officer(
                code=code,
                name=f"联络员{code}",
                mobile="+8613845200001",
                wecom_userid=f"wecom-{code}",
                region="龙沙区",
                created_at=T0,
                updated_at=T0,
            )
            session.add(officer)
            await session.flush()
            ids[code] = officer.id
    return ids


async def add_enterprises(
    db: Database,
    officer_id: int | None,
    tier: Tier,
    count: int,
    *,
    stage: Stage = Stage.OPERATING,
    region: str = "龙沙区",
) -> list[int]:
    """``count`` enterprises of one tier under one officer (names 企业<serial>); their ids."""
    async with db.write() as session:
        serial = await session.scalar(sa.select(sa.func.count()).select_from(Enterprise)) or 0
        rows = [
            {
                "uscc": make_uscc(serial + n + 1),
                "name": f"企业{serial + n + 1:05d}",
                "tier": tier,
                "industry": "制造业",
                "region": region,
                "stage": stage,
                "officer_id": officer_id,
                "created_at": T0,
                "updated_at": T0,
            }
            for n in range(count)
        ]
        result = await session.execute(sa.insert(Enterprise).returning(Enterprise.id), rows)
        return sorted(result.scalars().all())
