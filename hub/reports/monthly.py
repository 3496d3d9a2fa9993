"""The monthly report (月度报表): per-department figures, bad ratings and the ticket ledger.

For a month M (local calendar month, ``[start, end)``), each ticket counts under its current
department (未分派 when it has none):

- 受理 received: received in M;
- 办结 resolved: *first* resolution in M; 按时 on time / 超期办结 late against the deadline;
  超期未办结: not resolved by the end of M (or by now, in the current month) with the deadline
  already passed then;
- 延期 extensions: approved extensions (``extended`` events) in M;
- ratings (好差评): a ticket's latest rating is the one that counts (the second after a reopen
  replaces the first); it belongs to the month it was given in; when flagged malicious
  (恶意差评) it is left out of the levels and of 好评率 and counted apart;
  好评率 = counted ratings ≥3 ÷ counted ratings; tickets closed without a rating
  (未评价销号, closed in M) are counted apart too;
- 差评 bad ratings: every bad rating (≤2, not malicious) given in M, its own record even when
  superseded, with its rectification (整改): 已整改 when the ticket was resolved again after it,
  else 逾期未整改 once ``rectify_due_at`` has passed, else 整改中;
- 回访 callback coverage: surveys of the tickets resolved in M-1 ÷ those tickets (the survey
  done in M, :mod:`hub.tickets.callback_survey`).

The ledger (台账) lists every ticket alive during M: received before its end and not closed
before its start.

The visit section (:func:`hub.reports.visits.monthly_visits`): the visits done in M, the
compliance of M's quarter to M's end (or now), the key enterprises' contact coverage of M.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub.core.clock import SHANGHAI, local_iso
from hub.core.identifiers import mask_mobile
from hub.core.vocab import RATING_LABELS, CallbackStatus, TicketEventType, TicketState
from hub.core.workdays import WorkdayCalendar
from hub.reports.visits import MonthlyVisits, monthly_visits
from hub.store.db import Database
from hub.store.models import (
    CallbackSurvey,
    Contact,
    Department,
    Enterprise,
    Rating,
    Staff,
    Ticket,
    TicketEvent,
)
from hub.tickets.callback_survey import month_label, month_span, parse_month, previous_month
from hub.tickets.deadlines.rules import deadline_text
from hub.visits.periods import period_of
from hub.visits.settings import TierSettings, default_tiers

UNASSIGNED = "未分派"


@dataclass(slots=True)
class DepartmentFigures:
    """One department's row of the summary sheet (also the ``--json`` output)."""

    department: str
    code: str = ""
    received: int = 0
    resolved: int = 0
    on_time: int = 0
    resolved_late: int = 0
    overdue_open: int = 0
    extensions: int = 0
    ratings: dict[int, int] = field(default_factory=lambda: {s: 0 for s in (5, 4, 3, 2, 1)})
    malicious: int = 0
    closed_no_rating: int = 0
    bad_ratings: int = 0
    rectified: int = 0
    rectifying: int = 0
    rectify_overdue: int = 0
    previous_resolved: int = 0
    surveyed: int = 0

    @property
    def rated(self) -> int:
        return sum(self.ratings.values())

    @property
    def good_rate(self) -> float | None:
        """好评率: counted ratings ≥3 ÷ counted ratings (None without ratings)."""
        good = self.ratings[5] + self.ratings[4] + self.ratings[3]
        return good / self.rated if self.rated else None

    @property
    def callback_coverage(self) -> float | None:
        return self.surveyed / self.previous_resolved if self.previous_resolved else None

    def add(self, other: DepartmentFigures) -> None:
        for name in (
            "received",
            "resolved",
            "on_time",
            "resolved_late",
            "overdue_open",
            "extensions",
            "malicious",
            "closed_no_rating",
            "bad_ratings",
            "rectified",
            "rectifying",
            "rectify_overdue",
            "previous_resolved",
            "surveyed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for score, count in other.ratings.items():
            self.ratings[score] += count

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["ratings"] = {str(s): c for s, c in self.ratings.items()}
        data["rated"] = self.rated
        data["good_rate"] = None if self.good_rate is None else round(self.good_rate, 4)
        coverage = self.callback_coverage
        data["callback_coverage"] = None if coverage is None else round(coverage, 4)
        return data


@dataclass(frozen=True, slots=True)
class BadRatingRow:
    """One bad rating and where its rectification stands (差评整改)."""

    ticket_number: str
    department: str
    rated_at: str | None
    score: int
    comment: str | None
    rectify_due_at: str | None  # the last day, as deadline_at of the ledger
    status: str  # 已整改 | 整改中 | 逾期未整改
    resolved_again_at: str | None
    later_score: int | None


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """One ticket of the ledger (台账); the contact number is masked."""

    number: str
    received_at: str | None
    enterprise: str
    contact: str
    mobile: str
    channel: str
    category: str
    department: str
    handler: str
    urgency: str
    deadline_at: (
        str | None
    )  # the last day, 2026-12-11（周五）24时前 (hub.tickets.deadlines.rules.deadline_text)
    state: str
    resolved_at: str | None
    on_time: str  # 是 | 否 | 未办结
    extensions: int
    rating: str
    malicious: str
    closed_at: str | None
    close_reason: str
    callback: str


@dataclass(slots=True)
class MonthlyReport:
    """Everything the workbook and ``--json`` show for one month."""

    month: str
    generated_at: str | None
    departments: list[DepartmentFigures]
    total: DepartmentFigures
    bad_ratings: list[BadRatingRow]
    ledger: list[LedgerRow]
    #: The visit section (走访情况, 重点企业联系): :func:`hub.reports.visits.monthly_visits`.
    visits: MonthlyVisits | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "month": self.month,
            "generated_at": self.generated_at,
            "departments": [d.as_dict() for d in self.departments],
            "total": self.total.as_dict(),
            "visits": self.visits.as_dict() if self.visits is not None else None,
        }


