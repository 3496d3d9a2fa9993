"""``GET /api/v1/me`` (any staff member) and ``GET /api/v1/staff`` (admins only)."""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Caller`, a type local to `router()`.

from typing import Annotated

from fastapi import APIRouter, Depends

from hub.tickets.staff import StaffRole, StaffView, list_staff
from hub.web.api.auth import Principal, allow
from hub.web.api.context import ApiContext
from hub.web.api.errors import ERROR_RESPONSES, ApiRoute
from hub.web.api.schemas import DepartmentOut, MeOut, ScopeOut, StaffOut


def me_out(caller: Principal) -> MeOut:
    seen = caller.visibility
    return MeOut(
        staff_id=caller.staff_id,
        username=caller.username,
        name=caller.name,
        role=caller.role.value,
        role_label=caller.role.label,
        department=DepartmentOut(id=caller.department_id, code=caller.department_code)
        if caller.department_id is not None
        else None,
        district=caller.district,
        scope=ScopeOut(
            industries=sorted(seen.industries) if seen.industries is not None else None,
            region=seen.region,
            full_addresses=seen.full_addresses,
            officer=caller.officer_code,
        ),
    )


def staff_out(staff: StaffView) -> StaffOut:
    role = staff.staff_role
    return StaffOut(
        id=staff.id,
        username=staff.username,
        name=staff.name,
        role=staff.role,
        role_label=role.label if role is not None else staff.role,
        department=staff.department_code,
        district=staff.district,
        absent=staff.absent,
        has_token=staff.has_token,
    )


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["staff 工作人员"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]
    Admin = Annotated[Principal, Depends(allow(ctx.authenticate, StaffRole.ADMIN))]

    @api.get("/me", response_model=MeOut)
    async def me(caller: Caller) -> MeOut:
        """当前凭证对应的工作人员：角色与可见范围。"""
        return me_out(caller)

    @api.get("/staff", response_model=list[StaffOut])
    async def staff(_: Admin) -> list[StaffOut]:
        """全部工作人员（仅管理员）；令牌只显示是否已签发。"""
        return [staff_out(s) for s in await list_staff(ctx.db)]

    return api
