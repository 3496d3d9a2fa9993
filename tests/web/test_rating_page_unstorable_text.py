"""A rating comment holding NUL or other control characters rates on both databases.

Anyone with the link types the comment; PostgreSQL refused a NUL in it (SQLite stored it),
so the page answered 500 and the rating was lost. The comment is stored without them.
"""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.web.rating_page import MAX_COMMENT
from tests.inbound_support import Loop, make_loop
from tests.web.test_rating_page import _client, _ratings, _resolved


@pytest.fixture
def db(any_db: Database) -> Database:
    return any_db


@pytest.fixture
async def loop(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
               ) -> Loop:  # fmt: skip
    return await make_loop(db, redis_client, redis_keys, clock)


@pytest.mark.parametrize(
    ("comment", "stored"),
    [
        ("还没有\x00办完\x07，\n请尽快", "还没有办完，\n请尽快"),
        ("\x00\x01", None),
        ("慢" * (MAX_COMMENT - 1) + "\x00" + "慢" * 10, "慢" * MAX_COMMENT),
    ],
    ids=["nul-and-bell", "only-control-characters", "nul-in-an-over-long-comment"],
)
async def test_the_rating_is_stored_with_the_comment_cleaned(
    loop: Loop, redis_client: Redis, redis_keys: RedisKeys, comment: str, stored: str | None
) -> None:
    _, token = await _resolved(loop)
    async with _client(loop, redis_client, redis_keys) as client:
        answer = await client.post(f"/r/{token}", data={"score": "4", "comment": comment})

    assert answer.status_code == 200
    assert "4 满意" in answer.text
    [rating] = await _ratings(loop)
    assert (rating.score, rating.comment) == (4, stored)
