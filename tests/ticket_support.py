"""What the ticket tests share: departments, handlers and heads, a policy, a ticket factory."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from hub.app.config import Settings
from hub.core.clock import SHANGHAI
from hub.core.vocab import ChannelName, DepartmentRole, TicketCategory
from hub.store.db import Database
from hub.store.models import Contact, Department, Staff, Ticket
from hub.tickets.lifecycle import open_ticket
from hub.tickets.policy import TicketPolicy
from hub.tickets.settings import TicketRule, TicketsSettings
from tests.seed import seed_registry

T0 = datetime(2026, 11, 1, tzinfo=UTC)

# code, name, role, industries (tests/seed.py: 甲机械 制造业, 乙商贸 批发和零售业, 丙软件 信息…,
# 丁餐饮 住宿和餐饮业, 戊建筑 建筑业)
DEPARTMENTS = (
    ("GXJ", "工业和信息化局", DepartmentRole.DEPARTMENT, "制造业;信息传输、软件和信息技术服务业"),
    ("SWJ", "商务局", DepartmentRole.DEPARTMENT, "批发和零售业;住宿和餐饮业"),
    ("FGW", "发展和改革委员会", DepartmentRole.DEPARTMENT, ""),
    ("YSB", "营商环境建设监督局", DepartmentRole.BUSINESS_OFFICE, ""),
)
# username, role, department, absent
STAFF = (
    ("gxj_a", "handler", "GXJ", False),
    ("gxj_b", "handler", "GXJ", True),
    ("gxj_c", "handler", "GXJ", False),
    ("gxj_head", "head", "GXJ", False),
    ("swj_a", "handler", "SWJ", False),
    ("fgw_a", "handler", "FGW", False),
    ("ysb_head", "head", "YSB", False),
    ("dispatcher", "dispatcher", None, False),
    ("admin", "admin", None, False),
    ("viewer", "viewer", None, False),
)
RULES = (
    TicketRule(keywords=("停电", "电价"), department="FGW"),
    TicketRule(category=TicketCategory.COMPLAINT, industry="批发和零售业", department="GXJ"),
)


@dataclass(frozen=True)
class TicketWorld:
    enterprises: dict[str, int]
    contacts: dict[str, int]  # first contact per enterprise name
    departments: dict[str, int]
    staff: dict[str, int]


async def seed_ticket_world(db: Database) -> TicketWorld:
    enterprises = await seed_registry(db)
    departments: dict[str, int] = {}
    staff: dict[str, int] = {}
    async with db.write() as session:
        for code, name, department_role, industries in DEPARTMENTS:
            department = Department(
                code=code, name=name, role=department_role, industries=industries,
                head_name=f"{code}负责人", created_at=T0, updated_at=T0,
            )  # fmt: skip
            session.add(department)
            await session.flush()
            departments[code] = department.id
        for n, (username, role, staff_code, absent) in enumerate(STAFF, start=1):
            member = Staff(
                username=username, name=f"{username}姓名", role=role,
                department_id=departments[staff_code] if staff_code else None, absent=absent,
                mobile=f"+861380000{n:04d}", created_at=T0, updated_at=T0,
            )  # fmt: skip
            session.add(member)
            await session.flush()
            staff[username] = member.id
        rows = await session.execute(
            sa.select(Contact.enterprise_id, sa.func.min(Contact.id)).group_by(
                Contact.enterprise_id
            )
        )
        by_id = {eid: cid for eid, cid in rows.all()}
    contacts = {name: by_id[eid] for name, eid in enterprises.items() if eid in by_id}
    return TicketWorld(enterprises, contacts, departments, staff)


def policy(**tickets: object) -> TicketPolicy:
    settings = Settings(tickets=TicketsSettings(rules=RULES, **tickets))
    return TicketPolicy.from_settings(settings)


def sh(y: int, m: int, d: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, hour, minute, tzinfo=SHANGHAI)


async def new_ticket(
    db: Database,
    world: TicketWorld,
    *,
    at: datetime,
    enterprise: str = "甲机械",
    body: str = "企业用地手续办理遇到困难，需要协调",
    pol: TicketPolicy | None = None,
    channel: ChannelName = ChannelName.SMS,
    **kwargs: object,
) -> Ticket:
    async with db.write() as session:
        return await open_ticket(
            session, policy=pol or policy(), now=at, body=body, channel=channel,
            enterprise_id=world.enterprises[enterprise],
            contact_id=world.contacts.get(enterprise), **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
