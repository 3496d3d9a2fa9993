"""procedure_reminders: licence reminders at their offsets until renewed, annual-report
reminders in January, May and each week of June until the filing is imported; once per step.

The clock walks the days of 2027 (a fire at 09:00 Shanghai each day, run as the scheduler
would run it); licences and filings are saved as `hub import` saves them, on the day they
arrive.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI
from hub.core.errors import ConfigError
from hub.core.vocab import MessageStatus
from hub.importing.data_rows import AnnualReportRow, LicenceRow
from hub.importing.data_save import DataKind, enterprise_ids, save_rows
from hub.scheduling.programs import procedure_reminders as program
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramOutcome,
    ProgramSettings,
    day_off_hold,
)
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.scheduler import HubScheduler
from hub.scheduling.schedules import load_schedule_file
from hub.store.enterprise_data import Licence
from hub.store.models import Campaign, Enterprise, Message
from tests.conftest import PROJECT_ROOT
from tests.pipeline import Hub

ALREADY = program.ALREADY_SENT

# --- the rules, without a database ---------------------------------------------------------


def test_a_licence_step_is_the_latest_offset_whose_day_has_come() -> None:
    expires = date(2027, 3, 31)
    offsets = (60, 30, 7)
    assert program.licence_step(expires, date(2027, 1, 29), offsets) is None  # 61 days left
    assert program.licence_step(expires, date(2027, 1, 30), offsets) == 60
    assert program.licence_step(expires, date(2027, 2, 28), offsets) == 60  # 31 days left
    assert program.licence_step(expires, date(2027, 3, 1), offsets) == 30
    assert program.licence_step(expires, date(2027, 3, 24), offsets) == 7
    assert program.licence_step(expires, date(2027, 3, 30), offsets) == 7
    assert program.licence_step(expires, date(2027, 3, 31), offsets) is None  # the last day
    assert program.licence_step(expires, date(2027, 4, 2), offsets) is None


def test_annual_steps_are_january_may_and_each_week_of_june() -> None:
    assert program.annual_step(date(2027, 1, 1)) == "jan"
    assert program.annual_step(date(2027, 1, 31)) == "jan"
    assert program.annual_step(date(2027, 2, 1)) is None
    assert program.annual_step(date(2027, 5, 17)) == "may"
    assert [program.annual_step(date(2027, 6, d)) for d in (1, 7, 8, 21, 22, 28, 29, 30)] == [
        "june-w1", "june-w1", "june-w2", "june-w3", "june-w4", "june-w4", "june-w5", "june-w5",
    ]  # fmt: skip
    assert program.annual_step(date(2027, 7, 1)) is None


def test_licence_offsets_come_from_the_schedule_variable() -> None:
    assert program.licence_days({}) == (60, 30, 7)
    assert program.licence_days({"licence_days": "7, 90，30"}) == (90, 30, 7)
    assert program.licence_days({"licence_days": 15}) == (15,)
    for bad in ("60,-1", "sixty", "", True):
        with pytest.raises(ConfigError, match="licence_days"):
            program.licence_days({"licence_days": bad})


def test_a_renewal_date_from_an_earlier_cycle_does_not_silence_the_next() -> None:
    renewed_now = Licence(expires_on=date(2027, 9, 15), renewed_on=date(2027, 8, 20))
    assert program.is_renewed(renewed_now)
    # The row was updated to the new licence's expiry; its renewal date is the old cycle's.
    next_cycle = Licence(expires_on=date(2032, 12, 20), renewed_on=date(2027, 11, 1))
    assert not program.is_renewed(next_cycle)
    assert not program.is_renewed(Licence(expires_on=date(2027, 9, 15), renewed_on=None))


# --- a year of daily runs ----------------------------------------------------------------


def nine(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=SHANGHAI)


async def fire(hub: Hub, day: date, *, hold_days_off: bool = False) -> ProgramOutcome:
    """The daily fire of ``day`` at 09:00, as the scheduler runs it."""
    at = nine(day)
    hub.clock.set(at)
    settings = ProgramSettings()
    hold = day_off_hold(settings, at) if hold_days_off else None
    ctx = ProgramContext(hub.db, hub.outbox, hub.clock, settings, hold)
    return await program.run(ctx, ProgramFire(schedule="procedure_reminder", fire_time=at))


async def import_licence(
    hub: Hub, uscc: str, kind: str, number: str, expires_on: date, renewed_on: date | None = None
) -> None:
    row = LicenceRow(1, uscc, kind, number, expires_on, "市市场监督管理局", renewed_on)
    await _save(hub, "licences", row)


async def import_filing(hub: Hub, uscc: str, year: int, filed_on: date) -> None:
    await _save(hub, "annual-reports", AnnualReportRow(1, uscc, year, filed_on))


async def _save(hub: Hub, kind: DataKind, row: object) -> None:
    ids = await enterprise_ids(hub.db)
    async with hub.db.write() as session:
        await save_rows(session, kind, [row], ids, now=hub.clock.now(), actor="test", source="t")


async def sent(hub: Hub) -> dict[str, list[tuple[str, date]]]:
    """Trigger key -> (enterprise name, local day created) of each message not skipped."""
    stmt = (
        sa.select(Campaign.trigger_key, Enterprise.name, Message.created_at)
        .join(Campaign, Message.campaign_id == Campaign.id)
        .join(Enterprise, Message.enterprise_id == Enterprise.id)
        .where(Message.status != MessageStatus.SKIPPED)
        .order_by(Message.id)
    )
    found: dict[str, list[tuple[str, date]]] = defaultdict(list)
    async with hub.db.read() as session:
        for key, name, created in (await session.execute(stmt)).all():
            found[key].append((name, created.astimezone(SHANGHAI).date()))
    return dict(found)


async def usccs(hub: Hub) -> Mapping[str, str]:
    async with hub.db.read() as session:
        return dict((await session.execute(sa.select(Enterprise.name, Enterprise.uscc))).all())


async def jia_licence(hub: Hub, expires_on: date) -> None:
    """甲机械's food licence JY001, imported on 4 January 2027."""
    hub.clock.set(nine(date(2027, 1, 4)))
    uscc = await usccs(hub)
    await import_licence(hub, uscc["甲机械"], "食品经营许可证", "JY001", expires_on)


