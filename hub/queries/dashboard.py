"""The dashboard's figures (数据看板, /admin/): sends, replies, ratings, tickets, held messages.

Every figure is scoped to the reader (:class:`~hub.queries.tickets.TicketScope`): tickets and
ratings by the ticket rule (a handler or head sees their department's tickets only), messages
and replies by the reader's :class:`~hub.queries.scope.Visibility` (the enterprises they may see).

The definitions follow the hub's other counts:

- sends: messages created in the window (today since local midnight, the last 7 and 30 days),
  by channel and status; 送达率 delivery rate = delivered ÷ (sent + delivered + failed + dead),
  the messages that reached a provider or were given up (queued, held, sending and skipped ones
  have no fate yet or never went);
- replies: inbound replies received in the window;
- ratings (last 30 days): a ticket's latest rating counts (the monthly report's rule); the five
  levels exclude malicious ones, counted apart; 好评率 is
  :attr:`hub.queries.metrics.DatabaseSnapshot.good_ratio` (≥3 ÷ counted, malicious left out);
- on time by department (last 30 days): tickets whose *first* resolution (``resolved`` event)
  is in the window, on time when it was at or before the deadline (the monthly report's 按时);
- open and overdue (now): open states, overdue when the deadline has passed (the ``/metrics``
  gauges' rule), by department (未分派 when none);
- held by quiet hours: messages ``held`` with a quiet-hours reason whose release is ahead, their
  count and the earliest release (the banner).

Visit compliance is the reports layer's (:func:`hub.reports.visits.visit_compliance`); the page
adds it, since ``queries`` sits below ``reports``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from hub.core.clock import SHANGHAI, local_iso
from hub.core.vocab import RATING_LABELS, ChannelName, MessageStatus, TicketEventType
from hub.outbound.quiet_hours import QUIET_REASON_PREFIX
from hub.queries.metrics import DatabaseSnapshot
from hub.queries.tickets import TicketScope
from hub.store.db import Database
from hub.store.models import Department, InboundReply, Message, Rating, Ticket, TicketEvent
from hub.tickets.lifecycle import OPEN_STATES

UNASSIGNED: Final = "未分派"  # the monthly report's name for tickets without a department
#: The windows (key, label, days back; 0: since today's local midnight).
WINDOWS: Final = (("today", "今天", 0), ("7d", "近7天", 7), ("30d", "近30天", 30))
#: The window of the ratings and the on-time rate.
RATED_DAYS: Final = 30
#: The statuses of a message that reached a provider or was given up (the rate's divisor).
ATTEMPTED: Final = (
    MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.FAILED, MessageStatus.DEAD,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class WindowSends:
    """Sends and replies of one window."""

    key: str
    label: str
    since: datetime
    counts: Mapping[tuple[ChannelName, MessageStatus], int]
    replies: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def status_total(self, status: MessageStatus) -> int:
        return sum(n for (_, s), n in self.counts.items() if s is status)

    @property
    def delivery_rate(self) -> float | None:
        """delivered ÷ (sent + delivered + failed + dead); None when none went."""
        attempted = sum(self.status_total(s) for s in ATTEMPTED)
        return self.status_total(MessageStatus.DELIVERED) / attempted if attempted else None

    def by_channel(self) -> dict[ChannelName, dict[MessageStatus, int]]:
        """Channel -> status -> count, channels in vocabulary order, only those with sends."""
        found: dict[ChannelName, dict[MessageStatus, int]] = {}
        for channel in ChannelName:
            row = {s: self.counts.get((channel, s), 0) for s in MessageStatus}
            if any(row.values()):
                found[channel] = row
        return found


@dataclass(slots=True)
class DepartmentTickets:
    """One department's tickets: open and overdue now, resolved and on time in the window."""

    name: str
    code: str = ""
    open: int = 0
    overdue: int = 0
    resolved: int = 0
    on_time: int = 0

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time / self.resolved if self.resolved else None


@dataclass(frozen=True, slots=True)
class QuietBanner:
    """Messages quiet hours hold now and the earliest moment one of them goes (UTC)."""

    held: int
    release_at: datetime

    def text(self, now: datetime, tz: ZoneInfo = SHANGHAI) -> str:
        """``静默时段：N 条消息将于 HH:MM 发送`` (the date too when it is not within a day)."""
        local = self.release_at.astimezone(tz)
        when = f"{local:%H:%M}" if self.release_at - now <= timedelta(days=1) else (
            f"{local.month}月{local.day}日 {local:%H:%M}"
        )  # fmt: skip
        return f"静默时段：{self.held} 条消息将于 {when} 发送"


