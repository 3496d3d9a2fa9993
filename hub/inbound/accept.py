"""Replies coming in: store the raw reply durably, dedupe on the provider's id, queue it.

This is the part a webhook (or ``hub sandbox reply``) calls before answering the provider: the
reply is committed first, linked to the contact whose address sent it and to the latest message
that contact was sent, then its id goes on the inbound stream for the inbound worker
(classification and tickets come in the closed-loop step).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from channels.base import InboundReply
from hub.core.clock import Clock
from hub.core.safe_text import storable_json, storable_text
from hub.core.vocab import ChannelName, MessageStatus
from hub.infra.queue import Queue
from hub.infra.redis_server import redis_errors
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.dialect import insert_ignore
from hub.store.models import Contact, Message
from hub.store.models import InboundReply as StoredReply

# How far back a reply is taken as an answer to the last message the contact was sent.
REPLY_WINDOW = timedelta(days=30)
# Inbound stream entries read per XRANGE round trip when listing what Redis holds.
_SCAN_PAGE = 1_000

_ADDRESS_COLUMN = {
    ChannelName.SMS: Contact.mobile,
    ChannelName.SANDBOX: Contact.mobile,
    ChannelName.WECHAT: Contact.wechat_openid,
    ChannelName.WECOM: Contact.wecom_userid,
    ChannelName.TELEGRAM: Contact.telegram_chat_id,
}


@dataclass(frozen=True, slots=True)
class Accepted:
    """The stored reply's id; ``duplicate`` when the provider had sent it before."""

    reply_id: int
    duplicate: bool
    contact_id: int | None


async def accept_reply(
    db: Database, queue: Queue, clock: Clock, channel: ChannelName, reply: InboundReply,
    *, audit: AuditNote | None = None,
) -> Accepted:  # fmt: skip
    """Store (once per provider id), link, and enqueue a reply for the inbound worker.

    Every channel's reply comes through here or through the webhooks' group commit
    (:mod:`hub.inbound.accept_batch`, the same :func:`store_replies`), so this is where text the
    database cannot hold is cleaned (:func:`storable`). ``audit`` (a reply staff typed in the
    phone simulator) is written with the stored reply, its id added.
    """
    reply = storable(reply)
    now = clock.now()
    async with db.write() as session:
        (accepted,) = await store_replies(session, now, [(channel, reply)])
        if audit is not None and not accepted.duplicate:
            audit.add(session, now, target_id=str(accepted.reply_id))
    if not accepted.duplicate:
        await queue.push_inbound([accepted.reply_id])
    return accepted


async def store_replies(
    session: AsyncSession, now: datetime, replies: Sequence[tuple[ChannelName, InboundReply]]
) -> list[Accepted]:
    """Store ``replies`` (already :func:`storable`) in the caller's transaction, each once per
    provider id; the outcome of each, in order. Nothing is pushed: the caller queues the new
    ones after its commit.

    A few statements whatever the number of replies: the senders' contacts, the messages they
    answer, one ``INSERT .. ON CONFLICT DO NOTHING .. RETURNING`` of all the rows, and only when
    a provider id was stored before, the ids it was stored under. A provider id twice in
    ``replies`` is stored once: the later ones are duplicates of the first.
    """
    # Core statements built once (module level), executed on the session's connection: the
    # ORM's execute, and building a multi-row VALUES per batch, cost more than the SQL.
    connection = await session.connection()
    firsts: dict[tuple[str, str], int] = {}
    for index, (_, reply) in enumerate(replies):
        firsts.setdefault(_key(reply), index)
    contacts = await _contacts(connection, now, [replies[i] for i in firsts.values()])
    rows = []
    for index in firsts.values():
        channel, reply = replies[index]
        contact = contacts.get((_ADDRESS_COLUMN[channel].key, reply.sender))
        rows.append({
            "channel": channel, "provider": reply.provider,
            "provider_msg_id": reply.provider_msg_id, "sender": reply.sender, "text": reply.text,
            "raw": reply.raw, "received_at": now, "contact_id": contact.id if contact else None,
            "enterprise_id": contact.enterprise_id if contact else None,
            "in_reply_to": contact.answered if contact else None,
        })  # fmt: skip
    # ON CONFLICT: a provider's retry (or one racing its first delivery) stores nothing twice.
    # Many rows: an executemany that SQLAlchemy sends as one multi-row INSERT (insertmanyvalues).
    inserted = await connection.execute(_insert_replies(connection.dialect.name), rows)
    new = {(row.provider, row.provider_msg_id): int(row.id) for row in inserted}
    earlier = await _stored_ids(connection, [key for key in firsts if key not in new])
    outcomes: list[Accepted] = []
    for index, (channel, reply) in enumerate(replies):
        key = _key(reply)
        if firsts[key] == index and key in new:
            contact = contacts.get((_ADDRESS_COLUMN[channel].key, reply.sender))
            outcomes.append(Accepted(new[key], duplicate=False,
                                     contact_id=contact.id if contact else None))  # fmt: skip
        else:  # stored before, or earlier in this very batch
            outcomes.append(Accepted(new.get(key) or earlier[key], duplicate=True, contact_id=None))
    return outcomes


