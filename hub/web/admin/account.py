"""Sign-in, sign-out and a staff member's own password change.

A sign-in always starts a new session (a new id and CSRF token; the old session, if the
browser had one, is ended), so an id planted before sign-in is worth nothing after it.
Wrong passwords count towards the lockout (``web.admin`` in config.yaml); a locked account is
refused even with the right password until the lock ends. A username with no account is
answered and locked alike (:mod:`hub.web.admin.unknown_logins`), so the answers never tell
whether an account exists.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.core.errors import NotFoundError, UsageError
from hub.store.models import AuditLog
from hub.tickets.staff_passwords import SignInOutcome, change_password, sign_in
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    LOGIN_CSRF_COOKIE,
    LOGIN_PATH,
    SESSION_COOKIE,
    SignedIn,
    admin_context,
    clear_cookie,
    current_staff,
    form_data,
    new_login_token,
    optional_staff,
    set_cookie,
)
from hub.web.admin.sessions import Flash, StoredSession
from hub.web.admin.shell import render
from hub.web.admin.unknown_logins import UnknownLogins

PASSWORD_PATH = f"{ADMIN_PREFIX}/account/password"
WRONG = "用户名或密码错误"
_LOGIN_FORM_SECONDS = 3600


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a path of the admin only (never another site)."""
    unsafe = "//" in (target or "") or "\\" in (target or "")
    if target and target.startswith(ADMIN_PREFIX + "/") and not unsafe:
        return target
    return ADMIN_PREFIX + "/"


def _local_time(request: Request, at: datetime) -> str:
    return at.astimezone(admin_context(request).tz).strftime("%Y-%m-%d %H:%M")


async def _login_page(
    request: Request, *, status: int = 200, message: str = "", level: str = "error",
    username: str = "", next_path: str = "",
) -> HTMLResponse:  # fmt: skip
    token = new_login_token()
    response = await render(
        request, "login.html", status=status, title="登录", message=message, level=level,
        username=username, next=safe_next(next_path), csrf_token=token,
    )  # fmt: skip
    set_cookie(request, response, LOGIN_CSRF_COOKIE, token, _LOGIN_FORM_SECONDS)
    return response


async def _start_session(
    request: Request, response: Response, staff_id: int, stamp: str
) -> StoredSession:
    ctx = admin_context(request)
    session = await ctx.sessions.create(staff_id, ctx.clock.now(), stamp)
    set_cookie(request, response, SESSION_COOKIE, session.session_id,
               int(ctx.settings.session_ttl.total_seconds()))  # fmt: skip
    return session


def router() -> APIRouter:
    """``/admin/login``, ``/admin/logout``, ``/admin/account/password``."""
    routes = APIRouter()

    @routes.get(LOGIN_PATH, response_model=None)
    async def login_form(request: Request, next: str = "", bye: int = 0) -> Response:
        if await optional_staff(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return await _login_page(
            request, next_path=next, message="您已安全退出" if bye else "", level="ok"
        )

    @routes.post(LOGIN_PATH, response_model=None)
    async def login(request: Request) -> Response:
        ctx = admin_context(request)
        form = await form_data(request)
        username, next_path = form.get("username", "").strip(), form.get("next", "")
        unknown = UnknownLogins(ctx.redis, ctx.keys, ctx.settings.lockout)
        result = await unknown.locked(username, ctx.clock.now()) or await sign_in(
            ctx.db, ctx.clock, username, form.get("password", ""), ctx.settings.lockout
        )
        if result.outcome is SignInOutcome.WRONG and result.failures_left is None:
            # No account (or no password) to count in: counted alike, so nothing tells.
            result = await unknown.failed(username, ctx.clock.now())
        if result.outcome is SignInOutcome.LOCKED:
            assert result.locked_until is not None
            message = (f"密码错误次数过多，账号已锁定至 {_local_time(request, result.locked_until)}"
                       "，请稍后再试或联系管理员解锁")  # fmt: skip
            return await _login_page(request, status=423, message=message, username=username,
                                     next_path=next_path)  # fmt: skip
        if result.outcome is SignInOutcome.WRONG or result.staff_id is None:
            message = WRONG
            if result.failures_left is not None:
                message += f"（再错 {result.failures_left} 次账号将被锁定）"
            return await _login_page(request, status=401, message=message, username=username,
                                     next_path=next_path)  # fmt: skip
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            await ctx.sessions.end(old)
        response = RedirectResponse(safe_next(next_path), status_code=303)
        await _start_session(request, response, result.staff_id, result.stamp)
        clear_cookie(request, response, LOGIN_CSRF_COOKIE)
        return response

    @routes.post(f"{ADMIN_PREFIX}/logout", response_model=None)
    async def logout(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> Response:
        ctx = admin_context(request)
        await ctx.sessions.end(signed_in.session.session_id)
        async with ctx.db.write() as session:
            session.add(AuditLog(at=ctx.clock.now(), actor=signed_in.username,
                                 action="staff.signed_out", target_type="staff",
                                 target_id=signed_in.username, detail={}))  # fmt: skip
        response = RedirectResponse(f"{LOGIN_PATH}?bye=1", status_code=303)
        clear_cookie(request, response, SESSION_COOKIE)
        return response

    @routes.get(PASSWORD_PATH)
    async def password_form(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> HTMLResponse:
        return await _password_page(request, message="")

    @routes.post(PASSWORD_PATH, response_model=None)
    async def password_change(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> Response:
        ctx = admin_context(request)
        form = await form_data(request)
        new = form.get("new_password", "")
        if new != form.get("confirm_password", ""):
            return await _password_page(request, message="两次输入的新密码不一致", status=400)
        try:
            stamp = await change_password(ctx.db, ctx.clock, signed_in.principal.staff_id,
                                          form.get("old_password", ""), new,
                                          min_length=ctx.settings.min_password_length)  # fmt: skip
        except (UsageError, NotFoundError) as exc:
            return await _password_page(request, message=str(exc), status=400)
        # The other sessions (another browser) ended with the old password; this one goes on
        # under a new id.
        await ctx.sessions.end(signed_in.session.session_id)
        response = RedirectResponse(PASSWORD_PATH, status_code=303)
        session = await _start_session(request, response, signed_in.principal.staff_id, stamp)
        await ctx.sessions.push_flash(
            session.session_id, Flash("密码已修改，其他设备上的登录已退出，下次登录请使用新密码")
        )
        return response

    return routes


async def _password_page(request: Request, *, message: str, status: int = 200) -> HTMLResponse:
    min_length = admin_context(request).settings.min_password_length
    return await render(request, "account.html", status=status, title="修改密码",
                        message=message, min_length=min_length)  # fmt: skip
