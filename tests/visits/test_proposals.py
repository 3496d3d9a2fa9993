"""Visit proposals: due visits get their slots, turn ``proposed`` and a ``visit_proposal`` goes to
the enterprise once per round, carrying the slots as choices; SMS and WeChat print them
numbered, WeCom draws a card."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import Choices, OutboundMessage
from channels.wechat.wecom import message_content
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageKind, Tier, VisitStatus
from hub.store.db import Database
from hub.store.models import Enterprise, Message, Officer, Visit
from hub.visits.proposals import (
    ROUND_KEY,
    ProposalResult,
    send_proposals,
    slot_variables,
)
from hub.visits.settings import VisitsSettings
from hub.visits.slots import VISIT_SPAN, officers_busy, parse_slots, slot_label
from tests.pipeline import Hub, build, setup
from tests.seed import seed_registry
from tests.visits.plan_support import add_enterprises, calendar_2027

CALENDAR = calendar_2027()
SETTINGS = VisitsSettings()
T0 = datetime(2026, 12, 1, tzinfo=SHANGHAI)


def at(day: str, hhmm: str = "09:30") -> datetime:
    return datetime.combine(date.fromisoformat(day), time.fromisoformat(hhmm), tzinfo=SHANGHAI)


# The rows and their JSON are what is tested: both databases, one Redis.
pytestmark = pytest.mark.parametrize("redis_client", ["server7"], indirect=True)


@pytest.fixture
async def hub(
    any_db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> Hub:
    """The outbox pipeline (sandbox) over the sample registry, on Monday 1 March 2027."""
    await seed_registry(any_db)
    pipeline = build(any_db, redis_client, redis_keys, clock)
    await setup(pipeline)
    clock.set(at("2027-03-01"))
    return pipeline


async def ids(hub: Hub) -> dict[str, int]:
    """Enterprise ids by name and officer ids by code."""
    async with hub.db.read() as session:
        found = dict((await session.execute(sa.select(Enterprise.name, Enterprise.id))).all())
        found.update((await session.execute(sa.select(Officer.code, Officer.id))).all())
    return found


async def add_visit(
    hub: Hub, enterprise_id: int, officer_id: int, period: str, due_on: str, **fields: Any
) -> int:
    async with hub.db.write() as session:
        visit = Visit(
            enterprise_id=enterprise_id, officer_id=officer_id, period=period,
            status=fields.pop("status", VisitStatus.PLANNED), due_on=date.fromisoformat(due_on),
            details=fields.pop("details", {}), slots=fields.pop("slots", []), created_at=T0,
            updated_at=T0, **fields,
        )  # fmt: skip
        session.add(visit)
        await session.flush()
        return visit.id


async def visit(hub: Hub, visit_id: int) -> Visit:
    async with hub.db.read() as session:
        found = await session.get(Visit, visit_id)
        assert found is not None
        return found


async def proposals(hub: Hub, visit_id: int) -> list[Message]:
    async with hub.db.read() as session:
        rows = await session.scalars(
            sa.select(Message)
            .where(Message.kind == MessageKind.VISIT_PROPOSAL)
            .order_by(Message.id)
        )
        return [m for m in rows.all() if m.params["choices"]["visit_id"] == visit_id]


async def propose(hub: Hub) -> ProposalResult:
    return await send_proposals(
        hub.db, hub.outbox, settings=SETTINGS, calendar=CALENDAR, now=hub.clock.now()
    )


def assert_slot_rules(slots: Sequence[datetime], now: datetime) -> None:
    earliest = CALENDAR.add_workdays(now.astimezone(SHANGHAI).date(), SETTINGS.lead_workdays)[0]
    for slot in slots:
        local = slot.astimezone(SHANGHAI)
        assert CALENDAR.is_workday(local.date()), slot
        assert local.time() in SETTINGS.slot_times, slot
        assert local.date() >= earliest, slot


async def test_due_visits_are_proposed_once_with_slots_stored_and_sent(hub: Hub) -> None:
    known = await ids(hub)
    jia = await add_visit(hub, known["甲机械"], known["LL001"], "2027Q1", "2027-03-10")
    bing = await add_visit(hub, known["丙软件"], known["LL002"], "2027H1", "2027-03-11")
    # Due in June: not within the 10 working days the proposal goes before.
    later = await add_visit(hub, known["戊建筑"], known["LL001"], "2027", "2027-06-01")
    now = hub.clock.now()

    first = await propose(hub)
    assert (first.proposed, first.created, first.duplicates, first.skipped) == (2, 2, 0, 0)
    assert first.visit_ids == [jia, bing]
    for visit_id in (jia, bing):
        row = await visit(hub, visit_id)
        assert row.status is VisitStatus.PROPOSED
        assert row.proposed_at == now
        assert row.proposed_for is None  # the answer picks it
        assert row.details[ROUND_KEY] == 1
        slots = parse_slots(row.slots)
        assert len(slots) == 3
        assert all(text.endswith("+08:00") for text in row.slots)
        assert_slot_rules(slots, now)
        (message,) = await proposals(hub, visit_id)
        labels = [slot_label(s) for s in slots]
        choices = Choices.from_params(message.params)
        assert choices is not None
        assert (choices.kind, choices.visit_id, choices.slots) == ("visit", visit_id, tuple(labels))
        assert choices.ask_id == f"visit_{visit_id}_r1_c{message.contact_id}"
        assert choices.title == "走访预约：请选择时间"
        for n, label in enumerate(labels, start=1):
            assert f"{n}. {label}" in message.body
        assert "回复 1、2 或 3 选择时间" in message.body
        assert "不需要走访请回复“不需要”" in message.body
    assert (await visit(hub, later)).status is VisitStatus.PLANNED
    assert await hub.dispatcher.run_once("sandbox") == 2

    again = await propose(hub)
    assert (again.proposed, again.created, again.duplicates) == (0, 0, 0)
    assert [len(await proposals(hub, v)) for v in (jia, bing)] == [1, 1]


async def test_slots_avoid_the_officers_agreed_times_and_each_other(hub: Hub) -> None:
    known = await ids(hub)
    officer = known["LL001"]
    busy = at("2027-03-10")
    await add_visit(hub, known["戊建筑"], officer, "2027", "2027-03-10",
                    status=VisitStatus.CONFIRMED, proposed_for=busy)  # fmt: skip
    more = await add_enterprises(hub.db, officer, Tier.KEY, 2)  # no contacts
    visits = [await add_visit(hub, known["甲机械"], officer, "2027Q1", "2027-03-10")]
    visits += [await add_visit(hub, e, officer, "2027Q1", "2027-03-10") for e in more]

    result = await propose(hub)
    assert (result.proposed, result.no_contact, result.created) == (3, 2, 1)
    offered = [s for v in visits for s in parse_slots((await visit(hub, v)).slots)]
    assert len(offered) == 9
    assert len(set(offered)) == 9  # no time offered to two enterprises
    assert all(abs(s - busy) >= VISIT_SPAN for s in offered)
    assert_slot_rules(offered, hub.clock.now())
    # Each enterprise's three times lie on three different days.
    for v in visits:
        days = {s.date() for s in parse_slots((await visit(hub, v)).slots)}
        assert len(days) == 3


async def test_busy_times_are_the_officers_offered_and_agreed_times_ahead(hub: Hub) -> None:
    known = await ids(hub)
    officer, other = known["LL001"], known["LL002"]
    offered = [at("2027-03-08"), at("2027-03-09", "14:30")]
    await add_visit(hub, known["甲机械"], officer, "2027Q1", "2027-03-08",
                    status=VisitStatus.PROPOSED, proposed_at=at("2027-02-25"),
                    slots=[s.isoformat() for s in offered])  # fmt: skip
    agreed = at("2027-03-12", "14:30")
    await add_visit(hub, known["戊建筑"], officer, "2027", "2027-03-12",
                    status=VisitStatus.CONFIRMED, proposed_for=agreed)  # fmt: skip
    # Left open long ago (never answered, never recorded): nothing ahead.
    await add_visit(hub, known["甲机械"], officer, "2026Q1", "2026-03-02",
                    status=VisitStatus.PROPOSED, proposed_at=at("2026-02-20"),
                    slots=[at("2026-03-02").isoformat()])  # fmt: skip
    await add_visit(hub, known["戊建筑"], officer, "2026", "2026-05-06",
                    status=VisitStatus.CONFIRMED, proposed_for=at("2026-05-06"))  # fmt: skip
    # Planned (nothing offered yet), and another officer's agreed time: not his busy times.
    await add_visit(hub, known["丙软件"], officer, "2027Q1", "2027-03-10")
    await add_visit(hub, known["丙软件"], other, "2027H1", "2027-03-08",
                    status=VisitStatus.CONFIRMED, proposed_for=at("2027-03-08"))  # fmt: skip
    async with hub.db.read() as session:
        busy = await officers_busy(session, [officer], since=hub.clock.now())
    assert list(busy) == [officer]
    assert sorted(busy[officer]) == [*offered, agreed]


async def test_a_reschedule_without_a_time_is_proposed_again_a_declined_visit_is_not(
    hub: Hub,
) -> None:
    known = await ids(hub)
    jia = await add_visit(hub, known["甲机械"], known["LL001"], "2027Q1", "2027-03-10")
    await propose(hub)
    first = parse_slots((await visit(hub, jia)).slots)

    # The enterprise answers "改期" without a time: the answer puts the visit back to planned.
    hub.clock.set(at("2027-03-02", "10:00"))
    await answered(hub, jia, "reschedule")
    second = await propose(hub)
    assert (second.proposed, second.created) == (1, 1)
    row = await visit(hub, jia)
    assert (row.status, row.details[ROUND_KEY]) == (VisitStatus.PROPOSED, 2)
    offered = parse_slots(row.slots)
    assert not {s.date() for s in offered} & {s.date() for s in first}  # other days
    assert_slot_rules(offered, hub.clock.now())
    messages = await proposals(hub, jia)
    assert len(messages) == 2
    assert Choices.from_params(messages[1].params).ask_id.startswith(f"visit_{jia}_r2_")  # type: ignore[union-attr]

    # "不需要": the visit stays due (planned) but is not proposed again.
    hub.clock.set(at("2027-03-03", "10:00"))
    await answered(hub, jia, "decline")
    assert (await propose(hub)).proposed == 0
    assert len(await proposals(hub, jia)) == 2


async def answered(hub: Hub, visit_id: int, action: str) -> None:
    """The visit as :mod:`hub.visits.answers` leaves it after a reschedule without a time or a
    decline: planned, no time, the answer appended."""
    async with hub.db.write() as session:
        row = await session.get(Visit, visit_id)
        assert row is not None
        entry = {"at": hub.clock.now().isoformat(), "action": action, "source": "reply:1"}
        row.details = {**row.details, "answers": [*row.details.get("answers", ()), entry]}
        row.status = VisitStatus.PLANNED
        row.proposed_for = None


def context(slots: Sequence[datetime]) -> dict[str, Any]:
    return {
        "hub_name": "主动服务", "contact": {"name": "王海燕"}, "officer_name": "李明",
        "officer_mobile": "+8613845200001",
        "enterprise": {"name": "甲机械", "uscc": "", "tier": "重点", "industry": "", "region": "",
                       "tags": ()},
        **slot_variables(slots),
    }  # fmt: skip


SLOTS = [at("2027-03-15"), at("2027-03-16", "14:30"), at("2027-03-17")]


def test_sms_and_wechat_list_the_numbered_slots(hub: Hub) -> None:
    renderer = hub.outbox.planner.renderer
    sms = renderer.render_message("visit_proposal", "sms", context(SLOTS))
    values = dict(zip(sms.param_names, sms.params, strict=True))
    assert values["slots"] == (
        "1.3月15日（周一）上午9:30；2.3月16日（周二）下午2:30；3.3月17日（周三）上午9:30"
    )
    assert values["numbers"] == "1、2或3"
    assert values["phone"] == "13845200001"
    assert "可选时间：1.3月15日（周一）上午9:30；2.3月16日" in sms.body
    assert "回复1、2或3选择时间" in sms.body
    two = renderer.render_message("visit_proposal", "sms", context(SLOTS[:2]))
    assert "回复1或2选择时间" in two.body

    wechat = renderer.render_message("visit_proposal", "wechat", context(SLOTS))
    assert (
        "1. 3月15日（周一）上午9:30\n2. 3月16日（周二）下午2:30\n3. 3月17日（周三）上午9:30\n"
        in wechat.body
    )
    assert "回复 1、2 或 3 选择时间；需另约时间请回复“改期”并写明方便的时间" in wechat.body
    assert "咨询电话：13845200001" in wechat.body
    assert wechat.fields["thing3"] == "1.3月15日（周一）上午9:30"
    assert wechat.fields["thing5"] == "3.3月17日（周三）上午9:30"
    assert all(len(v) <= 20 for v in wechat.fields.values())
    two_fields = renderer.render_message("visit_proposal", "wechat", context(SLOTS[:2])).fields
    assert (two_fields["thing4"], two_fields["thing5"]) == ("2.3月16日（周二）下午2:30", "")


async def test_wecom_draws_the_proposal_as_a_button_card(hub: Hub) -> None:
    known = await ids(hub)
    jia = await add_visit(hub, known["甲机械"], known["LL001"], "2027Q1", "2027-03-10")
    await propose(hub)
    (message,) = await proposals(hub, jia)
    outbound = OutboundMessage(message.id, "wecom-user", message.body, message.kind.value,
                               dict(message.params), message.contact_id)  # fmt: skip
    msgtype, card = message_content(outbound)
    assert msgtype == "template_card"
    assert card["card_type"] == "button_interaction"
    assert card["task_id"] == f"visit_{jia}_r1_c{message.contact_id}"
    assert card["main_title"]["title"] == "走访预约：请选择时间"
    assert "李明拟到甲机械走访" in card["sub_title_text"]
    # The slots ride along for the card's buttons (one per slot, pressed as visit:slot:<n>).
    slots = parse_slots((await visit(hub, jia)).slots)
    assert message.params["choices"]["slots"] == [slot_label(s) for s in slots]
