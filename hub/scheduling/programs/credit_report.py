"""The half-yearly credit report (半年信用报告; seed 000 §三(三): "坚持每半年为重点市场主体
推送一次信用数据及评价结果"): per enterprise its credit status, the credit events of the
half-year and their repair state, and a link to the full record; per liaison officer one
digest of his enterprises.

A fire reports the last *complete* half-year before its day: the January fire reports July –
December of the year before, the July fire January – June. Its ``trigger_key`` is
``credit_report:<year>H1|H2``, so each enterprise gets one report per half-year and each officer
one digest, whatever the number of fires, restarts and catch-ups (``schedules/credit_report.yaml``
fires on 1 January and 1 July at 09:00 with ``workdays_only``: a report due on a day off goes out
on the next working day's morning).

An enterprise with no credit data still gets its report: "信用状况良好，本期无信用事件" is true and
specific (the hub holds its record and there is nothing on it), and it is what the service plan
asks for every key enterprise twice a year. The status is the one the registry holds, which the
credit events set (:func:`hub.core.credit.credit_status_of`).

The link (:mod:`hub.scheduling.programs.report_links`) opens ``/reports/credit/{token}`` without
login for :data:`LINK_LIFETIME`; the page (``hub.web.credit_report_page``) reads the record with
:func:`load_records` as it is when opened.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import sqlalchemy as sa

from hub.core.credit import CreditEventStatus
from hub.core.vocab import CreditStatus, MessageKind
from hub.outbound.audience import Audience
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    notify_officer,
    send_item,
)
from hub.scheduling.programs.report_links import ReportLinks, ReportTicket
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent
from hub.store.models import Enterprise, Officer

__all__ = [
    "LINK_LIFETIME", "NAME", "PROGRAM", "CreditRecord", "EventLine", "HalfYear",
    "digest_variables", "load_records", "report_variables", "run",
]  # fmt: skip

NAME: Final = "credit_report"
#: How long a report link opens the page. 30 days: long enough to read, print and raise an
#: objection after a holiday (the January report can meet the Spring Festival week), short
#: enough that a forwarded or leaked SMS does not expose the enterprise's penalties for the
#: half-year until the next report; the next report brings a new link.
LINK_LIFETIME: Final = timedelta(days=30)
#: Events named one by one in a message (the page lists them all).
MAX_LISTED: Final = 5
#: Enterprises needing attention named one by one in an officer's digest.
MAX_ATTENTION: Final = 10
_ATTENTION: Final = (CreditStatus.WARNING, CreditStatus.DISHONEST)


@dataclass(frozen=True, slots=True, order=True)
class HalfYear:
    """A half-year: ``half`` 1 is January – June, 2 July – December."""

    year: int
    half: int

    @classmethod
    def reported_on(cls, day: date) -> HalfYear:
        """The last complete half-year before ``day``."""
        return cls(day.year - 1, 2) if day.month <= 6 else cls(day.year, 1)

    @property
    def first_day(self) -> date:
        return date(self.year, 1 if self.half == 1 else 7, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    @property
    def label(self) -> str:
        """``2027年上半年``."""
        return f"{self.year}年{'上' if self.half == 1 else '下'}半年"

    @property
    def trigger_key(self) -> str:
        """``credit_report:2027H1``: one report per enterprise and half-year."""
        return f"{NAME}:{self.year}H{self.half}"

    def covers(self, day: date | None) -> bool:
        return day is not None and self.first_day <= day <= self.last_day


@dataclass(frozen=True, slots=True)
class EventLine:
    """A credit event as a report shows it."""

    event_id: str
    type_label: str
    authority: str
    decided_on: date
    summary: str
    status: CreditEventStatus
    repaired_on: date | None

    @property
    def state(self) -> str:
        """``有效``, ``已修复（2027年3月2日）``, ``已移出``."""
        if self.status is CreditEventStatus.ACTIVE or self.repaired_on is None:
            return self.status.label
        return f"{self.status.label}（{cn_date(self.repaired_on)}）"

    def line(self) -> str:
        """One line: date, type, authority, reason and state."""
        reason = f"：{self.summary}" if self.summary else ""
        when = cn_date(self.decided_on)
        return f"{when} {self.type_label}（{self.authority}）{reason}，{self.state}"

    def in_period(self, period: HalfYear) -> bool:
        """Decided, repaired or removed in ``period``."""
        return period.covers(self.decided_on) or period.covers(self.repaired_on)


@dataclass(frozen=True, slots=True)
class CreditRecord:
    """An enterprise's credit record: its status and every event, the latest decided first."""

    enterprise_id: int
    uscc: str
    name: str
    credit_status: CreditStatus
    officer_id: int | None
    events: tuple[EventLine, ...]

    def of_period(self, period: HalfYear) -> list[EventLine]:
        return [e for e in self.events if e.in_period(period)]

    def active_before(self, period: HalfYear) -> list[EventLine]:
        """Events decided before ``period`` that are still active."""
        return [
            e for e in self.events
            if e.status is CreditEventStatus.ACTIVE and e.decided_on < period.first_day
        ]  # fmt: skip

    @property
    def needs_attention(self) -> bool:
        return self.credit_status in _ATTENTION


