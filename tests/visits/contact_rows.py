"""Rows of the visit cycle written directly, for the contact and compliance tests: a visit in
any state, a contact an officer recorded, an inbound reply from an enterprise."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from typing import Any

from hub.core.clock import SHANGHAI
from hub.core.vocab import ChannelName, ContactVia, VisitStatus
from hub.store.db import Database
from hub.store.models import Enterprise, InboundReply, LiaisonContact, Visit

T0 = datetime(2026, 12, 1, tzinfo=UTC)
_serial = itertools.count(1)


def local(day: date, hour: int = 10) -> datetime:
    """``day`` at ``hour`` o'clock Shanghai time."""
    return datetime.combine(day, time(hour), tzinfo=SHANGHAI)


async def officer_of(db: Database, enterprise_id: int) -> int | None:
    async with db.read() as session:
        enterprise = await session.get(Enterprise, enterprise_id)
        assert enterprise is not None
        return enterprise.officer_id


async def add_visit(
    db: Database,
    enterprise_id: int,
    period: str,
    *,
    status: VisitStatus = VisitStatus.PLANNED,
    due_on: date | None = None,
    visited_at: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """A visit of ``period`` for the enterprise, by its officer."""
    officer_id = await officer_of(db, enterprise_id)
    async with db.write() as session:
        visit = Visit(
            enterprise_id=enterprise_id, officer_id=officer_id, period=period, status=status,
            due_on=due_on, visited_at=visited_at, details=details or {}, slots=[],
            created_at=T0, updated_at=T0,
        )  # fmt: skip
        session.add(visit)
        await session.flush()
        return visit.id


async def add_contact(
    db: Database, enterprise_id: int, at: datetime, via: ContactVia = ContactVia.PHONE
) -> None:
    """A contact the enterprise's officer recorded."""
    officer_id = await officer_of(db, enterprise_id)
    async with db.write() as session:
        session.add(
            LiaisonContact(
                enterprise_id=enterprise_id, officer_id=officer_id, at=at, via=via,
                notes="", source="cli", created_at=T0, updated_at=T0,
            )
        )  # fmt: skip


async def add_reply(db: Database, enterprise_id: int, at: datetime, text: str = "收到") -> None:
    """An SMS reply from the enterprise."""
    n = next(_serial)
    async with db.write() as session:
        session.add(
            InboundReply(
                channel=ChannelName.SMS, provider="sandbox", provider_msg_id=f"r{n}",
                sender="+8613900000001", text=text, raw={}, received_at=at,
                enterprise_id=enterprise_id,
            )
        )  # fmt: skip
