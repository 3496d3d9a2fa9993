"""Wrong sign-ins of usernames that have no account, counted and locked like real accounts.

A real account's wrong passwords are counted in its database row
(:func:`hub.tickets.staff_passwords.sign_in`): "再错 N 次账号将被锁定", then locked. A username
with no account (or with no password) has no row to count in; answering it with a bare
"用户名或密码错误" would tell a guesser which usernames exist, and leave guessing unthrottled.
So its failures are counted here, in Redis, under the same :class:`LockoutPolicy`: the same
warnings, the same lock and the same 423 page, whether the account exists or not.

The key is the SHA-256 of the name as typed (case-folded); its TTL (the lock's length after the
last failure) ends a count that stopped, where a real account keeps its count until a sign-in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient
from hub.tickets.staff_passwords import LockoutPolicy, SignIn, SignInOutcome

__all__ = ["UnknownLogins"]


class UnknownLogins:
    """Counts and locks wrong sign-ins of unknown usernames (see the module docstring)."""

    def __init__(self, redis: RedisClient, keys: RedisKeys, policy: LockoutPolicy) -> None:
        self._redis = redis
        self._keys = keys
        self._policy = policy

    def _key(self, username: str) -> str:
        digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()
        return self._keys.admin_unknown_login(digest)

    async def locked(self, username: str, now: datetime) -> SignIn | None:
        """The LOCKED outcome while this unknown username is locked, else None."""
        # The hub's clients decode responses (hub.infra.redis_server): str, not bytes.
        raw: str | None = await self._redis.hget(self._key(username), "locked_until")  # type: ignore[assignment]
        if not raw:
            return None
        until = datetime.fromisoformat(raw)
        return SignIn(SignInOutcome.LOCKED, locked_until=until) if until > now else None

    async def failed(self, username: str, now: datetime) -> SignIn:
        """Count one wrong sign-in: WRONG with the failures left, or LOCKED at the limit."""
        key = self._key(username)
        ttl = self._policy.lock_for
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(key, "locked_until")
            pipe.hincrby(key, "failures", 1)
            pipe.expire(key, ttl)
            ended_lock, failures, _ = await pipe.execute()
        if ended_lock:  # a lock that has ended starts the count again (as for real accounts)
            await self._redis.hdel(key, "locked_until")
            await self._redis.hset(key, "failures", 1)
            failures = 1
        if int(failures) >= self._policy.max_failures:
            until = now + self._policy.lock_for
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping={"failures": 0, "locked_until": until.isoformat()})
                pipe.expire(key, ttl)
                await pipe.execute()
            return SignIn(SignInOutcome.LOCKED, locked_until=until)
        return SignIn(SignInOutcome.WRONG, failures_left=self._policy.max_failures - int(failures))
