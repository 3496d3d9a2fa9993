"""The visit plan: one visit per enterprise per period of its tier's cadence, spread over the
period's working days so each officer's load is even.

``plan_visits`` is run by the ``visit_plan`` program (daily or at each period's start; it is
idempotent, so running it again only fills gaps). For each enterprise with an officer whose
stage is not ``exiting`` and whose tier has a cadence in ``tiers:``, the visit of the current
period of that cadence (``2027Q1`` for key enterprises on a quarterly cadence) is created
PLANNED, with the officer and ``due_on``: a working day of the period, not before today (when
none is left, as on the last Sunday of a monthly period, the period's last working day: the
visit is late from the start, and never put on a day off).

Choices made here:

- Exiting enterprises (``Stage.EXITING``, being deregistered) get no new visit: the liaison
  service is for enterprises that stay; a visit already planned for one is left as it is.
- Spreading: the officer's open visits due on each remaining working day of the period are
  counted, and each new visit goes to the least-loaded day; ties go to the day that best fills
  the gaps (days taken in van der Corput order: the first, the middle, the quarters ...), so ten
  visits over a quarter's sixty working days land about a week apart rather than on its first
  ten days, and the day counts never differ by more than one. Shorter cadences are placed first
  (key enterprises before general before ordinary), each officer's enterprises in id order.
- A visit already in the period, in any status, is left alone, except that a visit still open
  (planned, proposed or confirmed) whose enterprise now has another officer is handed to the new
  officer. A planned one is spread again over the new officer's days (nothing was sent yet); a
  proposed or confirmed one keeps its day and time (the enterprise was offered or agreed them).
  A done or cancelled visit keeps the officer who had it.
"""

from __future__ import annotations

import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import Stage, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.dialect import insert_ignore
from hub.store.models import Enterprise, Visit
from hub.visits.periods import Period, period_of
from hub.visits.settings import TierSettings

#: Statuses of a visit still to be made: its officer may change, and it counts in his load.
OPEN_STATUSES = frozenset({VisitStatus.PLANNED, VisitStatus.PROPOSED, VisitStatus.CONFIRMED})
_VISIT = cast(sa.Table, Visit.__table__)


@dataclass
class TierPlan:
    """One tier's figures: its current period, visits created and visits already there."""

    period: str
    created: int = 0
    already_planned: int = 0


@dataclass
class PlanResult:
    """What one run of the plan did."""

    created: int = 0
    already_planned: int = 0
    reassigned: int = 0  # open visits handed to the enterprise's new officer
    skipped_exiting: int = 0
    skipped_no_cadence: int = 0  # a tier with no entry in ``tiers:``
    by_tier: dict[str, TierPlan] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Placing:
    """A visit to give a day: new (``visit_id`` None) or a planned one handed over."""

    enterprise_id: int
    officer_id: int
    period: Period
    visit_id: int | None = None


async def plan_visits(
    session: AsyncSession,
    *,
    tiers: Mapping[str, TierSettings],
    calendar: WorkdayCalendar,
    today: date,
    now: datetime | None = None,
) -> PlanResult:
    """Create the current period's visits that are missing; see the module docstring.

    Writes in ``session`` (the caller commits). ``now`` stamps the rows (default: the start of
    ``today`` in Shanghai).
    """
    stamp = now or datetime.combine(today, time(0), tzinfo=SHANGHAI).astimezone(UTC)
    periods = {tier: period_of(today, s.visit_every_months) for tier, s in tiers.items()}
    result = PlanResult(by_tier={t: TierPlan(p.label) for t, p in periods.items()})
    enterprises = (
        await session.execute(
            sa.select(Enterprise.id, Enterprise.tier, Enterprise.officer_id, Enterprise.stage)
            .where(Enterprise.officer_id.is_not(None))
            .order_by(Enterprise.id)
        )
    ).all()
    existing = await _existing(session, {p.label for p in periods.values()})
    to_place: list[_Placing] = []
    handed_over: dict[int, int] = {}  # proposed/confirmed visit id -> new officer
    for enterprise_id, tier, officer_id, stage in enterprises:
        if officer_id is None:  # filtered in SQL; this tells the type checker
            continue
        period = periods.get(str(tier))
        if period is None:
            result.skipped_no_cadence += 1
            continue
        found = existing.get((enterprise_id, period.label))
        if found is not None:
            result.already_planned += 1
            result.by_tier[str(tier)].already_planned += 1
            visit_id, visit_officer, status = found
            if status in OPEN_STATUSES and visit_officer != officer_id:
                result.reassigned += 1
                if status == VisitStatus.PLANNED:
                    to_place.append(_Placing(enterprise_id, officer_id, period, visit_id))
                else:
                    handed_over[visit_id] = officer_id
            continue
        if stage == Stage.EXITING:
            result.skipped_exiting += 1
            continue
        to_place.append(_Placing(enterprise_id, officer_id, period))
        result.created += 1
        result.by_tier[str(tier)].created += 1
    moving = {p.visit_id for p in to_place if p.visit_id is not None}
    loads = await _open_loads(session, today, moving)
    days = _assign_days(to_place, loads, calendar, today)
    await _write(session, to_place, days, handed_over, stamp)
    return result


