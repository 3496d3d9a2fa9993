"""The officer's reminders of a confirmed visit: the afternoon before and the morning of it.

A CONFIRMED visit (its ``proposed_for`` is the agreed time) gets two reminders, each with the
enterprise's dossier (:mod:`hub.visits.dossier`):

- ``before``: on the last working day before the visit's day, from ``visits.remind_before_at``
  (15:00): a Monday visit is reminded on the Friday, a visit after a holiday on the working day
  before the holiday;
- ``day``: on the visit's day, from ``visits.remind_day_at`` (08:00), while the visit's time
  has not come.

:func:`reminder_step` says which one is due at ``now`` (the rule, pure); :func:`due_reminders`
finds the visits with one due. A step whose moment passed is not sent late (a visit confirmed
at 16:00 for the next morning gets the morning's reminder only): two reminders at once are
noise.

**Once per visit and step.** :attr:`DueReminder.key` names the visit, the step and the visit's
date (``visit:12:before:2027-03-01``): the sender's idempotency key makes a second run send
nothing, and a visit moved to another day is reminded again for its new day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.registry import Enterprise, Visit
from hub.visits.dossier import Dossier, cn_date, dossier_variables
from hub.visits.settings import VisitsSettings

__all__ = [
    "DueReminder",
    "ReminderStep",
    "clock_text",
    "due_reminders",
    "reminder_step",
    "reminder_variables",
]


class ReminderStep(StrEnum):
    """Which of a visit's two reminders."""

    BEFORE = "before"  # the afternoon of the working day before
    DAY = "day"  # the morning of the visit


@dataclass(frozen=True, slots=True)
class DueReminder:
    """A reminder due now: the visit, its enterprise and officer, the agreed time (and its local
    day), the step."""

    visit_id: int
    enterprise_id: int
    officer_id: int
    visit_at: datetime
    day: date
    step: ReminderStep

    @property
    def key(self) -> str:
        """The item's key: visit, step and the visit's local day (a moved visit is new)."""
        return f"visit:{self.visit_id}:{self.step.value}:{self.day.isoformat()}"


def reminder_step(
    visit_at: datetime, now: datetime, *, calendar: WorkdayCalendar, settings: VisitsSettings,
    tz: ZoneInfo = SHANGHAI,
) -> ReminderStep | None:  # fmt: skip
    """The reminder of a visit at ``visit_at`` due at ``now`` (see the module docstring)."""
    local_now, local_visit = now.astimezone(tz), visit_at.astimezone(tz)
    if local_now >= local_visit:
        return None
    today, day = local_now.date(), local_visit.date()
    if day == today:
        return ReminderStep.DAY if local_now.time() >= settings.remind_day_at else None
    # The last working day before the visit's day: no working day lies between the two.
    if (
        calendar.is_workday(today)
        and calendar.next_workday(today) >= day
        and local_now.time() >= settings.remind_before_at
    ):
        return ReminderStep.BEFORE
    return None


async def due_reminders(
    session: AsyncSession, now: datetime, *, calendar: WorkdayCalendar,
    settings: VisitsSettings, tz: ZoneInfo = SHANGHAI,
) -> list[DueReminder]:  # fmt: skip
    """The reminders due at ``now``: CONFIRMED visits whose agreed time is from now to the end
    of the next working day, with an officer (the visit's, else the enterprise's), by time."""
    today = now.astimezone(tz).date()
    until = datetime.combine(calendar.next_workday(today) + timedelta(days=1), time(0), tzinfo=tz)
    # The visit's officer, else the enterprise's; a visit with neither has nobody to tell.
    officer = sa.func.coalesce(Visit.officer_id, Enterprise.officer_id)
    rows = await session.execute(
        sa.select(Visit.id, Visit.enterprise_id, officer, Visit.proposed_for)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(officer.is_not(None), Visit.status == VisitStatus.CONFIRMED,
               Visit.proposed_for > now, Visit.proposed_for < until)
        .order_by(Visit.proposed_for, Visit.id)
    )  # fmt: skip
    due: list[DueReminder] = []
    for visit_id, enterprise_id, officer_id, visit_at in rows:
        assert visit_at is not None  # the WHERE above
        step = reminder_step(visit_at, now, calendar=calendar, settings=settings, tz=tz)
        if step is not None:
            day = visit_at.astimezone(tz).date()
            due.append(DueReminder(visit_id, enterprise_id, officer_id, visit_at, day, step))
    return due


def clock_text(at: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """``上午09:30`` / ``下午14:30``: a time of day as the messages write it."""
    local = at.astimezone(tz)
    return f"{'上午' if local.hour < 12 else '下午'}{local:%H:%M}"


def reminder_variables(
    reminder: DueReminder, dossier: Dossier, now: datetime, tz: ZoneInfo = SHANGHAI
) -> dict[str, Any]:
    """The ``visit_reminder`` template's variables (templates/visit_reminder/meta.yaml)."""
    day, today = reminder.day, now.astimezone(tz).date()
    return {
        **dossier_variables(dossier),
        "visit_date": cn_date(day),
        "visit_time": clock_text(reminder.visit_at, tz),
        "visit_day": "今天" if day == today else "明天" if (day - today).days == 1 else "",
        "visit_id": reminder.visit_id,
        "step": reminder.step.value,
    }
