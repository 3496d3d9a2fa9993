"""``GET /api/v1/replies``: the JSON shape, scope by department and district, masking by role."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName
from hub.inbound.accept import accept_reply
from hub.infra.queue import Queue
from hub.store.db import Database
from tests.web.api_support import OPENID, World, api_client, contact_of, seed_world, store_reply

# (sender, enterprise) of the replies every test starts with, oldest first.
JIA, YI, BING = "+8613900000001", "+8613900000002", "+8613900000003"
UNKNOWN = "+8613700000000"


@pytest.fixture
async def world(any_db: Database, clock: FixedClock, tmp_path: Path) -> World:
    """Five replies: 甲机械 (GXJ, 龙沙区), 乙商贸 (SWJ, 建华区), 丙软件 by WeChat (GXJ, 龙沙区),
    an unknown number, and 甲机械 again."""
    world = await seed_world(any_db, clock, tmp_path)
    now = clock.now()
    jia, yi, bing = [await contact_of(any_db, m) for m in (JIA, YI, BING)]
    await store_reply(any_db, now - timedelta(hours=5), sender=JIA, text="5", contact=jia)
    await store_reply(any_db, now - timedelta(hours=4), sender=YI, text="TD", contact=yi)
    await store_reply(any_db, now - timedelta(hours=3), sender=OPENID, text="何时走访？",
                      channel=ChannelName.WECHAT, contact=bing)  # fmt: skip
    await store_reply(any_db, now - timedelta(hours=2), sender=UNKNOWN, text="你好")
    await store_reply(any_db, now - timedelta(hours=1), sender=JIA, text="谢谢", contact=jia)
    return world


async def texts(client: httpx.AsyncClient, world: World, username: str, query: str = "") -> list:
    response = await client.get(f"/api/v1/replies{query}", headers=world.auth(username))
    assert response.status_code == 200, response.text
    return [r["text"] for r in response.json()]


async def test_a_reply_lists_with_its_enterprise_contact_and_local_time(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        response = await client.get("/api/v1/replies?limit=1", headers=world.auth("admin"))

    assert response.status_code == 200
    [reply] = response.json()
    jia = await contact_of(any_db, JIA)
    assert reply == {
        "id": reply["id"], "channel": "sms", "channel_label": "短信", "provider": "sms",
        "sender": JIA, "text": "谢谢", "received_at": "2026-11-23T09:00:00+08:00",
        "enterprise": {"id": world.enterprises["甲机械"], "name": "甲机械",
                       "uscc": reply["enterprise"]["uscc"]},
        "contact": {"id": jia.id, "name": "甲机械联系人1"},
        "in_reply_to": None, "classification": None, "classification_label": None,
        "processed_at": None,
    }  # fmt: skip
    assert len(reply["enterprise"]["uscc"]) == 18


async def test_admin_sees_every_reply_newest_first(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        assert await texts(client, world, "admin") == ["谢谢", "你好", "何时走访？", "TD", "5"]


async def test_a_viewer_of_one_department_does_not_see_another_departments_replies(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        gxj = await texts(client, world, "gxj_viewer")
        swj = await texts(client, world, "swj_handler")
        ids = {r["text"]: r["id"] for r in (await client.get(
            "/api/v1/replies", headers=world.auth("admin"))).json()}  # fmt: skip
        hidden = await client.get(f"/api/v1/replies/{ids['TD']}", headers=world.auth("gxj_viewer"))
        shown = await client.get(f"/api/v1/replies/{ids['TD']}", headers=world.auth("swj_handler"))

    # 制造业 and 软件 route to GXJ, 批发和零售业 to SWJ; the unknown number is nobody's.
    assert gxj == ["谢谢", "何时走访？", "5"]
    assert swj == ["TD"]
    assert hidden.status_code == 404
    assert hidden.json() == {"error": f"没有编号为 {ids['TD']} 的回复", "code": "not_found"}
    assert shown.status_code == 200
    assert shown.json()["enterprise"]["name"] == "乙商贸"


async def test_a_district_limits_what_a_staff_member_sees(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        longsha = await texts(client, world, "longsha_viewer")
        # GXJ's industries are all in 龙沙区 here, so GXJ ∩ 建华区 is empty.
        gxj_jianhua = await texts(client, world, "gxj_jianhua_viewer")

    assert longsha == ["谢谢", "何时走访？", "5"]
    assert gxj_jianhua == []


async def test_unrestricted_staff_also_see_replies_from_unknown_senders(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        office = await texts(client, world, "ysb_dispatcher")
        dispatcher = await texts(client, world, "dispatcher")

    assert "你好" in office
    assert office == dispatcher == ["谢谢", "你好", "何时走访？", "TD", "5"]


@pytest.mark.parametrize(
    ("username", "mobile", "openid"),
    [
        ("admin", JIA, OPENID),
        ("dispatcher", JIA, OPENID),
        ("gxj_head", "+86139****0001", "oTes****cdef"),
        ("gxj_viewer", "+86139****0001", "oTes****cdef"),
    ],
)
async def test_senders_are_masked_except_for_admins_and_dispatchers(
    world: World, any_db: Database, clock: FixedClock, username: str, mobile: str, openid: str
) -> None:
    async with api_client(any_db, clock) as client:
        response = await client.get("/api/v1/replies", headers=world.auth(username))

    senders = {r["channel"]: r["sender"] for r in response.json() if r["text"] != "你好"}
    assert senders == {"sms": mobile, "wechat": openid}
    if mobile != JIA:
        assert JIA not in response.text
        assert OPENID not in response.text


async def test_filters_channel_since_enterprise_and_paging(
    world: World, any_db: Database, clock: FixedClock
) -> None:
    async with api_client(any_db, clock) as client:
        admin = world.auth("admin")
        everything = (await client.get("/api/v1/replies", headers=admin)).json()
        uscc = next(r["enterprise"]["uscc"] for r in everything if r["text"] == "5")
        wechat = await texts(client, world, "admin", "?channel=wechat")
        by_label = await texts(client, world, "admin", "?channel=微信公众号")
        recent = await client.get(
            "/api/v1/replies", params={"since": "2026-11-23T07:30:00+08:00"}, headers=admin
        )
        recent_naive = await texts(client, world, "admin", "?since=2026-11-23T07:30:00")
        of_jia = await texts(client, world, "admin", f"?enterprise={uscc}")
        page = await texts(client, world, "admin", f"?limit=2&before={everything[1]['id']}")
        bad_uscc = await client.get("/api/v1/replies?enterprise=123", headers=admin)

    assert wechat == by_label == ["何时走访？"]
    assert [r["text"] for r in recent.json()] == recent_naive == ["谢谢", "你好"]
    assert of_jia == ["谢谢", "5"]
    assert page == ["何时走访？", "TD"]
    assert bad_uscc.status_code == 422
    assert "统一社会信用代码“123”" in bad_uscc.json()["error"]


async def test_a_reply_taken_in_by_the_inbound_path_is_visible_once(
    world: World,
    any_db: Database,
    clock: FixedClock,
    redis_client: Redis,
    redis_keys: RedisKeys,
) -> None:
    queue = Queue(redis_client, redis_keys, clock=clock)
    await queue.ensure_groups([])
    incoming = InboundReply(provider="tencent", provider_msg_id="tc-1", sender=YI,
                            text="请问补贴何时发放", raw={"mobile": YI})  # fmt: skip
    first = await accept_reply(any_db, queue, clock, ChannelName.SMS, incoming)
    again = await accept_reply(any_db, queue, clock, ChannelName.SMS, incoming)

    async with api_client(any_db, clock) as client:
        response = await client.get(
            "/api/v1/replies?channel=sms", headers=world.auth("swj_handler")
        )
        one = await client.get(f"/api/v1/replies/{first.reply_id}", headers=world.auth("admin"))

    assert again.duplicate
    assert again.reply_id == first.reply_id
    assert [r["text"] for r in response.json()] == ["请问补贴何时发放", "TD"]
    assert response.json()[0]["sender"] == "+86139****0002"
    assert response.json()[0]["enterprise"]["name"] == "乙商贸"
    assert one.json()["provider"] == "tencent"
    assert one.json()["received_at"] == "2026-11-23T10:00:00+08:00"
