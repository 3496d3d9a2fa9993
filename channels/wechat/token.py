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

The rest of a token's life is shared here too, so the two clients differ only in data:

- :func:`call_api` makes one HTTP call (JSON body in UTF-8) and maps a network failure to
  :class:`~channels.base.RetryableError`; :func:`read_answer` and :func:`errcode_of` read the
  JSON answer (both APIs answer HTTP 200 even for errors).
- :class:`TokenApi` says which errcodes refuse a token and how a token answer is read:
  :meth:`TokenApi.parse` turns ``stable_token`` / ``gettoken`` answers into
  ``(access_token, expires_in)`` or the hub's error. Each client keeps its own token URL and
  parameters (appid+secret in a JSON body, corpid+corpsecret in the query) in the ``fetch`` it
  gives its cache.
- :meth:`AccessTokenCache.call_with_token` is the retry: send with the cached token; when the
  provider refused it, drop it and send ONCE more with a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

import aiohttp
import structlog
from yarl import URL

from channels.base import ChannelError, ProviderConfigError, RetryableError
from hub.core.clock import Clock
from hub.core.errors import QueueError
from hub.core.keys import RedisKeys
from hub.infra.leader import LeaderLock
from hub.infra.redis_server import RedisClient, redis_errors

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
JSON_TYPE: Final = "application/json; charset=utf-8"

T = TypeVar("T")


# --- calls and answers ------------------------------------------------------------------------


async def call_api(
    session: aiohttp.ClientSession,
    method: str,
    url: URL,
    payload: Mapping[str, Any] | None,
    *,
    limit: aiohttp.ClientTimeout,
    api: str,
) -> tuple[int, bytes]:
    """``(status, body)`` of one call; a network failure is a RetryableError naming ``api``."""
    body = None
    headers: dict[str, str] = {}
    if payload is not None:
        # Chinese as UTF-8, not \\u escapes: WeChat shows what it receives.
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        headers["Content-Type"] = JSON_TYPE
    try:
        async with session.request(
            method, url, data=body, headers=headers, timeout=limit
        ) as response:
            return response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        # The URL carries the token or secret: name only the error, never the request.
        raise RetryableError(f"连接{api}接口失败：{type(exc).__name__}", code="Network") from exc


def read_answer(status: int, body: bytes) -> dict[str, Any] | RetryableError:
    """The JSON object WeChat answered, or the retryable error an unusable answer is."""
    if status != 200:
        return RetryableError(f"微信接口 HTTP {status}", code=f"HTTP{status}")
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return RetryableError("微信接口的应答不是 JSON 对象", code="BadResponse")
    return answer


def errcode_of(answer: Mapping[str, Any]) -> int:
    try:
        return int(answer.get("errcode") or 0)
    except (TypeError, ValueError):
        return -1


@dataclass(frozen=True, slots=True)
class TokenApi:
    """What tells one provider's tokens from the other's; everything else is shared.

    ``provider`` names it in error texts; ``refusals`` are the errcodes of a call whose token
    was refused (refresh and retry once). ``errcode_must_be_zero``: ``gettoken`` answers
    ``errcode`` 0 beside its token and a token counts only then; a ``stable_token`` answer's
    token counts whatever else it says.
    """

    provider: str
    refusals: frozenset[int]
    errcode_must_be_zero: bool = False

    def parse(
        self, status: int, body: bytes, classify: Callable[[int, str], ChannelError]
    ) -> tuple[str, int]:
        """``(access_token, expires_in)`` from a token answer, or raise the hub's error.

        ``classify`` is the client's errcode table. A refusal that is not transient is our
        credentials' fault: :class:`ProviderConfigError`.
        """
        answer = read_answer(status, body)
        if isinstance(answer, RetryableError):
            raise answer
        errcode = errcode_of(answer)
        token = answer.get("access_token")
        if isinstance(token, str) and token and (errcode == 0 or not self.errcode_must_be_zero):
            try:
                return token, int(answer.get("expires_in") or 7200)
            except (TypeError, ValueError):
                return token, 7200
        error = classify(errcode, str(answer.get("errmsg", "")))
        if isinstance(error, RetryableError) and errcode not in self.refusals:
            raise error
        raise ProviderConfigError(
            f"获取{self.provider} access_token 失败：{error}", code=error.code
        )

    def refused(self, result: object) -> bool:
        """``result`` is the error of a call whose access token the provider refused."""
        return isinstance(result, RetryableError) and result.code in {
            str(code) for code in self.refusals
        }


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
        redis: RedisClient,
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

    async def call_with_token(
        self, send: Callable[[str], Awaitable[T]], refused: Callable[[T], bool]
    ) -> T:
        """``send(token)``; when ``refused`` says the provider refused that token, drop it and
        send ONCE more with a fresh one (a second refusal is dropped too, and returned).

        What :meth:`get` or ``send`` raise reaches the caller.
        """
        attempts = 2
        while True:
            token = await self.get()
            result = await send(token)
            attempts -= 1
            if not refused(result):
                return result
            with contextlib.suppress(RetryableError):  # Redis down: the next get says so
                await self.invalidate(token)
            if attempts == 0:
                return result

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
