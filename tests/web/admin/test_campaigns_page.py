"""Campaigns and messages (``/admin/campaigns``): live counts, pause / resume / cancel through
the forms (the CLI's functions, audit-logged under the staff member), held messages with when
they go, dead letters with their reasons and a retry that queues them again."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import RetryableError
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageStatus
from hub.store.db import Database
from hub.store.models import AuditLog, Campaign, Message
from hub.tickets.staff import StaffRole
from hub.web.admin.campaigns import trigger_label
from tests.pipeline import ScriptedChannel, build, notice, setup, statuses, submit
from tests.seed import seed_registry
from tests.web.admin.admin_support import add_user, admin_app, admin_client, csrf_of, sign_in


async def _post(client: httpx.AsyncClient, path: str) -> httpx.Response:
    page = await client.get("/admin/campaigns")
    return await client.post(path, data={"csrf_token": csrf_of(page.text)})


async def _campaign_status(db: Database, campaign_id: int) -> str:
    async with db.read() as session:
        return str(await session.scalar(sa.select(Campaign.status).where(
            Campaign.id == campaign_id)))  # fmt: skip


async def _audit(db: Database) -> list[tuple[str, str, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(AuditLog.actor, AuditLog.action, AuditLog.target_id)
            .where(AuditLog.target_type.in_(("campaign", "message"))).order_by(AuditLog.id)
        )  # fmt: skip
    return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_pause_resume_and_cancel_through_the_page(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general"))
    campaign_id = outcome.campaign_id
    assert campaign_id is not None
    await add_user(db, clock, "dispatcher", StaffRole.DISPATCHER)
    app = admin_app(db, redis_client, clock, redis_keys)
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        page = await client.get("/admin/campaigns")
        assert page.status_code == 200
        assert f'id="campaign-{campaign_id}"' in page.text
        assert "进行中" in page.text
        assert "<td>命令行</td>" in page.text  # its trigger, "cli", as the page names it
        assert "排队中 3" in page.text
        assert f"/admin/campaigns/{campaign_id}/pause" in page.text

        paused = await _post(client, f"/admin/campaigns/{campaign_id}/pause")
        assert (paused.status_code, paused.headers["location"]) == (303, "/admin/campaigns")
        assert await _campaign_status(db, campaign_id) == "paused"
        live = await client.get("/admin/campaigns/live")
        assert "已暂停" in live.text
        assert "暂缓 3" in live.text
        assert live.text.count("批次恢复后发送") == 3  # the held list says when they go
        assert "暂缓 3 条消息" in (await client.get("/admin/campaigns")).text  # the flash

        resumed = await _post(client, f"/admin/campaigns/{campaign_id}/resume")
        assert resumed.status_code == 303
        assert await _campaign_status(db, campaign_id) == "active"
        assert set((await statuses(db)).values()) == {MessageStatus.QUEUED}

        cancelled = await _post(client, f"/admin/campaigns/{campaign_id}/cancel")
        assert cancelled.status_code == 303
        assert await _campaign_status(db, campaign_id) == "cancelled"
        assert set((await statuses(db)).values()) == {MessageStatus.SKIPPED}
        after = await client.get("/admin/campaigns")
        assert "已取消" in after.text
        assert "未发送 3" in after.text
        assert f"/admin/campaigns/{campaign_id}/resume" not in after.text

        again = await _post(client, f"/admin/campaigns/{campaign_id}/cancel")
        assert again.status_code == 303
        assert "已经取消" in (await client.get("/admin/campaigns")).text  # refused, said why
        forged = await client.post(f"/admin/campaigns/{campaign_id}/pause", data={})
        assert forged.status_code == 403
        unknown = await _post(client, f"/admin/campaigns/{campaign_id}/restart")
        assert unknown.status_code == 404
        assert "没有这个批次操作" in unknown.text
    cid = str(campaign_id)
    assert await _audit(db) == [("dispatcher", "campaign.pause", cid),
                                ("dispatcher", "campaign.resume", cid),
                                ("dispatcher", "campaign.cancel", cid)]  # fmt: skip


async def test_a_dead_letter_is_listed_with_its_reason_and_retried(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    channel = ScriptedChannel([RetryableError, RetryableError])
    hub = build(db, redis_client, redis_keys, clock, channel, max_attempts=2)
    await setup(hub)
    outcome, [message_id] = await submit(hub.outbox, notice("tier=key", channel=ChannelName.SMS))
    campaign_id = outcome.campaign_id
    assert campaign_id is not None
    await hub.dispatcher.run_once("sms")
    clock.advance(timedelta(minutes=10))
    await hub.dispatcher.run_once("sms")
    assert (await statuses(db))[message_id] is MessageStatus.DEAD
    # Its only message has met its fate: the system marked the campaign done.
    assert await _campaign_status(db, campaign_id) == "done"
    await add_user(db, clock, "admin", StaffRole.ADMIN)
    await add_user(db, clock, "viewer", StaffRole.VIEWER)
    app = admin_app(db, redis_client, clock, redis_keys)
    async with admin_client(app) as client:
        await sign_in(client, "admin")
        page = await client.get("/admin/campaigns")
        assert f'id="dead-{message_id}"' in page.text
        assert "已发送 2 次均失败，转入死信" in page.text
        line = page.text.split(f'id="campaign-{campaign_id}"', 1)[1].split("</tr>", 1)[0]
        assert "已完成" in line
        assert "/pause" not in line  # nothing left to stop
        assert "/cancel" not in line
        retried = await _post(client, f"/admin/campaigns/messages/{message_id}/retry")
        assert retried.status_code == 303
        after = await client.get("/admin/campaigns")
        assert f"消息 {message_id} 已重新排队发送" in after.text
        assert f'id="dead-{message_id}"' not in after.text
    async with db.read() as session:
        message = await session.get(Message, message_id)
    assert message is not None
    assert (message.status, message.attempts) == (MessageStatus.QUEUED, 0)
    assert await _campaign_status(db, campaign_id) == "active"  # a message to send again
    assert await hub.queue.list_dead("sms") == []
    assert await hub.dispatcher.run_once("sms") == 1  # back on its stream: sent this time
    assert (await statuses(db))[message_id] is MessageStatus.SENT
    assert await _campaign_status(db, campaign_id) == "done"
    assert await _audit(db) == [("admin", "message.retry", str(message_id))]

    async with admin_client(app) as client:
        await sign_in(client, "viewer")
        assert (await client.get("/admin/campaigns")).status_code == 403
        assert (await client.get("/admin/campaigns/live")).status_code == 403


def test_triggers_are_named_for_the_page() -> None:
    assert trigger_label("cli") == "命令行"
    assert trigger_label("schedule:weekly_notice") == "定时计划 weekly_notice"
    assert trigger_label("program:policy_match") == "程序：政策匹配推送"
    assert trigger_label("api:erp") == "api:erp"  # not known here: as written