async def _existing(
    session: AsyncSession, labels: Iterable[str]
) -> dict[tuple[int, str], tuple[int, int | None, VisitStatus]]:
    rows = await session.execute(
        sa.select(
            Visit.enterprise_id, Visit.period, Visit.id, Visit.officer_id, Visit.status
        ).where(Visit.period.in_(sorted(labels)))
    )
    return {(e, p): (i, o, s) for e, p, i, o, s in rows.all()}


async def _open_loads(
    session: AsyncSession, today: date, leaving_out: set[int]
) -> dict[int, Counter[date]]:
    """Each officer's open visits per day from today on (``leaving_out``: visits being moved)."""
    rows = await session.execute(
        sa.select(Visit.id, Visit.officer_id, Visit.due_on).where(
            Visit.due_on >= today,
            Visit.officer_id.is_not(None),
            Visit.status.in_(sorted(OPEN_STATUSES)),
        )
    )
    loads: dict[int, Counter[date]] = defaultdict(Counter)
    for visit_id, officer_id, due_on in rows.all():
        if visit_id not in leaving_out and officer_id is not None and due_on is not None:
            loads[officer_id][due_on] += 1
    return loads


def _assign_days(
    placing: Sequence[_Placing],
    loads: dict[int, Counter[date]],
    calendar: WorkdayCalendar,
    today: date,
) -> list[date]:
    """The day of each visit in ``placing`` (same order); updates ``loads``."""
    groups: dict[tuple[int, Period], list[int]] = defaultdict(list)
    for index, item in enumerate(placing):
        groups[(item.officer_id, item.period)].append(index)
    chosen: list[date] = [today] * len(placing)
    windows: dict[Period, list[date]] = {}
    # shorter cadences first, so a quarter's visits are spread before a year's fill around them
    for officer_id, period in sorted(groups, key=lambda g: (g[1].months, g[1].first, g[0])):
        window = windows.get(period)
        if window is None:
            window = windows[period] = _spread_order(_working_days(calendar, today, period))
        if not window:  # no working day left: due on its last one, already late (never a day off)
            last = _last_working_day(calendar, period)
            for index in groups[(officer_id, period)]:
                chosen[index] = last
            continue
        load = loads[officer_id]
        heap = [(load[day], rank, day) for rank, day in enumerate(window)]
        heapq.heapify(heap)
        for index in groups[(officer_id, period)]:
            count, rank, day = heapq.heappop(heap)
            chosen[index] = day
            load[day] += 1
            heapq.heappush(heap, (count + 1, rank, day))
    return chosen


def _working_days(calendar: WorkdayCalendar, today: date, period: Period) -> list[date]:
    day, days = max(today, period.first), []
    while day <= period.last:
        if calendar.is_workday(day):
            days.append(day)
        day += timedelta(days=1)
    return days


def _last_working_day(calendar: WorkdayCalendar, period: Period) -> date:
    day = period.last
    while day > period.first and not calendar.is_workday(day):
        day -= timedelta(days=1)
    return day


def _spread_order(days: Sequence[date]) -> list[date]:
    """``days`` in van der Corput order (first, middle, quarters, eighths ...): any first ``n``
    of them are spread over the whole span."""
    if not days:
        return []
    bits = max(1, (len(days) - 1).bit_length())
    seen: set[int] = set()
    order: list[date] = []
    for k in range(1 << bits):
        reversed_k = int(format(k, f"0{bits}b")[::-1], 2)
        position = reversed_k * len(days) >> bits
        if position not in seen:
            seen.add(position)
            order.append(days[position])
    return order


async def _write(
    session: AsyncSession,
    placing: Sequence[_Placing],
    days: Sequence[date],
    handed_over: Mapping[int, int],
    now: datetime,
) -> None:
    new_rows: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for item, day in zip(placing, days, strict=True):
        if item.visit_id is None:
            new_rows.append(
                {
                    "enterprise_id": item.enterprise_id,
                    "officer_id": item.officer_id,
                    "period": item.period.label,
                    "status": VisitStatus.PLANNED,
                    "due_on": day,
                    "details": {},
                    "slots": [],
                    "created_at": now,
                    "updated_at": now,
                }
            )
        else:
            moved.append(
                {
                    "id": item.visit_id,
                    "officer_id": item.officer_id,
                    "due_on": day,
                    "updated_at": now,
                }
            )
    moved.extend(
        {"id": visit_id, "officer_id": officer_id, "updated_at": now}
        for visit_id, officer_id in handed_over.items()
    )
    if new_rows:
        # one executemany (SQLAlchemy batches it into multi-row INSERTs without compiling each);
        # a row another run made between our read and this insert is skipped, not an error
        await session.execute(insert_ignore(session, _VISIT), new_rows)
    for same_keys in _by_keys(moved):
        await session.execute(sa.update(Visit), same_keys)


def _by_keys(rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Bulk UPDATE by primary key needs every row of one batch to set the same columns."""
    batches: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        batches[tuple(sorted(row))].append(row)
    return list(batches.values())
