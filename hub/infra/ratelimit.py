"""A distributed token bucket per provider: every dispatcher process shares one bucket in Redis.

Each provider (``tencent``, ``aliyun``, ``wechat.city_mp``...) has a bucket holding at most
``burst`` tokens that refills at ``rate_per_s``; sending ``n`` messages takes ``n`` tokens. The
refill and the take happen in one Lua script, so concurrent acquirers in any number of
processes can never take the same token twice.

Time is an argument of the script, read from the injected :class:`~hub.core.clock.Clock`, never
Redis ``TIME``: tests drive the bucket with a :class:`~hub.core.clock.FixedClock`, and the
arithmetic is done in integer microseconds and micro-tokens so that it admits *exactly* ``rate ×
seconds`` (plus the initial burst) for integer rates; with a fractional rate the rounding only ever
errs towards admitting less. Processes whose clocks disagree never refill the bucket backwards: a
``now`` earlier than the last one seen adds nothing.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Final

from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient, redis_errors

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO: Final = 1_000_000
# A bucket untouched for its fill time is full, which is what a missing key means, so the key
# may expire then. The floor keeps it alive while a test drives the injected clock slowly
# compared with the real one (the expiry is Redis's own, real, time).
_MIN_TTL_MS: Final = 60_000

# KEYS[1] the bucket (hash: tokens in micro-tokens, ts in epoch microseconds).
# ARGV: now_us, rate (tokens/s), burst (micro-tokens), wanted (micro-tokens), ttl_ms.
# Returns 0 when the tokens were taken, else the microseconds until they would be (nothing taken).
# Lua numbers are doubles: exact for integers below 2^53 (epoch µs are ~1.8e15).
_ACQUIRE_LUA: Final = """
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local wanted = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
if now > ts then
  tokens = math.min(burst, tokens + math.floor((now - ts) * rate))
  ts = now
end
local wait = 0
if tokens >= wanted then
  tokens = tokens - wanted
else
  wait = math.ceil((wanted - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', ts)
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
return wait
"""

Sleep = Callable[[float], Awaitable[object]]


def epoch_us(at: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float rounding)."""
    return (at - _EPOCH) // timedelta(microseconds=1)


class TokenBucket:
    """Per-provider token buckets shared through Redis (keys from :meth:`RedisKeys.token_bucket`).

    The rate and burst are passed on every call rather than stored, so a config change takes
    effect on the next acquisition in every process, and the bucket needs no set-up.
    """

    def __init__(self, redis: RedisClient, keys: RedisKeys, clock: Clock) -> None:
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._script = redis.register_script(_ACQUIRE_LUA)  # EVALSHA, loaded on first use

    async def acquire(
        self, provider: str, tokens: int = 1, *, rate_per_s: float, burst: int
    ) -> float:
        """Take ``tokens`` now and return 0, or take nothing and return the seconds to wait.

        The wait is how long until the bucket would hold enough tokens if nobody else took
        any; with other acquirers around, try again after it (:meth:`wait` does).
        """
        _check(tokens, rate_per_s, burst)
        fill_ms = math.ceil(burst / rate_per_s * 1000)
        with redis_errors(f"token bucket {provider}"):
            wait_us = await self._script(
                keys=[self._keys.token_bucket(provider)],
                args=[
                    epoch_us(self._clock.now()),
                    repr(float(rate_per_s)),
                    burst * _MICRO,
                    tokens * _MICRO,
                    max(_MIN_TTL_MS, 2 * fill_ms),
                ],
            )
        return int(wait_us) / _MICRO

    async def wait(
        self,
        provider: str,
        tokens: int = 1,
        *,
        rate_per_s: float,
        burst: int,
        sleep: Sleep = asyncio.sleep,
    ) -> float:
        """Wait until ``tokens`` are taken; returns the seconds spent sleeping.

        ``sleep`` is injected so tests can advance a FixedClock instead of sleeping.
        """
        waited = 0.0
        while True:
            delay = await self.acquire(provider, tokens, rate_per_s=rate_per_s, burst=burst)
            if delay == 0:
                return waited
            await sleep(delay)
            waited += delay


def _check(tokens: int, rate_per_s: float, burst: int) -> None:
    if not rate_per_s > 0 or not math.isfinite(rate_per_s):
        raise ValueError(f"rate_per_s must be a positive number, got {rate_per_s!r}")
    if burst < 1:
        raise ValueError(f"burst must be at least 1, got {burst}")
    if tokens < 1:
        raise ValueError(f"tokens must be at least 1, got {tokens}")
    if tokens > burst:
        # The bucket never holds more than burst tokens: such a request would wait forever.
        raise ValueError(f"cannot take {tokens} tokens at once from a bucket of {burst}")
