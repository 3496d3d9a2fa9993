"""The registry as read (``hub enterprises list|show``, ``hub officers list``, ``hub departments
list``): enterprises with their dossier (一企一档), liaison officers and departments.

Each function returns JSON-ready dicts: times ISO 8601 in the hub's zone, enum values with their
Chinese labels, addresses as the reader may see them (:class:`~hub.queries.scope.Visibility`:
masked unless ``full_addresses``). An enterprise's department is the one its industry routes
requests to (:mod:`hub.tickets.routing`: the first department, by id, listing the industry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI, local_iso
from hub.core.vocab import ChannelName, Tier
from hub.outbound.audience import Audience
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.store.models import (
    AnnualReport,
    Contact,
    CreditEvent,
    Department,
    Enterprise,
    Licence,
    Message,
    Officer,
    Staff,
    Ticket,
)
from hub.tickets.lifecycle import OPEN_STATES

# A contact's addresses, by the channel whose masking rule applies to each.
_ADDRESSES = (
    ("mobile", ChannelName.SMS),
    ("wechat_openid", ChannelName.WECHAT),
    ("wecom_userid", ChannelName.WECOM),
    ("telegram_chat_id", ChannelName.TELEGRAM),
)


@dataclass(frozen=True, slots=True)
class EnterpriseFilter:
    """Which enterprises to list; ``before`` is an enterprise id (the next page, newest first)."""

    tier: Tier | None = None
    industry: str | None = None
    region: str | None = None
    officer_code: str | None = None
    audience: Audience | None = None
    name_contains: str | None = None
    before: int | None = None
    limit: int = 50


def _masked(visibility: Visibility, channel: ChannelName, value: str | None) -> str | None:
    return visibility.address(channel, value) if value else None


def _labelled(value: Any) -> dict[str, str]:
    return {"value": value.value, "label": value.label}


async def _departments_by_industry(session: AsyncSession) -> dict[str, Department]:
    """industry → the department its requests route to (the first by id, as routing does)."""
    found: dict[str, Department] = {}
    for department in await session.scalars(sa.select(Department).order_by(Department.id)):
        for industry in department.industries.split(";"):
            if industry and industry not in found:
                found[industry] = department
    return found


def _department_ref(department: Department | None) -> dict[str, str] | None:
    return {"code": department.code, "name": department.name} if department else None


def _officer_ref(officer: Officer | None) -> dict[str, str | None] | None:
    if officer is None:
        return None
    return {"code": officer.code, "name": officer.name, "region": officer.region}


def _enterprise(
    enterprise: Enterprise,
    officer: Officer | None,
    departments: Mapping[str, Department],
    tz: ZoneInfo,
) -> dict[str, Any]:
    return {
        "id": enterprise.id,
        "uscc": enterprise.uscc,
        "name": enterprise.name,
        "tier": _labelled(enterprise.tier),
        "industry": enterprise.industry,
        "region": enterprise.region,
        "stage": _labelled(enterprise.stage),
        "credit": _labelled(enterprise.credit_status),
        "tags": list(enterprise.tag_names),
        "officer": _officer_ref(officer),
        "department": _department_ref(departments.get(enterprise.industry)),
        "contacts": len(enterprise.contacts),
        "created_at": local_iso(enterprise.created_at, tz),
        "updated_at": local_iso(enterprise.updated_at, tz),
    }


async def list_enterprises(
    db: Database, wanted: EnterpriseFilter, visibility: Visibility, *, tz: ZoneInfo = SHANGHAI
) -> list[dict[str, Any]]:
    """Enterprises matching ``wanted`` that the reader may see, newest first."""
    stmt = (
        sa.select(Enterprise, Officer)
        .outerjoin(Officer, Enterprise.officer_id == Officer.id)
        .order_by(Enterprise.id.desc())
        .limit(wanted.limit)
    )
    conditions = _enterprise_conditions(wanted, visibility)
    if wanted.before is not None:
        conditions.append(Enterprise.id < wanted.before)
    async with db.read() as session:
        rows = (await session.execute(stmt.where(*conditions))).all()
        departments = await _departments_by_industry(session)
    return [_enterprise(e, officer, departments, tz) for e, officer in rows]


def _enterprise_conditions(
    wanted: EnterpriseFilter, visibility: Visibility
) -> list[sa.ColumnElement[bool]]:
    """``wanted``'s conditions (all but the page) on Enterprise, joined to its Officer."""
    clause = visibility.enterprise_filter(Enterprise.id)
    conditions = [] if clause is None else [clause]
    if wanted.tier is not None:
        conditions.append(Enterprise.tier == wanted.tier)
    if wanted.industry is not None:
        conditions.append(Enterprise.industry == wanted.industry)
    if wanted.region is not None:
        conditions.append(Enterprise.region == wanted.region)
    if wanted.officer_code is not None:
        conditions.append(Officer.code == wanted.officer_code)
    if wanted.audience is not None:
        conditions.append(wanted.audience.where())
    if wanted.name_contains is not None:
        conditions.append(Enterprise.name.contains(wanted.name_contains, autoescape=True))
    return conditions


