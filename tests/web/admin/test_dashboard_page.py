"""/admin/dashboard: the figures as cards, chart slots with their data, tables (no JavaScript
needed), the quiet-hours banner at an injected evening clock, and a handler's scope."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketState
from hub.store.db import Database
from hub.store.models import Message
from hub.tickets.staff import StaffRole
from hub.web.admin.dashboard import compliance_cache
from tests.ticket_factory import Org, make_org, make_ticket
from tests.web.admin.admin_support import add_user, admin_app, admin_client, sign_in

EVENING = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # Wednesday 22:00 in Shanghai: quiet hours
RELEASE = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 08:00 the next morning
_DATA = re.compile(r'<script type="application/json" id="dashboard-data">(.*?)</script>', re.S)


def page_data(html: str) -> dict[str, Any]:
    """The figures the page embeds for its charts."""
    found = _DATA.search(html)
    assert found is not None, "no embedded figures"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


@pytest.fixture
async def org(db: Database, clock: FixedClock) -> Org:
    clock.set(EVENING)
    made = await make_org(db, EVENING - timedelta(days=400))
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    await add_user(db, clock, "fgw", StaffRole.HANDLER, department="FGW")
    week_ago, late = EVENING - timedelta(days=7), EVENING - timedelta(days=1)
    await make_ticket(db, made, number="F1", received_at=week_ago, deadline_at=late)
    await make_ticket(db, made, number="F2", received_at=week_ago, deadline_at=late,
                      state=TicketState.CLOSED, resolutions=[late - timedelta(hours=2)],
                      ratings=[(5, late, False)])  # fmt: skip
    await make_ticket(db, made, number="S1", received_at=week_ago, deadline_at=late,
                      department=made.sjj, handler=made.sjj_handler)  # fmt: skip
    async with db.write() as s:
        for n in range(3):
            s.add(Message(
                idempotency_key=uuid.uuid4().hex, kind=MessageKind.NOTICE,
                enterprise_id=made.enterprises[0], channel=ChannelName.SMS,
                address="+8613900009001", status=MessageStatus.HELD,
                status_reason="免打扰时段（21:00–08:00），将于 11-26 08:00 发送", body=f"通知{n}",
                params={}, next_attempt_at=RELEASE, created_at=EVENING, updated_at=EVENING,
            ))  # fmt: skip
    return made


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys, org: Org
) -> AsyncIterator[FastAPI]:
    served = admin_app(db, redis_client, clock, redis_keys)
    yield served
    # A page starts the visit count in the background: let it end before the database closes.
    await compliance_cache(served.state, served.state.admin).settled()


async def test_the_dashboard_shows_the_figures_the_banner_and_the_chart_data(app: FastAPI) -> None:
    await compliance_cache(app.state, app.state.admin).refresh()
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        response = await client.get("/admin/dashboard")

    assert response.status_code == 200
    html = response.text
    assert "静默时段：3 条消息将于 08:00 发送" in html
    for chart in ("chart-sends", "chart-ratings", "chart-ontime", "chart-tickets", "chart-visits"):
        assert f'id="{chart}"' in html
    assert "/admin/static/echarts.min.js" in html
    assert 'hx-trigger="every 30s"' in html
    data = page_data(html)
    assert data["open"] == 2  # F1 and S1, both past their deadline
    assert data["overdue"] == 2
    assert data["good_rate"] == 1.0
    assert data["quiet"] == {"held": 3, "release_at": "2026-11-26T08:00:00+08:00",
                             "text": "静默时段：3 条消息将于 08:00 发送"}  # fmt: skip
    held_only = {s.label: 3 if s is MessageStatus.HELD else 0 for s in MessageStatus}
    assert data["windows"][0]["by_channel"] == [{"channel": "短信", "counts": held_only}]
    # The tables carry every figure for a browser without JavaScript.
    assert "<td>市发展改革委</td><td>1</td><td>1</td><td>100.0%</td><td>1</td>" in html
    assert "<td>市市场监管局</td>" in html
    assert "走访完成情况" in html
    assert "<td>重点</td>" in html


async def test_a_handler_sees_only_their_department(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "fgw")
        response = await client.get("/admin/dashboard")

    assert response.status_code == 200
    data = page_data(response.text)
    assert [d["code"] for d in data["departments"]] == ["FGW"]
    assert "市市场监管局" not in response.text
    assert data["compliance"] is None
    assert "走访按全市统计，仅对可查看全部企业的账号显示" in response.text


async def test_without_a_count_the_visits_are_being_counted_and_the_fragment_refreshes(
    app: FastAPI,
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        first = await client.get("/admin/dashboard")
        await compliance_cache(app.state, app.state.admin).settled()  # the background count
        fragment = await client.get("/admin/dashboard/figures")

    assert "走访完成情况正在统计，稍后自动显示" in first.text
    assert fragment.status_code == 200
    assert fragment.text.startswith('<div id="dashboard-figures"')
    assert "<html" not in fragment.text
    assert "<td>重点</td>" in fragment.text
    assert "静默时段：3 条消息将于 08:00 发送" in fragment.text


async def test_after_the_release_there_is_no_banner(app: FastAPI, clock: FixedClock) -> None:
    clock.set(RELEASE)
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        response = await client.get("/admin/dashboard/figures")
    assert "静默时段" not in response.text


async def test_signed_out_the_dashboard_asks_to_sign_in(app: FastAPI) -> None:
    async with admin_client(app) as client:
        response = await client.get("/admin/dashboard")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login")
