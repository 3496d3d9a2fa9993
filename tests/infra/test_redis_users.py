"""Every Redis user of the hub outside hub.infra, on each test Redis, the Redis Cluster too.

The queue, liveness and token bucket have their own contracts in this folder; these are the
others (web sessions, unknown sign-ins, Telegram link codes, the WeChat token cache, the sandbox
inbox, the leader lock). On a cluster each MULTI and Lua script must stay within one slot, and
a plain pipeline may span several: a regression shows up here as a CROSSSLOT error.
"""

from __future__ import annotations

from datetime import timedelta

from channels.base import OutboundMessage, SendResult
from channels.sandbox import SandboxChannel
from channels.wechat.token import AccessTokenCache
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.inbound.telegram_links import issue_link_code, redeem
from hub.infra.leader import LeaderLock
from hub.infra.redis_server import RedisClient
from hub.tickets.staff_passwords import LockoutPolicy, SignInOutcome
from hub.web.admin.sessions import Flash, SessionStore
from hub.web.admin.unknown_logins import UnknownLogins


async def test_admin_sessions_live_are_touched_and_end(
    redis_client: RedisClient, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    store = SessionStore(redis_client, redis_keys, ttl=timedelta(hours=8))
    now = clock.now()
    session = await store.create(7, now, "stamp")
    await store.push_flash(session.session_id, Flash("已保存"))
    later = now + timedelta(minutes=5)
    loaded = await store.load(session.session_id, later)
    assert loaded is not None
    assert (loaded.staff_id, loaded.csrf_token) == (7, session.csrf_token)
    assert await store.pop_flashes(session.session_id) == [Flash("已保存")]
    await store.end(session.session_id)
    assert await store.load(session.session_id, later) is None


async def test_unknown_sign_ins_lock_after_the_limit(
    redis_client: RedisClient, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    logins = UnknownLogins(redis_client, redis_keys, LockoutPolicy(max_failures=2))
    now = clock.now()
    assert (await logins.failed("nobody", now)).outcome is SignInOutcome.WRONG
    assert (await logins.failed("nobody", now)).outcome is SignInOutcome.LOCKED
    locked = await logins.locked("nobody", now)
    assert locked is not None
    assert locked.outcome is SignInOutcome.LOCKED


async def test_a_telegram_link_code_is_redeemed_once(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    code = await issue_link_code(redis_client, redis_keys, 42)
    assert await redeem(redis_client, redis_keys, code) == 42
    assert await redeem(redis_client, redis_keys, code) is None


async def test_the_wechat_token_is_fetched_once_and_cached(
    redis_client: RedisClient, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    fetched: list[int] = []

    async def fetch() -> tuple[str, int]:
        fetched.append(1)
        return f"token-{len(fetched)}", 7200

    cache = AccessTokenCache(redis_client, redis_keys, "main", fetch, FixedClock(clock.now()))
    assert await cache.get() == "token-1"
    other = AccessTokenCache(redis_client, redis_keys, "main", fetch, FixedClock(clock.now()))
    assert await other.get() == "token-1"  # from Redis, not fetched again
    assert await other.invalidate("token-1")
    assert await cache.get() == "token-1"  # this process's memo
    assert await other.get() == "token-2"
    assert len(fetched) == 2


async def test_the_sandbox_inbox_takes_a_batch_for_many_contacts(
    redis_client: RedisClient, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    # One plain pipeline over contacts whose inboxes hash to different slots.
    sandbox = SandboxChannel(redis_client, redis_keys, clock)
    messages = [OutboundMessage(i, f"+86139000000{i:02}", f"第{i}条", "notice", contact_id=i)
                for i in range(1, 21)]  # fmt: skip
    results = await sandbox.send_batch(messages)
    assert all(isinstance(r, SendResult) for r in results)
    for i in (1, 20):
        assert [m["body"] for m in await sandbox.inbox(i)] == [f"第{i}条"]


async def test_the_leader_lock_is_held_by_one_owner_at_a_time(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    key = redis_keys.lock("scheduler")
    first = LeaderLock(redis_client, key, owner="a", ttl_ms=10_000)
    second = LeaderLock(redis_client, key, owner="b", ttl_ms=10_000)
    assert await first.acquire()
    assert not await second.acquire()
    assert await first.renew()
    await second.release()  # not its lock: nothing happens
    assert not await second.acquire()
    await first.release()
    assert await second.acquire()
