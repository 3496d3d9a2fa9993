"""Known rows of 2027 H1 for the work report tests (report, program, CLI): see
tests/reports/test_work_report.py for what they imply.

3 requests received (one resolved on time and rated 5, one resolved late and rated 2, one still
open past its deadline at the end of June); 6 messages of H1 (4 SMS to contacts: 2 delivered
policy pushes, a credit warning sent and one failed; 2 WeCom escalations: one sent, one skipped)
and one of July (outside); 3 replies (2 to the first policy push); 2 credit events decided in
H1, one repaired and one (of 2026) removed in H1; the key enterprise visited in Q1 and not in
Q2, the general one not at all.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa

from hub.core.clock import SHANGHAI
from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.vocab import (
    ChannelName,
    MessageKind,
    MessageStatus,
    TicketState,
    Tier,
    VisitStatus,
)
from hub.core.workdays import WorkdayCalendar
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent, Policy
from hub.store.models import Campaign, Enterprise, InboundReply, Message, Officer, Visit
from tests.scheduling.programs.year_scenario import CALENDAR_2027
from tests.ticket_factory import Org, make_org, make_ticket

CALENDAR = WorkdayCalendar.from_years(CALENDAR_2027.years)
NOW = datetime(2027, 7, 5, 10, tzinfo=SHANGHAI)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2027, month, day, hour, tzinfo=SHANGHAI)


async def _messages(db: Database, org: Org) -> None:
    stamp = {"created_at": at(1, 1), "updated_at": at(1, 1)}
    e0, e1 = org.enterprises
    c0, c1 = org.contacts
    rows = [
        # kind, channel, status, enterprise, contact, staff, created
        (MessageKind.POLICY_PUSH, ChannelName.SMS, MessageStatus.DELIVERED, e0, c0, None, at(2, 1)),
        (MessageKind.POLICY_PUSH, ChannelName.SMS, MessageStatus.DELIVERED, e1, c1, None, at(2, 1)),
        (MessageKind.CREDIT_WARNING, ChannelName.SMS, MessageStatus.SENT, e0, c0, None, at(2, 2)),
        (MessageKind.CREDIT_WARNING, ChannelName.SMS, MessageStatus.FAILED, e0, c0, None, at(3, 2)),
        (MessageKind.ESCALATION, ChannelName.WECOM, MessageStatus.SENT, None, None, org.head,
         at(3, 9)),
        (MessageKind.ESCALATION, ChannelName.WECOM, MessageStatus.SKIPPED, None, None, org.head,
         at(6, 30, 23)),
        (MessageKind.NOTICE, ChannelName.SMS, MessageStatus.DELIVERED, e0, c0, None, at(7, 1, 0)),
    ]  # fmt: skip
    async with db.write() as s:
        campaign = Campaign(kind=MessageKind.POLICY_PUSH, trigger="program:policy_match",
                            trigger_key="policy:ZC-2027-01", audience="all", status="done",
                            created_by="test", **stamp)  # fmt: skip
        s.add_all([campaign, Policy(policy_id="ZC-2027-01", title="技术改造专项补贴", **stamp)])
        await s.flush()
        messages = []
        for n, (kind, channel, status, enterprise, contact, staff, created) in enumerate(rows):
            m = Message(
                idempotency_key=f"k{n}", kind=kind, channel=channel, status=status,
                enterprise_id=enterprise, contact_id=contact, staff_id=staff,
                campaign_id=campaign.id if kind is MessageKind.POLICY_PUSH else None,
                address="x", body="…", params={}, attempts=1, created_at=created,
                updated_at=created,
            )  # fmt: skip
            messages.append(m)
        s.add_all(messages)
        await s.flush()
        replies = [(messages[0].id, at(2, 1, 11)), (messages[0].id, at(2, 1, 12)), (None, at(4, 1))]
        for n, (to, received) in enumerate(replies):
            s.add(InboundReply(channel=ChannelName.SMS, provider="tencent", provider_msg_id=f"r{n}",
                               sender="+8613900009001", text="收到", raw={}, received_at=received,
                               contact_id=c0, enterprise_id=e0, in_reply_to=to))  # fmt: skip


async def _credit_and_visits(db: Database, org: Org) -> None:
    stamp = {"created_at": at(1, 1), "updated_at": at(1, 1)}
    e0, e1 = org.enterprises
    events = [
        ("E1", CreditEventType.ADMIN_PENALTY, date(2027, 2, 1), CreditEventStatus.ACTIVE, None),
        ("E2", CreditEventType.ABNORMAL_OPERATION, date(2027, 3, 1), CreditEventStatus.REPAIRED,
         date(2027, 5, 1)),
        ("E3", CreditEventType.DISHONEST_DEBTOR, date(2026, 10, 1), CreditEventStatus.REMOVED,
         date(2027, 4, 1)),
    ]  # fmt: skip
    async with db.write() as s:
        for event_id, kind, decided, status, repaired in events:
            event = CreditEvent(event_id=event_id, enterprise_id=e0, type=kind, authority="市监局",
                                decided_on=decided, status=status, repaired_on=repaired,
                                **stamp)  # fmt: skip
            s.add(event)
        officer = Officer(code="LL001", name="孙联络", **stamp)
        s.add(officer)
        await s.flush()
        await s.execute(sa.update(Enterprise).where(Enterprise.id == e0)
                        .values(tier=Tier.KEY, officer_id=officer.id))  # fmt: skip
        await s.execute(
            sa.update(Enterprise).where(Enterprise.id == e1).values(officer_id=officer.id)
        )
        s.add_all([
            Visit(enterprise_id=e0, officer_id=officer.id, period="2027Q1",
                  status=VisitStatus.DONE, visited_at=at(2, 10), due_on=date(2027, 2, 10),
                  **stamp),
            Visit(enterprise_id=e0, officer_id=officer.id, period="2027Q2",
                  status=VisitStatus.PLANNED, due_on=date(2027, 5, 10), **stamp),
        ])  # fmt: skip


async def seed(db: Database) -> Org:
    org = await make_org(db, datetime(2026, 12, 1, tzinfo=SHANGHAI))
    rated = at(1, 8, 12)
    await make_ticket(db, org, number="GD202701050001", received_at=at(1, 5),
                      deadline_at=at(1, 12), state=TicketState.CLOSED, resolutions=[at(1, 8)],
                      ratings=[(5, rated, False)], closed=(rated, "rated"))  # fmt: skip
    await make_ticket(db, org, number="GD202703010001", received_at=at(3, 1),
                      deadline_at=at(3, 5), state=TicketState.RESOLVED, resolutions=[at(3, 10)],
                      ratings=[(2, at(3, 10, 12), False)])  # fmt: skip
    await make_ticket(db, org, number="GD202705200001", received_at=at(5, 20),
                      deadline_at=at(6, 1))  # fmt: skip
    await _messages(db, org)
    await _credit_and_visits(db, org)
    return org
