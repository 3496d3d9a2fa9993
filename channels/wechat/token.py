"""Access tokens of WeChat Official Accounts and WeCom apps, cached in Redis for every process.

Both APIs hand out an ``access_token`` valid for ``expires_in`` seconds (7200) and limit how
often one may be fetched, so the hub fetches one per app and shares it: the token lives in a
Redis hash under ``RedisKeys.access_token(app)`` with the time it expires and the time it should
be refreshed (five minutes early: the Official Account's ``stable_token`` hands out a new token
in the last five minutes of the old one, and both stay valid meanwhile).

When the token is missing or due for refresh, ONE process fetches a new one under a Redis lock
(``SET NX PX`` on ``RedisKeys.lock("token.<app>")``); the others keep using the old token while
it is still valid, or wait briefly and read what the winner stored. Inside a process one
coroutine refreshes and the rest wait for it.

:meth:`AccessTokenCache.invalidate` drops a token the provider refused (40001, 40014, 42001),
but only if the cache still holds that very token (compare-and-delete in Lua): a late refusal
of an old token must not throw away the fresh one another process just stored.

Times come from the injected clock, so a test moves a token to its refresh time by moving a
``FixedClock``; Redis's own expiry on the hash (``expires_in``) only collects garbage.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import structlog
from redis.asyncio import Redis

from channels.base import RetryableError
from hub.core.clock import Clock
from hub.core.errors import QueueError
from hub.core.keys import RedisKeys
from hub.infra.leader import LeaderLock
from hub.infra.redis_server import redis_errors

log = structlog.get_logger(__name__)

#: Refresh this long before the provider's expiry.
REFRESH_MARGIN_S: Final = 300.0
#: errcodes meaning "this access token is not (or no longer) valid": refresh and retry once.
#: 40001 invalid credential / not latest, 40014 invalid access_token, 42001 access_token expired.
TOKEN_ERRCODES: Final = frozenset({40001, 40014, 42001})

# KEYS[1] token hash; ARGV[1] the token refused. Deletes the hash only if it still holds it.
_DROP_IF_SAME_LUA: Final = """
if redis.call('HGET', KEYS[1], 'token') == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

