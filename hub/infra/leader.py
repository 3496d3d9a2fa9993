"""Leader election: :class:`LeaderLock`, a Redis lock one process holds at a time.

Taken with ``SET NX PX`` and renewed by a compare-and-extend script, so only the holder can
extend or release it; a holder that stops renewing (crashed, stalled) loses it when the TTL
runs out and another process takes over. Redis failures are raised as
:class:`~hub.core.errors.QueueError` (:func:`hub.infra.redis_server.redis_errors`).
"""

from __future__ import annotations

from typing import Final

from hub.infra.redis_server import RedisClient, redis_errors

# KEYS[1] lock; ARGV[1] owner, ARGV[2] ttl ms. Extends only a lock that is still ours.
_EXTEND_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LUA: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderLock:
    """A Redis lock one process holds at a time, renewed by its holder before it expires."""

    def __init__(self, redis: RedisClient, key: str, *, owner: str, ttl_ms: int) -> None:
        self.key = key
        self.owner = owner
        self.ttl_ms = ttl_ms
        self._redis = redis
        self._extend = redis.register_script(_EXTEND_LUA)
        self._release = redis.register_script(_RELEASE_LUA)

    async def acquire(self) -> bool:
        """Take the lock if nobody holds it (or extend it if we already do)."""
        with redis_errors(f"taking lock {self.key}"):
            if await self._redis.set(self.key, self.owner, nx=True, px=self.ttl_ms):
                return True
        return await self.renew()

    async def renew(self) -> bool:
        """Extend the lock if it is still ours; False means another process may hold it."""
        with redis_errors(f"renewing lock {self.key}"):
            return bool(await self._extend(keys=[self.key], args=[self.owner, self.ttl_ms]))

    async def release(self) -> None:
        """Give the lock up (only if ours), so a successor need not wait for it to expire."""
        with redis_errors(f"releasing lock {self.key}"):
            await self._release(keys=[self.key], args=[self.owner])
