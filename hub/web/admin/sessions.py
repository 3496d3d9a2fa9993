"""Web admin sessions, kept server-side in Redis.

Why Redis rather than a signed cookie: the app already holds a Redis handle, a key's TTL ends
a session with no cleanup job, and signing out (or a password change, or an admin) deletes the
key, so a copied cookie stops working at once — a signed cookie stays valid until it expires.
The cookie holds only a random id (256 bits); the key is its SHA-256, so what Redis shows
cannot be replayed as a cookie. A Redis flush signs everyone out, which is safe.

A session is a hash: the staff id, its CSRF token, when it began and when it was last used
(both checked against the injected clock as well as by the key's TTL), the stamp of the
password it began with (the session ends when the password changes) and the flash messages
waiting for the next page. A session ends at the first of: ``ttl`` after sign-in (however busy),
``idle`` after its last request (a desk left signed in), sign-out, a password change.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient

_ID_BYTES = 32
#: A request within this long of the last recorded use does not write the session again (one
#: Redis write per page, not per asset or htmx poll; the idle limit is minutes long).
_TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class StoredSession:
    """A live session: whose it is, its CSRF token, when it began."""

    session_id: str
    staff_id: int
    csrf_token: str
    began: datetime
    #: The stamp of the password signed in with (``hub.tickets.staff_passwords``).
    stamp: str = ""


@dataclass(frozen=True, slots=True)
class Flash:
    """A one-time message shown on the next page (``level``: ``ok`` or ``error``)."""

    text: str
    level: str = "ok"


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore:
    """Creates, reads and ends sessions; ``ttl`` is how long one lasts from sign-in at most,
    ``idle`` how long it lasts without a request."""

    def __init__(
        self, redis: RedisClient, keys: RedisKeys, ttl: timedelta, idle: timedelta | None = None
    ) -> None:
        self._redis = redis
        self._keys = keys
        self.ttl = ttl
        self.idle = min(idle, ttl) if idle is not None else ttl

    def _expiry(self, began: datetime, now: datetime) -> timedelta:
        """The key's TTL from ``now``: the idle limit, never past the end of the session."""
        return max(timedelta(seconds=1), min(self.idle, began + self.ttl - now))

    def _key(self, session_id: str) -> str:
        return self._keys.admin_session(_digest(session_id))

    async def create(self, staff_id: int, now: datetime, stamp: str) -> StoredSession:
        """A new session with a new id and CSRF token (a sign-in never reuses an id)."""
        session = StoredSession(
            secrets.token_urlsafe(_ID_BYTES), staff_id, secrets.token_urlsafe(_ID_BYTES), now,
            stamp,
        )  # fmt: skip
        key = self._key(session.session_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"staff_id": str(staff_id), "csrf": session.csrf_token,
                                    "began": now.isoformat(), "seen": now.isoformat(),
                                    "stamp": stamp, "flash": "[]"})  # fmt: skip
            pipe.expire(key, self._expiry(now, now))
            await pipe.execute()
        return session

    async def load(self, session_id: str, now: datetime) -> StoredSession | None:
        """The live session with this id, its last use moved to ``now``; None when unknown,
        ended, past its length or idle too long."""
        if not session_id or len(session_id) > 128:
            return None
        # The hub's clients decode responses (hub.infra.redis_server): str, not bytes.
        fields: dict[str, str] = await self._redis.hgetall(self._key(session_id))  # type: ignore[assignment]
        if not fields.get("staff_id") or not fields.get("csrf"):
            return None
        began = datetime.fromisoformat(fields["began"])
        seen = datetime.fromisoformat(fields.get("seen") or fields["began"])
        if now >= began + self.ttl or now >= seen + self.idle:
            await self.end(session_id)
            return None
        if now - seen >= _TOUCH_EVERY:
            await self._touch(session_id, began, now)
        return StoredSession(
            session_id, int(fields["staff_id"]), fields["csrf"], began, fields.get("stamp", "")
        )

    async def _touch(self, session_id: str, began: datetime, now: datetime) -> None:
        key = self._key(session_id)
        # hset on a key that expired meanwhile would recreate it without a TTL.
        if await self._redis.exists(key):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, "seen", now.isoformat())
                pipe.expire(key, self._expiry(began, now))
                await pipe.execute()

    async def end(self, session_id: str) -> None:
        """Delete the session: its cookie signs in no more."""
        await self._redis.delete(self._key(session_id))

    async def push_flash(self, session_id: str, flash: Flash) -> None:
        """Keep a message for the next page this session renders."""
        key = self._key(session_id)
        waiting = json.loads(await self._redis.hget(key, "flash") or "[]")
        waiting.append({"text": flash.text, "level": flash.level})
        # hset on a key that expired meanwhile would recreate it without a TTL.
        if await self._redis.exists(key):
            await self._redis.hset(key, "flash", json.dumps(waiting, ensure_ascii=False))

    async def pop_flashes(self, session_id: str) -> list[Flash]:
        """The waiting messages, removed."""
        key = self._key(session_id)
        raw = await self._redis.hget(key, "flash")
        if not raw or raw == "[]":
            return []
        # Only a live key is written (its TTL stays); a message pushed in between is lost at
        # worst, never shown twice.
        await self._redis.hset(key, "flash", "[]")
        return [Flash(item["text"], item["level"]) for item in json.loads(raw)]
