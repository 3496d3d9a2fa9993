"""Monthly contact with key enterprises (重点企业每月联系): was each enterprise of a tier with
``contact_every_months`` reached in the month?

Any recorded contact counts, once per enterprise however many there were (000 §三(四), 002):

- ``visit``: a visit recorded done (``Visit.visited_at``);
- ``contact``: a contact the officer recorded (:class:`~hub.store.models.LiaisonContact`: a
  phone call, a meeting, an online talk);
- ``reply``: an inbound reply from the enterprise (``InboundReply.enterprise_id``), whatever
  message it answers.

A tier contacted every month (``key: contact_every_months: 1``) counts the calendar month; a
tier contacted every *n* months counts the *n* months ending with it (contacted "at least once
every n months"). Each source is read in one query over the enterprises of those tiers for all
the months asked (:func:`contact_by_month`: the distinct enterprise and month pairs), and the
latest contact in one grouped query per source (:func:`monthly_contact`), so 100,000
enterprises cost a few queries, not one per enterprise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import ContactVia, Tier, VisitStatus
from hub.store.models import Contact, Enterprise, InboundReply, LiaisonContact, Visit
from hub.visits.periods import Period
from hub.visits.settings import TierSettings

#: The sources of a contact, as ContactCoverage.sources names them, and how they read.
VISIT: Final = "visit"
RECORDED: Final = "contact"
REPLY: Final = "reply"
SOURCE_LABELS: Final = {VISIT: "走访", RECORDED: "联络员登记", REPLY: "企业回复"}
_IN_CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class MonthContact:
    """One enterprise's contact in a month: ``contacted`` when any source has a contact in the
    window; ``sources`` the ones that do."""

    enterprise_id: int
    enterprise: str
    uscc: str
    tier: str
    region: str
    officer_id: int | None
    contacted: bool
    sources: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ContactCoverage(MonthContact):
    """:class:`MonthContact` with the latest contact up to the window's end (before the window
    too: what the officer's list shows)."""

    last_contact_at: datetime | None
    last_contact_how: str  # 走访, 电话联系, 会面座谈, 线上沟通, 企业回复; "" when never


def contacted_tiers(tiers: Mapping[str, TierSettings]) -> dict[Tier, int]:
    """Tier -> months between contacts, for the tiers that have a contact cadence."""
    known = {t.value for t in Tier}
    return {
        Tier(name): t.contact_every_months
        for name, t in tiers.items()
        if t.contact_every_months is not None and name in known
    }


def _month_number(day: date) -> int:
    return day.year * 12 + day.month - 1


