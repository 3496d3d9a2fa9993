"""The visit cycle end to end on the provider fakes (issue 14, "Done means").

Each test runs the real path: a schedule's program (the scheduler's fire) writes to the outbox,
the dispatcher delivers to the provider's loopback fake, the party answers through the fake's
push to the hub's verified webhook, and the production inbound worker classifies and applies
it. The hub, its fakes and who is where: tests/visits/e2e_support.py. The clock is fixed in
2027 (the 2027 calendar entered), always on a working day between 09:00 and 17:00, so neither
quiet hours nor the hour the tests run at hold anything.

Monday 4 January 2027 (the first working day of the year) at 09:30, ``visit_plan`` plans 甲机械's
2027Q1 visit due that day and proposes it: three slots, the first three working days after the
lead (from Thursday 7 January).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from hub.app.runtime import sla_pass_once, ticket_desk
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketState, VisitStatus
from hub.store.models import Visit
from hub.tickets.deadlines.rules import deadline_phrase
from hub.visits.slots import parse_slots, slot_label
from tests.visits import dossier_rows as rows
from tests.visits.e2e_support import (
    ENTERPRISE,
    ENTERPRISE_CHAT,
    ENTERPRISE_WECOM,
    HANDLER,
    HANDLER_WECOM,
    MOBILE,
    OFFICER_WECOM,
    VisitHub,
    visit_hub,
)
from tests.visits.record_support import CALENDAR_2027

PLAN_DAY = date(2027, 1, 4)  # Monday


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(at(PLAN_DAY, 9, 30))


@pytest.fixture
async def live(write_config: Callable[..., Path], clock: FixedClock) -> AsyncIterator[VisitHub]:
    async with visit_hub(write_config, clock) as running:
        yield running


async def proposed(live: VisitHub) -> list[datetime]:
    """The plan's fire: 甲机械's visit proposed; its slots."""
    run = await live.fire("visit_plan", at(PLAN_DAY, 9, 30))
    assert run.status == "done"
    visit = await live.visit()
    assert visit.status is VisitStatus.PROPOSED
    slots = parse_slots(visit.slots)
    assert len(slots) == 3
    return slots


async def answered(live: VisitHub, answer: Callable[[], Awaitable[int]]) -> None:
    """An hour later the party answers (the webhook takes it), and the worker applies it."""
    live.clock.advance(timedelta(hours=1))
    assert await answer() == 200
    await live.settle()


async def confirmed_and_told(live: VisitHub, when: datetime) -> str:
    """甲机械's visit is confirmed at ``when`` and 李明 was told on WeCom: what he read."""
    visit = await live.visit()
    assert (visit.status, visit.proposed_for) == (VisitStatus.CONFIRMED, when)
    [update] = await live.messages(MessageKind.VISIT_UPDATE)
    assert (update.channel, update.address, update.status) == (
        ChannelName.WECOM, OFFICER_WECOM, MessageStatus.SENT,
    )  # fmt: skip
    [told] = live.wecom_texts(OFFICER_WECOM)
    assert "甲机械" in told
    assert slot_label(when) in told
    return told


async def test_an_sms_proposal_answered_2_confirms_slot_2_and_the_officer_is_told(
    live: VisitHub,
) -> None:
    slots = await proposed(live)
    [(_, params)] = live.sms_to(MOBILE)
    shown = " ".join(params)
    assert all(slot_label(s) in shown for s in slots), shown

    await answered(live, lambda: live.sms_reply("2"))

    await confirmed_and_told(live, slots[1])


async def test_a_wecom_card_button_press_confirms_that_slot(live: VisitHub) -> None:
    await live.link_enterprise_wecom()
    slots = await proposed(live)
    [sent] = live.wecom.delivered(ENTERPRISE_WECOM)
    assert sent["msgtype"] == "template_card"
    card = sent["template_card"]
    keys = [(b["text"], b["key"]) for b in card["button_list"]]
    assert keys[:3] == [(f"{n} {slot_label(s)}", f"visit:slot:{n}")
                        for n, s in enumerate(slots, start=1)]  # fmt: skip

    await answered(
        live, lambda: live.wecom_press(ENTERPRISE_WECOM, card["task_id"], "visit:slot:2")
    )

    await confirmed_and_told(live, slots[1])


