"""``GET /api/v1/messages``: status codes with Chinese labels, filters, scope, masking by role."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from hub.core.clock import FixedClock
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.store.db import Database
from hub.store.models import Campaign
from tests.web.api_support import OPENID, World, api_client, contact_of, seed_world, store_message

JIA, YI, BING = "+8613900000001", "+8613900000002", "+8613900000003"


@pytest.fixture
async def world(any_db: Database, clock: FixedClock, tmp_path: Path) -> World:
    """Messages m1 (甲机械, sent, campaign), m2 (乙商贸, failed), m3 (丙软件 by WeChat, queued)."""
    world = await seed_world(any_db, clock, tmp_path)
    now = clock.now()
    async with any_db.write() as session:
        campaign = Campaign(kind=MessageKind.NOTICE, trigger="cli", trigger_key="k",
                            audience="all", status="active", created_by="test",
                            created_at=now, updated_at=now)  # fmt: skip
        session.add(campaign)
        await session.flush()
        campaign_id = campaign.id
    jia, yi, bing = [await contact_of(any_db, m) for m in (JIA, YI, BING)]
    at = now - timedelta(hours=2)
    await store_message(any_db, at, jia, key="m1", campaign_id=campaign_id)
    await store_message(any_db, at, yi, key="m2", status=MessageStatus.FAILED)
    await store_message(any_db, at, bing, key="m3", channel=ChannelName.WECHAT, address=OPENID,
                        status=MessageStatus.QUEUED)  # fmt: skip
    return world


async def listed(
    client: httpx.AsyncClient, world: World, username: str, query: str = ""
) -> list[dict]:
    response = await client.get(f"/api/v1/messages{query}", headers=world.auth(username))
    assert response.status_code == 200, response.text
    return list(response.json())


async def test_a_message_lists_with_status_code_and_label(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        [message] = await listed(client, world, "admin", "?status=sent")

    jia = await contact_of(any_db, JIA)
    assert message == {
        "id": message["id"], "campaign_id": message["campaign_id"], "kind": "notice",
        "kind_label": "通知", "channel": "sms", "channel_label": "短信", "address": JIA,
        "status": "sent", "status_label": "已发送", "reason": None,
        "enterprise": {"id": world.enterprises["甲机械"], "name": "甲机械",
                       "uscc": message["enterprise"]["uscc"]},
        "contact": {"id": jia.id, "name": "甲机械联系人1"},
        "body": "请于本月底前完成年报公示", "attempts": 1, "provider_message_id": None,
        "created_at": "2026-11-23T08:00:00+08:00", "sent_at": "2026-11-23T08:00:01+08:00",
        "delivered_at": None,
    }  # fmt: skip
    assert message["campaign_id"] is not None


async def test_filters_by_status_label_channel_and_campaign(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        everything = await listed(client, world, "admin")
        failed = await listed(client, world, "admin", "?status=失败")
        wechat = await listed(client, world, "admin", "?channel=wechat")
        campaign_id = next(m["campaign_id"] for m in everything if m["campaign_id"])
        of_campaign = await listed(client, world, "admin", f"?campaign={campaign_id}")
        one = await client.get(f"/api/v1/messages/{wechat[0]['id']}", headers=world.auth("admin"))
        bad = await client.get("/api/v1/messages?status=lost", headers=world.auth("admin"))

    assert [m["enterprise"]["name"] for m in everything] == ["丙软件", "乙商贸", "甲机械"]
    assert [(m["status"], m["status_label"]) for m in failed] == [("failed", "失败")]
    assert [(m["status"], m["status_label"]) for m in wechat] == [("queued", "排队中")]
    assert [m["enterprise"]["name"] for m in of_campaign] == ["甲机械"]
    assert one.json()["address"] == OPENID
    assert bad.status_code == 422
    assert "参数 status 的值“lost”无效" in bad.json()["error"]


async def test_a_department_sees_only_messages_to_its_industries(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        gxj = await listed(client, world, "gxj_head")
        swj = await listed(client, world, "swj_handler")
        hidden = await client.get(
            f"/api/v1/messages/{swj[0]['id']}", headers=world.auth("gxj_head")
        )

    assert [m["enterprise"]["name"] for m in gxj] == ["丙软件", "甲机械"]
    assert [m["enterprise"]["name"] for m in swj] == ["乙商贸"]
    assert hidden.status_code == 404
    assert hidden.json()["code"] == "not_found"


@pytest.mark.parametrize(
    ("username", "mobile", "openid"),
    [
        ("admin", JIA, OPENID),
        ("dispatcher", JIA, OPENID),
        ("gxj_head", "+86139****0001", "oTes****cdef"),
        ("longsha_viewer", "+86139****0001", "oTes****cdef"),
    ],
)
async def test_addresses_are_masked_except_for_admins_and_dispatchers(
    world: World, any_db: Database, clock: FixedClock, username: str, mobile: str, openid: str
) -> None:
    async with api_client(any_db, clock) as client:
        messages = await listed(client, world, username)

    addresses = {m["enterprise"]["name"]: m["address"] for m in messages}
    assert addresses["甲机械"] == mobile
    assert addresses["丙软件"] == openid
