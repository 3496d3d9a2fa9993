"""The half-yearly credit report: one report per key enterprise and half-year, naming its status
and the half-year's events; a repeat fire sends nothing; no data is still a true report.

Real Redis and SQLite, a FixedClock; the program runs as a schedule's fire would run it.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hub.core.errors import ConfigError
from hub.core.vocab import MessageKind, MessageStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.scheduling.programs.base import ProgramSettings
from hub.scheduling.programs.credit_report import HalfYear
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.scheduler import HubScheduler
from hub.scheduling.schedules import load_schedule_file
from tests.pipeline import Hub
from tests.scheduling.programs.credit_report_support import (
    BASE_URL,
    JANUARY,
    JULY,
    SHANGHAI,
    credit_hub,  # noqa: F401 (the fixture hub)
    fire,
    reports,
)

SCHEDULE = Path(__file__).resolve().parents[3] / "schedules" / "credit_report.yaml"
NEW_YEAR = date(2027, 1, 1)  # a Friday, entered as the holiday it is (元旦)


def test_a_fire_reports_the_last_complete_half_year() -> None:
    assert HalfYear.reported_on(date(2027, 1, 4)) == HalfYear(2026, 2)
    assert HalfYear.reported_on(date(2027, 7, 1)) == HalfYear(2027, 1)
    assert HalfYear.reported_on(date(2027, 3, 15)) == HalfYear(2026, 2)  # a late catch-up
    assert HalfYear(2027, 1).trigger_key == "credit_report:2027H1"
    assert HalfYear(2026, 2).label == "2026年下半年"


async def test_two_fires_in_a_year_send_two_reports_per_key_enterprise_and_a_repeat_none(
    hub: Hub,
) -> None:
    january = await fire(hub, JANUARY)
    july = await fire(hub, JULY)
    again = await fire(hub, JULY)

    # 甲机械, 己科技, 庚制药 (one contact each), and a digest to each officer (LL001, LL002)
    assert (january.created, july.created) == (3 + 2, 3 + 2)
    assert (again.created, again.duplicates) == (0, 3 + 2)
    sent = await reports(hub.db)
    per_enterprise = Counter(m.enterprise_id for m in sent)
    assert sorted(per_enterprise.values()) == [2, 2, 2]
    assert len(per_enterprise) == 3  # 乙商贸 (general) gets none


async def test_the_report_names_the_status_and_the_half_years_events_with_their_repair(
    hub: Hub,
) -> None:
    await fire(hub, JANUARY)
    by_name = {m.body.split("：")[0].split("】")[1]: m.body for m in await reports(hub.db)}

    warned = by_name["甲机械"]
    assert "贵企业2026年下半年信用报告已生成" in warned
    assert "信用状况：预警" in warned
    assert "本期信用事件2条（行政处罚1条、经营异常名录1条），已修复或移出1条" in warned
    assert (
        "2026年9月12日 行政处罚（市市场监督管理局）：未按规定公示即时信息，已修复（2026年11月20日）"
        in warned
    )
    assert (
        "2026年8月3日 经营异常名录（龙沙区市场监督管理局）：通过登记的住所无法联系，有效" in warned
    )
    assert "未履行生效判决" not in warned  # 2025's event is on the page, not in this half-year
    assert f"{BASE_URL}/reports/credit/" in warned
    assert "2027年2月3日前有效" in warned  # 30 days from 4 January 09:00

    # No credit data at all: a true, specific report all the same.
    assert "信用状况：良好；本期无信用事件。" in by_name["己科技"]
    # 庚制药's listing came in March 2027: not in 2026 H2's report, but its status is now.
    assert "信用状况：失信；本期无信用事件。" in by_name["庚制药"]


async def test_the_july_report_names_the_listing_of_its_half_year(hub: Hub) -> None:
    await fire(hub, JULY)
    [body] = [m.body for m in await reports(hub.db) if "庚制药" in m.body]
    assert "2027年上半年" in body
    assert "信用状况：失信；本期信用事件1条（失信被执行人1条），已修复或移出0条。" in body
    assert "2027年3月10日 失信被执行人（铁锋区人民法院）：未履行给付义务，有效" in body
    [earlier] = [m.body for m in await reports(hub.db) if "甲机械" in m.body]
    assert "本期无信用事件，此前事件1条仍有效" in earlier  # the 2026 listing still stands


async def test_without_the_link_secret_nothing_is_sent(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV)
    with pytest.raises(ConfigError, match=SECRET_ENV):
        await fire(hub, JANUARY)
    assert await reports(hub.db) == []


async def test_the_shipped_schedule_reports_on_the_first_working_day_of_january_and_july(
    hub: Hub, redis_client: Redis
) -> None:
    spec = load_schedule_file(SCHEDULE)
    assert (spec.program, spec.audience, spec.workdays_only) == ("credit_report", "tier=key", True)
    await sync_schedules(hub.db, [spec], hub.clock, actor="test")
    calendar = WorkdayCalendar({2027: YearDays(holidays=frozenset({NEW_YEAR}))})
    settings = ProgramSettings(calendar=calendar, public_base_url=BASE_URL)
    sched = HubScheduler(
        hub.db,
        redis_client,
        hub.keys,
        hub.outbox,
        hub.clock,
        programs=settings,
    )
    new_year_fire = datetime(2027, 1, 1, 9, 0, tzinfo=SHANGHAI)
    hub.clock.set(new_year_fire + timedelta(seconds=1))

    january = await sched.fire("credit_report", new_year_fire)
    first_working_morning = datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI)  # Monday
    sent = await reports(hub.db)
    assert january.messages_created == 3 + 2  # and the two officers' digests
    assert {(m.status, m.next_attempt_at) for m in sent} == {
        (MessageStatus.HELD, first_working_morning)
    }
    assert all("2026年下半年" in m.body for m in sent)
    assert all("2027年2月3日前有效" in m.body for m in sent)  # 30 days from the 4th, not the 1st

    july_fire = datetime(2027, 7, 1, 9, 0, tzinfo=SHANGHAI)  # a Thursday: sent at once
    hub.clock.set(july_fire)
    assert (await sched.fire("credit_report", july_fire)).messages_created == 3 + 2
    assert not (await sched.fire("credit_report", new_year_fire)).created
    sent = await reports(hub.db)
    assert sorted(Counter(m.enterprise_id for m in sent).values()) == [2, 2, 2]
    assert [m.status for m in sent[3:]] == [MessageStatus.QUEUED] * 3


async def test_each_officer_gets_one_digest_per_fire_naming_the_enterprises_to_watch(
    hub: Hub,
) -> None:
    first = await fire(hub, JANUARY)
    again = await fire(hub, JANUARY + timedelta(hours=1))
    digests = await reports(hub.db, MessageKind.CREDIT_REPORT_DIGEST)
    assert first.created == 3 + 2  # three reports, digests to LL001 and LL002
    assert (again.created, again.duplicates) == (0, 5)
    assert len(digests) == 2
    by_officer = {m.body.split("】")[1].split("您好")[0]: m.body for m in digests}

    li_ming = by_officer["李明"]  # LL001: 甲机械 (预警) and 己科技 (良好)
    assert "您联系的2家企业的2026年下半年信用报告已发送给企业" in li_ming
    assert "信用状况：良好 1 家、预警 1 家、失信 0 家" in li_ming
    assert "· 甲机械（预警）：有效信用事件1条" in li_ming
    assert "己科技" not in li_ming
    assert "· 庚制药（失信）：有效信用事件1条" in by_officer["张丽娟"]

    await fire(hub, JULY)
    assert len(await reports(hub.db, MessageKind.CREDIT_REPORT_DIGEST)) == 4
