"""``mount``: the admin's pages on an app — every page module's router behind the CSRF check,
the home page, the static assets and the error pages.

A page module joins by exposing ``router() -> APIRouter`` and being listed in
``PAGE_MODULES``; its routes take what they need with ``Depends(current_staff)`` /
``Depends(require_role(...))`` and ``admin_context(request)``.

Static files at ``/admin/static/<name>``: htmx and ECharts from ``node_modules/`` (installed by
``make install``: ``npm ci`` from the committed ``package-lock.json``, as ``hub.web.docs`` serves
Swagger UI), and the admin's own files in ``static/``. No CDN: an intranet has none.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final, Protocol
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.web.admin import (
    account,
    audit,
    campaigns,
    dashboard,
    enterprises,
    schedules_admin,
    simulator,
    staff,
    templates_admin,
    tickets,
    visits_admin,
)
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    LOGIN_PATH,
    AdminPageError,
    SignedIn,
    SignInRequired,
    csrf_protect,
    current_staff,
)
from hub.web.admin.context import AdminContext
from hub.web.admin.shell import render, sections_for, serves

__all__ = ["NODE_MODULES", "PAGE_MODULES", "mount"]

#: The page modules, each with ``router() -> APIRouter``.
PAGE_MODULES: Final = (account, audit, campaigns, dashboard, enterprises, simulator, tickets, staff,
                       templates_admin, schedules_admin, visits_admin)  # fmt: skip
DASHBOARD_PATH: Final = f"{ADMIN_PREFIX}/dashboard"
NODE_MODULES: Final = Path(__file__).resolve().parents[3] / "node_modules"
OWN_STATIC: Final = Path(__file__).resolve().parent / "static"
#: npm files served by name: name -> (path under node_modules, media type).
NPM_ASSETS: Final = {
    "htmx.min.js": ("htmx.org/dist/htmx.min.js", "text/javascript"),
    "echarts.min.js": ("echarts/dist/echarts.min.js", "text/javascript"),
}
_MEDIA_TYPES: Final = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml",
                       ".png": "image/png"}  # fmt: skip
_NAME: Final = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,80}")
_ERROR_TITLES: Final = {403: "无权访问", 404: "页面不存在", 400: "请求有误", 405: "页面不存在"}
_PAGE_ERRORS: Final = {
    404: "您访问的页面不存在，请从导航进入。",
    405: "此地址不能直接打开，请从导航进入。",
}


def _static_router(node_modules: Path) -> APIRouter:
    routes = APIRouter()

    @routes.get(f"{ADMIN_PREFIX}/static/{{name}}", response_model=None)
    async def static_file(name: str) -> Response:
        if name in NPM_ASSETS:
            relative, media_type = NPM_ASSETS[name]
            path = node_modules / relative
            if not path.is_file():
                return PlainTextResponse(
                    f"管理后台的前端资源未安装（{path}）：请在项目目录运行 make install（npm ci）",
                    status_code=503,
                )
        else:
            path = OWN_STATIC / name
            media_type = _MEDIA_TYPES.get(path.suffix, "")
            if not _NAME.fullmatch(name) or not media_type or not path.is_file():
                return PlainTextResponse("文件不存在", status_code=404)
        # The names carry no version: a day's caching, revalidated by ETag after that.
        return FileResponse(path, media_type=media_type, headers={"Cache-Control": "max-age=86400"})

    return routes


def _home_router() -> APIRouter:
    routes = APIRouter()

    @routes.get(ADMIN_PREFIX, include_in_schema=False)
    async def admin_root() -> RedirectResponse:
        return RedirectResponse(f"{ADMIN_PREFIX}/", status_code=307)

    @routes.get(f"{ADMIN_PREFIX}/", response_model=None)
    async def home(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> Response:
        if serves(request, DASHBOARD_PATH):
            return RedirectResponse(DASHBOARD_PATH, status_code=303)
        return await render(request, "home.html", title="首页",
                            sections=sections_for(request, signed_in))  # fmt: skip

    return routes


class PageModule(Protocol):
    """A page module: its routes."""

    def router(self) -> APIRouter: ...


def mount(
    app: FastAPI, ctx: AdminContext, *, node_modules: Path = NODE_MODULES,
    page_modules: Sequence[PageModule] = PAGE_MODULES,
) -> None:  # fmt: skip
    """Serve the admin on ``app``: its pages (``page_modules``), assets and error pages."""
    app.state.admin = ctx
    pages = APIRouter(include_in_schema=False, dependencies=[Depends(csrf_protect)])
    pages.include_router(_home_router())
    for module in page_modules:
        pages.include_router(module.router())
    app.include_router(pages)
    app.include_router(_static_router(node_modules), include_in_schema=False)

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        target = LOGIN_PATH
        if exc.next_path not in (ADMIN_PREFIX, f"{ADMIN_PREFIX}/"):
            target += "?" + urlencode({"next": exc.next_path})
        if request.headers.get("HX-Request"):
            # htmx would swap the sign-in page into a fragment: it loads the page instead.
            return Response(status_code=200, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def admin_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Under /admin a Chinese page (an unknown page, a POST-only path opened); elsewhere
        # FastAPI's own answer, unchanged (the API answers its errors in its route class).
        if request.url.path.startswith(ADMIN_PREFIX + "/") and exc.status_code in _PAGE_ERRORS:
            return await render(request, "error.html", status=exc.status_code,
                                title=_ERROR_TITLES[exc.status_code],
                                message=_PAGE_ERRORS[exc.status_code])  # fmt: skip
        return await http_exception_handler(request, exc)

    @app.exception_handler(AdminPageError)
    async def error_page(request: Request, exc: AdminPageError) -> Response:
        return await render(request, "error.html", status=exc.status,
                            title=_ERROR_TITLES.get(exc.status, "出错了"),
                            message=exc.message)  # fmt: skip
