"""key_contact: from the first working day on or after the 20th, each officer with key
enterprises not contacted this month gets one officer_task listing only those, once a month.

March 2027: the 20th is a Saturday, so the tasks go on Monday 22 March. 李明 (LL001) has 甲
(phoned 3 March), 乙 (visited in February only), 丙 (replied on Sunday 21 March) and 戊 (never
contacted); 张丽娟 (LL002) has 丁 (visited 5 March) and 己 (general: no monthly contact); 庚
has no officer.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, Tier, VisitStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.outbound.notify import enterprise_context
from hub.scheduling.programs import key_contact as program
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    ProgramSettings,
    day_off_hold,
    officer_notice_key,
)
from hub.store.db import Database
from hub.store.models import Enterprise, Message, Officer
from hub.visits.contact import ContactCoverage
from hub.visits.periods import parse_period
from tests.pipeline import Hub, build, setup
from tests.seed import SeedEnterprise, seed_registry
from tests.visits.contact_rows import add_contact, add_reply, add_visit, local

REGISTRY = (
    SeedEnterprise("甲重点", Tier.KEY, "制造业", "龙沙区", officer="LL001"),
    SeedEnterprise("乙重点", Tier.KEY, "制造业", "建华区", officer="LL001"),
    SeedEnterprise("丙重点", Tier.KEY, "制造业", "龙沙区", officer="LL001"),
    SeedEnterprise("丁重点", Tier.KEY, "制造业", "铁锋区", officer="LL002"),
    SeedEnterprise("戊重点", Tier.KEY, "建筑业", "龙沙区", officer="LL001", mobiles=()),
    SeedEnterprise("己一般", Tier.GENERAL, "批发和零售业", "铁锋区", officer="LL002"),
    SeedEnterprise("庚重点", Tier.KEY, "制造业", "铁锋区"),
)
QINGMING = frozenset({date(2027, 4, 3), date(2027, 4, 4), date(2027, 4, 5)})
CALENDAR = WorkdayCalendar(warn=lambda _year: None).with_year(
    2027, YearDays(holidays=QINGMING, workdays=frozenset())
)


@pytest.fixture
async def hub(db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock) -> Hub:
    ids = await seed_registry(db, REGISTRY)
    await add_contact(db, ids["甲重点"], local(date(2027, 3, 3)))
    await add_visit(db, ids["乙重点"], "2027Q1", status=VisitStatus.DONE,
                    visited_at=local(date(2027, 2, 10)))  # fmt: skip
    await add_reply(db, ids["丙重点"], local(date(2027, 3, 21), 11))
    await add_visit(db, ids["丁重点"], "2027Q1", status=VisitStatus.DONE,
                    visited_at=local(date(2027, 3, 5)))  # fmt: skip
    pipeline = build(db, redis_client, redis_keys, clock)
    await setup(pipeline)
    return pipeline


async def fire(hub: Hub, day: date, *, hold_days_off: bool = False) -> ProgramOutcome:
    at = datetime.combine(day, time(8, 30), tzinfo=SHANGHAI)
    hub.clock.set(at)
    settings = ProgramSettings(calendar=CALENDAR)
    hold = day_off_hold(settings, at) if hold_days_off else None
    ctx = ProgramContext(hub.db, hub.outbox, hub.clock, settings, hold)
    return await program.run(ctx, ProgramFire(schedule="key_contact", fire_time=at))


async def tasks(hub: Hub) -> list[tuple[str, date, str]]:
    """(officer code, local day created, body) of each officer_task, the officer found by the
    key his notice of the month's item is stored under (officers here share a mobile)."""
    async with hub.db.read() as session:
        officers = dict((await session.execute(sa.select(Officer.id, Officer.code))).all())
        rows = await session.execute(
            sa.select(Message.idempotency_key, Message.created_at, Message.body)
            .where(Message.kind == MessageKind.OFFICER_TASK)
            .order_by(Message.id)
        )
        found = rows.all()
    keys = {
        officer_notice_key(ProgramItem(program.NAME, program.KIND, f"key-contact:{m}"), i): code
        for m in ("2027-03", "2027-04")
        for i, code in officers.items()
    }
    return [(keys[k], at.astimezone(SHANGHAI).date(), b) for k, at, b in found]


