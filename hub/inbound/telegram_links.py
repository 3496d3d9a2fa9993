"""One-time Telegram deep links that bind an enterprise contact's chat to that contact.

An unlinked chat cannot act for any enterprise: the hub issues a random code for one contact
(:func:`issue_link_code`), the officer sends the contact ``https://t.me/<bot>?start=<code>``
(:func:`deep_link`), and the contact's tap makes Telegram send ``/start <code>`` from the chat.
:func:`link_chat` then redeems the code once (``GETDEL``) and writes the chat id on the contact.

A chat acts for one contact: binding it moves it away from any other contact. Telegram redelivers
an update it did not see answered, and people tap a link twice; so after a binding the hub keeps
a short-lived marker of which chat redeemed the code, and the same chat redeeming it again is told
it is bound (nothing is written twice) while any other chat is refused.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import sqlalchemy as sa

from hub.core.clock import Clock
from hub.core.identifiers import mask_id
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient
from hub.store.db import Database
from hub.store.models import AuditLog, Contact, Enterprise

DEFAULT_LINK_TTL: Final = timedelta(hours=72)
#: How long a redeemed code is remembered, so a redelivery or second tap is answered kindly.
REDEEMED_TTL: Final = timedelta(days=1)
# Telegram's start parameter: up to 64 of A-Z a-z 0-9 _ -; ours are 22 (128 random bits).
_CODE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CODE_BYTES: Final = 16


async def issue_link_code(
    redis: RedisClient, keys: RedisKeys, contact_id: int, ttl: timedelta = DEFAULT_LINK_TTL
) -> str:
    """A fresh one-time code for ``contact_id``, valid for ``ttl``."""
    if ttl <= timedelta(0):
        raise ValueError("a link code needs a positive time to live")
    while True:
        code = secrets.token_urlsafe(_CODE_BYTES)
        # NX: a collision of 128 random bits is next to impossible, but never overwrite a code.
        if await redis.set(keys.telegram_link(code), str(contact_id), nx=True, px=_ms(ttl)):
            return code


def deep_link(bot_username: str, code: str) -> str:
    """The link that opens the bot and sends ``/start <code>``."""
    return f"https://t.me/{bot_username.lstrip('@')}?start={code}"


def is_link_code(text: str) -> bool:
    """Whether ``text`` has the shape of a code (anything else is never looked up)."""
    return bool(_CODE.fullmatch(text))


async def redeem(redis: RedisClient, keys: RedisKeys, code: str) -> int | None:
    """The contact a code binds, consuming the code (GETDEL); None if bad, used or expired."""
    contact_id, _ttl_ms = await _take(redis, keys, code)
    return contact_id


async def _take(redis: RedisClient, keys: RedisKeys, code: str) -> tuple[int | None, int]:
    """GETDEL the code with its remaining time to live (to put it back if binding fails)."""
    if not is_link_code(code):
        return None, 0
    key = keys.telegram_link(code)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.pttl(key)
        pipe.getdel(key)
        ttl_ms, value = await pipe.execute()
    if value is None:
        return None, 0
    try:
        return int(value), int(ttl_ms)
    except ValueError:
        return None, 0


@dataclass(frozen=True, slots=True)
class Bound:
    """The chat is bound to ``contact_id`` of ``enterprise_name``; ``again`` when it already was."""

    contact_id: int
    enterprise_id: int
    enterprise_name: str
    again: bool = False


async def link_chat(
    db: Database, redis: RedisClient, keys: RedisKeys, clock: Clock, code: str, chat_id: str
) -> Bound | None:
    """Redeem ``code`` for ``chat_id`` and bind it; None when the code binds nothing."""
    contact_id, ttl_ms = await _take(redis, keys, code)
    marker = keys.webhook_seen("telegram", f"link-{code}") if is_link_code(code) else None
    if contact_id is None:
        if marker is None:
            return None
        redeemed_by, _, redeemed_for = str(await redis.get(marker) or "").partition(":")
        if redeemed_by != chat_id or not redeemed_for.isdigit():
            return None  # another chat's code, or one never redeemed
        found = await _bound_contact(db, int(redeemed_for), chat_id)
        return Bound(found[0], found[1], found[2], again=True) if found else None
    try:
        bound = await bind_chat(db, clock, contact_id, chat_id)
    except BaseException:
        if ttl_ms > 0:  # the code was not used: give it back for the redelivery
            await redis.set(keys.telegram_link(code), str(contact_id), nx=True, px=ttl_ms)
        raise
    if bound is not None and marker is not None:
        await redis.set(marker, f"{chat_id}:{contact_id}", px=_ms(REDEEMED_TTL))
    return bound


async def bind_chat(db: Database, clock: Clock, contact_id: int, chat_id: str) -> Bound | None:
    """Write ``chat_id`` on the contact (and off any other), audited; None if no such contact."""
    now = clock.now()
    async with db.write() as session:
        row = (
            await session.execute(
                sa.select(Contact.id, Contact.enterprise_id, Enterprise.name)
                .join(Enterprise, Enterprise.id == Contact.enterprise_id)
                .where(Contact.id == contact_id, Contact.anonymised_at.is_(None))
            )
        ).first()
        if row is None:
            return None
        await session.execute(
            sa.update(Contact)
            .where(Contact.telegram_chat_id == chat_id, Contact.id != contact_id)
            .values(telegram_chat_id=None, updated_at=now)
        )
        await session.execute(
            sa.update(Contact)
            .where(Contact.id == contact_id)
            .values(telegram_chat_id=chat_id, updated_at=now)
        )
        session.add(
            AuditLog(at=now, actor="telegram", action="contact.telegram_bound",
                     target_type="contact", target_id=str(contact_id),
                     detail={"chat": mask_id(chat_id), "enterprise_id": row.enterprise_id})
        )  # fmt: skip
    return Bound(row.id, row.enterprise_id, row.name)


async def linked_contact(db: Database, chat_id: str) -> tuple[int, int] | None:
    """``(contact_id, enterprise_id)`` the chat acts for, or None for an unlinked chat."""
    async with db.read() as session:
        row = (
            await session.execute(
                sa.select(Contact.id, Contact.enterprise_id)
                .where(Contact.telegram_chat_id == chat_id, Contact.anonymised_at.is_(None))
                .order_by(Contact.id)
                .limit(1)
            )
        ).first()
    return (row.id, row.enterprise_id) if row is not None else None


async def _bound_contact(
    db: Database, contact_id: int, chat_id: str
) -> tuple[int, int, str] | None:
    async with db.read() as session:
        row = (
            await session.execute(
                sa.select(Contact.id, Contact.enterprise_id, Enterprise.name)
                .join(Enterprise, Enterprise.id == Contact.enterprise_id)
                .where(Contact.id == contact_id, Contact.telegram_chat_id == chat_id)
            )
        ).first()
    return (row.id, row.enterprise_id, row.name) if row is not None else None


def _ms(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1000)
