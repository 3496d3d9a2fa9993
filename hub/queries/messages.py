"""The outbox (``hub messages list``, ``GET /api/v1/messages``): newest first, scoped."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.unknown_sends import RESENT_UNKNOWN
from hub.queries.refs import ContactRef, EnterpriseRef, contact_ref, enterprise_ref
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.models import Contact, DeliveryAttempt, Enterprise, Message

# The record, then its enterprise's id, name and USCC and its contact's id and name.
_Select = sa.Select[Message, int, str, str, int, str | None]
_Row = sa.Row[Message, int | None, str | None, str | None, int | None, str | None]


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """Which messages to list; ``before`` is a message id (the next page)."""

    status: MessageStatus | None = None
    channel: ChannelName | None = None
    kind: MessageKind | None = None
    campaign: int | None = None
    enterprise_uscc: str | None = None
    before: int | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class MessageRow:
    """An outbox row with its enterprise and contact (None for officers, staff, or removed)."""

    message: Message
    enterprise: EnterpriseRef | None
    contact: ContactRef | None


def _select(visibility: Visibility) -> _Select:
    stmt = (
        sa.select(
            Message, Enterprise.id, Enterprise.name, Enterprise.uscc, Contact.id, Contact.name
        )
        .outerjoin(Enterprise, Message.enterprise_id == Enterprise.id)
        .outerjoin(Contact, Message.contact_id == Contact.id)
    )
    clause = visibility.enterprise_filter(Message.enterprise_id)
    return stmt if clause is None else stmt.where(clause)


def _row(row: _Row) -> MessageRow:
    message, enterprise_id, enterprise_name, uscc, contact_id, contact_name = row
    return MessageRow(
        message,
        enterprise_ref(enterprise_id, enterprise_name, uscc),
        contact_ref(contact_id, contact_name),
    )


async def list_messages(
    db: Database, wanted: MessageFilter, visibility: Visibility
) -> list[MessageRow]:
    """Messages matching ``wanted`` that the reader may see, newest first."""
    stmt = _filtered(_select(visibility), wanted).order_by(Message.id.desc()).limit(wanted.limit)
    if wanted.before is not None:
        stmt = stmt.where(Message.id < wanted.before)
    async with db.read() as session:
        return [_row(row) for row in (await session.execute(stmt)).all()]


async def count_resent_while_unknown(
    db: Database, wanted: MessageFilter, visibility: Visibility
) -> int:
    """How many messages matching ``wanted`` (every page) were sent again while it was
    unknown whether the provider had taken them (a channel with no status query): each may
    have reached its contact twice."""
    resent = sa.select(DeliveryAttempt.message_id).where(
        DeliveryAttempt.error_code == RESENT_UNKNOWN
    )
    stmt = _filtered(_select(visibility), wanted).where(Message.id.in_(resent))
    counted = sa.select(sa.func.count()).select_from(stmt.subquery())
    async with db.read() as session:
        return int(await session.scalar(counted) or 0)


def _filtered(stmt: _Select, wanted: MessageFilter) -> _Select:
    if wanted.status is not None:
        stmt = stmt.where(Message.status == wanted.status)
    if wanted.channel is not None:
        stmt = stmt.where(Message.channel == wanted.channel)
    if wanted.kind is not None:
        stmt = stmt.where(Message.kind == wanted.kind)
    if wanted.campaign is not None:
        stmt = stmt.where(Message.campaign_id == wanted.campaign)
    if wanted.enterprise_uscc is not None:
        stmt = stmt.where(Enterprise.uscc == wanted.enterprise_uscc)
    return stmt


async def get_message(db: Database, message_id: int, visibility: Visibility) -> MessageRow | None:
    """One message; None when it does not exist or the reader may not see it (same answer)."""
    stmt = _select(visibility).where(Message.id == message_id)
    async with db.read() as session:
        row = (await session.execute(stmt)).first()
    return _row(row) if row is not None else None