@dataclass(slots=True)
class Dashboard:
    """Every figure of the page for one reader at one moment."""

    now: datetime
    windows: list[WindowSends]
    #: (score, malicious) -> ratings, as :class:`DatabaseSnapshot` keeps them.
    rating_counts: Mapping[tuple[int, bool], int]
    departments: list[DepartmentTickets]
    quiet: QuietBanner | None = None
    tz: ZoneInfo = field(default=SHANGHAI, repr=False)

    @property
    def ratings(self) -> dict[int, int]:
        """The five levels (5 … 1), malicious ratings left out."""
        return {s: self.rating_counts.get((s, False), 0) for s in (5, 4, 3, 2, 1)}

    @property
    def malicious(self) -> int:
        return sum(n for (_, bad), n in self.rating_counts.items() if bad)

    @property
    def good_rate(self) -> float | None:
        return DatabaseSnapshot(ratings=self.rating_counts).good_ratio

    @property
    def open_tickets(self) -> int:
        return sum(d.open for d in self.departments)

    @property
    def overdue_tickets(self) -> int:
        return sum(d.overdue for d in self.departments)

    def window(self, key: str) -> WindowSends:
        return next(w for w in self.windows if w.key == key)

    def as_dict(self) -> dict[str, Any]:
        """JSON for the page's charts (labels in Chinese, rates rounded). What has an order is
        a list: JSON encoders may sort an object's keys (Jinja's ``tojson`` does)."""
        return {
            "now": local_iso(self.now, self.tz),
            "statuses": [s.label for s in MessageStatus],
            "windows": [
                {
                    "key": w.key, "label": w.label, "total": w.total, "replies": w.replies,
                    "delivery_rate": _rounded(w.delivery_rate),
                    "by_channel": [
                        {"channel": c.label, "counts": {s.label: n for s, n in row.items()}}
                        for c, row in w.by_channel().items()
                    ],
                }
                for w in self.windows
            ],
            "ratings": [
                {"score": s, "label": RATING_LABELS[s], "count": n} for s, n in self.ratings.items()
            ],
            "malicious": self.malicious,
            "good_rate": _rounded(self.good_rate),
            "departments": [
                {"name": d.name, "code": d.code, "open": d.open, "overdue": d.overdue,
                 "resolved": d.resolved, "on_time": d.on_time,
                 "on_time_rate": _rounded(d.on_time_rate)}
                for d in self.departments
            ],
            "open": self.open_tickets,
            "overdue": self.overdue_tickets,
            "quiet": None if self.quiet is None else {
                "held": self.quiet.held, "release_at": local_iso(self.quiet.release_at, self.tz),
                "text": self.quiet.text(self.now, self.tz),
            },
        }  # fmt: skip


def _rounded(rate: float | None) -> float | None:
    return None if rate is None else round(rate, 4)


def window_starts(now: datetime, tz: ZoneInfo = SHANGHAI) -> dict[str, datetime]:
    """Each window's first moment (UTC-aware): local midnight today, now − 7 and − 30 days."""
    midnight = datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz)
    return {key: midnight if days == 0 else now - timedelta(days=days) for key, _, days in WINDOWS}


async def read_dashboard(
    db: Database, scope: TicketScope, now: datetime, tz: ZoneInfo = SHANGHAI
) -> Dashboard:
    """Every figure for the reader ``scope`` at ``now`` (reads only; module docstring)."""
    starts = window_starts(now, tz)
    async with db.read() as session:
        sends = await _sends(session, scope, starts)
        replies = await _replies(session, scope, starts)
        ratings = await _ratings(session, scope, now - timedelta(days=RATED_DAYS))
        departments = await _departments(session, scope, now)
        quiet = await _quiet(session, scope, now)
    windows = [
        WindowSends(key, label, starts[key], sends.get(key, {}), replies.get(key, 0))
        for key, label, _ in WINDOWS
    ]
    return Dashboard(now, windows, ratings, departments, quiet, tz)


def _message_scope(scope: TicketScope) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of the messages the reader may see (none: all)."""
    clause = scope.visibility.enterprise_filter(Message.enterprise_id)
    return [] if clause is None else [clause]


def _ticket_scope(scope: TicketScope) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of the tickets the reader may see (none: all)."""
    clause = scope.clause()
    return [] if clause is None else [clause]


def _in_window(column: Any, since: datetime) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((column >= since, 1), else_=0))


