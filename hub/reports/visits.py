"""Visit compliance (走访完成情况) for a period: by tier, by officer and by region, and the
monthly contact coverage of key enterprises (``hub report visits``, the monthly report).

What is due in a report period P (``2027Q1``, ``2027H1``, ``2027``, ``2027-03``): for each tier,
one visit per enterprise per period of its cadence that overlaps P. A key enterprise (visited
quarterly) has two visits due in a half-year report, one per quarter, and one in a monthly
report (the quarter the month is in); an ordinary enterprise (yearly) has its year's one visit
in every report whose period falls in that year. The visits are those the plan made (the
``visit`` rows of those periods, cancelled ones left out) and, for a period the plan has not
reached yet, one for each enterprise the plan would make one for (an officer, not exiting).

Each due visit is in exactly one state, on ``today``:

- 按时完成 on time: done (``visited_at``) within its period;
- 逾期完成 late: done after its period ended (a missed visit stays due and may be made up);
- 未完成 missed: not done, and its period has ended or the officer recorded it not done
  (``details["not_done"]``, which sends it back to be proposed again);
- 进行中 in progress: its period is running and it is not done yet;
- 未到期 not yet due: its period has not started.

完成 done = on time + late; 完成率 = done ÷ due, 按时率 = on time ÷ due. A visit's officer is
the visit's (the one who had it), else the enterprise's; its tier and region the enterprise's.

Monthly contact (重点企业月度联系): for each month of P begun by ``today``, the enterprises of
a tier with ``contact_every_months`` contacted in it ÷ all of them
(:func:`hub.visits.contact.monthly_contact`: a visit, a recorded contact, a reply).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import Stage, Tier, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.models import Enterprise, Officer, Visit
from hub.visits.contact import MonthContact, contact_by_month
from hub.visits.periods import Period, period_of, periods_within
from hub.visits.settings import TierSettings

NO_OFFICER: Final = "未分配联络员"
NO_REGION: Final = "未填区域"
#: The states of a due visit, as the figures name them.
STATES: Final = ("on_time", "late", "missed", "in_progress", "not_yet_due")


@dataclass(slots=True)
class VisitFigures:
    """One row: a tier, an officer, a region, or the total."""

    name: str
    code: str = ""
    due: int = 0
    on_time: int = 0
    late: int = 0
    missed: int = 0
    in_progress: int = 0
    not_yet_due: int = 0

    @property
    def done(self) -> int:
        return self.on_time + self.late

    @property
    def done_rate(self) -> float | None:
        return self.done / self.due if self.due else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.due if self.due else None

    def count(self, state: str) -> None:
        self.due += 1
        setattr(self, state, getattr(self, state) + 1)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["done"] = self.done
        data["done_rate"] = _rounded(self.done_rate)
        data["on_time_rate"] = _rounded(self.on_time_rate)
        return data


@dataclass(slots=True)
class ContactFigures:
    """Contact coverage of one month, for all (``name`` 合计) or one officer."""

    name: str
    code: str = ""
    total: int = 0
    contacted: int = 0
    not_contacted: list[str] = field(default_factory=list)  # the enterprises' names

    @property
    def coverage(self) -> float | None:
        return self.contacted / self.total if self.total else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "coverage": _rounded(self.coverage)}


@dataclass(slots=True)
class ContactMonth:
    """A month of the period: coverage in all and per officer."""

    month: str
    total: ContactFigures
    by_officer: list[ContactFigures]

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            **{k: v for k, v in self.total.as_dict().items() if k not in ("name", "code")},
            "by_officer": [o.as_dict() for o in self.by_officer],
        }


@dataclass(slots=True)
class VisitCompliance:
    """The report: the period, the figures by tier, officer and region, the contact months."""

    period: Period
    today: date
    workdays_left: int  # working days after today up to the period's last day
    total: VisitFigures
    by_tier: list[VisitFigures]
    by_officer: list[VisitFigures]
    by_region: list[VisitFigures]
    contact: list[ContactMonth] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "first": self.period.first.isoformat(),
            "last": self.period.last.isoformat(),
            "today": self.today.isoformat(),
            "workdays_left": self.workdays_left,
            "total": self.total.as_dict(),
            "by_tier": [f.as_dict() for f in self.by_tier],
            "by_officer": [f.as_dict() for f in self.by_officer],
            "by_region": [f.as_dict() for f in self.by_region],
            "contact": [m.as_dict() for m in self.contact],
        }


def _rounded(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)


def compliance_state(
    period: Period, done_at: datetime | None, not_done: bool, today: date, tz: ZoneInfo
) -> str:
    """The state (one of :data:`STATES`) of the visit due in ``period``: ``done_at`` when it was
    recorded done, ``not_done`` when the officer recorded it not done (and it is not done)."""
    if done_at is not None:
        return "on_time" if done_at.astimezone(tz).date() <= period.last else "late"
    if period.first > today:
        return "not_yet_due"
    if period.last < today or not_done:
        return "missed"
    return "in_progress"


@dataclass(frozen=True, slots=True)
class _Due:
    tier: str
    officer_id: int | None
    region: str
    state: str


async def visit_compliance(
    session: AsyncSession,
    period: Period,
    *,
    tiers: Mapping[str, TierSettings],
    calendar: WorkdayCalendar,
    today: date,
    tz: ZoneInfo = SHANGHAI,
) -> VisitCompliance:
    """The compliance of ``period`` as of ``today`` (reads only; see the module docstring)."""
    dues = await _due_visits(session, period, tiers, today, tz)
    officers = {o.id: (o.code, o.name) for o in (await session.scalars(sa.select(Officer))).all()}
    total = VisitFigures("合计")
    by_tier = {t: VisitFigures(Tier(t).label if t in _TIER_VALUES else t, t) for t in tiers}
    by_officer: dict[int | None, VisitFigures] = {}
    by_region: dict[str, VisitFigures] = {}
    for due in dues:
        total.count(due.state)
        by_tier.setdefault(due.tier, VisitFigures(due.tier, due.tier)).count(due.state)
        if due.officer_id not in by_officer:
            code, name = officers.get(due.officer_id or 0, ("", NO_OFFICER))
            by_officer[due.officer_id] = VisitFigures(name, code)
        by_officer[due.officer_id].count(due.state)
        by_region.setdefault(due.region, VisitFigures(due.region)).count(due.state)
    contact = await _contact_months(session, period, tiers, today, tz, officers)
    return VisitCompliance(
        period, today, max(0, calendar.workdays_between(today, period.last)), total,
        list(by_tier.values()),
        sorted(by_officer.values(), key=lambda f: (f.code == "", f.code)),
        sorted(by_region.values(), key=lambda f: (f.name == NO_REGION, f.name)),
        contact,
    )  # fmt: skip


_TIER_VALUES: Final = frozenset(t.value for t in Tier)
_ENTERPRISE: Final = Enterprise.__table__
_VISIT: Final = Visit.__table__


async def _due_visits(
    session: AsyncSession,
    period: Period,
    tiers: Mapping[str, TierSettings],
    today: date,
    tz: ZoneInfo,
) -> list[_Due]:
    cadences = {name: periods_within(period, s.visit_every_months) for name, s in tiers.items()}
    labels = sorted({p.label for ps in cadences.values() for p in ps})
    by_label = {p.label: p for ps in cadences.values() for p in ps}
    # Table columns, not ORM entities: a city's half-year is a few hundred thousand visits,
    # and plain column rows skip the ORM's loading (100,000 visits on SQLite: 7.7 s as Visit
    # objects, 3.8 s as columns, on the shared machine).
    e, v = _ENTERPRISE.c, _VISIT.c
    enterprises = {
        row.id: row
        for row in (
            await session.execute(sa.select(e.id, e.tier, e.region, e.officer_id, e.stage))
        ).all()
    }
    found: list[_Due] = []
    made: set[tuple[int, str]] = set()
    # A not-done record, found in the JSON's text rather than decoding every visit's details.
    not_done = sa.cast(v.details, sa.Text).like('%"not_done"%')
    visits = await session.execute(
        sa.select(v.enterprise_id, v.period, v.status, v.officer_id, v.visited_at, not_done)
        .where(v.period.in_(labels))
    )  # fmt: skip
    for enterprise_id, label, status, visit_officer, visited_at, undone in visits.all():
        made.add((enterprise_id, label))
        enterprise = enterprises.get(enterprise_id)
        if status == VisitStatus.CANCELLED or enterprise is None:
            continue
        done_at = visited_at if status == VisitStatus.DONE else None
        # The period its label names: a visit kept from before a change of tier keeps its own
        # cadence's period.
        state = compliance_state(by_label[label], done_at, bool(undone), today, tz)
        officer_id = visit_officer if visit_officer is not None else enterprise.officer_id
        found.append(_Due(str(enterprise.tier), officer_id, _region(enterprise.region), state))
    for enterprise in enterprises.values():
        if enterprise.officer_id is None or enterprise.stage == Stage.EXITING:
            continue
        for due_period in cadences.get(str(enterprise.tier), ()):
            if (enterprise.id, due_period.label) in made:
                continue
            state = compliance_state(due_period, None, False, today, tz)
            found.append(_Due(str(enterprise.tier), enterprise.officer_id,
                              _region(enterprise.region), state))  # fmt: skip
    return found


def _region(region: str | None) -> str:
    return region or NO_REGION


async def _contact_months(
    session: AsyncSession,
    period: Period,
    tiers: Mapping[str, TierSettings],
    today: date,
    tz: ZoneInfo,
    officers: Mapping[int, tuple[str, str]],
) -> list[ContactMonth]:
    until = datetime.combine(today + timedelta(days=1), time(0), tzinfo=tz)
    begun = [m for m in periods_within(period, 1) if m.first <= today]
    found = await contact_by_month(session, begun, tiers=tiers, until=until, tz=tz)
    return [_contact_month(label, rows, officers) for label, rows in found.items()]


def _contact_month(
    label: str, found: Iterable[MonthContact], officers: Mapping[int, tuple[str, str]]
) -> ContactMonth:
    total = ContactFigures("合计")
    by_officer: dict[int | None, ContactFigures] = {}
    for c in found:
        if c.officer_id not in by_officer:
            code, name = officers.get(c.officer_id or 0, ("", NO_OFFICER))
            by_officer[c.officer_id] = ContactFigures(name, code)
        for figures in (total, by_officer[c.officer_id]):
            figures.total += 1
            figures.contacted += c.contacted
            if not c.contacted:
                figures.not_contacted.append(c.enterprise)
    officers_sorted = sorted(by_officer.values(), key=lambda f: (f.code == "", f.code))
    return ContactMonth(label, total, officers_sorted)


@dataclass(slots=True)
class MonthlyVisits:
    """The visit section of the monthly report: the visits done in the month (by tier, by
    officer code), the compliance of the month's quarter to date (to the month's last day, or
    today in the current month) and the key enterprises' contact that month."""

    month: str
    done: int
    done_by_tier: dict[str, int]
    done_by_officer: dict[str, int]  # officer code ("" for none) -> visits done
    quarter: VisitCompliance
    contact: ContactMonth | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "done": self.done,
            "done_by_tier": self.done_by_tier,
            "done_by_officer": self.done_by_officer,
            "quarter": self.quarter.as_dict(),
            "contact": self.contact.as_dict() if self.contact else None,
        }