def cn_date(day: date) -> str:
    """``2027年3月2日``."""
    return f"{day.year}年{day.month}月{day.day}日"


async def load_records(
    db: Database, audience: Audience | None = None, *, enterprise_id: int | None = None
) -> list[CreditRecord]:
    """The credit records of an audience's enterprises (or one enterprise), in id order."""
    chosen = sa.select(Enterprise.id)
    if audience is not None:
        chosen = chosen.where(audience.where())
    if enterprise_id is not None:
        chosen = chosen.where(Enterprise.id == enterprise_id)
    async with db.read() as session:
        enterprises = (
            await session.execute(
                sa.select(Enterprise.id, Enterprise.uscc, Enterprise.name,
                          Enterprise.credit_status, Enterprise.officer_id)
                .where(Enterprise.id.in_(chosen))
                .order_by(Enterprise.id)
            )
        ).all()  # fmt: skip
        events: dict[int, list[EventLine]] = defaultdict(list)
        for e in await session.scalars(
            sa.select(CreditEvent)
            .where(CreditEvent.enterprise_id.in_(chosen))
            .order_by(CreditEvent.decided_on.desc(), CreditEvent.event_id)
        ):
            events[e.enterprise_id].append(
                EventLine(e.event_id, e.type.label, e.authority, e.decided_on, e.summary or "",
                          e.status, e.repaired_on)
            )  # fmt: skip
    return [
        CreditRecord(r.id, r.uscc, r.name, r.credit_status, r.officer_id, tuple(events[r.id]))
        for r in enterprises
    ]


def report_variables(
    record: CreditRecord, period: HalfYear, *, url: str, valid_until: date
) -> dict[str, Any]:
    """The ``credit_report`` template's variables for one enterprise's report."""
    listed = record.of_period(period)
    earlier = record.active_before(period)
    return {
        "period": period.label,
        "credit_status": record.credit_status.label,
        "summary": _summary(listed, earlier),
        "events": [e.line() for e in listed[:MAX_LISTED]],
        "more_events": max(0, len(listed) - MAX_LISTED),
        "report_url": url,
        "valid_until": cn_date(valid_until),
    }


