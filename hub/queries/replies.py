"""Replies received (``hub replies list``, ``GET /api/v1/replies``): newest first, scoped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from hub.core.vocab import ChannelName, ReplyClass
from hub.queries.refs import ContactRef, EnterpriseRef, contact_ref, enterprise_ref
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.models import Contact, Enterprise, InboundReply

# The record, then its enterprise's id, name and USCC and its contact's id and name.
_Select = sa.Select[InboundReply, int, str, str, int, str | None]
_Row = sa.Row[InboundReply, int | None, str | None, str | None, int | None, str | None]


@dataclass(frozen=True, slots=True)
class ReplyFilter:
    """Which replies to list; ``before`` is a reply id (the next page of a newest-first list)."""

    channel: ChannelName | None = None
    classification: ReplyClass | None = None
    since: datetime | None = None
    enterprise_uscc: str | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class ReplyRow:
    """A stored reply with the enterprise and contact it was linked to (None when unknown)."""

    reply: InboundReply
    enterprise: EnterpriseRef | None
    contact: ContactRef | None


def _select() -> _Select:
    return (
        sa.select(
            InboundReply, Enterprise.id, Enterprise.name, Enterprise.uscc, Contact.id, Contact.name
        )
        .outerjoin(Enterprise, InboundReply.enterprise_id == Enterprise.id)
        .outerjoin(Contact, InboundReply.contact_id == Contact.id)
    )


def _scoped(stmt: _Select, visibility: Visibility) -> _Select:
    clause = visibility.enterprise_filter(InboundReply.enterprise_id)
    return stmt if clause is None else stmt.where(clause)


def _row(row: _Row) -> ReplyRow:
    reply, enterprise_id, enterprise_name, uscc, contact_id, contact_name = row
    return ReplyRow(
        reply,
        enterprise_ref(enterprise_id, enterprise_name, uscc),
        contact_ref(contact_id, contact_name),
    )


async def list_replies(db: Database, wanted: ReplyFilter, visibility: Visibility) -> list[ReplyRow]:
    """Replies matching ``wanted`` that the reader may see, newest first."""
    stmt = _scoped(_select(), visibility).order_by(InboundReply.id.desc()).limit(wanted.limit)
    if wanted.channel is not None:
        stmt = stmt.where(InboundReply.channel == wanted.channel)
    if wanted.classification is not None:
        stmt = stmt.where(InboundReply.classification == wanted.classification)
    if wanted.since is not None:
        stmt = stmt.where(InboundReply.received_at >= wanted.since)
    if wanted.enterprise_uscc is not None:
        stmt = stmt.where(Enterprise.uscc == wanted.enterprise_uscc)
    if wanted.before is not None:
        stmt = stmt.where(InboundReply.id < wanted.before)
    async with db.read() as session:
        return [_row(row) for row in (await session.execute(stmt)).all()]


async def get_reply(db: Database, reply_id: int, visibility: Visibility) -> ReplyRow | None:
    """One reply; None when it does not exist or the reader may not see it (same answer)."""
    stmt = _scoped(_select(), visibility).where(InboundReply.id == reply_id)
    async with db.read() as session:
        row = (await session.execute(stmt)).first()
    return _row(row) if row is not None else None
