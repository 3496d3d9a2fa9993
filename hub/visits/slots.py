"""The times a visit proposal offers: 2–3 slots on the officer's working days and hours.

:func:`choose_slots` is pure. The rules (config ``visits:``):

- only working days of the calendar (no weekend, no holiday; make-up workdays count), at the
  officer's visiting hours ``slot_times`` (checked to lie within ``work_start``–``work_end``);
- the first slot at least ``lead_workdays`` working days after the day the proposal reaches
  the enterprise (the enterprise needs time to answer and to arrange the meeting);
- as close to the visit's ``due_on`` as these allow (the plan spread the officer's visits
  over the period: keeping to its days keeps his load even), days inside the visit's period
  before days after it;
- never within :data:`VISIT_SPAN` of a time the officer already offered another enterprise or
  agreed with one (:func:`officers_busy` reads them);
- one slot per day where possible, and the hours alternated between days (a morning, then an
  afternoon ...), so an enterprise that cannot do one day or one half-day still has a choice.

Slots are kept on the visit as ISO datetimes with the local offset (``2027-03-09T09:30:00+08:00``)
and shown as :func:`slot_label` writes them (``3月9日（周二）上午9:30``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.models import Visit
from hub.visits.settings import VisitsSettings

__all__ = [
    "SEARCH_WORKDAYS",
    "VISIT_SPAN",
    "choose_slots",
    "officers_busy",
    "parse_slots",
    "slot_label",
]

#: A visit with its travel takes about this long: a slot closer than this to a time the
#: officer has offered or agreed elsewhere would clash with it.
VISIT_SPAN: Final = timedelta(hours=2)
#: How many working days either side of the target day are searched for free times.
SEARCH_WORKDAYS: Final = 40
#: A proposal's slots lie within this long after it was sent (at most 60 working days before
#: the visit's day, the search reaches 40 working days past it): far more than enough.
SLOTS_WITHIN: Final = timedelta(days=366)
#: The statuses whose times the officer is held to: offered (proposed) or agreed (confirmed).
BUSY_STATUSES: Final = (VisitStatus.PROPOSED, VisitStatus.CONFIRMED)
_WEEKDAYS: Final = "一二三四五六日"


def choose_slots(
    *,
    due_on: date,
    now: datetime,
    settings: VisitsSettings,
    calendar: WorkdayCalendar,
    busy: Collection[datetime] = (),
    last_day: date | None = None,
    avoid_days: Collection[date] = (),
    tz: ZoneInfo = SHANGHAI,
) -> list[datetime]:
    """Up to ``settings.slots`` times to offer for a visit due on ``due_on``, in time order.

    ``now``: when the proposal reaches the enterprise (the lead time counts from its local day);
    ``busy``: the officer's times offered or agreed elsewhere; ``last_day``: the last day of the
    visit's period (days after it only when the period has too few); ``avoid_days``: days an
    earlier proposal offered and the enterprise turned down (used last of all). Fewer than
    asked only when the officer has no free time in :data:`SEARCH_WORKDAYS` working days;
    empty if none.
    """
    today = now.astimezone(tz).date()
    earliest = calendar.add_workdays(today, settings.lead_workdays)[0]
    target = max(calendar.workday_on_or_after(due_on), earliest)
    avoided = set(avoid_days)

    def preference(day: date) -> tuple[bool, bool]:
        # Turned down last, after the period next; stable sort: by nearness within each.
        return day in avoided, last_day is not None and day > last_day

    days = sorted(_days_near(calendar, target, earliest), key=preference)
    taken = [t.astimezone(tz) for t in busy]
    chosen: list[datetime] = []
    hours = settings.slot_times
    # First one slot per day, then (an officer booked solid) a second on the same days, ...
    for per_day in range(1, len(hours) + 1):
        for day in days:
            if len(chosen) == settings.slots:
                return sorted(chosen)
            if sum(c.date() == day for c in chosen) >= per_day:
                continue
            # Alternate the hours between days: day one's first hour, day two's second, ...
            start = len(chosen) % len(hours)
            for hour in (*hours[start:], *hours[:start]):
                at = datetime.combine(day, hour, tzinfo=tz)
                if at not in chosen and _free(at, taken):
                    chosen.append(at)
                    break
    return sorted(chosen)


def _days_near(calendar: WorkdayCalendar, target: date, earliest: date) -> Iterator[date]:
    """Working days by nearness to ``target`` (the one after before the one before, at equal
    distance), none before ``earliest``."""
    yield target
    after = before = target
    for _ in range(SEARCH_WORKDAYS):
        after = calendar.next_workday(after)
        yield after
        if before > earliest:
            before = calendar.add_workdays(before, -1)[0]
            if before >= earliest:
                yield before


def _free(at: datetime, taken: Sequence[datetime]) -> bool:
    return all(abs(at - other) >= VISIT_SPAN for other in taken)


def slot_label(at: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """A slot as the enterprise reads it: ``3月9日（周二）上午9:30``, ``下午2:30``."""
    local = at.astimezone(tz)
    hour = local.hour
    part, shown = (
        ("上午", hour) if hour < 12 else ("中午", hour) if hour == 12 else ("下午", hour - 12)
    )
    return (
        f"{local.month}月{local.day}日（周{_WEEKDAYS[local.weekday()]}）"
        f"{part}{shown}:{local.minute:02d}"
    )


def parse_slots(values: Sequence[str] | None) -> list[datetime]:
    """A visit's stored slots (ISO texts) as datetimes; one that does not parse is left out."""
    parsed: list[datetime] = []
    for value in values or ():
        try:
            parsed.append(datetime.fromisoformat(value))
        except (TypeError, ValueError):
            continue
    return parsed


async def officers_busy(
    session: AsyncSession, officer_ids: Collection[int], *, since: datetime
) -> dict[int, list[datetime]]:
    """Each officer's times from ``since`` on that an enterprise was offered (a proposed visit's
    slots) or agreed (its ``proposed_for``); a visit still being planned holds none."""
    busy: dict[int, list[datetime]] = {officer_id: [] for officer_id in officer_ids}
    # Old rows left open (a proposal never answered, a visit never recorded) hold no time
    # ahead: their slots follow their proposal within months. Leaving them out keeps the read
    # to the officer's current visits, however many years of them there are.
    stmt = sa.select(Visit.officer_id, Visit.slots, Visit.proposed_for, Visit.status).where(
        Visit.officer_id.in_(sorted(busy)),
        Visit.status.in_(BUSY_STATUSES),
        sa.or_(
            Visit.proposed_for >= since,
            sa.and_(
                Visit.status == VisitStatus.PROPOSED,
                sa.or_(Visit.proposed_at.is_(None), Visit.proposed_at >= since - SLOTS_WITHIN),
            ),
        ),
    )
    for officer_id, slots, proposed_for, status in (await session.execute(stmt)).all():
        if officer_id is None:  # never: the query names officers
            continue
        times = parse_slots(slots) if status is VisitStatus.PROPOSED else []
        if proposed_for is not None:
            times.append(proposed_for)
        busy[officer_id].extend(t for t in times if t.tzinfo is not None and t >= since)
    return busy
