"""Who hears about a ticket besides the enterprise: its handler, the department head, 营商办.

A department's head is a staff account with role ``head`` in that department (there may be
several; each is told), else the head entered on the department row (``head_name``,
``head_mobile``, ``head_wecom_userid``). The business-environment office (营商办) is the
department named by config ``tickets.business_office_department``, else every department with
role ``business_office``; its heads are found the same way. A ticket without a department
goes to the dispatchers (分派员), who route it.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import DepartmentRole
from hub.outbound.notify import Recipient
from hub.store.models import Department, Staff


async def handler_or_heads(
    session: AsyncSession, handler_id: int | None, department_id: int | None
) -> list[Recipient]:
    """The handler, when assigned and not absent; else the department's heads."""
    if handler_id is not None:
        handler = await session.get(Staff, handler_id)
        # An absent handler (on leave) does not read it: the head does, and can reassign.
        if handler is not None and not handler.absent:
            return [Recipient.for_staff(handler)]
    return await department_heads(session, department_id)


async def department_heads(session: AsyncSession, department_id: int | None) -> list[Recipient]:
    """The heads of a department (see the module docstring); empty when none is on record.

    A ticket without a department is the dispatchers' (分派员) to route: they are told instead.
    """
    if department_id is None:
        dispatchers = (
            await session.scalars(
                sa.select(Staff)
                .where(Staff.role == "dispatcher", Staff.absent.is_(False))
                .order_by(Staff.id)
            )
        ).all()
        return [Recipient.for_staff(s) for s in dispatchers]
    staff = (
        await session.scalars(
            sa.select(Staff)
            .where(Staff.department_id == department_id, Staff.role == "head")
            .order_by(Staff.id)
        )
    ).all()
    if staff:
        return [Recipient.for_staff(s) for s in staff]
    department = await session.get(Department, department_id)
    if department is not None and (department.head_mobile or department.head_wecom_userid):
        return [Recipient.for_department_head(department)]
    return []


async def business_office_heads(session: AsyncSession, code: str | None = None) -> list[Recipient]:
    """The heads of the business-environment office (营商办)."""
    query = sa.select(Department.id).order_by(Department.id)
    if code:
        query = query.where(Department.code == code)
    else:
        query = query.where(Department.role == DepartmentRole.BUSINESS_OFFICE)
    offices = (await session.scalars(query)).all()
    return [r for office in offices for r in await department_heads(session, office)]
