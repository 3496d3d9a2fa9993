"""Who is signed in to ``/admin/``, what they may do, and the CSRF check on every POST.

Page modules take the signed-in staff member with ``Depends(current_staff)`` (a
:class:`SignedIn`: the API's :class:`~hub.web.api.auth.Principal` — the same role and
:class:`~hub.queries.scope.Visibility` scope as ``/api/v1`` — plus the session) and restrict
roles with ``Depends(require_role(StaffRole.ADMIN, ...))``. Signed out, a page redirects to the
sign-in page; a role a page does not allow gets the 403 page.

The session cookie (``hub_admin``, path ``/admin``) is HttpOnly, SameSite=Strict, and Secure
when the request came over HTTPS. Every POST (and other unsafe method) under ``/admin`` needs
the session's CSRF token, as the form field ``csrf_token`` (templates write it with
``csrf_field()``) or the header ``X-CSRF-Token`` (htmx sends it: base.html sets
``hx-headers``); the sign-in form, before any session, uses a double-submit cookie. A request
without the token, or with another, is refused with a 403 page in Chinese before the route runs.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast
from urllib.parse import parse_qs

from fastapi import Depends, Request, Response

from hub.queries.scope import Visibility
from hub.tickets.staff import StaffRole, staff_by_id
from hub.tickets.staff_passwords import password_stamp
from hub.web.admin.sessions import Flash, StoredSession
from hub.web.api.auth import Principal, principal_of

if TYPE_CHECKING:
    from hub.web.admin.context import AdminContext

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "LOGIN_PATH",
    "SESSION_COOKIE",
    "AdminPageError",
    "SignInRequired",
    "SignedIn",
    "admin_context",
    "csrf_protect",
    "current_staff",
    "flash",
    "form_data",
    "require_role",
]

ADMIN_PREFIX = "/admin"
LOGIN_PATH = f"{ADMIN_PREFIX}/login"
SESSION_COOKIE = "hub_admin"
LOGIN_CSRF_COOKIE = "hub_admin_login"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_REFUSED = "表单已失效或来源不明（安全校验未通过），请返回刷新页面后重试。"


class AdminPageError(Exception):
    """A request the admin refuses; answered with the error page (``status``, Chinese text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class SignInRequired(Exception):
    """No live session: answered with a redirect to the sign-in page, back to ``next_path``."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The staff member behind a request (as the API sees them) and their session."""

    principal: Principal
    session: StoredSession

    @property
    def username(self) -> str:
        return self.principal.username

    @property
    def role(self) -> StaffRole:
        return self.principal.role

    @property
    def visibility(self) -> Visibility:
        return self.principal.visibility

    @property
    def csrf_token(self) -> str:
        return self.session.csrf_token


def admin_context(request: Request) -> AdminContext:
    """The app's :class:`AdminContext` (``routes.mount`` puts it on the app's state)."""
    return cast("AdminContext", request.app.state.admin)


def cookie_secure(request: Request) -> bool:
    """Secure cookies when the request came over HTTPS (uvicorn honours X-Forwarded-Proto
    from a trusted proxy), so plain-HTTP intranet use still works."""
    return request.url.scheme == "https"


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    """A cookie of the admin: HttpOnly, SameSite=Strict, path /admin, Secure over HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, path=ADMIN_PREFIX, httponly=True, samesite="strict",
        secure=cookie_secure(request),
    )  # fmt: skip


def clear_cookie(request: Request, response: Response, name: str) -> None:
    response.delete_cookie(
        name, path=ADMIN_PREFIX, httponly=True, samesite="strict", secure=cookie_secure(request)
    )


async def form_data(request: Request) -> dict[str, str]:
    """The POSTed form's fields (the first value of each), read once per request.

    URL-encoded bodies are parsed here (no python-multipart needed); a multipart body (an
    upload) goes through Starlette's parser, its files left out.
    """
    cached = getattr(request.state, "admin_form", None)
    if cached is not None:
        return cast("dict[str, str]", cached)
    fields: dict[str, str] = {}
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        fields = {k: v for k, v in form.multi_items() if isinstance(v, str)}
    else:
        body = (await request.body()).decode("utf-8", "replace")
        fields = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    request.state.admin_form = fields
    return fields


async def _stored_session(request: Request) -> StoredSession | None:
    if hasattr(request.state, "admin_session"):
        return cast("StoredSession | None", request.state.admin_session)
    ctx = admin_context(request)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    session = await ctx.sessions.load(cookie, ctx.clock.now()) if cookie else None
    request.state.admin_session = session
    return session


def _next_path(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


async def current_staff(request: Request) -> SignedIn:
    """The signed-in staff member; signed out (or the account gone) -> the sign-in page."""
    cached = getattr(request.state, "signed_in", None)
    if cached is not None:
        return cast("SignedIn", cached)
    session = await _stored_session(request)
    if session is None:
        raise SignInRequired(_next_path(request) if request.method == "GET" else ADMIN_PREFIX)
    ctx = admin_context(request)
    staff = await staff_by_id(ctx.db, session.staff_id)
    # A password set or changed since (or removed) ends the sessions begun with the old one.
    if staff is None or await password_stamp(ctx.db, staff.id) != session.stamp:
        await ctx.sessions.end(session.session_id)
        request.state.admin_session = None
        raise SignInRequired(ADMIN_PREFIX + "/")
    principal = principal_of(staff)
    if principal is None:
        raise AdminPageError(403, "账号的角色无效，请联系管理员")
    signed_in = SignedIn(principal, session)
    request.state.signed_in = signed_in
    request.state.principal = principal  # for access logs, as the API does
    return signed_in


async def optional_staff(request: Request) -> SignedIn | None:
    """The signed-in staff member, or None (the sign-in page, the shell of an error page)."""
    if await _stored_session(request) is None:
        return None
    try:
        return await current_staff(request)
    except (SignInRequired, AdminPageError):
        return None


def require_role(*roles: StaffRole) -> Callable[[SignedIn], Awaitable[SignedIn]]:
    """A dependency that lets only ``roles`` through (the 403 page for the others)."""
    allowed = frozenset(roles)

    async def dependency(signed_in: SignedIn = Depends(current_staff)) -> SignedIn:  # noqa: B008
        if signed_in.role not in allowed:
            raise AdminPageError(403, "无权访问：您的角色不能使用此功能")
        return signed_in

    return dependency


def new_login_token() -> str:
    """The sign-in form's CSRF token (double-submit: the same value in a cookie)."""
    return secrets.token_urlsafe(32)


def _same(presented: str | None, expected: str | None) -> bool:
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


async def csrf_protect(request: Request) -> None:
    """The router-wide check: an unsafe method needs the session's CSRF token (403 if not)."""
    if request.method in _SAFE_METHODS:
        return
    presented = request.headers.get(CSRF_HEADER)
    if presented is None:
        presented = (await form_data(request)).get(CSRF_FIELD)
    if request.url.path == LOGIN_PATH:
        expected = request.cookies.get(LOGIN_CSRF_COOKIE)
    else:
        session = await _stored_session(request)
        if session is None:
            await request.close()  # a refused upload's spooled file, released now
            raise SignInRequired(ADMIN_PREFIX + "/")
        expected = session.csrf_token
    if not _same(presented, expected):
        await request.close()  # (as above)
        raise AdminPageError(403, CSRF_REFUSED)


async def flash(request: Request, text: str, level: str = "ok") -> None:
    """Show ``text`` once on the next page this session renders (after a redirect)."""
    session = await _stored_session(request)
    if session is not None:
        await admin_context(request).sessions.push_flash(session.session_id, Flash(text, level))
