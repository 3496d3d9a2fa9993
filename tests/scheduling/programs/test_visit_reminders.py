"""visit_reminders on the sandbox: the officer's reminders of a confirmed visit (the Friday
afternoon for a Monday visit, the morning of it, each once, again for a moved visit, none for
one not confirmed), each carrying the dossier; and the task to phone an enterprise that did not
answer its proposal.

The sample registry (tests.seed): 甲机械's officer is 李明 (LL001). A FixedClock in 2027, with
the 2027 calendar entered (Monday 5 April, Qingming, a holiday).
"""

from __future__ import annotations

from datetime import date, datetime, time

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import MessageKind, VisitStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.outbound.notify import enterprise_context
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs import visit_reminders as program
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramOutcome,
    ProgramSettings,
)
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.scheduler import HubScheduler
from hub.scheduling.schedules import load_schedule_file
from hub.store.models import Message, Visit
from hub.visits.dossier import build_dossier
from hub.visits.reminders import due_reminders, reminder_variables
from hub.visits.tasks import due_no_answer_tasks, task_variables
from tests.conftest import PROJECT_ROOT
from tests.pipeline import Hub
from tests.visits import dossier_rows as rows

CALENDAR = WorkdayCalendar().with_year(2027, YearDays(holidays=frozenset({date(2027, 4, 5)})))
SETTINGS = ProgramSettings(calendar=CALENDAR)
FRIDAY, MONDAY, TUESDAY = date(2027, 3, 5), date(2027, 3, 8), date(2027, 3, 9)
#: What the Friday reminder must carry of 甲机械's dossier (tests.visits.dossier_rows).
DOSSIER_ITEMS = (
    "【一企一档】甲机械", "联系人：甲机械联系人1，电话13900000001",
    "GD202702150003 厂区用电增容申请（市发展改革委），已超期",
    "GD202703010001 招工补贴申领咨询", "行政处罚（龙沙区市场监督管理局，2027年1月20日）",
    "高新技术企业认定奖励（2027年2月1日推送，已回复）", "稳岗返还（2027年1月10日推送，未回复）",
    "上次走访：2026年12月8日", "厂区用电容量不足，需增容（工单GD202612080002，市发展改革委）",
)  # fmt: skip


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(FRIDAY, 15))


async def fire(hub: Hub, when: datetime) -> ProgramOutcome:
    """The program run as the scheduler runs a fire at ``when`` (the clock set there)."""
    hub.clock.set(when)
    context = ProgramContext(hub.db, hub.outbox, hub.clock, SETTINGS)
    return await program.run(context, ProgramFire(program.NAME, when))


async def bodies(hub: Hub, kind: MessageKind) -> list[str]:
    async with hub.db.read() as session:
        found = await session.scalars(
            sa.select(Message.body).where(Message.kind == kind).order_by(Message.id)
        )
        return list(found)


async def test_a_monday_visit_is_reminded_friday_afternoon_and_monday_morning_once_each(
    hub: Hub,
) -> None:
    await rows.record_of_jia(hub.db, seeded=True)  # its visit is confirmed for Monday 09:30
    assert (await fire(hub, at(FRIDAY, 8))).created == 0
    friday = await fire(hub, at(FRIDAY, 15))
    assert (friday.created, friday.skipped) == (1, 0)
    again = await fire(hub, at(FRIDAY, 15, 30))
    assert (again.created, again.duplicates) == (0, 1)
    monday = await fire(hub, at(MONDAY, 8))
    assert monday.created == 1
    assert (await fire(hub, at(MONDAY, 15))).created == 0  # the visit's time has passed
    before, day = await bodies(hub, MessageKind.VISIT_REMINDER)
    assert before.startswith("【主动服务】李明您好，走访提醒：\n时间：3月8日（周一）上午09:30")
    assert day.startswith("【主动服务】李明您好，今天有走访：\n时间：今天3月8日（周一）上午09:30")
    for expected in DOSSIER_ITEMS:
        assert expected in before, expected
        assert expected in day, expected


async def test_a_visit_moved_to_another_day_is_reminded_again(hub: Hub) -> None:
    await rows.record_of_jia(hub.db, seeded=True)
    assert (await fire(hub, at(FRIDAY, 15))).created == 1
    async with hub.db.write() as session:  # agreed again on the phone: Tuesday afternoon
        await session.execute(
            sa.update(Visit)
            .where(Visit.status == VisitStatus.CONFIRMED)
            .values(proposed_for=at(TUESDAY, 14, 30))
        )
    assert (await fire(hub, at(MONDAY, 8))).created == 0  # no visit on Monday any more
    assert (await fire(hub, at(MONDAY, 15))).created == 1
    assert (await fire(hub, at(TUESDAY, 8))).created == 1
    reminders = await bodies(hub, MessageKind.VISIT_REMINDER)
    assert [b.split("\n")[1] for b in reminders] == [
        "时间：3月8日（周一）上午09:30",
        "时间：明天3月9日（周二）下午14:30",
        "时间：今天3月9日（周二）下午14:30",
    ]


