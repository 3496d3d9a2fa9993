"""The shared access-token cache: one fetch for many getters, early refresh, safe invalidation;
the retry with a fresh token and the token answers both clients read through it.

Real Redis (embedded 6.2 and server 7); "two processes" are two caches on the same keys.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from channels.base import ChannelError, PermanentError, ProviderConfigError, RetryableError
from channels.wechat.token import AccessTokenCache, CachedToken, TokenApi
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys


class TokenSource:
    """A provider's token endpoint: counts fetches; ``gate`` holds them until opened."""

    def __init__(self, expires_in: int = 7200) -> None:
        self.calls = 0
        self.expires_in = expires_in
        self.gate = asyncio.Event()
        self.gate.set()
        self.entered = asyncio.Event()
        self.error: Exception | None = None

    async def fetch(self) -> tuple[str, int]:
        self.calls += 1
        self.entered.set()
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"token-{self.calls}", self.expires_in


def cache(
    redis: Redis, keys: RedisKeys, source: TokenSource, clock: FixedClock, **kw: Any
) -> AccessTokenCache:
    return AccessTokenCache(redis, keys, "main", source.fetch, clock, **kw)


async def test_the_first_get_fetches_and_later_gets_read_the_cache(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    tokens = cache(redis_client, redis_keys, source, clock)
    assert await tokens.get() == "token-1"
    assert await tokens.get() == "token-1"
    # another process reads it from Redis without fetching
    assert await cache(redis_client, redis_keys, source, clock).get() == "token-1"
    assert source.calls == 1
    stored = await redis_client.hgetall(redis_keys.access_token("main"))
    assert stored["token"] == "token-1"
    assert float(stored["expires_at"]) == clock.now().timestamp() + 7200


async def test_concurrent_getters_in_one_process_fetch_once(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    tokens = cache(redis_client, redis_keys, source, clock)
    got = await asyncio.gather(*(tokens.get() for _ in range(10)))
    assert got == ["token-1"] * 10
    assert source.calls == 1


async def test_two_processes_with_no_token_fetch_once_and_share_it(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    source.gate.clear()
    first = cache(redis_client, redis_keys, source, clock)
    second = cache(redis_client, redis_keys, source, clock)
    getting = asyncio.gather(first.get(), second.get())
    await source.entered.wait()  # one of them holds the lock and is fetching
    source.gate.set()
    assert list(await getting) == ["token-1", "token-1"]
    assert source.calls == 1
    assert not await redis_client.exists(redis_keys.lock("token.main"))


async def test_the_token_is_refreshed_five_minutes_before_it_expires(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    tokens = cache(redis_client, redis_keys, source, clock)
    assert await tokens.get() == "token-1"
    clock.advance(timedelta(seconds=7200 - 301))
    assert await tokens.get() == "token-1"
    clock.advance(timedelta(seconds=2))
    assert await tokens.get() == "token-2"
    assert source.calls == 2


def test_a_short_lived_token_is_refreshed_halfway_not_at_once() -> None:
    entry = CachedToken.issued("t", 400, 1000.0, 300.0)
    assert (entry.refresh_at, entry.expires_at) == (1200.0, 1400.0)


async def test_while_another_process_refreshes_the_old_token_is_still_used(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    tokens = cache(redis_client, redis_keys, source, clock)
    await tokens.get()
    clock.advance(timedelta(seconds=7200 - 60))  # due for refresh, valid for another minute
    await redis_client.set(redis_keys.lock("token.main"), "another-process", px=10_000)
    other = cache(redis_client, redis_keys, source, clock)
    assert await other.get() == "token-1"
    assert source.calls == 1


async def test_invalidate_drops_only_the_token_the_cache_still_holds(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    first = cache(redis_client, redis_keys, source, clock)
    second = cache(redis_client, redis_keys, source, clock)
    assert await first.get() == "token-1"
    assert await second.get() == "token-1"
    assert await first.invalidate("token-1") is True  # the provider refused it
    assert await first.get() == "token-2"
    # the second process's call with token-1 is refused late: token-2 must survive it
    assert await second.invalidate("token-1") is False
    assert await second.get() == "token-2"
    assert source.calls == 2


async def test_a_failed_fetch_reaches_the_caller_and_frees_the_lock(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    source.error = ProviderConfigError("AppSecret 无效", code="40125")
    tokens = cache(redis_client, redis_keys, source, clock)
    with pytest.raises(ProviderConfigError):
        await tokens.get()
    assert not await redis_client.exists(redis_keys.lock("token.main"))
    source.error = None
    assert await tokens.get() == "token-2"


async def test_a_lock_held_too_long_without_a_token_is_retryable(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    source = TokenSource()
    await redis_client.set(redis_keys.lock("token.main"), "stuck-process", px=60_000)
    tokens = cache(redis_client, redis_keys, source, clock, wait_s=0.05, poll_s=0.01)
    with pytest.raises(RetryableError) as caught:
        await tokens.get()
    assert caught.value.code == "token_wait"
    assert source.calls == 0


# --- the retry with a fresh token ---------------------------------------------------------


class Api:
    """A provider's send call: records the token each call carries, refuses ``refusing``."""

    def __init__(self, *refusing: str) -> None:
        self.refusing = set(refusing)
        self.sent: list[str] = []

    async def send(self, token: str) -> str:
        self.sent.append(token)
        return "refused" if token in self.refusing else "sent"


def refused(result: str) -> bool:
    return result == "refused"


async def test_a_refused_token_is_dropped_and_the_call_sent_once_more_with_a_fresh_one(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    tokens = cache(redis_client, redis_keys, TokenSource(), clock)
    api = Api("token-1")
    assert await tokens.call_with_token(api.send, refused) == "sent"
    assert api.sent == ["token-1", "token-2"]


async def test_a_token_refused_twice_is_answered_after_one_retry_and_both_are_dropped(
    redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    tokens = cache(redis_client, redis_keys, TokenSource(), clock)
    api = Api("token-1", "token-2")
    assert await tokens.call_with_token(api.send, refused) == "refused"
    assert api.sent == ["token-1", "token-2"]
    assert not await redis_client.exists(redis_keys.access_token("main"))
    assert await tokens.get() == "token-3"


# --- token answers ----------------------------------------------------------------------------

STABLE = TokenApi("公众号", frozenset({40001, 40014, 42001}))
GETTOKEN = TokenApi("企业微信", frozenset({40014, 42001}), errcode_must_be_zero=True)


def classify(errcode: int, errmsg: str) -> ChannelError:
    if errcode in (-1, 40014):
        return RetryableError(errmsg, code=str(errcode))
    return PermanentError(errmsg, code=str(errcode))


def test_a_token_answer_gives_the_token_and_its_lifetime_7200_s_when_unreadable() -> None:
    for api in (STABLE, GETTOKEN):
        assert api.parse(200, b'{"access_token":"T","expires_in":600}', classify) == ("T", 600)
        assert api.parse(200, b'{"access_token":"T","expires_in":"x"}', classify) == ("T", 7200)
        with pytest.raises(RetryableError):
            api.parse(502, b"bad gateway", classify)
        with pytest.raises(RetryableError):
            api.parse(200, b'{"errcode":-1,"errmsg":"busy"}', classify)
        with pytest.raises(ProviderConfigError) as refused:  # a refusal errcode is not transient
            api.parse(200, b'{"errcode":40014,"errmsg":"invalid"}', classify)
        assert refused.value.code == "40014"
        assert api.provider in str(refused.value)


def test_only_gettoken_needs_errcode_0_beside_its_token() -> None:
    both = b'{"errcode":40013,"errmsg":"invalid corpid","access_token":"T"}'
    assert STABLE.parse(200, both, classify) == ("T", 7200)
    with pytest.raises(ProviderConfigError):
        GETTOKEN.parse(200, both, classify)


def test_a_refusal_is_a_retryable_error_with_one_of_the_api_s_codes() -> None:
    assert GETTOKEN.refused(RetryableError("x", code="42001"))
    assert not GETTOKEN.refused(RetryableError("x", code="40001"))
    assert STABLE.refused(RetryableError("x", code="40001"))
    assert not STABLE.refused(PermanentError("x", code="40001"))
