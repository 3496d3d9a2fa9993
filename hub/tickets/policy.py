"""What the ticket service needs from the deployment: its settings, deadline classes, calendar.

Built once per process (or per command) from config; :func:`load_ticket_policy` adds the
working-day overrides admins entered in the database on top of config ``calendar.years``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.workdays import WorkdayCalendar, YearCalendarLike, YearDays, year_days_from_rows
from hub.store.models import WorkdayOverride
from hub.tickets.deadlines.rules import DeadlineRule
from hub.tickets.policy_store import classes_in_force, rules_in_force
from hub.tickets.settings import TicketsConfig, TicketsSettings


@dataclass(frozen=True, slots=True)
class TicketPolicy:
    """The rules one ticket operation follows (immutable; rebuild to pick up edits)."""

    tickets: TicketsSettings = field(default_factory=TicketsSettings)
    deadlines: DeadlineRule = field(default_factory=DeadlineRule)
    calendar: WorkdayCalendar = field(default_factory=WorkdayCalendar)
    tz: ZoneInfo = SHANGHAI

    @classmethod
    def from_settings(
        cls, settings: TicketsConfig, *, calendar: WorkdayCalendar | None = None
    ) -> TicketPolicy:
        """From config alone (calendar = config ``calendar.years``)."""
        tz = settings.hub.tz
        return cls(
            tickets=settings.tickets,
            deadlines=DeadlineRule(settings.deadlines, tz=tz),
            calendar=calendar or WorkdayCalendar.from_years(settings.calendar.years),
            tz=tz,
        )


async def load_calendar(session: AsyncSession, settings: TicketsConfig) -> WorkdayCalendar:
    """Config years, then the database's admin-entered days (a year in the table wins)."""
    years: dict[int, YearDays | YearCalendarLike] = dict(settings.calendar.years)
    years.update(await admin_entered_years(session))
    return WorkdayCalendar(years)


async def admin_entered_years(session: AsyncSession) -> dict[int, YearDays]:
    """The years admins entered in the database (``hub calendar``, the admin API), by year."""
    rows = (await session.execute(sa.select(WorkdayOverride.day, WorkdayOverride.is_workday))).all()
    return year_days_from_rows((r.day, r.is_workday) for r in rows)


async def load_ticket_policy(session: AsyncSession, settings: TicketsConfig) -> TicketPolicy:
    """The policy in force now: the calendar, routing rules and deadline classes as config and
    the admins' edits in the database (:mod:`hub.tickets.policy_store`) have them."""
    rules, default_department = await rules_in_force(session, settings)
    tickets = settings.tickets.model_copy(
        update={"rules": rules, "default_department": default_department}
    )
    tz = settings.hub.tz
    return TicketPolicy(
        tickets=tickets,
        deadlines=DeadlineRule(await classes_in_force(session, settings), tz=tz),
        calendar=await load_calendar(session, settings),
        tz=tz,
    )


class CachedTicketPolicy:
    """:func:`load_ticket_policy`, read again at most every ``ttl_s`` seconds: admins enter
    calendars and rules while the hub runs, and reading them for every reply would cost
    queries each (the inbound worker)."""

    def __init__(self, settings: TicketsConfig, ttl_s: float = 60.0) -> None:
        self.settings = settings
        self.ttl_s = ttl_s
        self._cached: tuple[float, TicketPolicy] | None = None

    async def get(self, session: AsyncSession) -> TicketPolicy:
        """The policy in force, from the cache while it is younger than ``ttl_s``."""
        if self._cached is None or time.monotonic() - self._cached[0] > self.ttl_s:
            self._cached = (time.monotonic(), await load_ticket_policy(session, self.settings))
        return self._cached[1]