def _key(reply: InboundReply) -> tuple[str, str]:
    return (reply.provider, reply.provider_msg_id)


@cache
def _insert_replies(dialect: str) -> Any:
    """``INSERT .. ON CONFLICT DO NOTHING RETURNING id, provider, provider_msg_id`` for rows
    given at execution (only the rows inserted come back)."""
    table = cast(sa.Table, StoredReply.__table__)  # the Core table: no ORM work per row
    return insert_ignore(dialect, table).returning(
        table.c.id, table.c.provider, table.c.provider_msg_id
    )


@cache
def _contacts_query(column: Any) -> Any:
    """The contacts at the addresses ``:addresses`` of ``column``, each with the latest message
    it was sent since ``:since`` (``answered``); built once per address column."""
    answered = (
        sa.select(Message.id)
        .where(
            Message.contact_id == Contact.id,
            Message.status.in_((MessageStatus.SENT, MessageStatus.DELIVERED)),
            Message.sent_at >= sa.bindparam("since"),
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )
    return (
        sa.select(
            column.label("address"), Contact.id, Contact.enterprise_id, answered.label("answered")
        )
        .where(column.in_(sa.bindparam("addresses", expanding=True)))
        .order_by(Contact.id)
    )


async def _contacts(
    connection: AsyncConnection, now: datetime, replies: Sequence[tuple[ChannelName, InboundReply]]
) -> dict[tuple[str, str], Any]:
    """The contact of each sender (id, enterprise, and ``answered``: the latest message it was
    sent within :data:`REPLY_WINDOW`), by (address column, address); the first by id when
    several contacts share an address. One query per address column, for every reply at once.
    """
    senders: dict[Any, set[str]] = {}
    for channel, reply in replies:
        senders.setdefault(_ADDRESS_COLUMN[channel], set()).add(reply.sender)
    found: dict[tuple[str, str], Any] = {}
    for column, addresses in senders.items():
        rows = await connection.execute(
            _contacts_query(column),
            {"addresses": sorted(addresses), "since": now - REPLY_WINDOW},
        )
        for row in rows:
            found.setdefault((column.key, row.address), row)
    return found


async def _stored_ids(
    connection: AsyncConnection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], int]:
    """The ids replies were stored under, by (provider, provider id)."""
    if not keys:
        return {}
    rows = await connection.execute(
        sa.select(StoredReply.id, StoredReply.provider, StoredReply.provider_msg_id).where(
            sa.tuple_(StoredReply.provider, StoredReply.provider_msg_id).in_(keys)
        )
    )
    return {(row.provider, row.provider_msg_id): int(row.id) for row in rows}


