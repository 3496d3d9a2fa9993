"""Rows the dossier, reminder and task tests create: tickets, credit events, policies pushed and
answered, visits. Each helper writes the row as the hub's own code would leave it."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.vocab import (
    ChannelName,
    DepartmentRole,
    MessageKind,
    MessageStatus,
    ReplyClass,
    TicketState,
    Urgency,
    VisitStatus,
)
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent, Policy
from hub.store.messaging import Campaign, InboundReply, Message
from hub.store.registry import Contact, Department, Enterprise, Visit
from hub.store.tickets import Ticket
from tests.seed import seed_registry

T0 = datetime(2027, 1, 4, tzinfo=UTC)


async def department(session: AsyncSession, code: str, name: str) -> int:
    row = Department(code=code, name=name, role=DepartmentRole.DEPARTMENT, created_at=T0,
                     updated_at=T0)  # fmt: skip
    session.add(row)
    await session.flush()
    return row.id


async def ticket(
    session: AsyncSession, enterprise_id: int, number: str, subject: str, deadline_at: datetime,
    *, state: TicketState = TicketState.ASSIGNED, department_id: int | None = None,
) -> int:  # fmt: skip
    row = Ticket(
        number=number, enterprise_id=enterprise_id, department_id=department_id, subject=subject,
        body=subject, urgency=Urgency.GENERAL, state=state, received_at=T0,
        deadline_at=deadline_at, created_at=T0, updated_at=T0,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return row.id


async def credit_event(
    session: AsyncSession, enterprise_id: int, event_id: str, *,
    status: CreditEventStatus = CreditEventStatus.ACTIVE,
    type_: CreditEventType = CreditEventType.ADMIN_PENALTY, summary: str = "",
    decided_on: date = date(2027, 1, 20),
) -> None:  # fmt: skip
    session.add(CreditEvent(
        event_id=event_id, enterprise_id=enterprise_id, type=type_,
        authority="龙沙区市场监督管理局", decided_on=decided_on, summary=summary, status=status,
        created_at=T0, updated_at=T0,
    ))  # fmt: skip


async def first_contact(session: AsyncSession, enterprise_id: int) -> Contact:
    found = await session.scalar(
        sa.select(Contact).where(Contact.enterprise_id == enterprise_id).order_by(Contact.id)
    )
    assert found is not None
    return found


async def policy_push(
    session: AsyncSession, enterprise_id: int, policy_id: str, title: str, at: datetime, *,
    status: MessageStatus = MessageStatus.DELIVERED,
) -> int:  # fmt: skip
    """A policy (saved once) pushed by policy_match to the enterprise's first contact; the
    message's id."""
    if await session.scalar(sa.select(Policy.id).where(Policy.policy_id == policy_id)) is None:
        session.add(Policy(policy_id=policy_id, title=title, created_at=T0, updated_at=T0))
    campaign = Campaign(
        kind=MessageKind.POLICY_PUSH, trigger="program:policy_match",
        trigger_key=f"policy:{policy_id}", audience="all", status="done",
        created_by="program:policy_match", created_at=at, updated_at=at,
    )  # fmt: skip
    session.add(campaign)
    await session.flush()
    contact = await first_contact(session, enterprise_id)
    message = Message(
        idempotency_key=uuid.uuid4().hex, campaign_id=campaign.id, kind=MessageKind.POLICY_PUSH,
        enterprise_id=enterprise_id, contact_id=contact.id, channel=ChannelName.SMS,
        address=contact.mobile or "", status=status, body=title, params={}, created_at=at,
        updated_at=at, sent_at=at if status in (MessageStatus.SENT, MessageStatus.DELIVERED)
        else None,
    )  # fmt: skip
    session.add(message)
    await session.flush()
    return message.id


async def reply(
    session: AsyncSession, enterprise_id: int, at: datetime, *, in_reply_to: int | None = None,
    classification: ReplyClass = ReplyClass.REQUEST, text: str = "好的，已了解",
) -> None:  # fmt: skip
    """A reply from the enterprise's first contact, classified."""
    contact = await first_contact(session, enterprise_id)
    session.add(InboundReply(
        channel=ChannelName.SMS, provider="sandbox", provider_msg_id=uuid.uuid4().hex,
        sender=contact.mobile or "", text=text, raw={}, received_at=at, contact_id=contact.id,
        enterprise_id=enterprise_id, in_reply_to=in_reply_to, classification=classification,
        classified_at=at,
    ))  # fmt: skip


