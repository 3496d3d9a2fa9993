"""hub.queries.dashboard: the dashboard's figures, counted from rows written here, and scoped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketState, Tier
from hub.queries.dashboard import QuietBanner, read_dashboard
from hub.queries.scope import Visibility
from hub.queries.tickets import TicketScope
from hub.store.db import Database
from hub.store.models import Enterprise, InboundReply, Message
from hub.tickets.staff import StaffRole
from tests.importing.factories import make_uscc
from tests.ticket_factory import Org, make_org, make_ticket

# Wednesday 2026-11-25 10:00 in Shanghai (02:00 UTC): "today" began at 2026-11-24 16:00 UTC.
NOW = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
QUIET_REASON = "免打扰时段（21:00–08:00），将于 11-26 08:00 发送"


async def add_message(
    db: Database, *, channel: ChannelName, status: MessageStatus, created_at: datetime,
    enterprise: int | None = None, reason: str | None = None,
    next_attempt_at: datetime | None = None,
) -> None:  # fmt: skip
    async with db.write() as s:
        s.add(Message(
            idempotency_key=uuid.uuid4().hex, kind=MessageKind.NOTICE, enterprise_id=enterprise,
            channel=channel, address="+8613900009001", status=status, status_reason=reason,
            body="通知", params={}, next_attempt_at=next_attempt_at,
            created_at=created_at, updated_at=created_at,
        ))  # fmt: skip


async def add_reply(db: Database, received_at: datetime, enterprise: int | None) -> None:
    async with db.write() as s:
        s.add(InboundReply(
            channel=ChannelName.SMS, provider="tencent", provider_msg_id=uuid.uuid4().hex,
            sender="+8613900009001", text="你好", raw={}, received_at=received_at,
            enterprise_id=enterprise,
        ))  # fmt: skip


def handler_scope(org: Org, department: int) -> TicketScope:
    """A handler of ``department`` who sees 制造业 enterprises (as visibility_for gives)."""
    return TicketScope.for_staff(
        role=StaffRole.HANDLER, username="h1", department_id=department, business_office=False,
        visibility=Visibility(frozenset({"制造业"})),
    )  # fmt: skip


@pytest.fixture
def db(any_db: Database) -> Database:
    """Every figure on SQLite and PostgreSQL."""
    return any_db


@pytest.fixture
async def org(db: Database) -> Org:
    made = await make_org(db, NOW - timedelta(days=400))
    async with db.write() as s:  # a third enterprise of another industry, outside the handler's
        other = Enterprise(
            uscc=make_uscc(9100), name="丙软件有限公司", tier=Tier.GENERAL, industry="软件业",
            region="龙沙区", created_at=NOW, updated_at=NOW,
        )  # fmt: skip
        s.add(other)
        await s.flush()
        made.enterprises.append(other.id)
    return made


async def test_sends_by_channel_and_status_per_window_and_the_delivery_rate(
    db: Database, org: Org
) -> None:
    first = org.enterprises[0]
    today = NOW - timedelta(hours=1)
    this_week = NOW - timedelta(days=3)
    this_month = NOW - timedelta(days=20)
    for at, channel, status in [
        (today, ChannelName.SMS, MessageStatus.DELIVERED),
        (today, ChannelName.SMS, MessageStatus.DELIVERED),
        (today, ChannelName.SMS, MessageStatus.FAILED),
        (today, ChannelName.WECHAT, MessageStatus.SENT),
        (today, ChannelName.WECHAT, MessageStatus.QUEUED),  # no fate yet: not in the rate
        (this_week, ChannelName.SMS, MessageStatus.DELIVERED),
        (this_week, ChannelName.WECOM, MessageStatus.DEAD),
        (this_month, ChannelName.SMS, MessageStatus.SKIPPED),
        (NOW - timedelta(days=31), ChannelName.SMS, MessageStatus.DELIVERED),  # too old
    ]:
        await add_message(db, channel=channel, status=status, created_at=at, enterprise=first)
    # Yesterday 23:00 Shanghai is in the last 7 days, not today.
    await add_message(
        db,
        channel=ChannelName.SMS,
        status=MessageStatus.SENT,
        created_at=datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        enterprise=first,
    )
    for at in (today, this_week, NOW - timedelta(days=40)):
        await add_reply(db, at, first)

    board = await read_dashboard(db, TicketScope.operator(), NOW)

    day, week, month = board.window("today"), board.window("7d"), board.window("30d")
    assert day.by_channel() == {
        ChannelName.SMS: {**{s: 0 for s in MessageStatus},
                          MessageStatus.DELIVERED: 2, MessageStatus.FAILED: 1},
        ChannelName.WECHAT: {**{s: 0 for s in MessageStatus},
                             MessageStatus.SENT: 1, MessageStatus.QUEUED: 1},
    }  # fmt: skip
    assert (day.total, week.total, month.total) == (5, 8, 9)
    assert day.delivery_rate == 2 / 4  # delivered ÷ (sent + delivered + failed + dead)
    assert week.delivery_rate == 3 / 7
    assert (day.replies, week.replies, month.replies) == (1, 2, 2)
    [sms, wechat] = board.as_dict()["windows"][0]["by_channel"]  # in vocabulary order
    assert (sms["channel"], sms["counts"]["已送达"], wechat["channel"]) == ("短信", 2, "微信公众号")


async def test_ratings_levels_and_good_rate_leave_malicious_out(db: Database, org: Org) -> None:
    recent = NOW - timedelta(days=2)
    cases: list[tuple[int, bool]] = [(5, False), (4, False), (3, False), (2, False), (1, True),
                                     (1, True)]  # fmt: skip
    for i, (score, malicious) in enumerate(cases):
        await make_ticket(db, org, number=f"R{i}", received_at=recent - timedelta(days=3),
                          deadline_at=NOW + timedelta(days=3), state=TicketState.CLOSED,
                          resolutions=[recent], ratings=[(score, recent, malicious)])  # fmt: skip
    # A reopened ticket rated 1 then 5: its latest rating counts, once.
    await make_ticket(
        db,
        org,
        number="R9",
        received_at=recent - timedelta(days=3),
        deadline_at=NOW + timedelta(days=3),
        state=TicketState.CLOSED,
        resolutions=[recent, recent + timedelta(hours=2)],
        ratings=[(1, recent, False), (5, recent + timedelta(hours=3), False)],
    )
    # Rated 45 days ago: outside the 30 days.
    old = NOW - timedelta(days=45)
    await make_ticket(
        db,
        org,
        number="R10",
        received_at=old,
        deadline_at=old,
        state=TicketState.CLOSED,
        resolutions=[old],
        ratings=[(1, old, False)],
    )

    board = await read_dashboard(db, TicketScope.operator(), NOW)

    assert board.ratings == {5: 2, 4: 1, 3: 1, 2: 1, 1: 0}
    assert board.malicious == 2
    assert board.good_rate == 4 / 5  # ≥3 ÷ counted, the two malicious 1s left out
    assert [(r["label"], r["count"]) for r in board.as_dict()["ratings"]] == [
        ("非常满意", 2),
        ("满意", 1),
        ("基本满意", 1),
        ("不满意", 1),
        ("非常不满意", 0),
    ]


async def test_on_time_by_department_and_open_and_overdue_tickets(db: Database, org: Org) -> None:
    week_ago = NOW - timedelta(days=7)
    deadline = NOW - timedelta(days=2)
    # FGW: resolved on time, resolved late, first resolved on time then reopened (counts once,
    # on time: the first resolution), open overdue, open in time.
    await make_ticket(
        db,
        org,
        number="F1",
        received_at=week_ago,
        deadline_at=deadline,
        state=TicketState.RESOLVED,
        resolutions=[deadline - timedelta(hours=1)],
    )
    await make_ticket(
        db,
        org,
        number="F2",
        received_at=week_ago,
        deadline_at=deadline,
        state=TicketState.RESOLVED,
        resolutions=[deadline + timedelta(hours=1)],
    )
    await make_ticket(
        db,
        org,
        number="F3",
        received_at=week_ago,
        deadline_at=deadline,
        state=TicketState.REOPENED,
        resolutions=[deadline - timedelta(days=1), NOW - timedelta(hours=1)],
    )
    await make_ticket(db, org, number="F4", received_at=week_ago, deadline_at=deadline)
    await make_ticket(db, org, number="F5", received_at=week_ago, deadline_at=NOW + timedelta(1))
    # SJJ: one overdue; and one not routed yet (未分派), overdue.
    await make_ticket(
        db,
        org,
        number="S1",
        received_at=week_ago,
        deadline_at=deadline,
        department=org.sjj,
        handler=org.sjj_handler,
    )
    await make_ticket(db, org, number="N1", received_at=week_ago, deadline_at=deadline,
                      state=TicketState.NEW, department=None, handler=None)  # fmt: skip
    # Resolved 40 days ago: outside the on-time window.
    old = NOW - timedelta(days=40)
    await make_ticket(db, org, number="F0", received_at=old, deadline_at=old,
                      state=TicketState.CLOSED, resolutions=[old + timedelta(days=1)])  # fmt: skip

    board = await read_dashboard(db, TicketScope.operator(), NOW)

    by_code = {d.code: d for d in board.departments}
    fgw, sjj, none = by_code["FGW"], by_code["SJJ"], by_code[""]
    assert (fgw.resolved, fgw.on_time, fgw.on_time_rate) == (3, 2, 2 / 3)
    assert (fgw.open, fgw.overdue) == (3, 2)  # F3 reopened and overdue, F4; F5 in time
    assert (sjj.open, sjj.overdue, sjj.resolved) == (1, 1, 0)
    assert (none.name, none.open, none.overdue) == ("未分派", 1, 1)
    assert (board.open_tickets, board.overdue_tickets) == (5, 4)
    assert [d.code for d in board.departments] == ["FGW", "SJJ", ""]


async def test_a_handler_sees_only_their_department_s_tickets_and_enterprises(
    db: Database, org: Org
) -> None:
    deadline = NOW - timedelta(days=1)
    recent = NOW - timedelta(days=2)
    await make_ticket(db, org, number="F1", received_at=recent, deadline_at=deadline)
    await make_ticket(db, org, number="S1", received_at=recent, deadline_at=deadline,
                      department=org.sjj, handler=org.sjj_handler, state=TicketState.CLOSED,
                      resolutions=[recent], ratings=[(1, recent, False)])  # fmt: skip
    ours, theirs = org.enterprises[0], org.enterprises[2]  # 制造业, 软件业
    for enterprise in (ours, theirs, theirs):
        await add_message(db, channel=ChannelName.SMS, status=MessageStatus.DELIVERED,
                          created_at=recent, enterprise=enterprise)  # fmt: skip
        await add_reply(db, recent, enterprise)

    fgw = await read_dashboard(db, handler_scope(org, org.fgw), NOW)
    everyone = await read_dashboard(db, TicketScope.operator(), NOW)

    assert [(d.code, d.open, d.overdue) for d in fgw.departments] == [("FGW", 1, 1)]
    assert fgw.ratings == {5: 0, 4: 0, 3: 0, 2: 0, 1: 0}  # SJJ's rating is not theirs
    assert fgw.good_rate is None
    assert (fgw.window("7d").total, fgw.window("7d").replies) == (1, 1)
    assert [d.code for d in everyone.departments] == ["FGW", "SJJ"]
    assert everyone.ratings[1] == 1
    assert (everyone.window("7d").total, everyone.window("7d").replies) == (3, 3)


async def test_messages_held_by_quiet_hours_make_the_banner(db: Database, org: Org) -> None:
    evening = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)  # 22:00 in Shanghai
    release = datetime(2026, 11, 26, 0, 0, tzinfo=UTC)  # 08:00 tomorrow
    assert (await read_dashboard(db, TicketScope.operator(), evening)).quiet is None
    for _ in range(3):
        await add_message(db, channel=ChannelName.SMS, status=MessageStatus.HELD,
                          created_at=evening, enterprise=org.enterprises[0],
                          reason=QUIET_REASON, next_attempt_at=release)  # fmt: skip
    # A paused campaign's message is held too, but not by quiet hours.
    await add_message(db, channel=ChannelName.SMS, status=MessageStatus.HELD, created_at=evening,
                      enterprise=org.enterprises[0], reason="活动已暂停")  # fmt: skip

    board = await read_dashboard(db, TicketScope.operator(), evening)

    assert board.quiet == QuietBanner(3, release)
    assert board.quiet.text(evening) == "静默时段：3 条消息将于 08:00 发送"
    assert board.as_dict()["quiet"]["text"] == "静默时段：3 条消息将于 08:00 发送"
    # Once released (the release moment passed), no banner.
    assert (await read_dashboard(db, TicketScope.operator(), release)).quiet is None


def test_a_release_more_than_a_day_ahead_names_its_date() -> None:
    now = datetime(2026, 9, 30, 14, 0, tzinfo=UTC)  # 22:00 before the National Day holiday
    banner = QuietBanner(12, datetime(2026, 10, 9, 0, 0, tzinfo=UTC))
    assert banner.text(now) == "静默时段：12 条消息将于 10月9日 08:00 发送"