@dataclass(slots=True)
class _Loaded:
    tickets: list[Ticket]
    departments: dict[int, Department]
    staff: dict[int, str]
    enterprises: dict[int, str]
    contacts: dict[int, Contact]
    events: dict[int, list[TicketEvent]]
    ratings: dict[int, list[Rating]]
    surveys: dict[int, list[CallbackSurvey]]
    previous_resolved: list[Ticket]


async def build_monthly_report(
    db: Database,
    month: str,
    now: datetime,
    tz: ZoneInfo = SHANGHAI,
    *,
    tiers: Mapping[str, TierSettings] | None = None,
    calendar: WorkdayCalendar | None = None,
) -> MonthlyReport:
    """Read the month's tickets and visits and compute the report (reads only). ``tiers`` and
    ``calendar`` are config.yaml's (``tiers:``, ``calendar:``); the defaults are the seeded
    tiers and the statutory calendar."""
    year, mon = parse_month(month)
    start, end = month_span(year, mon, tz)
    previous = month_label(*previous_month(year, mon))
    loaded = await _load(db, start, end, previous, tz)
    report = compute_report(loaded, month_label(year, mon), previous, start, end, now, tz)
    async with db.read() as session:
        report.visits = await monthly_visits(
            session, period_of(date(year, mon, 1), 1), tiers=tiers or default_tiers(),
            calendar=calendar or WorkdayCalendar(), now=now, tz=tz,
        )  # fmt: skip
    return report


