"""The credit report page ``/reports/credit/{token}``: the link a report sent opens the whole
record without login, until it expires (410); a wrong or forged token is a 404; all in Chinese.

The app is the production one (``create_app``) over httpx's ASGI transport; the link is the one
the half-yearly program put in a real report message.
"""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.scheduling.programs.report_links import SECRET_ENV
from hub.web.app import create_app
from tests.pipeline import Hub
from tests.scheduling.programs.credit_report_support import (
    BASE_URL,
    JANUARY,
    credit_hub,  # noqa: F401 (the fixture hub)
    fire,
    reports,
)

_LINK = re.compile(re.escape(BASE_URL) + r"(/reports/credit/[A-Za-z0-9_-]+)")


def _client(hub: Hub, redis: Redis) -> httpx.AsyncClient:
    app = create_app(hub.db, redis, metrics=CollectorRegistry(), clock=hub.clock)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def _link_of(hub: Hub, name: str) -> str:
    [body] = [m.body for m in await reports(hub.db) if name in m.body]
    found = _LINK.search(body)
    assert found is not None, body
    return found.group(1)


async def test_the_link_opens_the_whole_record_without_login(hub: Hub, redis_client: Redis) -> None:
    await fire(hub, JANUARY)
    path = await _link_of(hub, "甲机械")
    async with _client(hub, redis_client) as client:
        page = await client.get(path)

    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    text = page.text
    assert "企业信用报告（2026年下半年）" in text
    assert "甲机械" in text
    assert "信用状况：预警" in text
    assert "本期信用事件 2 条；信用记录共 3 条，\n其中仍有效 1 条" in text
    # Every event with its authority, dates and repair state, 2025's one included.
    for cells in (
        ("CF-2026-0912", "行政处罚", "市市场监督管理局", "2026年9月12日", "未按规定公示即时信息",
         "已修复", "2026年11月20日"),
        ("CF-2026-0803", "经营异常名录", "龙沙区市场监督管理局", "2026年8月3日",
         "通过登记的住所无法联系", "有效", "—"),
        ("CF-2025-0501", "失信被执行人", "龙沙区人民法院", "2025年5月1日", "未履行生效判决",
         "已移出", "2025年10月1日"),
    ):  # fmt: skip
        assert "".join(f"<td>{c}</td>" for c in cells) in text
    assert text.count('<tr class="period">') == 2  # the half-year's two events are marked
    assert "@media print" in text


async def test_an_enterprise_without_credit_data_gets_a_true_page(
    hub: Hub, redis_client: Redis
) -> None:
    await fire(hub, JANUARY)
    async with _client(hub, redis_client) as client:
        page = await client.get(await _link_of(hub, "己科技"))
    assert page.status_code == 200
    assert "信用状况：良好" in page.text
    assert "信用记录中没有信用事件" in page.text


async def test_the_link_expires_after_thirty_days(hub: Hub, redis_client: Redis) -> None:
    await fire(hub, JANUARY)
    path = await _link_of(hub, "甲机械")
    async with _client(hub, redis_client) as client:
        hub.clock.set(JANUARY + timedelta(days=30) - timedelta(seconds=1))
        last_moment = await client.get(path)
        hub.clock.set(JANUARY + timedelta(days=30))
        expired = await client.get(path)
    assert last_moment.status_code == 200
    assert expired.status_code == 410
    assert "报告链接已过期" in expired.text
    assert "甲机械" not in expired.text


async def test_a_wrong_or_forged_token_is_a_chinese_404(hub: Hub, redis_client: Redis) -> None:
    await fire(hub, JANUARY)
    path = await _link_of(hub, "甲机械")
    token = path.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")  # another MAC
    async with _client(hub, redis_client) as client:
        answers = [
            await client.get(f"/reports/credit/{t}")
            for t in (forged, "x" * 36, "short", token + "A", "%E4%BF%A1" * 4)
        ]
    for answer in answers:
        assert answer.status_code == 404
        assert "报告链接无效" in answer.text
        assert "甲机械" not in answer.text


async def test_without_the_secret_no_link_opens(
    hub: Hub, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    await fire(hub, JANUARY)
    path = await _link_of(hub, "甲机械")
    monkeypatch.setenv(SECRET_ENV, "another-secret-" + "z" * 32)
    async with _client(hub, redis_client) as client:
        assert (await client.get(path)).status_code == 404
    monkeypatch.delenv(SECRET_ENV)
    async with _client(hub, redis_client) as client:
        assert (await client.get(path)).status_code == 404