async def visit(
    session: AsyncSession, enterprise_id: int, officer_id: int | None, period: str,
    status: VisitStatus, **values: Any,
) -> int:  # fmt: skip
    """A visit in ``period``; ``values`` set proposed_for, proposed_at, slots, visited_at,
    notes, details."""
    row = Visit(enterprise_id=enterprise_id, officer_id=officer_id, period=period, status=status,
                details=values.pop("details", {}), slots=values.pop("slots", []),
                created_at=T0, updated_at=T0, **values)  # fmt: skip
    session.add(row)
    await session.flush()
    return row.id


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A UTC time: ``utc(2027, 3, 8, 1, 30)`` is 09:30 in Shanghai."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


PROBLEMS = [
    {"text": "厂区用电容量不足，需增容", "ticket_number": "GD202612080002",
     "department": "市发展改革委"},
    {"text": "招工难", "ticket_number": "", "department": ""},
]  # fmt: skip


async def record_of_jia(db: Database, *, seeded: bool = False) -> dict[str, int]:
    """The sample registry (tests.seed), and 甲机械's record: two open tickets (one overdue)
    and a closed one, an active and a repaired credit event, policies pushed (answered, not
    answered, not yet sent), two visits done (the last with problems) and one CONFIRMED for
    Monday 8 March 2027 at 09:30 Shanghai time. ``seeded``: the registry is there already (the
    scheduling tests' ``hub`` fixture seeds it). The enterprises' ids by name."""
    ids = await registry_ids(db) if seeded else await seed_registry(db)
    jia = ids["甲机械"]
    async with db.write() as session:
        fgw = await department(session, "FGW", "市发展改革委")
        tickets = (  # (enterprise, number, subject, deadline, state, department)
            (jia, "GD202702150003", "厂区用电增容申请", utc(2027, 2, 26, 16),
             TicketState.ASSIGNED, fgw),
            (jia, "GD202703010001", "招工补贴申领咨询", utc(2027, 3, 12, 16),
             TicketState.IN_PROGRESS, None),
            (jia, "GD202701050001", "已办结的诉求", utc(2027, 1, 20, 16),
             TicketState.CLOSED, None),
            (ids["丙软件"], "GD202702200009", "别家的诉求", utc(2027, 3, 20, 16),
             TicketState.NEW, None),
        )  # fmt: skip
        for enterprise_id, number, subject, deadline, state, department_id in tickets:
            await ticket(session, enterprise_id, number, subject, deadline, state=state,
                         department_id=department_id)  # fmt: skip
        await credit_event(session, jia, "XY2027-0001", summary="未按规定公示年度报告")
        await credit_event(session, jia, "XY2026-0009", status=CreditEventStatus.REPAIRED)
        answered = await policy_push(session, jia, "ZC-001", "高新技术企业认定奖励",
                                     utc(2027, 2, 1, 2))  # fmt: skip
        await reply(session, jia, utc(2027, 2, 1, 3), in_reply_to=answered,
                    text="想申报，请联系我")  # fmt: skip
        await policy_push(session, jia, "ZC-002", "稳岗返还", utc(2027, 1, 10, 2))
        await policy_push(session, jia, "ZC-003", "还没发出的政策", utc(2027, 3, 4, 2),
                          status=MessageStatus.QUEUED)  # fmt: skip
        officer = await officer_of(session, jia)
        await visit(session, jia, officer, "2026Q3", VisitStatus.DONE,
                    visited_at=utc(2026, 8, 10, 2), notes="旧的记录")  # fmt: skip
        await visit(session, jia, officer, "2026Q4", VisitStatus.DONE,
                    visited_at=utc(2026, 12, 8, 2), notes="生产正常，反映用电紧张",
                    details={"problems": PROBLEMS})  # fmt: skip
        await visit(session, jia, officer, "2027Q1", VisitStatus.CONFIRMED,
                    proposed_for=utc(2027, 3, 8, 1, 30))  # fmt: skip
    return ids


async def registry_ids(db: Database) -> dict[str, int]:
    """The seeded enterprises' ids by name."""
    async with db.read() as session:
        return {name: id_ for id_, name in await session.execute(
            sa.select(Enterprise.id, Enterprise.name))}  # fmt: skip


async def officer_of(session: AsyncSession, enterprise_id: int) -> int:
    """The enterprise's liaison officer's id."""
    officer = await session.scalar(
        sa.select(Enterprise.officer_id).where(Enterprise.id == enterprise_id)
    )
    assert officer is not None
    return int(officer)