async def test_a_visit_not_confirmed_gets_no_reminder(hub: Hub) -> None:
    ids = await rows.record_of_jia(hub.db, seeded=True)
    async with hub.db.write() as session:
        await session.execute(
            sa.update(Visit)
            .where(Visit.status == VisitStatus.CONFIRMED)
            .values(status=VisitStatus.PROPOSED, proposed_at=at(FRIDAY, 9))
        )
        await rows.visit(session, ids["丙软件"], None, "2027H1", VisitStatus.PLANNED,
                         proposed_for=at(MONDAY, 14, 30))  # fmt: skip
    for when in (at(FRIDAY, 15), at(MONDAY, 8)):
        assert (await fire(hub, when)).created == 0
    assert await bodies(hub, MessageKind.VISIT_REMINDER) == []


async def test_an_unanswered_proposal_becomes_one_task_to_phone_after_three_working_days(
    hub: Hub,
) -> None:
    ids = await rows.record_of_jia(hub.db, seeded=True)
    slots = [at(date(2027, 4, 12), 9, 30).isoformat(), at(date(2027, 4, 13), 14, 30).isoformat()]
    async with hub.db.write() as session:
        visit = await rows.visit(session, ids["甲机械"], None, "2027Q2", VisitStatus.PROPOSED,
                                 proposed_at=at(date(2027, 4, 2), 10), slots=slots)  # fmt: skip
    thursday = date(2027, 4, 8)  # Friday 2 April + 3 working days, the holiday Monday skipped
    assert (await fire(hub, at(date(2027, 4, 7), 15))).created == 0
    assert (await fire(hub, at(thursday, 8))).created == 0
    assert (await fire(hub, at(thursday, 15))).created == 1
    assert (await fire(hub, at(date(2027, 4, 9), 8))).created == 0  # once per round
    [task] = await bodies(hub, MessageKind.OFFICER_TASK)
    async with hub.db.read() as session:
        [due] = await due_no_answer_tasks(session, at(thursday, 15), calendar=CALENDAR,
                                          answer_within=3)  # fmt: skip
        dossier = await build_dossier(session, ids["甲机械"], at(thursday, 15))
    assert set(task_variables(due, dossier, 3)) == program.TASK_VARIABLES
    for expected in (
        "李明您好，联络任务：请电话联系企业确定走访时间", "企业：甲机械（重点类，龙沙区）",
        "缘由：4月2日（周五）发出的走访预约，3个工作日未获答复",
        "联系人：甲机械联系人1，电话13900000001",
        "预约提供过的时间：4月12日（周一）上午9:30、4月13日（周二）下午2:30",
        f"走访 {visit} 改约 4月12日09:30", f'hub visits schedule {visit} --at "2027-04-12 09:30"',
    ):  # fmt: skip
        assert expected in task, expected


async def test_the_wecom_reminder_carries_the_dossier_within_wecoms_size(hub: Hub) -> None:
    """The officer's WeCom text (his first channel) and the SMS fallback, rendered from the
    variables the program gives the notice."""
    ids = await rows.record_of_jia(hub.db, seeded=True)
    now = at(FRIDAY, 15)
    async with hub.db.read() as session:
        [due] = await due_reminders(session, now, calendar=CALENDAR, settings=SETTINGS.visits)
        dossier = await build_dossier(session, ids["甲机械"], now)
        enterprise = await enterprise_context(session, ids["甲机械"])
    values = {**enterprise, **reminder_variables(due, dossier, now), "hub_name": "主动服务",
              "contact": {"name": "李明"}}  # fmt: skip
    assert set(reminder_variables(due, dossier, now)) == program.REMINDER_VARIABLES
    renderer = hub.outbox.planner.renderer
    wecom = renderer.render("visit_reminder", "wecom", values)
    assert wecom.startswith("走访提醒\n时间：3月8日（周一）上午09:30\n标签：")
    for expected in DOSSIER_ITEMS:
        assert expected in wecom, expected
    assert len(wecom.encode()) <= 2048
    sms = renderer.render_message("visit_reminder", "sms", values).template_param()
    assert sms["contact"] == "企业联系人甲机械联系人1，电话13900000001"
    assert (sms["when"], sms["tickets"], sms["overdue"], sms["credit"]) == (
        "3月8日（周一）上午09:30",
        "2",
        "1",
        "1",
    )


async def test_the_shipped_schedule_fires_the_program_at_eight_and_fifteen(
    hub: Hub, redis_client: Redis
) -> None:
    spec = load_schedule_file(PROJECT_ROOT / "schedules" / "visit_reminders.yaml")
    assert (spec.program, spec.cron, spec.workdays_only) == (program.NAME, "0 8,15 * * *", True)
    assert PROGRAMS[program.NAME] is program.PROGRAM
    await rows.record_of_jia(hub.db, seeded=True)
    await sync_schedules(hub.db, [spec], hub.clock, actor="test")
    scheduler = HubScheduler(hub.db, redis_client, hub.keys, hub.outbox, hub.clock,
                             programs=SETTINGS)  # fmt: skip
    run = await scheduler.fire(spec.name, at(FRIDAY, 15))
    assert run.messages_created == 1
