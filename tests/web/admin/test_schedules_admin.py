"""Schedules in the admin (``/admin/schedules``): create from a preset and see the next five fire
times (a working-day schedule skips a 2027 holiday), errors in Chinese naming the field with
nothing saved, a dry run that counts and sends nothing, a run through the scheduler that creates
the campaign and shows in the history, CSRF on every form, read-only roles."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.scheduling.programs.base import ProgramContext, ProgramSettings
from hub.scheduling.schedule_store import stored_schedules
from hub.store.db import Database
from hub.store.models import AuditLog, Campaign, Message, ScheduleRun
from hub.tickets.deadlines.admin_calendar import enter_year
from hub.tickets.staff import StaffRole
from hub.web.app import create_app
from tests.pipeline import build, setup
from tests.seed import seed_registry
from tests.web.admin.admin_support import add_user, admin_client, csrf_of, sign_in

#: Thursday 2026-12-31 10:00 in Shanghai; 2027-01-01 (Friday) is entered as a holiday.
NOW = datetime(2026, 12, 31, 2, 0, tzinfo=UTC)
NEW_YEAR = YearDays(holidays=frozenset({date(2027, 1, 1)}))
FORM = {
    "name": "general_notice", "description": "一般企业通知", "preset": "workdays", "at": "09:00",
    "weekday": "mon", "monthday": "1", "cron": "", "timezone": "Asia/Shanghai",
    "program": "campaign", "kind": "notice", "audience": "tier=general",
    "variables": "text: 请于月底前完成年报公示", "catch_up_grace": "6h", "enabled": "1",
}  # fmt: skip
WEEKLY = FORM | {"preset": "weekly", "weekday": "wed", "at": "08:30"}


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> FastAPI:
    """The hub's app with an outbox (sending to the sandbox) and 2027's New Year's Day off."""
    clock.set(NOW)
    await seed_registry(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    settings = ProgramSettings(calendar=WorkdayCalendar().with_year(2027, NEW_YEAR))
    programs = ProgramContext(db, hub.outbox, clock, settings)
    for username, role in (("dispatcher", StaffRole.DISPATCHER), ("viewer", StaffRole.VIEWER)):
        await add_user(db, clock, username, role)
    return create_app(db, redis_client, metrics=CollectorRegistry(), clock=clock, keys=redis_keys,
                      programs=programs)  # fmt: skip


async def _post(client: httpx.AsyncClient, path: str, form: dict[str, str]) -> httpx.Response:
    """A form as the page sends it: with the session's CSRF token (the list page's)."""
    page = await client.get("/admin/schedules")
    return await client.post(path, data={"csrf_token": csrf_of(page.text), **form})


async def _create(client: httpx.AsyncClient, **changes: str) -> httpx.Response:
    return await _post(client, "/admin/schedules", FORM | changes)


async def _count(db: Database, model: Any) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def _audit_actions(db: Database) -> list[tuple[str, str]]:
    async with db.read() as session:
        rows = await session.execute(sa.select(AuditLog.actor, AuditLog.action)
                                     .where(AuditLog.target_type == "schedule")
                                     .order_by(AuditLog.id))  # fmt: skip
    return [(actor, action) for actor, action in rows]


async def test_a_preset_schedule_shows_its_next_five_fires_skipping_a_holiday(
    app: FastAPI, db: Database
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        created = await _create(client)
        assert (created.status_code, created.headers["location"]) == (
            303, "/admin/schedules/general_notice")  # fmt: skip
        page = await client.get("/admin/schedules/general_notice")
    assert page.status_code == 200
    assert "已新建定时计划 general_notice（版本 1）" in page.text
    assert "<code>0 9 * * mon-fri</code>" in page.text
    fires = re.findall(r'<li class="fire">([^<]+)</li>', page.text)
    # Friday 1 January 2027 is a holiday: the first fire that sends is Monday the 4th.
    assert fires == [
        f"2027-01-0{d} 09:00（周{w}）" for d, w in zip("45678", "一二三四五", strict=True)
    ]
    assert "休息日不发送（消息顺延到下一工作日上午）：2027-01-01" in page.text
    assert '匹配企业 <strong id="audience-count">' in page.text
    [stored] = await stored_schedules(db, ["general_notice"])
    assert (stored.version, stored.spec.workdays_only, dict(stored.spec.variables)) == (
        1, True, {"text": "请于月底前完成年报公示"})  # fmt: skip
    assert await _audit_actions(db) == [("dispatcher", "schedule.create")]


async def test_the_fires_skip_the_days_off_admins_entered_in_the_database(
    app: FastAPI, db: Database, clock: FixedClock
) -> None:
    # Entered with `hub calendar` (the table the scheduler reads at a fire): 4 January off too.
    async with db.write() as session:
        await enter_year(session, 2027, holidays=[date(2027, 1, 1), date(2027, 1, 4)],
                         workdays=[], actor="test", now=clock.now())  # fmt: skip
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        await _create(client)
        page = await client.get("/admin/schedules/general_notice")
    fires = re.findall(r'<li class="fire">([^<]+)</li>', page.text)
    assert [f[:10] for f in fires] == [
        "2027-01-05", "2027-01-06", "2027-01-07", "2027-01-08", "2027-01-11"]  # fmt: skip
    assert "休息日不发送（消息顺延到下一工作日上午）：2027-01-01、2027-01-04" in page.text


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"preset": "custom", "cron": "0 9 * * 1"}, "触发时间（cron）：星期字段“1”不能写数字"),
        ({"preset": "custom", "cron": "0 9 * *"}, "触发时间（cron）：应有 5 个字段"),
        ({"program": "no_such"}, "程序：未知的程序 no_such"),
        ({"audience": "tier=huge"}, "受众："),
        ({"preset": "daily", "at": "25:00"}, "触发时间：时刻“25:00”应写作 时:分"),
        ({"variables": ""}, "消息类型：消息类型 notice 的模板需要变量 text"),
    ],
)
async def test_a_bad_form_names_the_field_in_chinese_and_saves_nothing(
    app: FastAPI, db: Database, changes: dict[str, str], message: str
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        refused = await _create(client, **changes)
    assert refused.status_code == 400
    assert message in refused.text
    assert 'id="form-errors"' in refused.text
    assert f'value="{FORM["description"]}"' in refused.text  # the form kept what was typed
    assert await stored_schedules(db) == []
    assert await _audit_actions(db) == []


async def test_dry_run_counts_and_sends_nothing_then_run_makes_the_campaign_and_history(
    app: FastAPI, db: Database
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        await _create(client)
        dry = await _post(client, "/admin/schedules/general_notice/dry-run", {})
        assert dry.status_code == 200
        # Two enterprises, one with two contacts: three messages, all to the sandbox.
        counted = "企业 <strong>2</strong> 家，消息 <strong>3</strong> 条，沙箱 3 条"
        assert f"预演（触发时间 2026-12-31 10:00）：{counted}" in dry.text
        assert "未发送任何消息" in dry.text
        assert "确认执行" in dry.text
        assert (await _count(db, Campaign), await _count(db, Message)) == (0, 0)
        assert await _count(db, ScheduleRun) == 0

        ran = await _post(client, "/admin/schedules/general_notice/run", {})
        assert ran.status_code == 303
        async with db.read() as session:
            campaign = (await session.scalars(sa.select(Campaign))).one()
            run = (await session.scalars(sa.select(ScheduleRun))).one()
        assert campaign.trigger == "schedule:general_notice"
        assert (run.status, run.campaign_id) == ("done", campaign.id)
        assert await _count(db, Message) == 3
        page = await client.get("/admin/schedules/general_notice")
        assert f"已执行 general_notice @ 2026-12-31 10:00：批次 #{campaign.id}" in page.text
        history = page.text.split('id="history"', 1)[1]
        assert "2026-12-31 10:00" in history
        assert "已完成" in history
        assert f"#{campaign.id}</a>" in history
        assert "新建 3 条" in history

        again = await _post(client, "/admin/schedules/general_notice/run", {})
        assert again.status_code == 303
        page = await client.get("/admin/schedules/general_notice")
        assert "这一次已执行过（已完成），未重复发送" in page.text
        listed = await client.get("/admin/schedules")
    assert await _count(db, Message) == 3
    assert 'id="schedule-general_notice"' in listed.text
    assert "2026-12-31 10:00（已完成）" in listed.text
    # The run's entry was written with its claim; the repeat changed nothing and wrote none.
    assert await _audit_actions(db) == [("dispatcher", "schedule.create"),
                                        ("dispatcher", "schedule.run")]  # fmt: skip
    async with db.read() as session:
        entry = (await session.scalars(
            sa.select(AuditLog).where(AuditLog.action == "schedule.run"))).one()  # fmt: skip
    assert entry.detail == {"fire_time": "2026-12-31 10:00", "run_id": run.id}


async def test_a_seed_program_dry_run_counts_its_audience_and_sends_nothing(
    app: FastAPI, db: Database
) -> None:
    seed = FORM | {"name": "reminders", "program": "procedure_reminders", "kind": "",
                   "audience": "all", "variables": 'licence_days: "60,30,7"'}  # fmt: skip
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        created = await _post(client, "/admin/schedules", seed)
        assert created.status_code == 303, created.text
        dry = await _post(client, "/admin/schedules/reminders/dry-run", {})
        listed = await client.get("/admin/schedules")
    assert "企业 <strong>5</strong> 家。未发送任何消息" in dry.text  # all the seeded ones
    assert "程序“办事提醒”执行时逐家判断要发什么" in dry.text
    # The program by its Chinese name beside the name a schedule file uses.
    assert "<dt>程序</dt><dd>办事提醒（procedure_reminders）</dd>" in dry.text
    assert '<option value="campaign">群发（campaign）</option>' in dry.text
    assert '<td>办事提醒<br><code class="code">procedure_reminders</code></td>' in listed.text
    [stored] = await stored_schedules(db, ["reminders"])
    assert stored.spec.kind.value == "procedure_reminder"  # the program's default kind
    assert (await _count(db, Campaign), await _count(db, ScheduleRun)) == (0, 0)


async def test_save_makes_a_new_version_and_switching_off_is_audited(
    app: FastAPI, db: Database
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        await _create(client)
        saved = await _post(client, "/admin/schedules/general_notice",
                            WEEKLY)  # fmt: skip
        assert saved.status_code == 303
        page = await client.get("/admin/schedules/general_notice")
        assert "已保存为版本 2" in page.text
        assert "<code>30 8 * * wed</code>" in page.text
        # The editor reads the stored cron back as its preset.
        assert '<option value="weekly" selected>' in page.text
        assert '<option value="wed" selected>' in page.text
        assert 'name="at" value="08:30"' in page.text
        same = await _post(client, "/admin/schedules/general_notice",
                           WEEKLY)  # fmt: skip
        assert same.status_code == 303
        assert "内容未变，未建新版本" in (await client.get("/admin/schedules/general_notice")).text
        off = await _post(client, "/admin/schedules/general_notice/enabled", {"enabled": "0"})
        assert off.status_code == 303
    [stored] = await stored_schedules(db, ["general_notice"])
    assert (stored.version, stored.spec.cron, stored.spec.enabled) == (2, "30 8 * * wed", False)
    assert [a for _, a in await _audit_actions(db)] == [
        "schedule.create", "schedule.save", "schedule.disable"]  # fmt: skip


async def test_the_audience_fragment_counts_and_samples(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "viewer")
        found = await client.get("/admin/schedules/audience", params={"audience": "tier=general"})
        bad = await client.get("/admin/schedules/audience", params={"audience": "size=big"})
    assert found.status_code == 200
    assert '<strong id="audience-count">2</strong> 家，例如：丙软件、乙商贸' in found.text
    assert "受众：" in bad.text
    assert "未知字段 size" in bad.text


async def test_forms_need_their_csrf_token(app: FastAPI, db: Database) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        await _create(client)
        forged_run = await client.post("/admin/schedules/general_notice/run", data={})
        forged_new = await client.post("/admin/schedules", data=FORM | {"name": "forged"})
    assert (forged_run.status_code, forged_new.status_code) == (403, 403)
    assert "安全校验未通过" in forged_run.text
    assert await _count(db, ScheduleRun) == 0
    assert [s.spec.name for s in await stored_schedules(db)] == ["general_notice"]


async def test_a_viewer_reads_and_is_told_why_it_cannot_run(app: FastAPI, db: Database) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        await _create(client)
    async with admin_client(app) as client:
        await sign_in(client, "viewer")
        page = await client.get("/admin/schedules/general_notice")
        assert page.status_code == 200
        assert "您的角色（查看者）只能查看定时计划" in page.text
        assert "/run" not in page.text
        assert 'id="editor"' not in page.text
        token = csrf_of(page.text)  # the sign-out form's: a valid token, the wrong role
        ran = await client.post("/admin/schedules/general_notice/run", data={"csrf_token": token})
        new = await client.get("/admin/schedules/new")
    assert (ran.status_code, new.status_code) == (403, 403)
    assert await _count(db, ScheduleRun) == 0
