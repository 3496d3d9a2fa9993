"""The answer page ``/a/{token}``: the link an automatic SMS answer carries opens the question,
the answer as sent, its source, the ticket number, how to reach a person and how to rate,
without login; an unknown or malformed token is a Chinese 404 page, never a 5xx.

The app is the production one (``create_app``) over httpx's ASGI transport.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.knowledge.answer_links import answer_link, new_answer_token
from hub.store.db import Database
from hub.store.models import RatingLink
from hub.web.app import create_app
from tests.queries.answer_rows import add_auto_answer, add_faq, one_ticket

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def _client(db: Database, redis: Redis) -> httpx.AsyncClient:
    app = create_app(db, redis, metrics=CollectorRegistry(), clock=FixedClock(T0))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def _answered(db: Database, *, rating_link: bool) -> str:
    await add_faq(
        db,
        "FAQ-REG-002",
        "营业执照遗失怎么补办？",
        "在国家企业信用信息公示系统声明作废后，到政务服务中心申请补领。",
        now=T0,
        source="《市场主体登记管理条例实施细则》第三十二条",
    )
    ticket = await one_ticket(db, "GD20260042", at=T0)
    token = new_answer_token()
    await add_auto_answer(db, "执照丢了怎么办？<b>急</b>", at=T0, entry_id="FAQ-REG-002",
                          answered=True, answer="声明作废后申请补领。\n地址：市政务服务中心",
                          ticket_id=ticket, token=token)  # fmt: skip
    if rating_link:
        async with db.write() as session:
            session.add(RatingLink(token="rateTok123", ticket_id=ticket, created_at=T0,
                                   expires_at=T0 + timedelta(days=30)))  # fmt: skip
    return token


async def test_the_link_opens_the_answer_as_sent_with_its_source_and_the_rating_link(
    db: Database, redis_client: Redis
) -> None:
    token = await _answered(db, rating_link=True)
    link = answer_link("https://hub.example.cn", token)
    async with _client(db, redis_client) as client:
        page = await client.get(link.removeprefix("https://hub.example.cn"))

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert "执照丢了怎么办？&lt;b&gt;急&lt;/b&gt;" in text  # escaped, never markup
    assert "声明作废后申请补领。\n地址：市政务服务中心" in text
    assert "依据：《市场主体登记管理条例实施细则》第三十二条" in text
    assert "诉求编号：GD20260042" in text
    assert "答复时间：2026年12月01日 10:00" in text
    assert "回复 人工 转人工服务" in text
    assert '<a href="/r/rateTok123">评价本次答复</a>' in text
    # Nothing personal beyond the question: not the enterprise, not the contact.
    for private in ("甲机械有限公司", "联系人1", "13900009001"):
        assert private not in text


async def test_without_a_rating_link_the_page_says_how_to_rate_by_reply(
    db: Database, redis_client: Redis
) -> None:
    token = await _answered(db, rating_link=False)
    async with _client(db, redis_client) as client:
        page = await client.get(f"/a/{token}")
    assert page.status_code == 200
    assert (
        "如需评价本次答复，请直接回复数字：5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意"
        in page.text
    )
    assert "/r/" not in page.text


async def test_an_answer_handed_over_says_a_person_works_on_it(
    db: Database, redis_client: Redis
) -> None:
    await add_auto_answer(db, "执照丢了怎么办", at=T0, entry_id="FAQ-REG-002", answered=True,
                          answer="声明作废后申请补领。", token="handedOver01",
                          handed_over_at=T0 + timedelta(minutes=3),
                          handover_reason="human")  # fmt: skip
    async with _client(db, redis_client) as client:
        page = await client.get("/a/handedOver01")
    assert page.status_code == 200
    assert "声明作废后申请补领。" in page.text
    assert "该问题已转人工办理，承办部门将尽快答复您。" in page.text
    assert "评价" not in page.text


@pytest.mark.parametrize(
    "path",
    ["/a/unknownToken99", "/a/x", "/a/" + "9" * 80, "/a/%E4%BD%A0%E5%A5%BD%E5%95%8A%E5%95%8A"],
)
async def test_an_unknown_or_malformed_token_is_a_chinese_404_page(
    db: Database, redis_client: Redis, path: str
) -> None:
    async with _client(db, redis_client) as client:
        page = await client.get(path)
    assert page.status_code == 404
    assert "答复链接无效，请核对短信或消息中的链接。" in page.text
    assert page.headers["content-type"].startswith("text/html")
