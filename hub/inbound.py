"""Replies coming in: store the raw reply durably, dedupe on the provider's id, queue it.

This is the part a webhook (or ``hub sandbox reply``) calls before answering the provider: the
reply is committed first, linked to the contact whose address sent it and to the latest message
that contact was sent, then its id goes on the inbound stream for the inbound worker
(classification and tickets come in the closed-loop step).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa

from channels.base import InboundReply
from hub.clock import Clock
from hub.queue import Queue
from hub.store.db import Database
from hub.store.models import Contact, Message
from hub.store.models import InboundReply as StoredReply
from hub.vocab import ChannelName, MessageStatus

# How far back a reply is taken as an answer to the last message the contact was sent.
REPLY_WINDOW = timedelta(days=30)

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
    db: Database, queue: Queue, clock: Clock, channel: ChannelName, reply: InboundReply
) -> Accepted:
    """Store (once per provider id), link, and enqueue a reply for the inbound worker."""
    now = clock.now()
    async with db.write() as session:
        existing = await session.scalar(
            sa.select(StoredReply.id).where(
                StoredReply.provider == reply.provider,
                StoredReply.provider_msg_id == reply.provider_msg_id,
            )
        )
        if existing is not None:
            return Accepted(int(existing), duplicate=True, contact_id=None)
        contact = (
            await session.execute(
                sa.select(Contact.id, Contact.enterprise_id)
                .where(_ADDRESS_COLUMN[channel] == reply.sender)
                .order_by(Contact.id)
                .limit(1)
            )
        ).first()
        answered = None
        if contact is not None:
            answered = await session.scalar(
                sa.select(Message.id)
                .where(
                    Message.contact_id == contact.id,
                    Message.status.in_((MessageStatus.SENT, MessageStatus.DELIVERED)),
                    Message.sent_at >= now - REPLY_WINDOW,
                )
                .order_by(Message.sent_at.desc(), Message.id.desc())
                .limit(1)
            )
        stored = StoredReply(
            channel=channel, provider=reply.provider, provider_msg_id=reply.provider_msg_id,
            sender=reply.sender, text=reply.text, raw=reply.raw, received_at=now,
            contact_id=contact.id if contact else None,
            enterprise_id=contact.enterprise_id if contact else None, in_reply_to=answered,
        )  # fmt: skip
        session.add(stored)
        await session.flush()
        reply_id = stored.id
    await queue.push_inbound([reply_id])
    return Accepted(reply_id, duplicate=False, contact_id=contact.id if contact else None)
