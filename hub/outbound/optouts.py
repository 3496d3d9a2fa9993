"""Opt-outs (退订): a contact refuses a channel — by a reply (R, TD, 退订), a provider's blacklist,
or leaving a WeChat Official Account. Kept with when and where it came from; routing then skips
that channel for the contact. Recording one twice keeps the first.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock
from hub.core.vocab import ChannelName
from hub.store.db import Database
from hub.store.dialect import insert_ignore
from hub.store.models import Contact, ContactOptOut

ALL_KINDS = "*"


async def record_opt_out(
    session: AsyncSession, dialect: str, clock: Clock, contact_id: int, channel: ChannelName,
    *, source: str, kind: str = ALL_KINDS,
) -> bool:  # fmt: skip
    """Record inside the caller's write transaction; True if it is new."""
    values = {
        "contact_id": contact_id, "channel": channel, "kind": kind, "at": clock.now(),
        "source": source[:64],
    }  # fmt: skip
    stored = await session.scalar(
        insert_ignore(dialect, ContactOptOut, values).returning(ContactOptOut.contact_id)
    )
    return stored is not None


async def opt_out_address(
    db: Database, clock: Clock, channel: ChannelName, address: str, *, source: str
) -> list[int]:
    """Opt out every contact reached at ``address`` on ``channel``; their ids."""
    column = {
        ChannelName.SMS: Contact.mobile,
        ChannelName.SANDBOX: Contact.mobile,
        ChannelName.WECHAT: Contact.wechat_openid,
        ChannelName.WECOM: Contact.wecom_userid,
        ChannelName.TELEGRAM: Contact.telegram_chat_id,
    }[channel]
    async with db.write() as session:
        ids = list((await session.scalars(sa.select(Contact.id).where(column == address))).all())
        for contact_id in ids:
            await record_opt_out(session, db.dialect, clock, contact_id, channel, source=source)
    return ids