async def count_enterprises(db: Database, wanted: EnterpriseFilter, visibility: Visibility) -> int:
    """How many enterprises match ``wanted`` (every page) that the reader may see."""
    stmt = sa.select(sa.func.count()).select_from(Enterprise)
    if wanted.officer_code is not None:  # the join only when a condition reads it
        stmt = stmt.outerjoin(Officer, Enterprise.officer_id == Officer.id)
    stmt = stmt.where(*_enterprise_conditions(wanted, visibility))
    async with db.read() as session:
        return int(await session.scalar(stmt) or 0)


def _contact(contact: Contact, visibility: Visibility) -> dict[str, Any]:
    item: dict[str, Any] = {"id": contact.id, "name": contact.name}
    for field, channel in _ADDRESSES:
        item[field] = _masked(visibility, channel, getattr(contact, field))
    item["preferred_channel"] = (
        contact.preferred_channel.value if contact.preferred_channel else None
    )
    item["opted_out"] = sorted(f"{o.channel.value}:{o.kind}" for o in contact.opt_outs)
    return item


async def _recent_messages(
    session: AsyncSession, enterprise_id: int, recent: int, tz: ZoneInfo
) -> list[dict[str, Any]]:
    messages = await session.scalars(
        sa.select(Message)
        .where(Message.enterprise_id == enterprise_id)
        .order_by(Message.id.desc())
        .limit(recent)
    )
    return [
        {
            "id": m.id,
            "kind": m.kind.value,
            "kind_label": m.kind.label,
            "channel": m.channel.value,
            "status": m.status.value,
            "status_label": m.status.label,
            "reason": m.status_reason,
            "created_at": local_iso(m.created_at, tz),
            "sent_at": local_iso(m.sent_at, tz),
        }
        for m in messages.all()
    ]


async def _recent_tickets(
    session: AsyncSession, enterprise_id: int, recent: int, tz: ZoneInfo
) -> list[dict[str, Any]]:
    rows = await session.execute(
        sa.select(Ticket, Department.code, Department.name)
        .outerjoin(Department, Ticket.department_id == Department.id)
        .where(Ticket.enterprise_id == enterprise_id)
        .order_by(Ticket.id.desc())
        .limit(recent)
    )
    return [
        {
            "number": t.number,
            "state": t.state.value,
            "state_label": t.state.label,
            "category": t.category.value,
            "subject": t.subject,
            "department": {"code": code, "name": name} if code else None,
            "received_at": local_iso(t.received_at, tz),
            "deadline_at": local_iso(t.deadline_at, tz),
        }
        for t, code, name in rows.all()
    ]


async def enterprise_dossier(
    db: Database, uscc: str, visibility: Visibility, *, tz: ZoneInfo = SHANGHAI, recent: int = 5
) -> dict[str, Any] | None:
    """The dossier (一企一档) of one enterprise; None when unknown or not visible to the reader.

    Its fields, contacts, officer, department, credit events, licences (soonest expiry first),
    the ``recent`` latest annual-report filings, and its messages and tickets: counts by status
    and the ``recent`` newest of each.
    """
    stmt = (
        sa.select(Enterprise, Officer)
        .outerjoin(Officer, Enterprise.officer_id == Officer.id)
        .where(Enterprise.uscc == uscc)
    )
    clause = visibility.enterprise_filter(Enterprise.id)
    if clause is not None:
        stmt = stmt.where(clause)
    async with db.read() as session:
        row = (await session.execute(stmt)).first()
        if row is None:
            return None
        enterprise, officer = row
        departments = await _departments_by_industry(session)
        dossier = _enterprise(enterprise, officer, departments, tz)
        dossier["contacts"] = [_contact(c, visibility) for c in enterprise.contacts]
        if officer is not None:
            dossier["officer"] = {
                **_officer_ref(officer),  # type: ignore[dict-item]
                "mobile": _masked(visibility, ChannelName.SMS, officer.mobile),
            }
        credit = await session.scalars(
            sa.select(CreditEvent)
            .where(CreditEvent.enterprise_id == enterprise.id)
            .order_by(CreditEvent.decided_on.desc(), CreditEvent.id.desc())
            .limit(recent)
        )
        dossier["credit_records"] = [
            {"event_id": c.event_id, "type": c.type.value, "type_label": c.type.label,
             "authority": c.authority, "decided_on": c.decided_on.isoformat(),
             "summary": c.summary, "status": c.status.value, "status_label": c.status.label,
             "repaired_on": c.repaired_on.isoformat() if c.repaired_on else None}
            for c in credit.all()
        ]  # fmt: skip
        licences = await session.scalars(
            sa.select(Licence)
            .where(Licence.enterprise_id == enterprise.id)
            .order_by(Licence.expires_on, Licence.id)
        )
        dossier["licences"] = [
            {"kind": lic.kind, "number": lic.number, "expires_on": lic.expires_on.isoformat(),
             "authority": lic.authority,
             "renewed_on": lic.renewed_on.isoformat() if lic.renewed_on else None}
            for lic in licences.all()
        ]  # fmt: skip
        filings = await session.execute(
            sa.select(AnnualReport.year, AnnualReport.filed_on)
            .where(AnnualReport.enterprise_id == enterprise.id)
            .order_by(AnnualReport.year.desc())
            .limit(recent)
        )
        dossier["annual_reports"] = [
            {"year": year, "filed_on": filed_on.isoformat()} for year, filed_on in filings
        ]
        message_counts = {
            status.value: n
            for status, n in (
                await _count_by(session, Message.status, Message.enterprise_id == enterprise.id)
            ).items()
        }
        ticket_counts = {
            state.value: n
            for state, n in (
                await _count_by(session, Ticket.state, Ticket.enterprise_id == enterprise.id)
            ).items()
        }
        dossier["messages"] = {
            "total": sum(message_counts.values()),
            "by_status": message_counts,
            "recent": await _recent_messages(session, enterprise.id, recent, tz),
        }
        dossier["tickets"] = {
            "total": sum(ticket_counts.values()),
            "open": sum(n for state, n in ticket_counts.items() if state in OPEN_STATES),
            "by_state": ticket_counts,
            "recent": await _recent_tickets(session, enterprise.id, recent, tz),
        }
    return dossier


