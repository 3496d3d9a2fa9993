"""The enterprise data as read: credit events (within the reader's scope) and policies."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.core.credit import CreditEventStatus
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent, Policy
from hub.store.registry import Enterprise

__all__ = ["CreditEventFilter", "CreditEventRow", "list_credit_events", "list_policies"]


@dataclass(frozen=True, slots=True)
class CreditEventFilter:
    """Which credit events to list, newest first (by id); ``before`` pages."""

    enterprise_uscc: str | None = None
    status: CreditEventStatus | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class CreditEventRow:
    """A credit event with the enterprise it concerns."""

    event: CreditEvent
    uscc: str
    enterprise_name: str


async def list_credit_events(
    db: Database, wanted: CreditEventFilter, visibility: Visibility
) -> list[CreditEventRow]:
    """Credit events of the enterprises the reader may see, newest first."""
    stmt = (
        sa.select(CreditEvent, Enterprise.uscc, Enterprise.name)
        .join(Enterprise, CreditEvent.enterprise_id == Enterprise.id)
        .order_by(CreditEvent.id.desc())
        .limit(wanted.limit)
    )
    if (clause := visibility.enterprise_filter(CreditEvent.enterprise_id)) is not None:
        stmt = stmt.where(clause)
    if wanted.enterprise_uscc is not None:
        stmt = stmt.where(Enterprise.uscc == wanted.enterprise_uscc)
    if wanted.status is not None:
        stmt = stmt.where(CreditEvent.status == wanted.status)
    if wanted.before is not None:
        stmt = stmt.where(CreditEvent.id < wanted.before)
    async with db.read() as session:
        return [CreditEventRow(*row) for row in (await session.execute(stmt)).all()]


async def list_policies(db: Database, *, before: int | None, limit: int) -> list[Policy]:
    """Policies, newest first (by id); ``before`` pages."""
    stmt = sa.select(Policy).order_by(Policy.id.desc()).limit(limit)
    if before is not None:
        stmt = stmt.where(Policy.id < before)
    async with db.read() as session:
        return list((await session.scalars(stmt)).all())
