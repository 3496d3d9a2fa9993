"""The audit log page: admins only, filtered by staff, action and Beijing dates, newest first
by pages of 50; the sign-ins and password changes made through the admin are in it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.store.db import Database
from hub.store.models import AuditLog
from hub.tickets.staff import StaffRole
from tests.web.admin.admin_support import add_user, admin_app, admin_client, sign_in


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys
) -> FastAPI:
    await add_user(db, clock, "boss", StaffRole.ADMIN)
    return admin_app(db, redis_client, clock, redis_keys)


async def _add_entries(db: Database, count: int, start: datetime, actor: str) -> None:
    async with db.write() as session:
        for n in range(count):
            session.add(AuditLog(at=start + timedelta(hours=n), actor=actor, action="ticket.moved",
                                 target_type="ticket", target_id=f"T{n:03d}",
                                 detail={"n": n}))  # fmt: skip


async def test_the_page_lists_the_admins_own_sign_in(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        page = await client.get("/admin/audit")

    assert page.status_code == 200
    assert '<td>登录<br><code class="code">staff.signed_in</code></td>' in page.text
    assert "<td>工作人员 boss</td>" in page.text
    # the clock's time, in Beijing time
    assert '<td class="nowrap">2026-11-23 10:00:00</td>' in page.text
    assert 'aria-current="page">审计日志' in page.text


async def test_filters_by_staff_action_and_beijing_dates(app: FastAPI, db: Database) -> None:
    # 2026-11-30 16:00 UTC is 2026-12-01 00:00 in Beijing: hours 0..47 span Dec 1 and 2 there.
    await _add_entries(db, 48, datetime(2026, 11, 30, 16, tzinfo=UTC), "handler-a")
    await _add_entries(db, 3, datetime(2026, 11, 30, 16, tzinfo=UTC), "handler-b")
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        by_actor = await client.get("/admin/audit", params={"actor": "handler-b"})
        by_day = await client.get("/admin/audit", params={
            "actor": "handler-a", "action": "ticket.moved", "date_from": "2026-12-02",
            "date_to": "2026-12-02"})  # fmt: skip
        bad_date = await client.get("/admin/audit", params={"date_from": "12/02/2026"})

    assert by_actor.text.count("<td>handler-b</td>") == 3
    assert "<td>handler-a</td>" not in by_actor.text
    assert by_day.text.count("<td>handler-a</td>") == 24
    assert '<td class="nowrap">2026-12-02 00:00:00</td>' in by_day.text
    assert '<td class="nowrap">2026-12-01 23:00:00</td>' not in by_day.text
    assert "日期格式应为" in bad_date.text


async def test_pages_of_fifty_newest_first(app: FastAPI, db: Database) -> None:
    await _add_entries(db, 60, datetime(2026, 11, 1, tzinfo=UTC), "handler-a")
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        first = await client.get("/admin/audit", params={"actor": "handler-a"})
        start = first.text.index('href="/admin/audit?actor=handler-a&amp;before=')
        link = first.text[start + 6 : first.text.index('"', start + 6)].replace("&amp;", "&")
        second = await client.get(link)

    assert first.text.count("<td>handler-a</td>") == 50
    assert "工单 T059" in first.text  # the newest first
    assert "工单 T010" in first.text
    assert "工单 T009" not in first.text
    assert second.text.count("<td>handler-a</td>") == 10
    assert "工单 T009" in second.text
    assert "下一页" not in second.text
    assert "« 最新" in second.text


async def test_actions_are_named_in_chinese_beside_their_code(app: FastAPI, db: Database) -> None:
    # A step of a ticket, a record updated by an import, an action named by hand, and one the
    # page has no name for (shown as written, never hidden).
    at = datetime(2026, 11, 20, 2, tzinfo=UTC)
    async with db.write() as session:
        for action, target_type in (("ticket.resolve", "ticket"), ("faq.updated", "faq"),
                                    ("campaign.pause", "campaign"), ("ticket.moved", "ticket"),
                                    ("something.new", "gadget")):  # fmt: skip
            session.add(AuditLog(at=at, actor="handler-a", action=action,
                                 target_type=target_type, target_id="X1", detail={}))  # fmt: skip
    async with admin_client(app) as client:
        await sign_in(client, "boss")
        page = await client.get("/admin/audit", params={"actor": "handler-a"})

    assert '<td>工单：办结<br><code class="code">ticket.resolve</code></td>' in page.text
    assert '<td>修改问答<br><code class="code">faq.updated</code></td>' in page.text
    assert '<td>暂停发送<br><code class="code">campaign.pause</code></td>' in page.text
    assert "<td>ticket.moved</td>" in page.text
    assert "<td>something.new</td>" in page.text
    assert "<td>发送批次 X1</td>" in page.text
    assert "<td>gadget X1</td>" in page.text
    # The filter still takes the code; its suggestions carry the names.
    assert '<option value="ticket.resolve">工单：办结</option>' in page.text