async def test_a_telegram_slot_button_press_confirms_that_slot(live: VisitHub) -> None:
    await live.link_enterprise_telegram()
    slots = await proposed(live)
    [sent] = [m for m in live.telegram.sent if m.chat_id == ENTERPRISE_CHAT]
    assert sent.reply_markup is not None
    rows = sent.reply_markup["inline_keyboard"]
    assert [row[0]["text"] for row in rows[:3]] == [
        f"{n} {slot_label(s)}" for n, s in enumerate(slots, start=1)
    ]

    await answered(live, lambda: live.telegram_press(ENTERPRISE_CHAT, rows[1][0]["callback_data"]))

    await confirmed_and_told(live, slots[1])


async def test_another_time_named_in_a_reply_moves_the_visit_and_the_officer_is_told(
    live: VisitHub,
) -> None:
    await proposed(live)
    live.clock.set(at(date(2027, 1, 5), 10, 30))  # Tuesday: 下周二 is 12 January
    assert await live.sms_reply("下周二上午可以") == 200
    await live.settle()

    # 上午 with no hour is 09:00, within visits.work_start/work_end: confirmed there.
    told = await confirmed_and_told(live, at(date(2027, 1, 12), 9, 0))
    assert "下周二上午可以" in told


def workday_before(day: date) -> date:
    before = day - timedelta(days=1)
    while not CALENDAR_2027.is_workday(before):
        before -= timedelta(days=1)
    return before


async def confirmed_at_slot_1(live: VisitHub) -> Visit:
    """The plan's proposal, answered 1 by SMS an hour later: the visit confirmed at slot 1."""
    slots = await proposed(live)
    await answered(live, lambda: live.sms_reply("1"))
    visit = await live.visit()
    assert (visit.status, visit.proposed_for) == (VisitStatus.CONFIRMED, slots[0])
    return visit


async def visited(live: VisitHub) -> Visit:
    """The visit confirmed at slot 1, the clock two hours after its time (the visit made)."""
    visit = await confirmed_at_slot_1(live)
    assert visit.proposed_for is not None
    live.clock.set(visit.proposed_for + timedelta(hours=2))
    return visit


async def test_the_officers_reminder_on_wecom_carries_the_dossier(live: VisitHub) -> None:
    jia = live.world.enterprises[ENTERPRISE]
    # 甲机械's record: a request by SMS (an open ticket, routed to FGW by the 停电 rule), an
    # active credit event, and last quarter's visit with the problem it found.
    live.clock.set(at(PLAN_DAY, 9))
    assert await live.sms_reply("厂区经常停电，影响生产，请帮忙协调供电部门") == 200
    await live.settle()
    [ticket] = await live.tickets()
    assert ticket.deadline_at is not None
    async with live.hub.db.write() as session:
        await rows.credit_event(session, jia, "XY2027-0001", summary="未按规定公示年度报告")
        officer = await rows.officer_of(session, jia)
        await rows.visit(session, jia, officer, "2026Q4", VisitStatus.DONE,
                         visited_at=rows.utc(2026, 12, 8, 2), notes="生产正常",
                         details={"problems": rows.PROBLEMS})  # fmt: skip
    visit = await confirmed_at_slot_1(live)
    assert visit.proposed_for is not None
    visit_day = visit.proposed_for.astimezone(SHANGHAI).date()

    run = await live.fire("visit_reminders", at(workday_before(visit_day), 15))
    assert run.messages_created == 1

    [reminder] = await live.messages(MessageKind.VISIT_REMINDER)
    assert (reminder.channel, reminder.address, reminder.status) == (
        ChannelName.WECOM, OFFICER_WECOM, MessageStatus.SENT,
    )  # fmt: skip
    [text] = [t for t in live.wecom_texts(OFFICER_WECOM) if "走访提醒" in t]
    assert slot_label(visit.proposed_for) in text.replace("上午09:", "上午9:")
    for item in (
        "【一企一档】甲机械",
        f"{ticket.number} ",  # the open ticket, its department and deadline
        f"时限{deadline_phrase(ticket.deadline_at, SHANGHAI)}",
        "行政处罚（龙沙区市场监督管理局，2027年1月20日）：未按规定公示年度报告",
        "上次走访：2026年12月8日",
        "厂区用电容量不足，需增容（工单GD202612080002，市发展改革委）",
    ):
        assert item in text, (item, text)