def test_the_day_is_the_first_working_day_on_or_after_the_setting() -> None:
    assert program.contact_day(parse_period("2027-03"), 20, CALENDAR) == date(2027, 3, 22)
    assert program.contact_day(parse_period("2027-04"), 20, CALENDAR) == date(2027, 4, 20)
    assert program.contact_day(parse_period("2027-04"), 3, CALENDAR) == date(2027, 4, 6)


async def test_one_task_per_officer_per_month_listing_only_the_uncontacted(hub: Hub) -> None:
    day = date(2027, 3, 1)
    while day <= date(2027, 3, 31):
        outcome = await fire(hub, day, hold_days_off=True)
        if day < date(2027, 3, 22):
            assert (outcome.items, outcome.not_sent) == (0, {program.BEFORE_DAY: 1}), day
        elif day == date(2027, 3, 22):
            assert (outcome.items, outcome.created) == (1, 1)  # 李明 only: 丁 was visited
            assert outcome.not_sent == {program.NO_OFFICER: 1}  # 庚重点
        else:
            assert (outcome.created, outcome.duplicates) == (0, 1), day
        day += timedelta(days=1)
    found = await tasks(hub)
    assert [(code, on) for code, on, _ in found] == [("LL001", date(2027, 3, 22))]
    body = found[0][2]
    assert "乙重点" in body
    assert "戊重点" in body
    for contacted in ("甲重点", "丙重点", "丁重点", "己一般", "庚重点"):
        assert contacted not in body


async def test_the_task_names_whom_to_call_and_the_last_contact(hub: Hub) -> None:
    await fire(hub, date(2027, 3, 22))
    ((_, _, body),) = await tasks(hub)
    async with hub.db.read() as session:
        uscc = dict((await session.execute(sa.select(Enterprise.name, Enterprise.uscc))).all())
    assert "李明您好，联络任务：请联系本月尚未联系的重点企业" in body
    assert "缘由：本月（3月）尚无联系记录，已过每月20日" in body
    assert "截至3月22日本月尚未联系的重点企业（2家）" in body
    yi, wu = uscc["乙重点"], uscc["戊重点"]
    assert (
        f"1. 乙重点（{yi}，建华区）联系人：乙重点联系人1 13900000000；最近联系：2月10日走访" in body
    )
    assert f"2. 戊重点（{wu}，龙沙区）联系人：未登记；最近联系：无联系记录" in body
    assert "企业：" not in body  # the one-enterprise lines are not filled with blanks
    assert "企业微信回复“联系 统一社会信用代码 电话 内容”" in body


async def test_the_officer_sms_names_the_enterprises_within_35_characters(hub: Hub) -> None:
    names = ["龙沙区精密机械制造有限公司", "建华区新材料科技有限公司", "铁锋区食品加工有限公司"]
    uncontacted = [
        ContactCoverage(n, name, f"9123{n:014d}", "key", "", 1, False, (), None, "")
        for n, name in enumerate(names, start=1)
    ]
    variables = program.task_variables(
        parse_period("2027-03"), 20, uncontacted, {}, date(2027, 3, 22), SHANGHAI
    )
    async with hub.db.read() as session:
        blanks = await enterprise_context(session, None)
    rendered = hub.outbox.planner.renderer.render_message(
        "officer_task", "sms",
        {**blanks, **variables, "hub_name": "主动服务", "contact": {"name": "李明"}},
    )  # fmt: skip
    params = rendered.template_param()
    assert params["company"].startswith("龙沙区精密机械制造有限公司、建华区")
    assert params["company"].endswith("…等3家重点企业")
    assert len(params["company"]) <= 35
    assert params["reason"] == "本月（3月）尚无联系记录，已过每月20日"
    assert params["task"] == "请联系本月尚未联系的重点企业"


async def test_nothing_goes_to_an_officer_whose_key_enterprises_are_all_contacted(
    hub: Hub,
) -> None:
    async with hub.db.read() as session:
        ids = dict((await session.execute(sa.text("SELECT name, id FROM enterprise"))).all())
    for name in ("乙重点", "戊重点"):
        await add_contact(hub.db, ids[name], local(date(2027, 3, 19)))
    outcome = await fire(hub, date(2027, 3, 22))
    assert outcome.created == 0
    assert outcome.not_sent[program.ALL_CONTACTED] == 1
    assert await tasks(hub) == []
    # April: nobody contacted yet by the 20th, a task to each officer with key enterprises
    april = await fire(hub, date(2027, 4, 20))
    assert april.created == 2
    assert sorted(code for code, _, _ in await tasks(hub)) == ["LL001", "LL002"]
