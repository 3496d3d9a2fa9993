"""The staff accounts page (``/admin/staff``, admins): who may sign in, who is locked, and an
admin's password reset, which also lifts a lockout and ends the account's sessions.

The reset goes through :func:`hub.tickets.staff_passwords.set_password` with the admin as the
actor, so it is in the audit log like the CLI's ``hub staff set-password``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.core.errors import NotFoundError, UsageError
from hub.tickets.staff import StaffRole, StaffView, list_staff
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
            "status": status}  # fmt: skip


async def _page(request: Request, *, message: str = "", status: int = 200) -> HTMLResponse:
    ctx = admin_context(request)
    states = await sign_in_states(ctx.db)
    rows = [_row(view, states.get(view.username), request) for view in await list_staff(ctx.db)]
    return await render(request, "staff.html", status=status, title="工作人员", rows=rows,
                        message=message,
                        min_length=ctx.settings.min_password_length)  # fmt: skip


def router() -> APIRouter:
    """``GET /admin/staff`` and ``POST /admin/staff/{username}/password``."""
    routes = APIRouter()

    @routes.get(STAFF_PATH)
    async def staff_page(
        request: Request,
        signed_in: SignedIn = Depends(_admins_only),  # noqa: B008
    ) -> HTMLResponse:
        return await _page(request)

    @routes.post(f"{STAFF_PATH}/{{username}}/password", response_model=None)
    async def reset_password(
        request: Request,
        username: str,
        signed_in: SignedIn = Depends(_admins_only),  # noqa: B008
    ) -> Response:
        ctx = admin_context(request)
        form = await form_data(request)
        password = form.get("new_password", "")
        if password != form.get("confirm_password", ""):
            return await _page(request, message="两次输入的新密码不一致", status=400)
        try:
            await set_password(ctx.db, ctx.clock, username, password, actor=signed_in.username,
                               min_length=ctx.settings.min_password_length)  # fmt: skip
        except (UsageError, NotFoundError) as exc:
            return await _page(request, message=str(exc), status=400)
        await flash(request, f"已重置 {username} 的密码，锁定已解除，其原有登录已退出")
        return RedirectResponse(STAFF_PATH, status_code=303)

    return routes
