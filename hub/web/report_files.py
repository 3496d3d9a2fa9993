"""Download of a produced report file: ``GET /reports/files/{token}``.

The business office's notice of a ledger or work report carries this link
(:mod:`hub.scheduling.programs.file_links`, signed with ``HUB_LINK_SECRET``). No login: the
token is the credential and names one file of the reports folder (``data_dir/reports``) by its
bare name; the file is looked up there only (no folder, no ``..``, and the resolved path must
still lie in the folder, so a symlink cannot lead out of it). A token that does not verify, or
whose file is gone, is a 404 page; an expired one a 403 page; both in Chinese, never an error
of the server. Without the secret configured every token is unknown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse

from hub.core.clock import Clock
from hub.core.errors import ConfigError
from hub.scheduling.programs.file_links import FILE_PATH_PREFIX, FileLinks
from hub.web.page_shell import HEAD, PAGE_ENV, page_response

__all__ = ["PATH", "router"]

PATH: Final = FILE_PATH_PREFIX + "{token}"
UNKNOWN: Final = "下载链接无效或文件已不存在，请核对通知中的链接。"
EXPIRED: Final = "下载链接已过期，请联系系统管理员重新发送，或用 hub report 命令重新生成。"
_MEDIA_TYPES: Final = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_PAGE = PAGE_ENV.from_string(
    HEAD + "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}"
    ".error{color:#b00}</style></head><body><h1>{{ title }}</h1>"
    '<p class="error">{{ message }}</p></body></html>\n'
)


def router(reports_dir: Path, clock: Clock) -> APIRouter:
    """The download route over ``reports_dir``; the link secret is read from the environment
    once, here."""
    api = APIRouter(tags=["report files"], include_in_schema=False)
    try:
        links: FileLinks | None = FileLinks.from_env(os.environ, "")
    except ConfigError:
        links = None  # no secret: no link can be genuine

    @api.get(PATH, response_model=None)
    async def download(token: str) -> FileResponse | HTMLResponse:
        ticket = links.verify(token) if links is not None else None
        if ticket is None:
            return _page(404, "下载链接无效", UNKNOWN)
        if ticket.expired(clock.now()):
            return _page(403, "下载链接已过期", EXPIRED)
        path = report_file(reports_dir, ticket.name)
        if path is None:
            return _page(404, "下载链接无效", UNKNOWN)
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream"),
            filename=path.name,
            headers={"Cache-Control": "no-store"},
        )

    return api


def report_file(reports_dir: Path, name: str) -> Path | None:
    """The file ``name`` of the reports folder, when it is a regular file inside it."""
    folder = reports_dir.resolve()
    path = (folder / name).resolve()
    if path.parent != folder or not path.is_file():
        return None
    return path


def _page(status: int, title: str, message: str) -> HTMLResponse:
    return page_response(_PAGE.render(title=title, message=message), status)
