"""The rating page ``/r/{token}``: GET never rates, POST with an explicit choice rates once.

The app is the production one (``create_app`` with the webhook context, so the page is
mounted as in ``hub run``), over httpx's ASGI transport; the ticket was opened from a stored
reply by the inbound worker and resolved with the feedback that created the link.
"""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, TicketState
from hub.store.db import Database
from hub.store.models import Rating, RatingLink, Ticket
from hub.tickets.ratings import RatingNotifier
from hub.web.app import create_app
from hub.web.webhooks.context import WebhookContext
from tests.inbound_support import Loop, make_loop, settings

PROMPT = "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意"


@pytest.fixture
async def loop(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
               ) -> Loop:  # fmt: skip
    return await make_loop(db, redis_client, redis_keys, clock)


async def _resolved(loop: Loop) -> tuple[Ticket, str]:
    reply_id = await loop.reply("企业用地手续办理遇到困难，需要协调")
    await loop.drain()
    ticket_id = (await loop.stored(reply_id)).ticket_id or 0
    await loop.resolve(ticket_id, answer="已协调自然资源局，土地证将于12月5日前办结。")
    async with loop.db.read() as session:
        token = await session.scalar(sa.select(RatingLink.token))
    assert token is not None
    return await loop.ticket(ticket_id), token


def _client(loop: Loop, redis: Redis, redis_keys: RedisKeys) -> httpx.AsyncClient:
    context = WebhookContext(settings(), loop.db, redis, redis_keys, loop.queue, loop.clock)
    answerer = loop.worker.applier.answerer
    notifier = RatingNotifier(answerer.renderer, answerer.policy)
    app = create_app(loop.db, redis, metrics=CollectorRegistry(), webhooks=context,
                     clock=loop.clock, rating_notifier=notifier)  # fmt: skip
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def _ratings(loop: Loop) -> list[Rating]:
    async with loop.db.read() as session:
        return list((await session.scalars(sa.select(Rating))).all())


async def test_opening_the_link_shows_the_ticket_and_five_levels_and_rates_nothing(
    loop: Loop, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    ticket, token = await _resolved(loop)
    [feedback] = await loop.messages(MessageKind.TICKET_FEEDBACK)
    assert f"https://hub.example.cn/r/{token}" in feedback.body
    async with _client(loop, redis_client, redis_keys) as client:
        pages = [await client.get(f"/r/{token}") for _ in range(3)]  # a scanner, a preview, …

    assert [p.status_code for p in pages] == [200, 200, 200]
    page = pages[0].text
    assert ticket.number in page
    assert "已协调自然资源局，土地证将于12月5日前办结。" in page
    for level in PROMPT.split(" ")[1::2]:
        assert level in page
    assert page.count('type="radio" name="score"') == 5
    assert "提交评价" in page
    assert pages[0].headers["cache-control"] == "no-store"
    assert await _ratings(loop) == []
    assert (await loop.ticket(ticket.id)).state is TicketState.RESOLVED


async def test_a_submit_without_a_choice_is_refused_and_rates_nothing(
    loop: Loop, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    _, token = await _resolved(loop)
    async with _client(loop, redis_client, redis_keys) as client:
        answer = await client.post(f"/r/{token}", data={"comment": "还行"})
    assert answer.status_code == 400
    assert "请先选择一项评价" in answer.text
    assert await _ratings(loop) == []


async def test_a_bad_rating_submitted_reopens_once_and_the_link_is_then_used(
    loop: Loop, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    ticket, token = await _resolved(loop)
    async with _client(loop, redis_client, redis_keys) as client:
        first = await client.post(f"/r/{token}", data={"score": "2", "comment": "还没有办完"})
        again = await client.post(f"/r/{token}", data={"score": "5"})
        later = await client.get(f"/r/{token}")

    assert first.status_code == 200
    assert "2 不满意" in first.text
    assert "重新办理" in first.text
    assert (again.status_code, later.status_code) == (410, 410)
    assert "只能提交一次" in again.text
    [rating] = await _ratings(loop)
    assert (rating.score, rating.source, rating.comment) == (2, "web", "还没有办完")
    assert rating.contact_id == ticket.contact_id
    assert (await loop.ticket(ticket.id)).state is TicketState.REOPENED
    async with loop.db.read() as session:
        link = await session.get(RatingLink, token)
    assert link is not None
    assert (link.used_at, link.rating_id) == (loop.clock.now(), rating.id)
    [alert] = await loop.messages(MessageKind.ESCALATION)  # the department head is told
    assert ticket.number in alert.body
    # ...and it is on its channel's stream for the dispatcher
    assert alert.id in {e.message_id for e in await loop.queue.claim(alert.channel.value, "d")}


async def test_unknown_and_expired_links_are_refused_in_chinese(
    loop: Loop, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    _, token = await _resolved(loop)
    async with _client(loop, redis_client, redis_keys) as client:
        unknown = await client.get("/r/NotAToken123")
        malformed = await client.post("/r/%3Cscript%3E", data={"score": "5"})
        loop.clock.advance(timedelta(days=31))  # tickets.rating_link_valid_days is 30
        expired = await client.post(f"/r/{token}", data={"score": "5"})
    assert (unknown.status_code, malformed.status_code, expired.status_code) == (404, 404, 410)
    assert "评价链接无效" in unknown.text
    assert "已过期" in expired.text
    assert await _ratings(loop) == []


async def test_a_ticket_rated_by_reply_meanwhile_is_not_rated_again_on_the_page(
    loop: Loop, redis_client: Redis, redis_keys: RedisKeys
) -> None:
    ticket, token = await _resolved(loop)
    await loop.reply("5")
    await loop.drain()
    async with _client(loop, redis_client, redis_keys) as client:
        page = await client.get(f"/r/{token}")
        post = await client.post(f"/r/{token}", data={"score": "1"})
    assert (page.status_code, post.status_code) == (409, 409)
    assert "不在待评价状态" in post.text
    assert [r.score for r in await _ratings(loop)] == [5]
    assert (await loop.ticket(ticket.id)).state is TicketState.CLOSED
