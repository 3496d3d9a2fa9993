"""The staff accounts page (``/admin/staff``, admins): who may sign in, who is locked, an
admin's password reset, which also lifts a lockout and ends the account's sessions, and the
liaison officer an officer's account stands for (it sees only that officer's enterprises).

The reset goes through :func:`hub.tickets.staff_passwords.set_password` and the link through
:func:`hub.tickets.staff.set_officer`, with the admin as the actor, so both are in the audit log
like the CLI's ``hub staff set-password`` and ``hub staff set-officer``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.core.errors import NotFoundError, UsageError
from hub.tickets.staff import StaffRole, StaffView, list_staff, set_officer
from hub.tickets.staff_passwords import SignInState, set_password, sign_in_states
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    SignedIn,
    admin_context,
    flash,
    form_data,
    require_role,
)
from hub.web.admin.shell import render

STAFF_PATH = f"{ADMIN_PREFIX}/staff"
_admins_only = require_role(StaffRole.ADMIN)
T = TypeVar("T")


def _row(view: StaffView, state: SignInState | None, request: Request) -> dict[str, Any]:
    ctx = admin_context(request)
    role = view.staff_role
    status = "未设置密码"
    if state is not None and state.has_password:
        status = "正常"
        if state.locked_at(ctx.clock.now()):
            assert state.locked_until is not None
            until = state.locked_until.astimezone(ctx.tz).strftime("%m-%d %H:%M")
            status = f"已锁定至 {until}"
        elif state.failed_logins:
            status = f"正常（连续输错 {state.failed_logins} 次）"
    return {"username": view.username, "name": view.name,
            "role": role.label if role else view.role,
            "department": view.department_name or "", "district": view.district or "",
            "officer": view.officer_label,
            "officer_code": view.officer_code or "", "is_officer": role is StaffRole.OFFICER,
            "status": status}  # fmt: skip


async def _page(request: Request, *, message: str = "", status: int = 200) -> HTMLResponse:
    ctx = admin_context(request)
    states = await sign_in_states(ctx.db)
    rows = [_row(view, states.get(view.username), request) for view in await list_staff(ctx.db)]
    return await render(request, "staff.html", status=status, title="工作人员", rows=rows,
                        message=message,
                        min_length=ctx.settings.min_password_length)  # fmt: skip


async def _changed(request: Request, change: Awaitable[T], done: Callable[[T], str]) -> Response:
    """A change's outcome: back to the list with ``done``'s message, or the list with the
    refusal (400)."""
    try:
        result = await change
    except (UsageError, NotFoundError) as exc:
        return await _page(request, message=str(exc), status=400)
    await flash(request, done(result))
    return RedirectResponse(STAFF_PATH, status_code=303)


def router() -> APIRouter:
    """``GET /admin/staff``, ``POST /admin/staff/{username}/password`` and ``…/officer``."""
    routes = APIRouter()
    Admin = Depends(_admins_only)

    @routes.get(STAFF_PATH)
    async def staff_page(request: Request, signed_in: SignedIn = Admin) -> HTMLResponse:
        return await _page(request)

    @routes.post(f"{STAFF_PATH}/{{username}}/password", response_model=None)
    async def reset_password(
        request: Request, username: str, signed_in: SignedIn = Admin
    ) -> Response:
        ctx = admin_context(request)
        form = await form_data(request)
        password = form.get("new_password", "")
        if password != form.get("confirm_password", ""):
            return await _page(request, message="两次输入的新密码不一致", status=400)
        return await _changed(request, set_password(
            ctx.db, ctx.clock, username, password, actor=signed_in.username,
            min_length=ctx.settings.min_password_length,
        ), lambda _: f"已重置 {username} 的密码，锁定已解除，其原有登录已退出")  # fmt: skip

    @routes.post(f"{STAFF_PATH}/{{username}}/officer", response_model=None)
    async def link_officer(
        request: Request, username: str, signed_in: SignedIn = Admin
    ) -> Response:
        ctx = admin_context(request)
        code = (await form_data(request)).get("officer", "")
        return await _changed(request, set_officer(
            ctx.db, ctx.clock, username, code, actor=signed_in.username
        ), lambda view: f"已将 {username} 关联到联络员 {view.officer_label}")  # fmt: skip

    return routes
