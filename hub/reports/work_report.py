"""The half-yearly work report (工作报告): the half-year's figures, for the DOCX the business
office hands on (seed 000 §四: 各级各相关部门每半年……报送本地、本部门主动服务工作情况).

For a half-year H (``2027H1``: 1 January – 30 June, local calendar days, ``[start, end)``):

- messages (消息): every message created in H, by kind and by channel. 已发出 sent = status
  sent or delivered; 送达 delivered = delivered (the provider's receipt confirms it);
  失败 failed = failed or dead; 未发送 skipped (no address, opted out, capped);
  发送成功率 = sent ÷ (sent + failed); 送达率 = delivered ÷ sent;
- replies (回复): the replies received in H; 回复率 = messages to enterprises' contacts sent in
  H that got at least one reply ÷ those messages;
- tickets (诉求): the monthly report's figures (:mod:`hub.reports.monthly`, one way to count
  each) of H's six months added up: received, resolved, on time, late, extensions, ratings and
  好评率, bad ratings, callbacks (回访: surveys done in H of the tickets resolved the month
  before); 超期未办结 is the last month's (open and overdue at the end of H, or now);
- visits (走访): :func:`hub.reports.visits.visit_compliance` of H by tier;
- credit (信用): events decided in H by type (warnings), and events repaired or removed in H
  (repairs: ``repaired_on`` in H);
- policies (政策): each policy with ``policy_push`` messages created in H, its enterprises
  reached (a message sent or delivered), its messages and the replies to them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hub.core.clock import SHANGHAI, local_iso
from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.errors import UsageError
from hub.core.vocab import MessageKind, MessageStatus
from hub.core.workdays import WorkdayCalendar
from hub.reports.monthly import DepartmentFigures, build_monthly_report
from hub.reports.visits import VisitCompliance, visit_compliance
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent, Policy
from hub.store.models import Campaign, InboundReply, Message
from hub.tickets.callback_survey import month_label
from hub.visits.periods import Period, parse_period, period_of
from hub.visits.settings import TierSettings

_SENT = (MessageStatus.SENT, MessageStatus.DELIVERED)
_FAILED = (MessageStatus.FAILED, MessageStatus.DEAD)
_POLICY_PREFIX = "policy:"  # policy_match's trigger key: policy:<policy_id>


@dataclass(slots=True)
class MessageCounts:
    """Messages of one kind, one channel, or all, by how they ended."""

    name: str
    code: str = ""
    messages: int = 0
    sent: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def pending(self) -> int:
        """Queued, held or sending at the time of the report."""
        return self.messages - self.sent - self.failed - self.skipped

    @property
    def sent_rate(self) -> float | None:
        """发送成功率: sent ÷ (sent + failed)."""
        tried = self.sent + self.failed
        return self.sent / tried if tried else None

    @property
    def delivered_rate(self) -> float | None:
        """送达率: delivered ÷ sent."""
        return self.delivered / self.sent if self.sent else None

    def count(self, status: MessageStatus, n: int) -> None:
        self.messages += n
        if status in _SENT:
            self.sent += n
        if status is MessageStatus.DELIVERED:
            self.delivered += n
        if status in _FAILED:
            self.failed += n
        if status is MessageStatus.SKIPPED:
            self.skipped += n


@dataclass(frozen=True, slots=True)
class MonthTickets:
    """One month of the half-year: requests received and resolved (the trend chart)."""

    month: str
    received: int
    resolved: int


@dataclass(slots=True)
class CreditFigures:
    """Credit warnings (events decided in the half-year) and repairs (repaired or removed)."""

    decided: dict[CreditEventType, int] = field(
        default_factory=lambda: {t: 0 for t in CreditEventType}
    )
    repaired: int = 0
    removed: int = 0

    @property
    def warnings(self) -> int:
        return sum(self.decided.values())


@dataclass(frozen=True, slots=True)
class PolicyReach:
    """One policy pushed in the half-year: enterprises reached, messages, replies."""

    policy_id: str
    title: str
    enterprises: int
    messages: int
    replies: int


@dataclass(slots=True)
class WorkReport:
    """Everything the work report document shows for one half-year."""

    half: Period
    generated_at: str | None
    messages: MessageCounts
    by_kind: list[MessageCounts]
    by_channel: list[MessageCounts]
    replies: int
    replied_messages: int
    contact_messages_sent: int
    tickets: DepartmentFigures
    months: list[MonthTickets]
    credit: CreditFigures
    policies: list[PolicyReach]
    visits: VisitCompliance | None = None

    @property
    def title(self) -> str:
        """2027年上半年."""
        return half_title(self.half)

    @property
    def reply_rate(self) -> float | None:
        sent = self.contact_messages_sent
        return self.replied_messages / sent if sent else None


def half_title(half: Period) -> str:
    """``2027年上半年`` / ``2027年下半年``."""
    return f"{half.first.year}年{'上' if half.first.month == 1 else '下'}半年"


def parse_half(label: str) -> Period:
    """``2027H1`` / ``2027H2`` -> the half-year; ``UsageError`` in Chinese otherwise."""
    period = parse_period(label)
    if period.months != 6:
        raise UsageError(f"工作报告按半年编制，期间应为 2027H1 或 2027H2，收到“{label}”")
    return period


def half_just_ended(today: date) -> Period:
    """The half-year before the one ``today`` is in (January 2028 -> 2027H2)."""
    return period_of(period_of(today, 6).first - timedelta(days=1), 6)


def report_day(year: int, month: int, calendar: WorkdayCalendar, workday: int) -> date:
    """The ``workday``-th working day of ``year``-``month`` (1 = its first working day)."""
    first = calendar.workday_on_or_after(date(year, month, 1))
    return calendar.add_workdays(first, workday - 1)[0]


def _span(half: Period, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(half.first, time(0), tzinfo=tz)
    return start, datetime.combine(half.last + timedelta(days=1), time(0), tzinfo=tz)


async def build_work_report(
    db: Database,
    half: Period,
    now: datetime,
    *,
    tiers: Mapping[str, TierSettings],
    calendar: WorkdayCalendar,
    tz: ZoneInfo = SHANGHAI,
) -> WorkReport:
    """Read the half-year's rows and compute the report (reads only)."""
    start, end = _span(half, tz)
    tickets, months = await _tickets(db, half, now, tz, tiers, calendar)
    by_kind, by_channel, total = await _messages(db, start, end)
    replies, replied, contact_sent = await _replies(db, start, end)
    async with db.read() as session:
        visits = await visit_compliance(
            session, half, tiers=tiers, calendar=calendar, today=now.astimezone(tz).date(), tz=tz
        )
    return WorkReport(
        half=half,
        generated_at=local_iso(now, tz),
        messages=total,
        by_kind=by_kind,
        by_channel=by_channel,
        replies=replies,
        replied_messages=replied,
        contact_messages_sent=contact_sent,
        tickets=tickets,
        months=months,
        credit=await _credit(db, half),
        policies=await _policies(db, start, end),
        visits=visits,
    )


