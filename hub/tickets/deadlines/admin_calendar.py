"""Admin-entered working-day calendars and the deadlines they move.

chinese-calendar stops at 2026; an admin enters later years (holidays and make-up workdays) in
config ``calendar.years`` or with ``hub calendar set`` (rows in ``workday_override``; a year in
the database wins over config). Deadlines counted over a year without data are provisional
(Mon–Fri); once the year is entered :func:`recompute_deadlines` counts them again and records a
``deadline_recomputed`` event on each ticket whose deadline moved or stopped being provisional
(docs/design.md "Working days"). Entering a year is written to the audit log with the old days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock, local_iso
from hub.core.vocab import TicketEventType
from hub.core.workdays import WorkdayCalendar, YearDays, parse_year_calendar
from hub.store.db import Database
from hub.store.models import AuditLog, Ticket, WorkdayOverride
from hub.tickets.deadlines.rules import recompute, touches_year
from hub.tickets.lifecycle import current_deadline, record
from hub.tickets.policy import TicketPolicy, load_ticket_policy
from hub.tickets.settings import TicketsConfig

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Moved:
    """One ticket whose deadline was counted again."""

    number: str
    old_deadline_at: datetime
    new_deadline_at: datetime
    provisional: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "number": self.number,
            "old_deadline_at": local_iso(self.old_deadline_at),
            "new_deadline_at": local_iso(self.new_deadline_at),
            "provisional": self.provisional,
        }


@dataclass(frozen=True, slots=True)
class _Entered:
    holidays: tuple[date | str, ...]
    workdays: tuple[date | str, ...]


async def year_rows(session: AsyncSession, year: int) -> YearDays:
    """The days entered in the database for a year (empty when none)."""
    rows = await session.execute(
        sa.select(WorkdayOverride.day, WorkdayOverride.is_workday).where(
            WorkdayOverride.day >= date(year, 1, 1), WorkdayOverride.day <= date(year, 12, 31)
        )
    )
    holidays: set[date] = set()
    workdays: set[date] = set()
    for day, is_workday in rows.all():
        (workdays if is_workday else holidays).add(day)
    return YearDays(frozenset(holidays), frozenset(workdays))


async def enter_year(
    session: AsyncSession,
    year: int,
    *,
    holidays: Iterable[date | str],
    workdays: Iterable[date | str],
    actor: str,
    now: datetime,
    note: str | None = None,
) -> YearDays:
    """Replace the database's days of ``year``; ``UsageError`` listing every problem.

    An empty year (no holidays, no workdays) is allowed: it says "plain Monday–Friday" and
    makes the year's deadlines firm. The caller recomputes the deadlines after this.
    """
    days = parse_year_calendar(year, _Entered(tuple(holidays), tuple(workdays)))
    before = await year_rows(session, year)
    await session.execute(
        sa.delete(WorkdayOverride).where(
            WorkdayOverride.day >= date(year, 1, 1), WorkdayOverride.day <= date(year, 12, 31)
        )
    )
    # An empty year still needs a row to be "entered": 1 January with its plain weekday status.
    rows = [(d, False) for d in sorted(days.holidays)] + [(d, True) for d in sorted(days.workdays)]
    if not rows:
        new_year = date(year, 1, 1)
        rows = [(new_year, new_year.weekday() < 5)]
    for day, is_workday in rows:
        session.add(WorkdayOverride(day=day, is_workday=is_workday, note=note, entered_by=actor,
                                    entered_at=now))  # fmt: skip
    session.add(AuditLog(
        at=now, actor=actor, action="calendar_year", target_type="calendar", target_id=str(year),
        detail={"holidays": [d.isoformat() for d in sorted(days.holidays)],
                "workdays": [d.isoformat() for d in sorted(days.workdays)],
                "before": {"holidays": [d.isoformat() for d in sorted(before.holidays)],
                           "workdays": [d.isoformat() for d in sorted(before.workdays)]}},
    ))  # fmt: skip
    await session.flush()
    return days


async def recompute_deadlines(
    session: AsyncSession,
    policy: TicketPolicy,
    *,
    actor: str,
    now: datetime,
    year: int | None = None,
) -> list[Moved]:
    """Count provisional deadlines again on ``policy.calendar``; events where they changed."""
    stmt = sa.select(Ticket).where(Ticket.deadline_provisional.is_(True)).order_by(Ticket.id)
    moved: list[Moved] = []
    for ticket in (await session.scalars(stmt)).all():
        before = current_deadline(ticket, policy)
        if year is not None and not touches_year(before, year):
            continue
        after = recompute(before, policy.calendar)
        if after.due_at == before.due_at and after.provisional == before.provisional:
            continue
        ticket.deadline_at = after.due_at
        ticket.deadline_provisional = after.provisional
        record(
            session, ticket, TicketEventType.DEADLINE_RECOMPUTED, actor=actor, now=now,
            reason="工作日历已录入，办理时限重新计算",
            from_deadline_at=before.due_at.isoformat(), deadline_at=after.due_at.isoformat(),
            provisional=after.provisional, year=year,
        )  # fmt: skip
        moved.append(Moved(ticket.number, before.due_at, after.due_at, after.provisional))
    await session.flush()
    return moved


async def enter_year_and_recompute(
    session: AsyncSession,
    settings: TicketsConfig,
    year: int,
    *,
    holidays: Iterable[date | str],
    workdays: Iterable[date | str],
    actor: str,
    now: datetime,
) -> tuple[YearDays, list[Moved]]:
    """Both, in one transaction (what ``hub calendar set`` and the admin API do)."""
    days = await enter_year(session, year, holidays=holidays, workdays=workdays, actor=actor,
                            now=now)  # fmt: skip
    policy = await load_ticket_policy(session, settings)
    return days, await recompute_deadlines(session, policy, actor=actor, now=now, year=year)


def year_report(calendar: WorkdayCalendar, year: int) -> dict[str, object]:
    """Where the year's days come from, its days off (weekends included), its weekend workdays."""
    day, days_off, weekend_workdays = date(year, 1, 1), [], []
    while day.year == year:
        if calendar.is_day_off(day):
            days_off.append(day.isoformat())
        elif day.weekday() >= 5:
            weekend_workdays.append(day.isoformat())
        day += timedelta(days=1)
    return {"year": year, "source": calendar.source(year), "days_off": days_off,
            "weekend_workdays": weekend_workdays}  # fmt: skip


async def recompute_on_start(db: Database, settings: TicketsConfig, clock: Clock) -> list[Moved]:
    """At start-up: a year added to config ``calendar.years`` since the last run makes its
    provisional deadlines firm (the same recompute as ``hub calendar recompute``)."""
    async with db.write() as session:
        policy = await load_ticket_policy(session, settings)
        moved = await recompute_deadlines(session, policy, actor="system", now=clock.now())
    if moved:
        log.info("deadlines recomputed", tickets=len(moved))
    return moved