def _month_start(number: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(date(number // 12, number % 12 + 1, 1), time(0), tzinfo=tz)


def contact_window(month: Period, every_months: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the window a month's contact is counted in: the ``every_months`` months
    ending with ``month``, local midnights."""
    last = _month_number(month.first)
    return _month_start(last - every_months + 1, tz), _month_start(last + 1, tz)


async def contact_by_month(
    session: AsyncSession,
    months: Sequence[Period],
    *,
    tiers: Mapping[str, TierSettings],
    until: datetime | None = None,
    tz: ZoneInfo = SHANGHAI,
) -> dict[str, list[MonthContact]]:
    """Month label -> each enterprise of a tier with a contact cadence, contacted in that month
    (its window) or not, in enterprise id order. ``until`` (the clock's now, for a month in
    progress) leaves out anything recorded after it. One query per source for all the months:
    the distinct (enterprise, month) pairs with a contact."""
    cadences = contacted_tiers(tiers)
    if not cadences or not months:
        return {m.label: [] for m in months}
    numbers = [_month_number(m.first) for m in months]
    base = min(numbers) - max(cadences.values()) + 1
    starts = [_month_start(n, tz) for n in range(base, max(numbers) + 2)]
    end = starts[-1] if until is None else min(starts[-1], until)
    marks = await _month_marks(session, list(cadences), starts, end)
    enterprises = (
        await session.execute(
            sa.select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.tier,
                      Enterprise.region, Enterprise.officer_id)
            .where(Enterprise.tier.in_(list(cadences)))
            .order_by(Enterprise.id)
        )
    ).all()  # fmt: skip
    found: dict[str, list[MonthContact]] = {}
    for month, number in zip(months, numbers, strict=True):
        rows: list[MonthContact] = []
        for enterprise_id, name, uscc, tier, region, officer_id in enterprises:
            window = range(number - cadences[Tier(tier)] + 1 - base, number + 1 - base)
            seen = set().union(*(marks.get((enterprise_id, i), ()) for i in window))
            sources = tuple(s for s in (VISIT, RECORDED, REPLY) if s in seen)
            rows.append(MonthContact(enterprise_id, name, uscc, Tier(tier).value, region or "",
                                     officer_id, bool(sources), sources))  # fmt: skip
        found[month.label] = rows
    return found


async def _month_marks(
    session: AsyncSession, tiers: Sequence[Tier], starts: Sequence[datetime], end: datetime
) -> dict[tuple[int, int], set[str]]:
    """(enterprise id, month index into ``starts``) -> the sources with a contact that month,
    for contacts in [starts[0], end)."""
    in_tiers = sa.select(Enterprise.id).where(Enterprise.tier.in_(tiers)).scalar_subquery()
    marks: dict[tuple[int, int], set[str]] = defaultdict(set)
    for source, enterprise_column, at_column, *more in (
        (VISIT, Visit.enterprise_id, Visit.visited_at, Visit.status == VisitStatus.DONE),
        (RECORDED, LiaisonContact.enterprise_id, LiaisonContact.at),
        (REPLY, InboundReply.enterprise_id, InboundReply.received_at),
    ):
        # the month a contact falls in, as an index: the same CASE on SQLite and PostgreSQL
        index = sa.case(*((at_column < s, i) for i, s in enumerate(starts[1:])), else_=-1)
        rows = await session.execute(
            sa.select(enterprise_column, index)
            .where(enterprise_column.in_(in_tiers), at_column >= starts[0], at_column < end,
                   *more)
            .distinct()
        )  # fmt: skip
        for enterprise_id, i in rows.all():
            marks[(enterprise_id, i)].add(source)
    return marks


async def monthly_contact(
    session: AsyncSession,
    month: Period,
    *,
    tiers: Mapping[str, TierSettings],
    until: datetime | None = None,
    tz: ZoneInfo = SHANGHAI,
) -> list[ContactCoverage]:
    """Each enterprise of a tier with a contact cadence, contacted in ``month`` or not, with its
    latest contact up to the month's end (or ``until``), in enterprise id order."""
    (found,) = (await contact_by_month(session, [month], tiers=tiers, until=until, tz=tz)).values()
    end = contact_window(month, 1, tz)[1]
    tiers_contacted = list(contacted_tiers(tiers))
    latest = await _latest(session, tiers_contacted, end if until is None else min(end, until))
    covered: list[ContactCoverage] = []
    for c in found:
        at, how = latest.get(c.enterprise_id, (None, ""))
        covered.append(ContactCoverage(c.enterprise_id, c.enterprise, c.uscc, c.tier, c.region,
                                       c.officer_id, c.contacted, c.sources, at, how))  # fmt: skip
    return covered


async def _latest(
    session: AsyncSession, tiers: Sequence[Tier], end: datetime
) -> dict[int, tuple[datetime, str]]:
    """Enterprise id -> its latest contact before ``end`` and how (one grouped query per
    source)."""
    in_tiers = sa.select(Enterprise.id).where(Enterprise.tier.in_(tiers)).scalar_subquery()
    latest: dict[int, tuple[datetime, str]] = {}

    def seen(enterprise_id: int, at: datetime | None, how: str) -> None:
        if at is not None and (enterprise_id not in latest or at > latest[enterprise_id][0]):
            latest[enterprise_id] = (at, how)

    visits = await session.execute(
        sa.select(Visit.enterprise_id, sa.func.max(Visit.visited_at))
        .where(Visit.enterprise_id.in_(in_tiers), Visit.status == VisitStatus.DONE,
               Visit.visited_at < end)
        .group_by(Visit.enterprise_id)
    )  # fmt: skip
    for enterprise_id, at in visits.all():
        seen(enterprise_id, at, SOURCE_LABELS[VISIT])
    recorded = await session.execute(
        sa.select(LiaisonContact.enterprise_id, LiaisonContact.via, sa.func.max(LiaisonContact.at))
        .where(LiaisonContact.enterprise_id.in_(in_tiers), LiaisonContact.at < end)
        .group_by(LiaisonContact.enterprise_id, LiaisonContact.via)
    )  # fmt: skip
    for enterprise_id, via, at in recorded.all():
        seen(enterprise_id, at, ContactVia(via).label)
    replies = await session.execute(
        sa.select(InboundReply.enterprise_id, sa.func.max(InboundReply.received_at))
        .where(InboundReply.enterprise_id.in_(in_tiers), InboundReply.received_at < end)
        .group_by(InboundReply.enterprise_id)
    )  # fmt: skip
    for replied, at in replies.all():  # never None: the IN above leaves those out
        seen(replied or 0, at, SOURCE_LABELS[REPLY])
    return latest


async def first_contacts(
    session: AsyncSession, enterprise_ids: Sequence[int]
) -> dict[int, tuple[str, str]]:
    """Enterprise id -> (name, mobile) of the person to call there: its first named contact not
    anonymised, one with a mobile first; enterprises with none are left out."""
    ids = sorted(set(enterprise_ids))
    found: dict[int, tuple[str, str]] = {}
    for low in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            sa.select(Contact.enterprise_id, Contact.name, Contact.mobile)
            .where(
                Contact.enterprise_id.in_(ids[low : low + _IN_CHUNK]),
                Contact.name.is_not(None), Contact.name != "",
                Contact.anonymised_at.is_(None),
            )
            .order_by(Contact.enterprise_id, Contact.mobile.is_(None), Contact.id)
        )  # fmt: skip
        for enterprise_id, name, mobile in rows.all():
            found.setdefault(enterprise_id, (name or "", mobile or ""))
    return found
