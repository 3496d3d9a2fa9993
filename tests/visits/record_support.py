"""A registry with officers on WeCom and Telegram, departments and visits, for the outcome tests
(hub/visits/outcome.py, the visit-record CLI and API, the officers' commands)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import sqlalchemy as sa

from hub.app.config import Settings
from hub.core.settings import CalendarSettings, YearCalendar
from hub.core.vocab import VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.db import Database
from hub.store.models import Officer, Visit
from hub.tickets.policy import TicketPolicy
from hub.tickets.settings import TicketsSettings
from tests.ticket_support import RULES, TicketWorld, policy, seed_ticket_world

# 2027 is not in chinese-calendar: the tests enter the days off they rely on (Spring Festival
# 2027-02-06..12, Qingming 2027-04-05, and 2027-02-20 a make-up working Saturday).
HOLIDAYS_2027 = YearCalendar(
    holidays=(
        "2027-01-01", "2027-02-06", "2027-02-07", "2027-02-08", "2027-02-09", "2027-02-10",
        "2027-02-11", "2027-02-12", "2027-04-05",
    ),
    workdays=("2027-02-20",),
)  # fmt: skip
CALENDAR_2027 = WorkdayCalendar().with_year(2027, HOLIDAYS_2027)
NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # Monday 2027-03-01 10:00 Shanghai
OFFICER_WECOM = "liming"
OFFICER_TELEGRAM = "777001"


@dataclass(frozen=True)
class VisitWorld:
    tickets: TicketWorld
    visits: dict[str, int]  # enterprise name -> its visit in 2027Q1
    officers: dict[str, int]


def visit_settings() -> Settings:
    """Settings with the ticket tests' routing rules and 2027 entered (for the CLI and API)."""
    return Settings(
        tickets=TicketsSettings(rules=RULES), calendar=CalendarSettings(years={2027: HOLIDAYS_2027})
    )


def visit_policy() -> TicketPolicy:
    """The ticket tests' routing rules (停电 -> FGW; industries), with 2027 entered."""
    return replace(policy(), calendar=CALENDAR_2027)


async def seed_visit_world(db: Database, status: VisitStatus = VisitStatus.CONFIRMED) -> VisitWorld:
    """tests/ticket_support's world; LL001 (甲机械, 戊建筑) on WeCom and Telegram; a visit each
    for 甲机械 (LL001), 丙软件 (LL002) and 戊建筑 (LL001), confirmed for 2027-03-01 09:30."""
    world = await seed_ticket_world(db)
    visits: dict[str, int] = {}
    async with db.write() as session:
        officers = {o.code: o for o in (await session.scalars(sa.select(Officer))).all()}
        officers["LL001"].wecom_userid = OFFICER_WECOM
        officers["LL001"].telegram_chat_id = OFFICER_TELEGRAM
        for name, officer in (("甲机械", "LL001"), ("丙软件", "LL002"), ("戊建筑", "LL001")):
            visit = Visit(
                enterprise_id=world.enterprises[name], officer_id=officers[officer].id,
                period="2027Q1", status=status,
                proposed_for=datetime(2027, 3, 1, 1, 30, tzinfo=UTC), details={},
                due_on=datetime(2027, 3, 1).date(), slots=[], created_at=NOW, updated_at=NOW,
            )  # fmt: skip
            session.add(visit)
            await session.flush()
            visits[name] = visit.id
        ids = {code: o.id for code, o in officers.items()}
    return VisitWorld(world, visits, ids)
