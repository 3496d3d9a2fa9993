"""Tickets written straight into the database, with their events and ratings, for SLA,
callback and report tests (explicit dates; the ticket service is tested on its own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from redis.asyncio import Redis

from hub.core.keys import RedisKeys
from hub.core.vocab import (
    ChannelName,
    DepartmentRole,
    TicketCategory,
    TicketEventType,
    TicketState,
    Tier,
    Urgency,
)
from hub.infra.queue import Queue
from hub.infra.redis_server import open_redis
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import (
    Contact,
    Department,
    Enterprise,
    Rating,
    Staff,
    Ticket,
    TicketEvent,
)
from tests.conftest import PROJECT_ROOT
from tests.importing.factories import make_uscc
from tests.redis_fixtures import server7_url

T_CREATED = datetime(2026, 1, 1)


@dataclass
class Org:
    """Two departments and the office, their staff, and two enterprises with a contact each."""

    fgw: int = 0  # 发展改革委 (a department)
    sjj: int = 0  # 市场监管局 (a department)
    office: int = 0  # 营商办
    handler: int = 0  # FGW handler on WeCom
    sjj_handler: int = 0
    head: int = 0  # FGW head on WeCom
    office_head: int = 0  # 营商办 head, SMS only
    enterprises: list[int] = field(default_factory=list)
    contacts: list[int] = field(default_factory=list)


async def make_org(db: Database, now: datetime) -> Org:
    org = Org()
    async with db.write() as s:
        stamp = {"created_at": now, "updated_at": now}
        deps = [
            Department(code="FGW", name="市发展改革委", role=DepartmentRole.DEPARTMENT, **stamp),
            Department(
                code="SJJ",
                name="市市场监管局",
                role=DepartmentRole.DEPARTMENT,
                head_name="李局",
                head_mobile="+8613700000009",
                **stamp,
            ),
            Department(
                code="YSB",
                name="市营商环境建设办公室",
                role=DepartmentRole.BUSINESS_OFFICE,
                **stamp,
            ),
        ]
        s.add_all(deps)
        await s.flush()
        org.fgw, org.sjj, org.office = (d.id for d in deps)
        staff = [
            Staff(
                username="h1",
                name="张承办",
                role="handler",
                department_id=org.fgw,
                wecom_userid="zhang",
                mobile="+8613800000001",
                **stamp,
            ),
            Staff(
                username="h2",
                name="王承办",
                role="handler",
                department_id=org.sjj,
                mobile="+8613800000002",
                **stamp,
            ),
            Staff(
                username="head1",
                name="赵主任",
                role="head",
                department_id=org.fgw,
                wecom_userid="zhao",
                **stamp,
            ),
            Staff(
                username="ysb1",
                name="钱主任",
                role="head",
                department_id=org.office,
                mobile="+8613800000004",
                **stamp,
            ),
        ]
        s.add_all(staff)
        await s.flush()
        org.handler, org.sjj_handler, org.head, org.office_head = (m.id for m in staff)
        for i, name in enumerate(("甲机械有限公司", "乙商贸有限公司"), start=1):
            e = Enterprise(
                uscc=make_uscc(9000 + i),
                name=name,
                tier=Tier.GENERAL,
                industry="制造业",
                region="龙沙区",
                **stamp,
            )
            s.add(e)
            await s.flush()
            c = Contact(
                enterprise_id=e.id,
                natural_key=f"+861390000900{i}",
                name=f"联系人{i}",
                mobile=f"+861390000900{i}",
                **stamp,
            )
            s.add(c)
            await s.flush()
            org.enterprises.append(e.id)
            org.contacts.append(c.id)
    return org


async def make_ticket(
    db: Database,
    org: Org,
    *,
    number: str,
    received_at: datetime,
    deadline_at: datetime,
    state: TicketState = TicketState.ASSIGNED,
    department: int | None = -1,
    handler: int | None = -1,
    enterprise: int = 0,
    urgency: Urgency = Urgency.GENERAL,
    category: TicketCategory = TicketCategory.REQUEST,
    resolutions: Sequence[datetime] = (),
    ratings: Sequence[tuple[int, datetime, bool]] = (),
    extensions: Sequence[datetime] = (),
    closed: tuple[datetime, str] | None = None,
) -> int:
    """A ticket with ``created`` (+``assigned``) events, one ``resolved`` per resolution, a
    ``reopened`` between resolutions, ``extended`` events and ratings (score, at, malicious).
    ``department``/``handler`` -1 means FGW and its handler."""
    dep = org.fgw if department == -1 else department
    hid = org.handler if handler == -1 else handler
    async with db.write() as s:
        t = Ticket(
            number=number,
            enterprise_id=org.enterprises[enterprise],
            contact_id=org.contacts[enterprise],
            department_id=dep,
            handler_id=hid,
            subject=f"诉求{number}",
            body=f"诉求{number}的内容",
            urgency=urgency,
            state=state,
            category=category,
            channel=ChannelName.SMS,
            received_at=received_at,
            deadline_at=deadline_at,
            resolved_at=resolutions[-1] if resolutions else None,
            closed_at=closed[0] if closed else None,
            close_reason=closed[1] if closed else None,
            reopen_count=max(len(resolutions) - 1, 0),
            escalation_level=0,
            deadline_extensions=[1] * len(extensions),
            created_at=received_at,
            updated_at=received_at,
        )
        s.add(t)
        await s.flush()
        events = [(TicketEventType.CREATED, received_at)]
        if hid is not None:
            events.append((TicketEventType.ASSIGNED, received_at))
        events += [(TicketEventType.EXTENDED, at) for at in extensions]
        for i, at in enumerate(resolutions):
            events.append((TicketEventType.RESOLVED, at))
            if i < len(resolutions) - 1:
                events.append((TicketEventType.REOPENED, at))
        if closed:
            events.append((TicketEventType.CLOSED, closed[0]))
        for kind, at in events:
            s.add(TicketEvent(ticket_id=t.id, type=kind, actor="test", at=at, data={}))
        for score, at, malicious in ratings:
            s.add(
                Rating(
                    ticket_id=t.id,
                    contact_id=t.contact_id,
                    score=score,
                    at=at,
                    malicious=malicious,
                    malicious_reason="恶意" if malicious else None,
                )
            )
        return t.id


def renderer() -> TemplateRenderer:
    return TemplateRenderer(PROJECT_ROOT / "templates")


def staff_policy(*channels: str) -> PlanningPolicy:
    """Sandbox by default; with channels enabled, the shipped staff chains (wecom, sms)."""
    from hub.outbound.settings import RoutingSettings

    chains = {
        "default": ("wechat", "sms"),
        "deadline_reminder": ("wecom", "telegram", "sms"),
        "escalation": ("wecom", "telegram", "sms"),
    }
    return PlanningPolicy(
        default_channel=ChannelName.SANDBOX,
        enabled_channels=frozenset(channels or ("sandbox",)),
        routing=RoutingSettings(chains=chains),
    )


@asynccontextmanager
async def scratch_queue(tmp_path: Path) -> AsyncIterator[Queue]:
    """A queue on the Redis 7 test server under a key prefix of its own (deleted after)."""
    handle = await open_redis(server7_url(), data_dir=tmp_path, client_name="test")
    redis: Redis = handle.client
    keys = RedisKeys(f"test-{uuid.uuid4().hex[:12]}")
    try:
        yield Queue(redis, keys)
    finally:
        doomed = [key async for key in redis.scan_iter(match=keys.pattern(), count=1000)]
        if doomed:
            await redis.unlink(*doomed)
        await handle.aclose()