async def test_a_year_of_daily_runs_reminds_at_each_offset_and_stops_on_renewal_and_filing(
    hub: Hub,
) -> None:
    uscc = await usccs(hub)
    hub.clock.set(nine(date(2026, 12, 20)))
    await import_licence(hub, uscc["甲机械"], "食品经营许可证", "JY001", date(2027, 3, 31))
    await import_licence(hub, uscc["乙商贸"], "道路运输经营许可证", "YS002", date(2027, 9, 15))
    await import_licence(
        hub, uscc["丙软件"], "增值电信业务经营许可证", "B2-003", date(2027, 12, 20)
    )
    await import_filing(hub, uscc["戊建筑"], 2025, date(2026, 5, 1))  # last year's: not 2026's
    # Arrivals during the year, imported in the morning before that day's fire.
    arrivals = {
        date(2027, 3, 10): lambda: import_filing(hub, uscc["甲机械"], 2026, date(2027, 3, 9)),
        date(2027, 6, 8): lambda: import_filing(hub, uscc["乙商贸"], 2026, date(2027, 6, 8)),
        date(2027, 8, 20): lambda: import_licence(
            hub, uscc["乙商贸"], "道路运输经营许可证", "YS002", date(2027, 9, 15), date(2027, 8, 20)
        ),
        # Renewed by a new licence of the same kind and number: the row moves to 2032.
        date(2027, 11, 1): lambda: import_licence(
            hub, uscc["丙软件"], "增值电信业务经营许可证", "B2-003", date(2032, 12, 20),
            date(2027, 11, 1),
        ),
    }  # fmt: skip

    day = date(2027, 1, 1)
    while day.year == 2027:
        if day in arrivals:
            hub.clock.set(nine(day) - timedelta(hours=1))
            await arrivals.pop(day)()
        outcome = await fire(hub, day)
        if outcome.created:
            again = await fire(hub, day)  # the same day once more: nothing new
            assert (again.items, again.created, again.duplicates) == (0, 0, 0)
            assert again.not_sent[ALREADY] > outcome.not_sent[ALREADY]
        day += timedelta(days=1)

    found = await sent(hub)
    ids = await _licence_ids(hub)
    jia, yi, bing = ids["JY001"], ids["YS002"], ids["B2-003"]
    # 甲机械 has one contact, 乙商贸 two; 丁餐饮 has none (skipped, not counted here).
    assert found.pop(f"licence:{jia}:2027-03-31:60d") == [("甲机械", date(2027, 1, 30))]
    assert found.pop(f"licence:{jia}:2027-03-31:30d") == [("甲机械", date(2027, 3, 1))]
    assert found.pop(f"licence:{jia}:2027-03-31:7d") == [("甲机械", date(2027, 3, 24))]
    assert found.pop(f"licence:{yi}:2027-09-15:60d") == [("乙商贸", date(2027, 7, 17))] * 2
    assert found.pop(f"licence:{yi}:2027-09-15:30d") == [("乙商贸", date(2027, 8, 16))] * 2
    assert found.pop(f"licence:{bing}:2027-12-20:60d") == [("丙软件", date(2027, 10, 21))]
    # Annual report for 2026: 甲 filed in March, 乙 on 8 June (before week 2's reminder).
    assert _names(found.pop("annual:2026:jan")) == [
        "丙软件",
        "乙商贸",
        "乙商贸",
        "戊建筑",
        "甲机械",
    ]
    assert {d for _, d in found["annual:2026:may"]} == {date(2027, 5, 1)}
    assert _names(found.pop("annual:2026:may")) == ["丙软件", "乙商贸", "乙商贸", "戊建筑"]
    assert _names(found.pop("annual:2026:june-w1")) == ["丙软件", "乙商贸", "乙商贸", "戊建筑"]
    for week in (2, 3, 4, 5):
        assert _names(found.pop(f"annual:2026:june-w{week}")) == ["丙软件", "戊建筑"]
    assert found == {}  # nothing else: no 7d for the renewed licences, nothing after expiry


