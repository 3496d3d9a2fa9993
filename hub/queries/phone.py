"""What the phone simulator reads: contacts to pick, an inbox's messages, the contact's replies.

The sandbox channel keeps what each contact received in Redis (``channels.sandbox``); the
rows behind those entries hold what the message asks its reader to choose
(``Message.params["choices"]``, :class:`channels.base.Choices`), which a phone draws as buttons.
Every read is scoped by the reader's :class:`~hub.queries.scope.Visibility`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from channels.base import Choices
from hub.core.vocab import ChannelName, ReplyClass
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.models import Contact, Enterprise, InboundReply, Message

# An 18-character 统一社会信用代码 as typed (its check character is not the search's business).
_USCC = re.compile(r"[0-9A-Za-z]{18}")


@dataclass(frozen=True, slots=True)
class PhoneContact:
    """A contact the simulator can act as: ``mobile`` in full (the reply's sender), ``shown``
    as the reader may see it."""

    id: int
    name: str | None
    mobile: str
    shown: str
    enterprise_name: str
    uscc: str


@dataclass(frozen=True, slots=True)
class PhoneReply:
    """A reply the contact sent, and what the inbound worker made of it (None: not yet);
    ``in_reply_to`` the message it answers (the latest the contact was sent)."""

    id: int
    text: str
    received_at: datetime
    classification: ReplyClass | None
    in_reply_to: int | None


def _contacts(visibility: Visibility) -> sa.Select[Contact, str, str]:
    stmt = (
        sa.select(Contact, Enterprise.name, Enterprise.uscc)
        .join(Enterprise, Contact.enterprise_id == Enterprise.id)
        .where(Contact.mobile.is_not(None), Contact.anonymised_at.is_(None))
    )
    clause = visibility.enterprise_filter(Contact.enterprise_id)
    return stmt if clause is None else stmt.where(clause)


def _phone_contact(contact: Contact, name: str, uscc: str, visibility: Visibility) -> PhoneContact:
    mobile = contact.mobile or ""
    shown = visibility.address(ChannelName.SANDBOX, mobile)
    return PhoneContact(contact.id, contact.name, mobile, shown, name, uscc)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search_contacts(
    db: Database, text: str, visibility: Visibility, *, limit: int = 20
) -> list[PhoneContact]:
    """Contacts with a mobile of the enterprise with the USCC ``text``, or whose enterprise
    name, name or mobile holds ``text`` (every visible one, newest enterprise first, when
    ``text`` is empty)."""
    stmt = _contacts(visibility).order_by(Enterprise.id.desc(), Contact.id).limit(limit)
    text = text.strip()
    if _USCC.fullmatch(text):  # a code: its index, not a scan of every name
        stmt = stmt.where(Enterprise.uscc == text.upper())
    elif text:
        pattern = _like(text)
        stmt = stmt.where(
            sa.or_(
                Enterprise.name.like(pattern, escape="\\"),
                Contact.name.like(pattern, escape="\\"),
                Contact.mobile.like(pattern, escape="\\"),
            )
        )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return [_phone_contact(contact, name, uscc, visibility) for contact, name, uscc in rows]


async def phone_contact(
    db: Database, contact_id: int, visibility: Visibility
) -> PhoneContact | None:
    """The contact, if it has a mobile and the reader may see its enterprise."""
    async with db.read() as session:
        row = (await session.execute(_contacts(visibility).where(Contact.id == contact_id))).first()
    return None if row is None else _phone_contact(row[0], row[1], row[2], visibility)


async def message_choices(db: Database, message_ids: Sequence[int]) -> dict[int, Choices]:
    """The choices each of ``message_ids`` asks for (messages asking none are left out; a
    malformed one too: the channels send those without buttons or refuse them)."""
    if not message_ids:
        return {}
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Message.params).where(Message.id.in_(set(message_ids)))
            )
        ).all()
    found: dict[int, Choices] = {}
    for message_id, params in rows:
        try:
            choices = Choices.from_params(params or {})
        except (TypeError, ValueError):
            continue
        if choices is not None:
            found[message_id] = choices
    return found


async def contact_replies(db: Database, contact_id: int, *, limit: int = 50) -> list[PhoneReply]:
    """The contact's latest replies on any channel, oldest first."""
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(InboundReply.id, InboundReply.text, InboundReply.received_at,
                          InboundReply.classification, InboundReply.in_reply_to)
                .where(InboundReply.contact_id == contact_id)
                .order_by(InboundReply.id.desc())
                .limit(limit)
            )
        ).all()  # fmt: skip
    return [PhoneReply(*row) for row in reversed(rows)]