async def _load(
    db: Database, start: datetime, end: datetime, previous: str, tz: ZoneInfo
) -> _Loaded:
    p_start, p_end = month_span(*parse_month(previous), tz)
    async with db.read() as s:
        alive = sa.and_(
            Ticket.received_at < end, sa.or_(Ticket.closed_at.is_(None), Ticket.closed_at >= start)
        )
        # Ratings, no-rating closes and last month's resolutions may belong to tickets that
        # are not alive in the month (closed before it started), so they are read as well.
        rated_in_month = sa.select(Rating.ticket_id).where(Rating.at >= start, Rating.at < end)
        prev = sa.and_(
            Ticket.resolved_at >= p_start,
            Ticket.resolved_at < p_end,
            Ticket.state.in_([TicketState.RESOLVED, TicketState.CLOSED]),
        )
        tickets = list(
            (
                await s.scalars(
                    sa.select(Ticket)
                    .where(sa.or_(alive, Ticket.id.in_(rated_in_month), prev))
                    .order_by(Ticket.received_at, Ticket.id)
                )
            ).all()
        )
        ids = [t.id for t in tickets]
        departments = {d.id: d for d in (await s.scalars(sa.select(Department))).all()}
        staff = dict((await s.execute(sa.select(Staff.id, Staff.name))).all())
        enterprises = dict((await s.execute(sa.select(Enterprise.id, Enterprise.name))).all())
        contacts: dict[int, Contact] = {}
        events: dict[int, list[TicketEvent]] = defaultdict(list)
        ratings: dict[int, list[Rating]] = defaultdict(list)
        surveys: dict[int, list[CallbackSurvey]] = defaultdict(list)
        for low in range(0, len(ids), 500):
            chunk = ids[low : low + 500]
            contact_ids = {t.contact_id for t in tickets[low : low + 500] if t.contact_id}
            for c in (await s.scalars(sa.select(Contact).where(Contact.id.in_(contact_ids)))).all():
                contacts[c.id] = c
            for e in (
                await s.scalars(
                    sa.select(TicketEvent)
                    .where(TicketEvent.ticket_id.in_(chunk))
                    .order_by(TicketEvent.at, TicketEvent.id)
                )
            ).all():
                events[e.ticket_id].append(e)
            for r in (
                await s.scalars(
                    sa.select(Rating)
                    .where(Rating.ticket_id.in_(chunk))
                    .order_by(Rating.at, Rating.id)
                )
            ).all():
                ratings[r.ticket_id].append(r)
            for v in (
                await s.scalars(
                    sa.select(CallbackSurvey).where(CallbackSurvey.ticket_id.in_(chunk))
                )
            ).all():
                surveys[v.ticket_id].append(v)
        previous_resolved = [
            t
            for t in tickets
            if t.resolved_at is not None
            and p_start <= t.resolved_at < p_end
            and t.state in (TicketState.RESOLVED, TicketState.CLOSED)
        ]
    return _Loaded(
        tickets,
        departments,
        staff,
        enterprises,
        contacts,
        events,
        ratings,
        surveys,
        previous_resolved,
    )


def _times(events: Iterable[TicketEvent], kind: TicketEventType) -> list[datetime]:
    return [e.at for e in events if e.type is kind]


def compute_report(
    data: _Loaded,
    month: str,
    previous: str,
    start: datetime,
    end: datetime,
    now: datetime,
    tz: ZoneInfo,
) -> MonthlyReport:
    """The figures from loaded rows (see the module docstring for every definition)."""
    cutoff = min(end, now)
    rows: dict[int | None, DepartmentFigures] = {}

    def row(department_id: int | None) -> DepartmentFigures:
        if department_id not in rows:
            d = data.departments.get(department_id) if department_id is not None else None
            rows[department_id] = DepartmentFigures(
                d.name if d else UNASSIGNED, d.code if d else ""
            )
        return rows[department_id]

    for d in sorted(data.departments.values(), key=lambda d: d.code):
        row(d.id)
    bad_rows: list[BadRatingRow] = []
    ledger: list[LedgerRow] = []
    previous_ids = {t.id for t in data.previous_resolved}
    for t in data.tickets:
        fig = row(t.department_id)
        events = data.events.get(t.id, [])
        resolutions = _times(events, TicketEventType.RESOLVED) or (
            [t.resolved_at] if t.resolved_at else []
        )
        first = resolutions[0] if resolutions else None
        alive = t.received_at < end and (t.closed_at is None or t.closed_at >= start)
        if start <= t.received_at < end:
            fig.received += 1
        if first is not None and start <= first < end:
            fig.resolved += 1
            if first <= t.deadline_at:
                fig.on_time += 1
            else:
                fig.resolved_late += 1
        if alive and t.deadline_at < cutoff and (first is None or first >= cutoff):
            fig.overdue_open += 1
        fig.extensions += sum(start <= at < end for at in _times(events, TicketEventType.EXTENDED))
        ratings = data.ratings.get(t.id, [])
        counting = ratings[-1] if ratings else None
        if counting is not None and start <= counting.at < end:
            if counting.malicious:
                fig.malicious += 1
            else:
                fig.ratings[counting.score] += 1
        if t.close_reason == "no_rating" and t.closed_at is not None and start <= t.closed_at < end:
            fig.closed_no_rating += 1
        for r in ratings:
            if r.score <= 2 and not r.malicious and start <= r.at < end:
                bad_rows.append(_bad_row(t, r, ratings, resolutions, fig, now, tz))
        if t.id in previous_ids:
            fig.previous_resolved += 1
            fig.surveyed += any(s.month == previous for s in data.surveys.get(t.id, []))
        if alive:
            ledger.append(_ledger_row(data, t, fig, first, events, counting, tz))
    departments = list(rows.values())
    total = DepartmentFigures("合计")
    for f in departments:
        total.add(f)
    return MonthlyReport(month, local_iso(now, tz), departments, total, bad_rows, ledger)