async def _tickets(
    db: Database,
    half: Period,
    now: datetime,
    tz: ZoneInfo,
    tiers: Mapping[str, TierSettings],
    calendar: WorkdayCalendar,
) -> tuple[DepartmentFigures, list[MonthTickets]]:
    """The six monthly reports' totals added up; 超期未办结 as at the half-year's end."""
    total = DepartmentFigures("合计")
    months: list[MonthTickets] = []
    overdue_open = 0
    for offset in range(6):
        label = month_label(half.first.year, half.first.month + offset)
        report = await build_monthly_report(db, label, now, tz, tiers=tiers, calendar=calendar)
        monthly = report.total
        total.add(monthly)
        months.append(MonthTickets(label, monthly.received, monthly.resolved))
        overdue_open = monthly.overdue_open
    total.overdue_open = overdue_open
    return total, months


async def _messages(
    db: Database, start: datetime, end: datetime
) -> tuple[list[MessageCounts], list[MessageCounts], MessageCounts]:
    total = MessageCounts("合计")
    kinds: dict[MessageKind, MessageCounts] = {}
    channels: dict[str, MessageCounts] = {}
    async with db.read() as session:
        rows = await session.execute(
            sa.select(Message.kind, Message.channel, Message.status, sa.func.count())
            .where(Message.created_at >= start, Message.created_at < end)
            .group_by(Message.kind, Message.channel, Message.status)
        )
        for kind, channel, status, n in rows.all():
            total.count(status, n)
            kinds.setdefault(kind, MessageCounts(kind.label, kind.value)).count(status, n)
            channels.setdefault(channel.value, MessageCounts(channel.label, channel.value)).count(
                status, n
            )
    by_kind = sorted(kinds.values(), key=lambda c: (-c.messages, c.code))
    by_channel = sorted(channels.values(), key=lambda c: (-c.messages, c.code))
    return by_kind, by_channel, total


