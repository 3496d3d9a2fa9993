"""The program base: schedules name programs from the table, fires run them, days off hold.

Time is a FixedClock; the day off is an admin-entered holiday (Tuesday 2026-12-01), so the test
does not depend on chinese-calendar's data or on the hour it runs.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.errors import ConfigError
from hub.core.vocab import MessageKind, MessageStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.outbound.outbox import release_held
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    ProgramSettings,
    send_item,
)
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.scheduler import HubScheduler
from hub.scheduling.schedules import parse_spec, program_label
from hub.store.db import Database
from hub.store.models import Message, ScheduleRun, WorkdayOverride
from tests.importing.factories import make_uscc
from tests.pipeline import Hub

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOLIDAY = date(2026, 12, 1)  # a Tuesday, entered as a holiday below
SETTINGS = ProgramSettings(
    calendar=WorkdayCalendar({2026: YearDays(holidays=frozenset({HOLIDAY}))})
)


async def probe(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """A program with one item per fire day, to 甲机械 (the first seeded enterprise)."""
    outcome = ProgramOutcome()
    day = fire.fire_time.astimezone(SHANGHAI).date()
    item = ProgramItem("probe", MessageKind.NOTICE, f"probe:{day}", {"text": f"{day} 的事项"})
    sent = await send_item(ctx, item, uscc=make_uscc(1))
    outcome.add(sent)
    return outcome


@pytest.fixture
def _probe_program(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(
        PROGRAMS, "probe", Program(run=probe, label="探针", kinds=(MessageKind.NOTICE,))
    )


async def store(hub: Hub, **data: object) -> None:
    spec = parse_spec({"cron": "0 9 * * *", **data}, default_name="probe", file="test")
    await sync_schedules(hub.db, [spec], hub.clock, actor="test")


async def messages(db: Database) -> list[tuple[MessageStatus, datetime | None]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(Message.status, Message.next_attempt_at).order_by(Message.id)
        )
        return [(status, at) for status, at in rows.all()]


def test_a_schedule_naming_an_unknown_program_is_refused_in_chinese() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_spec({"cron": "0 9 * * *", "program": "credit_wraning"}, default_name="x", file="f")
    assert caught.value.key == "program"
    assert "未知的程序 credit_wraning" in str(caught.value)
    assert "campaign" in str(caught.value)


@pytest.mark.usefixtures("_probe_program")
def test_workdays_only_defaults_true_for_programs_and_false_for_campaign() -> None:
    program = parse_spec({"cron": "0 9 * * *", "program": "probe"}, default_name="p", file="f")
    assert program.workdays_only
    assert program.kind is MessageKind.NOTICE  # the program's kind, by default
    assert program.audience == "all"
    assert "workdays_only" not in program.to_json()  # the default is not stored
    campaign = parse_spec(
        {"cron": "0 9 * * *", "audience": "all", "kind": "notice"}, default_name="c", file="f"
    )
    assert not campaign.workdays_only
    assert "workdays_only" not in campaign.to_json()
    flagged = parse_spec(
        {"cron": "0 9 * * *", "audience": "all", "kind": "notice", "workdays_only": True},
        default_name="c", file="f",
    )  # fmt: skip
    assert flagged.to_json()["workdays_only"] is True
    with pytest.raises(ConfigError, match="应为 true 或 false"):
        parse_spec({"cron": "0 9 * * *", "program": "probe", "workdays_only": "yes"},
                   default_name="p", file="f")  # fmt: skip
    with pytest.raises(ConfigError, match="程序 probe 只发送：notice"):
        parse_spec({"cron": "0 9 * * *", "program": "probe", "kind": "policy_push"},
                   default_name="p", file="f")  # fmt: skip


@pytest.mark.usefixtures("_probe_program")
async def test_a_program_fire_on_a_day_off_sends_the_next_working_morning(
    hub: Hub, redis_client: Redis
) -> None:
    await store(hub, program="probe")
    sched = HubScheduler(hub.db, redis_client, hub.keys, hub.outbox, hub.clock, programs=SETTINGS)
    holiday_fire = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    hub.clock.set(holiday_fire + timedelta(seconds=1))

    run = await sched.fire("probe", holiday_fire)
    assert (run.status, run.messages_created) == ("done", 1)
    assert run.detail is not None
    assert run.detail.startswith("休息日不发送，将于 12-02 09:00 发送")
    assert "新建 1 条" in run.detail
    next_morning = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    assert await messages(hub.db) == [(MessageStatus.HELD, next_morning)]

    hub.clock.set(datetime(2026, 12, 1, 20, 0, tzinfo=SHANGHAI))
    assert await release_held(hub.db, hub.queue, hub.clock) == 0  # nothing on the day off
    hub.clock.set(next_morning)
    assert await release_held(hub.db, hub.queue, hub.clock) == 1

    # The next working day's own fire is not held, and a repeat of either fire adds nothing.
    working_fire = datetime(2026, 12, 2, 9, 0, tzinfo=SHANGHAI)
    assert (await sched.fire("probe", working_fire)).messages_created == 1
    assert [s for s, _ in await messages(hub.db)] == [MessageStatus.QUEUED, MessageStatus.QUEUED]
    assert not (await sched.fire("probe", holiday_fire)).created
    async with hub.db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(ScheduleRun)) == 2


async def test_a_campaign_is_not_held_on_a_day_off_unless_it_says_workdays_only(
    hub: Hub, redis_client: Redis
) -> None:
    sched = HubScheduler(hub.db, redis_client, hub.keys, hub.outbox, hub.clock, programs=SETTINGS)
    holiday_fire = datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)
    hub.clock.set(holiday_fire)
    await store(hub, audience="tier=key", kind="notice", variables={"text": "年度培训通知"})
    assert (await sched.fire("probe", holiday_fire)).messages_created == 1
    # Another text: the same one again would be skipped by the same-content window.
    text = {"text": "安全生产检查通知"}
    await store(hub, audience="tier=key", kind="notice", variables=text, workdays_only=True)
    later_fire = datetime(2026, 12, 1, 10, 0, tzinfo=SHANGHAI)
    assert (await sched.fire("probe", later_fire)).messages_created == 1
    assert [s for s, _ in await messages(hub.db)] == [MessageStatus.QUEUED, MessageStatus.HELD]


@pytest.mark.usefixtures("_probe_program")
async def test_a_holiday_an_admin_entered_in_the_database_holds_a_program_fire(
    hub: Hub, redis_client: Redis
) -> None:
    # The scheduler's settings know no holiday (2027 is not in chinese-calendar either): the
    # calendar in force at the fire is config's plus the days entered with `hub calendar`.
    spring_festival = date(2027, 2, 8)  # a Monday, entered below as a holiday
    async with hub.db.write() as session:
        session.add(WorkdayOverride(day=spring_festival, is_workday=False, note="春节",
                                    entered_by="admin", entered_at=hub.clock.now()))  # fmt: skip
    await store(hub, program="probe")
    sched = HubScheduler(hub.db, redis_client, hub.keys, hub.outbox, hub.clock)
    fire = datetime(2027, 2, 8, 9, 0, tzinfo=SHANGHAI)
    hub.clock.set(fire + timedelta(seconds=1))

    run = await sched.fire("probe", fire)
    assert run.detail is not None
    assert run.detail.startswith("休息日不发送，将于 02-09 09:00 发送")
    assert await messages(hub.db) == [
        (MessageStatus.HELD, datetime(2027, 2, 9, 9, 0, tzinfo=SHANGHAI))
    ]


def test_every_program_has_its_own_chinese_name_for_the_admin_pages() -> None:
    labels = {name: program.label for name, program in PROGRAMS.items()}
    assert all(labels.values()), labels
    assert len(set(labels.values())) == len(labels), labels
    assert program_label("campaign") == "群发"
    assert program_label("credit_warning") == "信用预警"
    assert program_label("no_such_program") == "no_such_program"