FetchToken = Callable[[], Awaitable[tuple[str, int]]]


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A token with the epoch seconds it should be refreshed at and it expires at."""

    token: str
    refresh_at: float
    expires_at: float

    def fresh(self, now: float) -> bool:
        """Use it without a second thought."""
        return now < self.refresh_at

    def usable(self, now: float) -> bool:
        """Still accepted by the provider, though someone should be refreshing it."""
        return now < self.expires_at

    @classmethod
    def issued(cls, token: str, expires_in: int, now: float, margin: float) -> CachedToken:
        # A short-lived token (expires_in under twice the margin) is refreshed halfway, so a
        # provider answering 300 s cannot make every call a refresh.
        lead = min(margin, expires_in / 2)
        return cls(token, now + expires_in - lead, now + expires_in)


class AccessTokenCache:
    """One app's access token, shared through Redis; ``fetch`` asks the provider for a new one.

    ``fetch`` returns ``(access_token, expires_in)`` or raises a
    :class:`~channels.base.ChannelError` (bad credentials, quota), which :meth:`get` passes on
    to the caller. Redis failures come out as :class:`~channels.base.RetryableError`.
    """

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        app_name: str,
        fetch: FetchToken,
        clock: Clock,
        *,
        refresh_margin_s: float = REFRESH_MARGIN_S,
        lock_ttl_ms: int = 15_000,
        wait_s: float = 10.0,
        poll_s: float = 0.02,
    ) -> None:
        self.app_name = app_name
        self._redis = redis
        self._key = keys.access_token(app_name)
        self._lock_key = keys.lock(f"token.{app_name}")
        self._fetch = fetch
        self._clock = clock
        self._margin = refresh_margin_s
        self._lock_ttl_ms = lock_ttl_ms
        self._wait_s = wait_s
        self._poll_s = poll_s
        self._drop_if_same = redis.register_script(_DROP_IF_SAME_LUA)
        # The last token this process read or stored: most calls need no Redis round trip.
        self._memo: CachedToken | None = None
        self._refreshing = asyncio.Lock()

    async def get(self) -> str:
        """A valid access token: cached, or fetched by one process for all."""
        try:
            return await self._get()
        except QueueError as exc:
            raise RetryableError(f"缓存 access_token 的 Redis 不可用：{exc}", code="redis") from exc

    async def invalidate(self, token: str) -> bool:
        """Forget ``token`` (the provider refused it) unless the cache already holds another.

        Returns True when this call deleted it from Redis.
        """
        if self._memo is not None and self._memo.token == token:
            self._memo = None
        try:
            with redis_errors(f"dropping access token of {self.app_name}"):
                dropped = bool(await self._drop_if_same(keys=[self._key], args=[token]))
        except QueueError as exc:
            raise RetryableError(f"缓存 access_token 的 Redis 不可用：{exc}", code="redis") from exc
        if dropped:
            log.info("access token dropped", app=self.app_name)
        return dropped

    async def _get(self) -> str:
        now = self._now()
        memo = self._memo
        if memo is not None and memo.fresh(now):
            return memo.token
        cached = await self._read()
        if cached is not None and cached.fresh(now):
            return cached.token
        if cached is not None and cached.usable(now) and self._refreshing.locked():
            return cached.token  # another coroutine of this process is refreshing it
        async with self._refreshing:
            cached = await self._read()
            if cached is not None and cached.fresh(self._now()):
                return cached.token
            return await self._refresh(cached)

    async def _refresh(self, stale: CachedToken | None) -> str:
        """Fetch under the cross-process lock, or wait for the process that holds it."""
        deadline = time.monotonic() + self._wait_s
        while True:
            lock = LeaderLock(
                self._redis, self._lock_key, owner=uuid.uuid4().hex, ttl_ms=self._lock_ttl_ms
            )
            if await lock.acquire():
                try:
                    return await self._fetch_and_store()
                finally:
                    await lock.release()
            if stale is not None and stale.usable(self._now()):
                return stale.token  # the lock holder is refreshing; the old one still works
            await asyncio.sleep(self._poll_s)
            current = await self._read()
            if current is not None and current.fresh(self._now()):
                return current.token
            if time.monotonic() > deadline:
                raise RetryableError(
                    f"等待其他进程刷新 {self.app_name} 的 access_token 超时", code="token_wait"
                )

    async def _fetch_and_store(self) -> str:
        # Another process may have stored a token between our read and our lock.
        current = await self._read()
        if current is not None and current.fresh(self._now()):
            return current.token
        token, expires_in = await self._fetch()
        entry = CachedToken.issued(token, expires_in, self._now(), self._margin)
        with redis_errors(f"storing access token of {self.app_name}"):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._key,
                    mapping={
                        "token": entry.token,
                        "refresh_at": repr(entry.refresh_at),
                        "expires_at": repr(entry.expires_at),
                    },
                )
                pipe.pexpire(self._key, max(1, expires_in) * 1000)
                await pipe.execute()
        self._memo = entry
        log.info("access token refreshed", app=self.app_name, expires_in=expires_in)
        return entry.token

    async def _read(self) -> CachedToken | None:
        with redis_errors(f"reading access token of {self.app_name}"):
            token, refresh_at, expires_at = await self._redis.hmget(
                self._key, ["token", "refresh_at", "expires_at"]
            )
        if not token or refresh_at is None or expires_at is None:
            self._memo = None
            return None
        try:
            entry = CachedToken(_text(token), float(refresh_at), float(expires_at))
        except ValueError:
            return None  # written by something else: refetch and overwrite
        self._memo = entry
        return entry

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _text(value: object) -> str:
    # The hub's clients decode responses; a client that does not still reads the same token.
    return value.decode() if isinstance(value, bytes) else str(value)
