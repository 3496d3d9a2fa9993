"""The distributed token bucket, driven by a FixedClock, on Redis 6.2 (embedded) and 7."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.infra.ratelimit import TokenBucket


@pytest.fixture
def bucket(redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> TokenBucket:
    return TokenBucket(redis_client, redis_keys, clock)


async def test_admits_exactly_rate_times_seconds_plus_burst_across_concurrent_acquirers(
    bucket: TokenBucket, clock: FixedClock
) -> None:
    rate, burst, tick = 40, 10, timedelta(milliseconds=250)
    granted = 0

    async def acquirer(attempts: int) -> int:
        # Each acquirer asks more often than the bucket refills, so the bucket is the limit.
        taken = 0
        for _ in range(attempts):
            if await bucket.acquire("tencent", 1, rate_per_s=rate, burst=burst) == 0:
                taken += 1
        return taken

    for step in range(241):  # t = 0 s, 0.25 s, ..., 60 s
        if step:
            clock.advance(tick)
        granted += sum(await asyncio.gather(*(acquirer(4) for _ in range(4))))
        elapsed = step * tick.total_seconds()
        assert granted <= burst + rate * elapsed  # never more, at any moment
    assert granted == burst + rate * 60


async def test_a_denied_acquisition_takes_nothing_and_says_how_long_to_wait(
    bucket: TokenBucket, clock: FixedClock
) -> None:
    for _ in range(5):
        assert await bucket.acquire("aliyun", rate_per_s=10, burst=5) == 0
    wait = await bucket.acquire("aliyun", rate_per_s=10, burst=5)
    assert wait == pytest.approx(0.1)
    # Asking again at once still takes nothing: the wait has not shrunk or grown.
    assert await bucket.acquire("aliyun", rate_per_s=10, burst=5) == pytest.approx(0.1)
    clock.advance(timedelta(seconds=0.099))
    assert await bucket.acquire("aliyun", rate_per_s=10, burst=5) == pytest.approx(0.001)
    clock.advance(timedelta(seconds=0.001))
    assert await bucket.acquire("aliyun", rate_per_s=10, burst=5) == 0


async def test_batch_acquisitions_take_several_tokens_at_once(
    bucket: TokenBucket, clock: FixedClock
) -> None:
    assert await bucket.acquire("tencent", 200, rate_per_s=100, burst=500) == 0
    assert await bucket.acquire("tencent", 200, rate_per_s=100, burst=500) == 0
    # 100 left: a third batch of 200 waits for 100 more tokens, 1 s at 100/s.
    assert await bucket.acquire("tencent", 200, rate_per_s=100, burst=500) == pytest.approx(1.0)
    assert await bucket.acquire("tencent", 100, rate_per_s=100, burst=500) == 0
    clock.advance(timedelta(seconds=2))
    assert await bucket.acquire("tencent", 200, rate_per_s=100, burst=500) == 0
    with pytest.raises(ValueError, match="cannot take 501"):
        await bucket.acquire("tencent", 501, rate_per_s=100, burst=500)


async def test_an_idle_bucket_refills_only_up_to_its_burst(
    bucket: TokenBucket, clock: FixedClock
) -> None:
    assert await bucket.acquire("wecom", 3, rate_per_s=2, burst=3) == 0
    clock.advance(timedelta(hours=1))  # 7,200 tokens' worth of idle time
    assert await bucket.acquire("wecom", 3, rate_per_s=2, burst=3) == 0
    assert await bucket.acquire("wecom", 1, rate_per_s=2, burst=3) == pytest.approx(0.5)


async def test_a_clock_running_behind_never_refills_the_bucket(
    bucket: TokenBucket, clock: FixedClock
) -> None:
    assert await bucket.acquire("sms", 2, rate_per_s=1, burst=2) == 0
    clock.advance(timedelta(seconds=-30))  # another process whose clock is behind
    assert await bucket.acquire("sms", 1, rate_per_s=1, burst=2) == pytest.approx(1.0)
    clock.advance(timedelta(seconds=30.5))
    assert await bucket.acquire("sms", 1, rate_per_s=1, burst=2) == pytest.approx(0.5)


async def test_providers_have_separate_buckets(bucket: TokenBucket) -> None:
    assert await bucket.acquire("tencent", 1, rate_per_s=1, burst=1) == 0
    assert await bucket.acquire("tencent", 1, rate_per_s=1, burst=1) > 0
    assert await bucket.acquire("aliyun", 1, rate_per_s=1, burst=1) == 0


async def test_wait_sleeps_until_granted_and_holds_the_rate(
    bucket: TokenBucket, clock: FixedClock
) -> None:
    start = clock.now()

    async def fake_sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=seconds))

    waited = [
        await bucket.wait("tencent", 1, rate_per_s=20, burst=1, sleep=fake_sleep) for _ in range(21)
    ]
    assert waited[0] == 0
    assert waited[1:] == [pytest.approx(0.05)] * 20
    assert clock.now() - start == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("tokens", "rate", "burst"), [(0, 1.0, 1), (1, 0.0, 1), (1, -1.0, 1), (1, 1.0, 0)]
)
async def test_nonsense_arguments_are_refused(
    bucket: TokenBucket, tokens: int, rate: float, burst: int
) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        await bucket.acquire("tencent", tokens, rate_per_s=rate, burst=burst)