async def _replies(db: Database, start: datetime, end: datetime) -> tuple[int, int, int]:
    """Replies received in the half-year; contact messages sent in it that got a reply; those
    sent."""
    to_contacts = sa.and_(
        Message.created_at >= start,
        Message.created_at < end,
        Message.contact_id.is_not(None),
        Message.status.in_(_SENT),
    )
    async with db.read() as session:
        replies = await session.scalar(
            sa.select(sa.func.count())
            .select_from(InboundReply)
            .where(InboundReply.received_at >= start, InboundReply.received_at < end)
        )
        replied = await session.scalar(
            sa.select(sa.func.count(sa.distinct(InboundReply.in_reply_to)))
            .join(Message, Message.id == InboundReply.in_reply_to)
            .where(to_contacts)
        )
        sent = await session.scalar(
            sa.select(sa.func.count()).select_from(Message).where(to_contacts)
        )
    return replies or 0, replied or 0, sent or 0


async def _credit(db: Database, half: Period) -> CreditFigures:
    figures = CreditFigures()
    async with db.read() as session:
        for kind, n in await session.execute(
            sa.select(CreditEvent.type, sa.func.count())
            .where(CreditEvent.decided_on >= half.first, CreditEvent.decided_on <= half.last)
            .group_by(CreditEvent.type)
        ):
            figures.decided[kind] = n
        for status, n in await session.execute(
            sa.select(CreditEvent.status, sa.func.count())
            .where(CreditEvent.repaired_on >= half.first, CreditEvent.repaired_on <= half.last)
            .group_by(CreditEvent.status)
        ):
            if status is CreditEventStatus.REPAIRED:
                figures.repaired = n
            elif status is CreditEventStatus.REMOVED:
                figures.removed = n
    return figures


async def _policies(db: Database, start: datetime, end: datetime) -> list[PolicyReach]:
    pushed = (
        sa.select(Campaign.trigger_key.label("key"), Message.id, Message.enterprise_id,
                  Message.status)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.kind == MessageKind.POLICY_PUSH, Message.created_at >= start,
               Message.created_at < end, Campaign.trigger_key.startswith(_POLICY_PREFIX))
        .subquery()
    )  # fmt: skip
    reached = sa.case((pushed.c.status.in_(_SENT), pushed.c.enterprise_id))
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(pushed.c.key, sa.func.count(sa.distinct(reached)),
                          sa.func.count(sa.distinct(pushed.c.id)), sa.func.count(InboundReply.id))
                .outerjoin(InboundReply, InboundReply.in_reply_to == pushed.c.id)
                .group_by(pushed.c.key)
            )
        ).all()  # fmt: skip
        ids = [key.removeprefix(_POLICY_PREFIX) for key, *_ in rows]
        titles = dict(
            (await session.execute(
                sa.select(Policy.policy_id, Policy.title).where(Policy.policy_id.in_(ids))
            )).all()
        )  # fmt: skip
    found = [
        PolicyReach(key.removeprefix(_POLICY_PREFIX),
                    titles.get(key.removeprefix(_POLICY_PREFIX), ""), enterprises, messages,
                    replies)
        for key, enterprises, messages, replies in rows
    ]  # fmt: skip
    return sorted(found, key=lambda p: (-p.enterprises, p.policy_id))