async def test_a_problem_the_officer_records_by_wecom_becomes_a_routed_ticket_in_the_loop(
    live: VisitHub,
) -> None:
    visit = await visited(live)
    command = f"走访 {visit.id} 完成 记录：企业生产经营正常 问题：厂区经常停电影响生产"
    assert await live.wecom_text(OFFICER_WECOM, command) == 200
    await live.settle()

    done = await live.visit()
    assert done.status is VisitStatus.DONE
    [ticket] = await live.tickets()
    assert ticket.source_visit_id == visit.id
    assert ticket.department_id == live.world.departments["FGW"]  # the 停电 rule
    assert ticket.handler_id == live.world.staff[HANDLER]
    assert ticket.deadline_at is not None
    deadline = deadline_phrase(ticket.deadline_at, SHANGHAI)
    [answer] = [t for t in live.wecom_texts(OFFICER_WECOM) if ticket.number in t]
    assert answer.startswith(f"【主动服务】走访 {visit.id}（甲机械）已走访")  # no empty name
    assert f"{ticket.number}（FGW，{deadline}）" in answer

    # The handler is reminded of the deadline on his WeCom, as for any ticket.
    live.clock.set(ticket.deadline_at - timedelta(hours=14))  # 10:00 on the day due (24:00)
    await sla_pass_once(live.hub)
    await live.settle()
    [reminded] = live.wecom_texts(HANDLER_WECOM)
    assert ticket.number in reminded

    # He answers; the enterprise gets the answer by SMS, rates 5 by reply: closed.
    desk = ticket_desk(live.hub)
    await desk.resolve(await desk.scope_as(HANDLER), ticket.number,
                       answer="已协调供电公司检修线路，近期不再计划停电。")  # fmt: skip
    await live.settle()
    assert any(ticket.number in " ".join(p) for _, p in live.sms_to(MOBILE))
    live.clock.advance(timedelta(hours=1))
    assert await live.sms_reply("5") == 200
    await live.settle()
    [closed] = await live.tickets()
    assert (closed.state, closed.close_reason) == (TicketState.CLOSED, "rated")


async def test_an_unanswered_proposal_becomes_a_call_task_and_the_time_agreed_is_recorded(
    live: VisitHub,
) -> None:
    await proposed(live)
    visit = await live.visit()
    # No answer by Thursday 7 January 09:30 (3 working days): the 15:00 run sets the tasks
    # (丙软件, proposed the same morning, is 张丽娟's, by SMS).
    assert (await live.fire("visit_reminders", at(date(2027, 1, 7), 8))).messages_created == 0
    assert (await live.fire("visit_reminders", at(date(2027, 1, 7), 15))).messages_created == 2
    [task] = live.wecom_texts(OFFICER_WECOM)
    assert "请电话联系企业确定走访时间" in task
    assert "电话13900000001" in task
    assert f"走访 {visit.id} 改约" in task

    # Agreed on the phone: he records it by WeCom; the visit is confirmed, he is reminded.
    live.clock.advance(timedelta(minutes=30))
    assert await live.wecom_text(OFFICER_WECOM, f"走访 {visit.id} 改约 1月12日上午9:30") == 200
    await live.settle()
    agreed = await live.visit()
    monday, tuesday = date(2027, 1, 11), date(2027, 1, 12)
    assert (agreed.status, agreed.proposed_for) == (VisitStatus.CONFIRMED, at(tuesday, 9, 30))
    assert (await live.fire("visit_reminders", at(monday, 15))).messages_created == 1
    reminder = live.wecom_texts(OFFICER_WECOM)[-1]
    assert "走访提醒" in reminder
    assert "【一企一档】甲机械" in reminder


async def test_a_problem_recorded_by_the_api_becomes_a_routed_ticket_its_handler_reminded(
    live: VisitHub,
) -> None:
    visit = await visited(live)
    body = {"done": True, "notes": "生产正常", "problems": [{"text": "厂区道路破损需维修"}]}
    response = await live.api_post("dispatcher", f"/visits/{visit.id}/outcome", body)
    assert response.status_code == 200, response.text
    await live.settle()

    [ticket] = await live.tickets()
    # 甲机械 is 制造业: GXJ by its industry; gxj_b is absent, so gxj_a by round-robin.
    assert (ticket.source_visit_id, ticket.department_id, ticket.handler_id) == (
        visit.id, live.world.departments["GXJ"], live.world.staff["gxj_a"],
    )  # fmt: skip
    assert ticket.number in response.text
    assert ticket.deadline_at is not None
    # The handler has a mobile only: his deadline reminder goes by SMS (Tencent).
    live.clock.set(ticket.deadline_at - timedelta(hours=14))
    await sla_pass_once(live.hub)
    await live.settle()
    [reminder] = await live.messages(MessageKind.DEADLINE_REMINDER)
    assert (reminder.channel, reminder.staff_id, reminder.status) == (
        ChannelName.SMS, live.world.staff["gxj_a"], MessageStatus.SENT,
    )  # fmt: skip
    assert any(ticket.number in " ".join(p) for _, p in live.sms_to(reminder.address))