def _names(rows: list[tuple[str, date]]) -> list[str]:
    return sorted(name for name, _ in rows)


async def _licence_ids(hub: Hub) -> dict[str, int]:
    async with hub.db.read() as session:
        return dict((await session.execute(sa.select(Licence.number, Licence.id))).all())


async def test_a_step_missed_while_down_goes_out_once_at_the_next_run(hub: Hub) -> None:
    await jia_licence(hub, date(2027, 3, 31))
    # Down from 25 January to 3 March: the 60-day (30 Jan) and 30-day (1 Mar) days passed.
    first = await fire(hub, date(2027, 3, 3))
    assert first.created == 1
    again = await fire(hub, date(2027, 3, 4))
    assert (again.items, again.created, again.not_sent) == (0, 0, {ALREADY: 1})
    jia = (await _licence_ids(hub))["JY001"]
    found = await sent(hub)
    # Only the step it is in (30 days): the overtaken 60-day reminder is not sent late.
    assert found == {f"licence:{jia}:2027-03-31:30d": [("甲机械", date(2027, 3, 3))]}
    async with hub.db.read() as session:
        body = await session.scalar(sa.select(Message.body))
    assert body is not None
    assert "食品经营许可证（编号JY001）有效期至2027年3月31日，还有28天到期" in body


async def test_a_fire_on_a_day_off_holds_the_reminder_to_the_next_working_morning(
    hub: Hub,
) -> None:
    await jia_licence(hub, date(2027, 5, 5))
    saturday = date(2027, 3, 6)  # the 60-day step's day
    outcome = await fire(hub, saturday, hold_days_off=True)
    assert outcome.created == 1
    sunday = await fire(hub, saturday + timedelta(days=1), hold_days_off=True)
    assert (sunday.items, sunday.created, sunday.not_sent) == (0, 0, {ALREADY: 1})
    async with hub.db.read() as session:
        message = (await session.execute(sa.select(Message))).scalar_one()
    assert message.status is MessageStatus.HELD
    assert message.next_attempt_at is not None
    assert message.next_attempt_at == nine(date(2027, 3, 8))
    assert "还有58天到期" in message.body  # counted from Monday, the day it is read


async def test_the_annual_reminder_names_the_year_and_the_deadline(hub: Hub) -> None:
    outcome = await fire(hub, date(2027, 1, 4))
    # One send of the one item to the five enterprises: rows for 甲 1, 乙 2, 丙 1, 戊 1
    # contacts, and 丁's, skipped: it has no contact.
    assert (outcome.items, outcome.created, outcome.skipped) == (1, 6, 1)
    async with hub.db.read() as session:
        body = await session.scalar(
            sa.select(Message.body).where(Message.status != MessageStatus.SKIPPED).limit(1)
        )
    assert body is not None
    assert "尚未查到贵企业2026年度报告的公示记录" in body
    assert "请于2027年6月30日前（还有177天）通过国家企业信用信息公示系统报送并公示" in body


async def test_the_shipped_schedule_runs_the_program_and_catches_up_a_missed_day_once(
    hub: Hub, redis_client: Redis
) -> None:
    await jia_licence(hub, date(2027, 3, 31))
    spec = load_schedule_file(PROJECT_ROOT / "schedules" / "procedure_reminder.yaml")
    await sync_schedules(hub.db, [spec], hub.clock, actor="test")
    scheduler = HubScheduler(hub.db, redis_client, hub.keys, hub.outbox, hub.clock)
    hub.clock.set(nine(date(2027, 2, 26)))  # a Friday
    friday = await scheduler.fire("procedure_reminder", nine(date(2027, 2, 26)))
    assert friday.messages_created == 1  # the 60-day step: the first run since the import
    # Down over the 1 March fire (the 30-day step's day); back at 15:00, within the grace.
    hub.clock.set(nine(date(2027, 3, 1)) + timedelta(hours=6))
    [caught] = await scheduler.catch_up()
    assert (caught.fire_time, caught.messages_created) == (nine(date(2027, 3, 1)), 1)
    assert await scheduler.catch_up() == []
    again = await scheduler.fire("procedure_reminder", nine(date(2027, 3, 2)))
    assert (again.messages_created, again.duplicates) == (0, 0)
    assert again.detail is not None
    assert again.detail.endswith(f"未发：{ALREADY} 1")
    jia = (await _licence_ids(hub))["JY001"]
    assert set(await sent(hub)) == {
        f"licence:{jia}:2027-03-31:60d",
        f"licence:{jia}:2027-03-31:30d",
    }