async def _sends(
    session: AsyncSession, scope: TicketScope, starts: Mapping[str, datetime]
) -> dict[str, dict[tuple[ChannelName, MessageStatus], int]]:
    """(channel, status) counts of each window, in one pass over the widest window."""
    keys = sorted(starts, key=lambda k: starts[k])  # the widest (earliest) first
    stmt = (
        sa.select(Message.channel, Message.status,
                  *(_in_window(Message.created_at, starts[k]) for k in keys))
        .where(Message.created_at >= starts[keys[0]], *_message_scope(scope))
        .group_by(Message.channel, Message.status)
    )  # fmt: skip
    found: dict[str, dict[tuple[ChannelName, MessageStatus], int]] = {k: {} for k in keys}
    for channel, status, *counts in (await session.execute(stmt)).all():
        for key, n in zip(keys, counts, strict=True):
            if n:
                found[key][(channel, status)] = int(n)
    return found


async def _replies(
    session: AsyncSession, scope: TicketScope, starts: Mapping[str, datetime]
) -> dict[str, int]:
    keys = sorted(starts, key=lambda k: starts[k])
    visible = scope.visibility.enterprise_filter(InboundReply.enterprise_id)
    stmt = sa.select(*(_in_window(InboundReply.received_at, starts[k]) for k in keys)).where(
        InboundReply.received_at >= starts[keys[0]], *([] if visible is None else [visible])
    )
    row = (await session.execute(stmt)).one()
    return {key: int(n or 0) for key, n in zip(keys, row, strict=True)}


async def _ratings(
    session: AsyncSession, scope: TicketScope, since: datetime
) -> dict[tuple[int, bool], int]:
    """(score, malicious) -> tickets whose latest rating was given since ``since``."""
    later = aliased(Rating)
    superseded = sa.exists().where(later.ticket_id == Rating.ticket_id, later.id > Rating.id)
    stmt = (
        sa.select(Rating.score, Rating.malicious, sa.func.count())
        .join(Ticket, Rating.ticket_id == Ticket.id)
        .where(Rating.at >= since, ~superseded, *_ticket_scope(scope))
        .group_by(Rating.score, Rating.malicious)
    )
    rows = (await session.execute(stmt)).all()
    return {(score, bool(malicious)): n for score, malicious, n in rows}


async def _departments(
    session: AsyncSession, scope: TicketScope, now: datetime
) -> list[DepartmentTickets]:
    since = now - timedelta(days=RATED_DAYS)
    overdue = sa.func.sum(sa.case((Ticket.deadline_at <= now, 1), else_=0))
    open_rows = await session.execute(
        sa.select(Ticket.department_id, sa.func.count(), overdue)
        .where(Ticket.state.in_(OPEN_STATES), *_ticket_scope(scope))
        .group_by(Ticket.department_id)
    )
    # A ticket's first resolution: a resolved event with no earlier one (the ticket's index).
    earlier = aliased(TicketEvent)
    resolved = TicketEvent.type == TicketEventType.RESOLVED
    first = sa.and_(resolved, ~sa.exists().where(
        earlier.ticket_id == TicketEvent.ticket_id, earlier.type == TicketEventType.RESOLVED,
        earlier.at < TicketEvent.at,
    ))  # fmt: skip
    on_time = sa.func.sum(sa.case((TicketEvent.at <= Ticket.deadline_at, 1), else_=0))
    resolved_rows = await session.execute(
        sa.select(Ticket.department_id, sa.func.count(), on_time)
        .join(Ticket, TicketEvent.ticket_id == Ticket.id)
        .where(TicketEvent.at >= since, TicketEvent.at <= now, first, *_ticket_scope(scope))
        .group_by(Ticket.department_id)
    )
    departments = await session.execute(sa.select(Department.id, Department.name, Department.code))
    names = {d_id: (name, code) for d_id, name, code in departments.all()}
    rows: dict[int | None, DepartmentTickets] = {}

    def row(department_id: int | None) -> DepartmentTickets:
        if department_id not in rows:
            name, code = names.get(department_id or 0, (UNASSIGNED, ""))
            rows[department_id] = DepartmentTickets(name, code)
        return rows[department_id]

    for department_id, n, late in open_rows.all():
        row(department_id).open, row(department_id).overdue = n, int(late or 0)
    for department_id, n, in_time in resolved_rows.all():
        row(department_id).resolved, row(department_id).on_time = n, int(in_time or 0)
    return sorted(rows.values(), key=lambda d: (d.code == "", d.code))


async def _quiet(session: AsyncSession, scope: TicketScope, now: datetime) -> QuietBanner | None:
    stmt = sa.select(sa.func.count(), sa.func.min(Message.next_attempt_at)).where(
        Message.status == MessageStatus.HELD,
        Message.next_attempt_at > now,
        Message.status_reason.startswith(QUIET_REASON_PREFIX, autoescape=True),
        *_message_scope(scope),
    )
    held, release = (await session.execute(stmt)).one()
    if not held or release is None:
        return None
    return QuietBanner(int(held), _aware(release))


def _aware(at: datetime) -> datetime:
    """A naive value from the database is UTC (as the store writes every time)."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
