"""What a provider's answer leads to beyond sent / retry / fail, and what planning stores.

Opted out at the provider → an opt-out on record and the next channel; a refused template or
signature → failed and one admin alert; "not now" → held until the provider's time, then sent.
Planning stores the provider parameters of the rendered template (SMS values in declared
order, provider template ids) for the primary channel and for each fallback, and one
recipient's data a template cannot take is recorded as skipped while the rest go out.
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import HoldError, OptedOutError, ProviderConfigError
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.alerts import list_alerts
from hub.outbound.audience import parse_audience
from hub.outbound.outbox import SendRequest, release_held
from hub.outbound.settings import RoutingSettings
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import ContactOptOut, Message
from tests.pipeline import TEMPLATES, ScriptedChannel, build, notice, queued_ids, setup, statuses
from tests.seed import seed_registry

SMS_THEN_SANDBOX = RoutingSettings(chains={"default": ("sms", "sandbox")})


async def _message(db: Database, message_id: int) -> Message:
    async with db.read() as session:
        found = await session.get(Message, message_id)
    assert found is not None
    return found


async def test_opted_out_at_the_provider_records_the_opt_out_and_falls_back(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock, ScriptedChannel([OptedOutError]),
                routing=SMS_THEN_SANDBOX)  # fmt: skip
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key"))

    await hub.dispatcher.run_once("sms")
    message = await _message(db, message_id)
    assert message.channel is ChannelName.SANDBOX
    assert message.status is MessageStatus.QUEUED
    async with db.read() as session:
        opt_outs = (await session.execute(sa.select(ContactOptOut))).scalars().all()
    assert [(o.contact_id, o.channel, o.source) for o in opt_outs] == [
        (message.contact_id, ChannelName.SMS, "provider:scripted")
    ]
    # The next trigger does not try SMS for that contact again.
    planned = await hub.outbox.plan(notice("tier=key"))
    assert [p.channel for p in planned] == [ChannelName.SANDBOX]


async def test_a_refused_template_fails_and_raises_one_admin_alert(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    sms = ScriptedChannel([ProviderConfigError, ProviderConfigError, ProviderConfigError])
    hub = build(db, redis_client, redis_keys, clock, sms)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general", channel=ChannelName.SMS))
    assert outcome.queued == 3

    await hub.dispatcher.run_once("sms")
    assert set((await statuses(db)).values()) == {MessageStatus.FAILED}
    alerts = await list_alerts(db)
    assert [(a["source"], a["code"]) for a in alerts] == [("scripted", "E1")]
    # The same refusal an hour later is a new alert; within the hour it is not repeated.
    clock.advance(timedelta(minutes=30))
    await hub.outbox.submit(notice("tier=key", channel=ChannelName.SMS))
    await hub.dispatcher.run_once("sms")
    assert len(await list_alerts(db)) == 1


async def test_provider_not_now_holds_until_its_time_then_sends(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock, ScriptedChannel([HoldError]))
    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, notice("tier=key", channel=ChannelName.SMS))

    await hub.dispatcher.run_once("sms")
    held = await _message(db, message_id)
    assert held.status is MessageStatus.HELD
    assert held.status_reason is not None
    assert held.status_reason.startswith("服务商暂不允许发送")
    assert held.attempts == 0  # a hold is not a failed attempt

    assert await release_held(db, hub.queue, clock) == 0
    clock.advance(timedelta(hours=1, seconds=1))
    assert await release_held(db, hub.queue, clock) == 1
    await hub.dispatcher.run_once("sms")
    assert (await _message(db, message_id)).status is MessageStatus.SENT


async def test_planning_stores_sms_parameters_for_the_primary_channel_and_the_fallback(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    await seed_registry(db)
    routing = RoutingSettings(chains={"default": ("sandbox", "sms")})
    hub = build(db, redis_client, redis_keys, clock, ScriptedChannel([]), routing=routing)
    request = SendRequest(
        kind=MessageKind.CREDIT_WARNING,
        audience=parse_audience("tier=key"),
        variables={"risk_item": "未按期公示2025年度年报", "found_on": "2026年11月20日"},
    )
    [planned] = await hub.outbox.plan(request)
    sms = planned.fallbacks[0]
    assert sms["channel"] == "sms"
    assert sms["params"]["template_ids"] == {"tencent": "1000122", "aliyun": "SMS_000000122"}
    assert sms["params"]["names"] == [
        "company", "item", "authority", "date", "state", "help"
    ]  # fmt: skip
    assert sms["params"]["values"] == [
        "甲机械",
        "未按期公示2025年度年报",
        "有关部门",  # no authority given
        "2026年11月20日",
        "，请尽快整改并申请信用修复",
        "如需协助请联系联络员李明，电话13845200001",
    ]

    await setup(hub)
    [message_id] = await queued_ids(hub.outbox, request)
    stored = await _message(db, message_id)
    assert stored.params["fallbacks"][0]["params"] == sms["params"]
    assert stored.template_version_id is None  # rendered from the files, not a DB version


async def test_a_recipient_the_template_cannot_render_is_skipped_and_the_rest_go_out(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock, tmp_path: Path
) -> None:
    await seed_registry(db)
    folder = tmp_path / "templates"
    shutil.copytree(TEMPLATES / "notice", folder / "notice")
    # Enterprises without tags make tags[0] fail: their data, not the template, is the problem.
    (folder / "notice" / "default.j2").write_text(
        "{{ enterprise.name }}（{{ enterprise.tags[0] }}）：{{ text }}", encoding="utf-8"
    )
    hub = build(db, redis_client, redis_keys, clock)
    hub.outbox.planner.renderer.use(TemplateRenderer(folder).catalog)
    await setup(hub)
    outcome = await hub.outbox.submit(notice("tier=general|ordinary"))

    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.status, Message.status_reason, Message.body).order_by(Message.id)
            )
        ).all()
    skipped = [reason for status, reason, _ in rows if status is MessageStatus.SKIPPED]
    assert outcome.queued == 3  # 乙商贸's two contacts and 丙软件's one
    assert "乙商贸（小微企业）：请于月底前完成年报公示" in [body for _, _, body in rows]
    assert len(skipped) == 2  # 丁餐饮 has no contact; 戊建筑 has no tag
    assert "企业没有联系人" in skipped
    assert any(r and r.startswith("模板渲染失败") for r in skipped)
