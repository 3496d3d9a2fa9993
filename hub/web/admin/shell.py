"""The admin's page layout: ``templates/base.html``, the Chinese nav by role, flash messages.

A page module answers with ``await render(request, "name.html", title=..., **ctx)``; its
template ``{% extends "base.html" %}`` and fills ``{% block content %}``. Every template gets
``signed_in`` (or None), ``nav``, ``flashes``, ``csrf_field()`` (the hidden input every POST
form needs), ``csrf_token`` and ``static(name)`` (``/admin/static/<name>``).

The nav lists a section only when its page is mounted in this app and the role may open it,
so a section appears as its page module lands (``routes.PAGE_MODULES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.routing import Match

from hub.tickets.staff import StaffRole
from hub.web.admin.auth import ADMIN_PREFIX, CSRF_FIELD, SignedIn, admin_context, optional_staff
from hub.web.admin.sessions import Flash

__all__ = ["NAV", "TEMPLATES_DIR", "NavItem", "render"]

TEMPLATES_DIR: Final = Path(__file__).resolve().parent / "templates"
_EVERYONE: Final = frozenset(StaffRole)
_OFFICE: Final = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER})


@dataclass(frozen=True, slots=True)
class NavItem:
    """A section of the nav: its label, its page's path, the roles that see it."""

    label: str
    path: str
    roles: frozenset[StaffRole] = _EVERYONE


#: The sections in nav order (sign-out is a form of its own, after them).
NAV: Final = (
    NavItem("仪表盘", f"{ADMIN_PREFIX}/dashboard"),
    NavItem("工单", f"{ADMIN_PREFIX}/tickets", _EVERYONE - {StaffRole.OFFICER}),
    NavItem("企业", f"{ADMIN_PREFIX}/enterprises"),
    NavItem("走访", f"{ADMIN_PREFIX}/visits"),
    NavItem("消息与任务", f"{ADMIN_PREFIX}/campaigns", _OFFICE),
    NavItem("模拟手机", f"{ADMIN_PREFIX}/simulator", _OFFICE),
    NavItem("定时计划", f"{ADMIN_PREFIX}/schedules"),
    NavItem("消息模板", f"{ADMIN_PREFIX}/templates", _OFFICE),
    NavItem("工作人员", f"{ADMIN_PREFIX}/staff", frozenset({StaffRole.ADMIN})),
    NavItem("审计日志", f"{ADMIN_PREFIX}/audit", frozenset({StaffRole.ADMIN})),
    NavItem("修改密码", f"{ADMIN_PREFIX}/account/password"),
)

ENV: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    # A template is read once per process; a page edit needs a restart, like the code.
    auto_reload=False,
)
ENV.globals["static"] = lambda name: f"{ADMIN_PREFIX}/static/{name}"

#: Sent with every admin page: never cached (one staff member's data), never framed.
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    # Scripts only from the hub's own files (htmx, ECharts, the pages' .js): an injected
    # <script> or onclick= does not run. Inline <style> blocks stay allowed.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; object-src 'none'; base-uri 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def serves_path(app: Starlette, path: str) -> bool:
    """Whether ``app`` answers ``GET path`` (a page module mounted), remembered per app.

    Asked of the routes themselves (FastAPI includes routers lazily, so the app's route list
    does not spell the included paths).
    """
    known: dict[str, bool] | None = getattr(app.state, "admin_served", None)
    if known is None:
        known = app.state.admin_served = {}
    if path not in known:
        scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "headers": [],
                 "query_string": b""}  # fmt: skip
        known[path] = any(route.matches(scope)[0] is Match.FULL for route in app.routes)
    return known[path]


def serves(request: Request, path: str) -> bool:
    """Whether the request's app answers ``GET path``."""
    return serves_path(request.app, path)


def nav_for(request: Request, signed_in: SignedIn | None) -> list[dict[str, Any]]:
    """The nav items this staff member sees, the current one marked."""
    if signed_in is None:
        return []
    current = request.url.path
    return [
        {"label": item.label, "path": item.path,
         "current": current == item.path or current.startswith(item.path + "/")}
        for item in NAV
        if signed_in.role in item.roles and serves(request, item.path)
    ]  # fmt: skip


def sections_for(request: Request, signed_in: SignedIn) -> list[dict[str, Any]]:
    """The nav's sections without the account's own (for the home page)."""
    return [item for item in nav_for(request, signed_in) if item["path"] != NAV[-1].path]


def _csrf_field(token: str) -> Markup:
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


async def render(
    request: Request, template: str, *, status: int = 200, title: str, **context: Any
) -> HTMLResponse:
    """A page in the layout, for the signed-in staff member (or the signed-out one)."""
    signed_in = await optional_staff(request)
    flashes: list[Flash] = []
    if signed_in is not None:
        flashes = await admin_context(request).sessions.pop_flashes(signed_in.session.session_id)
    token = context.pop("csrf_token", None) or (signed_in.csrf_token if signed_in else "")
    html = ENV.get_template(template).render(
        title=title,
        signed_in=signed_in,
        nav=nav_for(request, signed_in),
        flashes=flashes,
        csrf_token=token,
        csrf_field=lambda: _csrf_field(token),
        role_label=signed_in.role.label if signed_in else "",
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