async def requeue_unclassified(
    db: Database, queue: Queue, *, received_before: datetime | None = None
) -> int:
    """Every stored reply not yet classified back on the inbound stream, unless the stream
    still holds it; returns how many were pushed. After Redis lost the hub's data all of them
    (:func:`hub.outbound.recovery.rebuild_after_flush`); from the reconciler, those received before
    ``received_before`` (a push that failed after the commit: Redis away for a moment, the
    provider's redelivery then found the reply stored and pushed nothing).

    A reply is accepted (answered 200 to the provider) once its row is committed, and its
    ``classified_at`` is set in the transaction that applies it, so a row without it is work
    Redis may have lost. A reply that a live worker is applying right now may be pushed again:
    the worker skips a reply whose ``classified_at`` is set, so it is still applied once.
    """
    query = sa.select(StoredReply.id).where(StoredReply.classified_at.is_(None))
    if received_before is not None:
        query = query.where(StoredReply.received_at < received_before)
    async with db.read() as session:
        stored = (await session.scalars(query.order_by(StoredReply.id))).all()
    if not stored:
        return 0
    waiting = await _waiting_reply_ids(queue)
    lost = [reply_id for reply_id in stored if reply_id not in waiting]
    await queue.push_inbound(lost)
    return len(lost)


async def _waiting_reply_ids(queue: Queue) -> set[int]:
    """Reply ids on the inbound stream, new or pending (acked entries are deleted)."""
    stream = queue.keys.inbound_stream()
    ids: set[int] = set()
    with redis_errors("listing the replies waiting on the inbound stream"):
        start = "-"
        while True:
            page: list[Any] = (
                await queue.redis.xrange(stream, min=start, max="+", count=_SCAN_PAGE) or []
            )
            ids.update(entry.reply_id for entry in Queue.inbound_entries(stream, page))
            if len(page) < _SCAN_PAGE:
                return ids
            start = "(" + str(page[-1][0])


def storable(reply: InboundReply) -> InboundReply:
    """The reply without NUL, other control characters and lone surrogates, fitted to its columns.

    PostgreSQL refuses NUL in text, and a value longer than its VARCHAR, and no driver encodes
    a lone surrogate (a cut emoji in a provider's JSON), so such a reply failed with a 5xx that
    the provider retried forever; openpyxl refuses the other control characters in the monthly
    report. None of them means anything in a reply, so they are dropped rather than the reply
    refused. The provider id and sender are cleaned alike, so a redelivery still matches the
    stored reply; ``raw`` keeps an over-long value whole.
    """
    return replace(
        reply,
        provider=_fitted(storable_text(reply.provider), _PROVIDER_MAX),
        provider_msg_id=_fitted(storable_text(reply.provider_msg_id), _PROVIDER_MSG_ID_MAX),
        sender=_fitted(storable_text(reply.sender), _SENDER_MAX),
        text=storable_text(reply.text),
        raw=storable_json(reply.raw),
    )


def _column_length(column: Any) -> int:
    length = column.type.length
    assert isinstance(length, int)
    return length


_PROVIDER_MAX = _column_length(StoredReply.__table__.c.provider)
_PROVIDER_MSG_ID_MAX = _column_length(StoredReply.__table__.c.provider_msg_id)
_SENDER_MAX = _column_length(StoredReply.__table__.c.sender)
_DIGEST_LENGTH = 16  # hex characters of SHA-256: two different long values stay apart


def _fitted(value: str, length: int) -> str:
    """``value`` if it fits; else its head and a digest of the whole, ``length`` long in all.

    No address or id a provider really uses is that long, so the head only has to be
    recognisable; the digest keeps the value stable for deduplication and distinct from others.
    """
    if len(value) <= length:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_LENGTH]
    return value[: length - _DIGEST_LENGTH - 1] + "~" + digest
