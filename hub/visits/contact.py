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
every n months"). Each source is read in one grouped query over the enterprises of those tiers
(the latest contact per enterprise, up to the end of the window), so 100,000 enterprises cost
three queries, not one per enterprise.
"""

from __future__ import annotations

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
class ContactCoverage:
    """One enterprise's contact in a month: ``contacted`` when any source has a contact in the
    window; ``sources`` the ones that do; ``last_contact_at``/``last_contact_how`` the latest
    contact up to the window's end (also before the window: what the officer's list shows)."""

    enterprise_id: int
    enterprise: str
    tier: str
    region: str
    officer_id: int | None
    contacted: bool
    sources: tuple[str, ...]
    last_contact_at: datetime | None
    last_contact_how: str  # 走访, 电话联系, 会面座谈, 线上沟通, 企业回复; "" when never


def contacted_tiers(tiers: Mapping[str, TierSettings]) -> dict[str, int]:
    """Tier -> months between contacts, for the tiers that have a contact cadence."""
    return {
        name: t.contact_every_months
        for name, t in tiers.items()
        if t.contact_every_months is not None
    }


def contact_window(month: Period, every_months: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of the window a month's contact is counted in: the ``every_months`` months
    ending with ``month``, local midnights."""
    back = month.first.year * 12 + month.first.month - 1 - (every_months - 1)
    first = date(back // 12, back % 12 + 1, 1)
    end_day = month.last.toordinal() + 1
    return (
        datetime.combine(first, time(0), tzinfo=tz),
        datetime.combine(date.fromordinal(end_day), time(0), tzinfo=tz),
    )


async def monthly_contact(
    session: AsyncSession,
    month: Period,
    *,
    tiers: Mapping[str, TierSettings],
    until: datetime | None = None,
    tz: ZoneInfo = SHANGHAI,
) -> list[ContactCoverage]:
    """Each enterprise of a tier with a contact cadence, contacted in ``month`` or not, in
    enterprise id order. ``until`` (the clock's now, for a month in progress) leaves out
    anything recorded after it."""
    cadences = contacted_tiers(tiers)
    found: list[ContactCoverage] = []
    for every in sorted(set(cadences.values())):
        known = {t.value for t in Tier}
        names = [Tier(n) for n, m in cadences.items() if m == every and n in known]
        start, end = contact_window(month, every, tz)
        if until is not None:
            end = min(end, until)
        found.extend(await _coverage(session, names, start, end))
    return sorted(found, key=lambda c: c.enterprise_id)


async def _coverage(
    session: AsyncSession, tiers: Sequence[Tier], start: datetime, end: datetime
) -> list[ContactCoverage]:
    in_tiers = sa.select(Enterprise.id).where(Enterprise.tier.in_(tiers)).scalar_subquery()
    latest: dict[int, dict[str, tuple[datetime, str]]] = {}

    def seen(enterprise_id: int, source: str, at: datetime | None, how: str) -> None:
        if at is None:
            return
        mine = latest.setdefault(enterprise_id, {})
        if source not in mine or at > mine[source][0]:
            mine[source] = (at, how)

    visits = await session.execute(
        sa.select(Visit.enterprise_id, sa.func.max(Visit.visited_at))
        .where(Visit.enterprise_id.in_(in_tiers), Visit.status == VisitStatus.DONE,
               Visit.visited_at < end)
        .group_by(Visit.enterprise_id)
    )  # fmt: skip
    for enterprise_id, at in visits.all():
        seen(enterprise_id, VISIT, at, SOURCE_LABELS[VISIT])
    recorded = await session.execute(
        sa.select(LiaisonContact.enterprise_id, LiaisonContact.via, sa.func.max(LiaisonContact.at))
        .where(LiaisonContact.enterprise_id.in_(in_tiers), LiaisonContact.at < end)
        .group_by(LiaisonContact.enterprise_id, LiaisonContact.via)
    )  # fmt: skip
    for enterprise_id, via, at in recorded.all():
        seen(enterprise_id, RECORDED, at, ContactVia(via).label)
    replies = await session.execute(
        sa.select(InboundReply.enterprise_id, sa.func.max(InboundReply.received_at))
        .where(InboundReply.enterprise_id.in_(in_tiers), InboundReply.received_at < end)
        .group_by(InboundReply.enterprise_id)
    )  # fmt: skip
    for replied, at in replies.all():  # never None: the IN above leaves those out
        seen(replied or 0, REPLY, at, SOURCE_LABELS[REPLY])
    enterprises = await session.execute(
        sa.select(Enterprise.id, Enterprise.name, Enterprise.tier, Enterprise.region,
                  Enterprise.officer_id)
        .where(Enterprise.tier.in_(tiers))
        .order_by(Enterprise.id)
    )  # fmt: skip
    found: list[ContactCoverage] = []
    for enterprise_id, name, tier, region, officer_id in enterprises.all():
        mine = latest.get(enterprise_id, {})
        sources = tuple(s for s in (VISIT, RECORDED, REPLY) if s in mine and mine[s][0] >= start)
        last = max(mine.values(), default=None)
        found.append(
            ContactCoverage(
                enterprise_id, name, Tier(tier).value, region or "", officer_id, bool(sources),
                sources, last[0] if last else None, last[1] if last else "",
            )
        )  # fmt: skip
    return found


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