async def monthly_visits(
    session: AsyncSession,
    month: Period,
    *,
    tiers: Mapping[str, TierSettings],
    calendar: WorkdayCalendar,
    now: datetime,
    tz: ZoneInfo = SHANGHAI,
) -> MonthlyVisits:
    """The visit figures of ``month`` for the monthly report (reads only)."""
    today = min(now.astimezone(tz).date(), month.last)
    start = datetime.combine(month.first, time(0), tzinfo=tz)
    end = datetime.combine(month.last + timedelta(days=1), time(0), tzinfo=tz)
    rows = await session.execute(
        sa.select(Enterprise.tier, Officer.code)
        .select_from(Visit)
        .join(Enterprise, Visit.enterprise_id == Enterprise.id)
        .outerjoin(Officer, Visit.officer_id == Officer.id)
        .where(Visit.status == VisitStatus.DONE, Visit.visited_at >= start,
               Visit.visited_at < end, Visit.visited_at <= now)
    )  # fmt: skip
    by_tier: dict[str, int] = {}
    by_officer: dict[str, int] = {}
    done = 0
    for tier, code in rows.all():
        done += 1
        by_tier[str(tier)] = by_tier.get(str(tier), 0) + 1
        by_officer[code or ""] = by_officer.get(code or "", 0) + 1
    quarter = await visit_compliance(
        session, period_of(month.first, 3), tiers=tiers, calendar=calendar, today=today, tz=tz
    )
    contact = next((m for m in quarter.contact if m.month == month.label), None)
    return MonthlyVisits(month.label, done, by_tier, by_officer, quarter, contact)