def _bad_row(
    t: Ticket,
    r: Rating,
    ratings: list[Rating],
    resolutions: list[datetime],
    fig: DepartmentFigures,
    now: datetime,
    tz: ZoneInfo,
) -> BadRatingRow:
    again = next((at for at in resolutions if at > r.at), None)
    later = next((x for x in ratings if x.at > r.at), None)
    if again is not None:
        status = "已整改"
        fig.rectified += 1
    elif t.rectify_due_at is not None and t.rectify_due_at < now:
        status = "逾期未整改"
        fig.rectify_overdue += 1
    else:
        status = "整改中"
        fig.rectifying += 1
    fig.bad_ratings += 1
    return BadRatingRow(
        ticket_number=t.number,
        department=fig.department,
        rated_at=local_iso(r.at, tz),
        score=r.score,
        comment=r.comment,
        rectify_due_at=deadline_text(t.rectify_due_at, tz) if t.rectify_due_at else None,
        status=status,
        resolved_again_at=local_iso(again, tz),
        later_score=later.score if later else None,
    )


_CLOSE_REASONS = {"rated": "好评办结", "no_rating": "未评价销号"}


def _ledger_row(
    data: _Loaded,
    t: Ticket,
    fig: DepartmentFigures,
    first: datetime | None,
    events: list[TicketEvent],
    counting: Rating | None,
    tz: ZoneInfo,
) -> LedgerRow:
    contact = data.contacts.get(t.contact_id) if t.contact_id else None
    surveys = data.surveys.get(t.id, [])
    callback = ""
    if surveys:
        latest = surveys[-1]
        callback = CallbackStatus(latest.status).label
        if latest.score is not None:
            callback += f"（{RATING_LABELS[latest.score]}）"
    on_time = "未办结" if first is None else ("是" if first <= t.deadline_at else "否")
    rating = ""
    if counting is not None:
        rating = f"{counting.score} {RATING_LABELS[counting.score]}"
    return LedgerRow(
        number=t.number,
        received_at=local_iso(t.received_at, tz),
        enterprise=data.enterprises.get(t.enterprise_id, "") if t.enterprise_id else "",
        contact=(contact.name or "") if contact else "",
        mobile=mask_mobile(contact.mobile) if contact and contact.mobile else "",
        channel=t.channel.label if t.channel else "",
        category=t.category.label,
        department=fig.department,
        handler=data.staff.get(t.handler_id, "") if t.handler_id else "",
        urgency=t.urgency.label,
        deadline_at=deadline_text(t.deadline_at, tz),
        state=t.state.label,
        resolved_at=local_iso(first, tz),
        on_time=on_time,
        extensions=len(_times(events, TicketEventType.EXTENDED)),
        rating=rating,
        malicious="是" if counting is not None and counting.malicious else "",
        closed_at=local_iso(t.closed_at, tz),
        close_reason=_CLOSE_REASONS.get(t.close_reason or "", t.close_reason or ""),
        callback=callback,
    )