async def list_officers(
    db: Database,
    visibility: Visibility,
    *,
    region: str | None = None,
    department_code: str | None = None,
) -> list[dict[str, Any]]:
    """Liaison officers by code, with their department and how many enterprises they serve."""
    served = (
        sa.select(sa.func.count())
        .where(Enterprise.officer_id == Officer.id)
        .correlate(Officer)
        .scalar_subquery()
    )
    stmt = (
        sa.select(Officer, Department.code, Department.name, served)
        .outerjoin(Department, Officer.department_id == Department.id)
        .order_by(Officer.code)
    )
    if region is not None:
        stmt = stmt.where(Officer.region == region)
    if department_code is not None:
        stmt = stmt.where(Department.code == department_code)
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return [
        {
            "code": officer.code,
            "name": officer.name,
            "mobile": _masked(visibility, ChannelName.SMS, officer.mobile),
            "wecom_userid": _masked(visibility, ChannelName.WECOM, officer.wecom_userid),
            "telegram_chat_id": _masked(visibility, ChannelName.TELEGRAM, officer.telegram_chat_id),
            "region": officer.region,
            "department": {"code": code, "name": name} if code else None,
            "enterprises": enterprises,
        }
        for officer, code, name, enterprises in rows
    ]


async def _count_by(
    session: AsyncSession, key: Any, *where: sa.ColumnElement[bool]
) -> dict[Any, int]:
    rows = await session.execute(sa.select(key, sa.func.count()).where(*where).group_by(key))
    return {value: n for value, n in rows.all()}


async def list_departments(db: Database, visibility: Visibility) -> list[dict[str, Any]]:
    """Departments by id, with their staff, handlers present, enterprises and open tickets."""
    async with db.read() as session:
        departments = (await session.scalars(sa.select(Department).order_by(Department.id))).all()
        staff = await _count_by(session, Staff.department_id)
        handlers = await _count_by(
            session, Staff.department_id, Staff.role == "handler", Staff.absent.is_(False)
        )
        open_tickets = await _count_by(session, Ticket.department_id, Ticket.state.in_(OPEN_STATES))
        by_industry = await _count_by(session, Enterprise.industry)
        routed = await _departments_by_industry(session)
    items = []
    for department in departments:
        industries = [i for i in department.industries.split(";") if i]
        items.append({
            "code": department.code,
            "name": department.name,
            "role": _labelled(department.role),
            "industries": industries,
            "head_name": department.head_name,
            "head_mobile": _masked(visibility, ChannelName.SMS, department.head_mobile),
            "staff": staff.get(department.id, 0),
            "handlers_present": handlers.get(department.id, 0),
            "enterprises": sum(
                n for industry, n in by_industry.items()
                if routed.get(industry) is department
            ),
            "open_tickets": open_tickets.get(department.id, 0),
        })  # fmt: skip
    return items


__all__ = [
    "EnterpriseFilter",
    "count_enterprises",
    "enterprise_dossier",
    "list_departments",
    "list_enterprises",
    "list_officers",
]