def _summary(listed: Sequence[EventLine], earlier: Sequence[EventLine]) -> str:
    """One sentence naming the half-year's events by type and their repair state."""
    if not listed:
        text = "本期无信用事件"
    else:
        types = Counter(e.type_label for e in listed)
        named = "、".join(f"{t}{n}条" for t, n in types.most_common())
        closed = sum(e.status is not CreditEventStatus.ACTIVE for e in listed)
        text = f"本期信用事件{len(listed)}条（{named}），已修复或移出{closed}条"
    if earlier:
        text += f"，此前事件{len(earlier)}条仍有效"
    return text


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """Send each enterprise of the fire's audience its report of the last complete half-year.

    Raises ConfigError when the link secret is not set (nothing is sent: a report without its
    link would point nowhere).
    """
    tz = ctx.settings.tz
    period = HalfYear.reported_on(fire.fire_time.astimezone(tz).date())
    links = ReportLinks.from_env(os.environ, ctx.settings.public_base_url)
    # From when the report goes out: a fire on a day off holds it until the next working day.
    sent_at = ctx.hold.release_at if ctx.hold is not None else ctx.clock.now()
    expires_at = sent_at + LINK_LIFETIME
    valid_until = (expires_at - timedelta(seconds=1)).astimezone(tz).date()
    outcome = ProgramOutcome()
    by_officer: dict[int, list[CreditRecord]] = defaultdict(list)
    for record in await load_records(ctx.db, fire.audience):
        ticket = ReportTicket(record.enterprise_id, period.year, period.half, expires_at)
        variables = report_variables(record, period, url=links.url(ticket), valid_until=valid_until)
        item = ProgramItem(NAME, MessageKind.CREDIT_REPORT, period.trigger_key, variables)
        outcome.add(await send_item(ctx, item, uscc=record.uscc, channel=fire.channel))
        if record.officer_id is not None:
            by_officer[record.officer_id].append(record)
    await _send_digests(ctx, period, by_officer, outcome)
    return outcome


async def _send_digests(
    ctx: ProgramContext, period: HalfYear, by_officer: Mapping[int, Sequence[CreditRecord]],
    outcome: ProgramOutcome,
) -> None:  # fmt: skip
    """One digest per liaison officer of the reported enterprises, once per half-year."""
    if not by_officer:
        return
    async with ctx.db.read() as session:
        officers = (
            await session.scalars(
                sa.select(Officer).where(Officer.id.in_(list(by_officer))).order_by(Officer.id)
            )
        ).all()
    for officer in officers:
        variables = digest_variables(by_officer[officer.id], period)
        item = ProgramItem(NAME, MessageKind.CREDIT_REPORT_DIGEST, period.trigger_key, variables)
        outcome.add(await notify_officer(ctx, item, officer=officer))


def digest_variables(records: Sequence[CreditRecord], period: HalfYear) -> dict[str, Any]:
    """The ``credit_report_digest`` template's variables for one officer's enterprises."""
    flagged = [r for r in records if r.needs_attention]
    lines = [
        f"{r.name}（{r.credit_status.label}）：有效信用事件"
        f"{sum(e.status is CreditEventStatus.ACTIVE for e in r.events)}条"
        for r in flagged[:MAX_ATTENTION]
    ]
    return {
        "period": period.label,
        "enterprise_count": len(records),
        "status_counts": status_counts(records),
        "attention": lines,
        "attention_names": "、".join(f"{r.name}（{r.credit_status.label}）" for r in flagged),
        "more_attention": max(0, len(flagged) - MAX_ATTENTION),
    }


def status_counts(records: Iterable[CreditRecord]) -> str:
    """``良好 5 家、预警 1 家、失信 0 家``."""
    counts = Counter(r.credit_status for r in records)
    return "、".join(f"{s.label} {counts[s]} 家" for s in CreditStatus)


PROGRAM: Final = Program(
    label="半年信用报告",
    run=run,
    kinds=(MessageKind.CREDIT_REPORT, MessageKind.CREDIT_REPORT_DIGEST),
    variables=frozenset(
        {"period", "credit_status", "summary", "events", "more_events", "report_url",
         "valid_until",  # the report's; the digest's:
         "enterprise_count", "status_counts", "attention", "attention_names", "more_attention"}
    ),
)  # fmt: skip
