"""The registry import (企业名录导入) in the admin: ``/admin/enterprises/import``.

An admin or dispatcher uploads a CSV or XLSX file (the columns of ``hub import enterprises``);
the import runs in the background (:mod:`hub.web.admin.import_jobs`, the CLI's importer) and
its page shows the progress bar, refreshing itself every second while it runs (a plain
``<meta http-equiv="refresh">``: no JavaScript needed). When it ends the page gives the counts
and, if rows were rejected, the rejects as CSV (each row's number and the field at fault).
Other roles get the 403 page; the start and end of each import are audit-logged.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import UploadFile

from hub.core.errors import UsageError
from hub.tickets.staff import StaffRole
from hub.web.admin.auth import AdminPageError, SignedIn, admin_context, flash, require_role
from hub.web.admin.enterprise_views import when_in
from hub.web.admin.import_jobs import (
    ACCEPTED_SUFFIXES,
    KEEP_FOR,
    MAX_UPLOAD_BYTES,
    ImportJob,
    ImportJobs,
)
from hub.web.admin.shell import render

__all__ = ["IMPORT_PATH", "MAX_UPLOAD_BODY", "router"]

IMPORT_PATH: Final = "/admin/enterprises/import"
#: The upload request's body limit: the file's, and room for the form around it.
MAX_UPLOAD_BODY: Final = MAX_UPLOAD_BYTES + 64 * 1024
#: How often the page of a running import reloads itself, in seconds.
REFRESH_SECONDS: Final = 1

Importer = Annotated[SignedIn, Depends(require_role(StaffRole.ADMIN, StaffRole.DISPATCHER))]


def router() -> APIRouter:
    """The import's pages (admin and dispatcher only)."""
    pages = APIRouter()
    pages.add_api_route(IMPORT_PATH, import_form, methods=["GET"], response_class=HTMLResponse)
    # The form closed first of all: its spooled file is released even when the role check
    # after it refuses the request.
    pages.add_api_route(IMPORT_PATH, import_upload, methods=["POST"], response_model=None,
                        dependencies=[Depends(_close_form)])  # fmt: skip
    pages.add_api_route(IMPORT_PATH + "/{job_id}", import_status, methods=["GET"],
                        response_class=HTMLResponse)  # fmt: skip
    pages.add_api_route(IMPORT_PATH + "/{job_id}/rejects.csv", import_rejects, methods=["GET"],
                        response_model=None)  # fmt: skip
    return pages


async def _close_form(request: Request) -> AsyncIterator[None]:
    try:
        yield
    finally:
        await request.close()


def import_jobs(request: Request) -> ImportJobs:
    """This app's import jobs, made on first use. Uploads go to a private (0700) directory of
    their own while they are imported: they hold contacts' mobiles."""
    jobs: ImportJobs | None = getattr(request.app.state, "enterprise_imports", None)
    if jobs is None:
        ctx = admin_context(request)
        folder = Path(tempfile.mkdtemp(prefix="hub-imports-"))
        jobs = ImportJobs(ctx.db, ctx.clock, folder, ctx.redis, ctx.keys)
        request.app.state.enterprise_imports = jobs
    return jobs


async def import_form(request: Request, staff: Importer) -> HTMLResponse:
    """导入企业名录：上传表单和最近的导入。"""
    return await _form_page(request, error=None)


async def _form_page(request: Request, *, error: str | None) -> HTMLResponse:
    jobs = await import_jobs(request).recent()
    return await render(
        request, "enterprises_import.html", status=400 if error else 200, title="导入企业名录",
        error=error, jobs=jobs, suffixes="、".join(ACCEPTED_SUFFIXES),
        max_mb=MAX_UPLOAD_BYTES // 2**20, when=when_in(admin_context(request).tz),
    )  # fmt: skip


async def import_upload(request: Request, staff: Importer) -> Response:
    """上传并开始导入；完成前跳转到进度页。"""
    form = await request.form(max_files=1, max_fields=10, max_part_size=MAX_UPLOAD_BYTES)
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _form_page(request, error="请选择要导入的 CSV 或 XLSX 文件")
    try:
        job = await import_jobs(request).start(upload, actor=staff.username)
    except UsageError as exc:
        return await _form_page(request, error=str(exc))
    await flash(request, f"已开始导入“{job.filename}”")
    return RedirectResponse(f"{IMPORT_PATH}/{job.id}", status_code=303)


async def _job_or_404(request: Request, job_id: str) -> ImportJob:
    job = await import_jobs(request).get(job_id)
    if job is None:
        raise AdminPageError(404, f"没有这次导入的记录（导入记录保留 {KEEP_FOR.days} 天）")
    return job


async def import_status(request: Request, job_id: str, staff: Importer) -> HTMLResponse:
    """一次导入的进度和结果。"""
    job = await _job_or_404(request, job_id)
    return await render(
        request, "enterprises_import_job.html", title=f"导入 {job.filename}", job=job,
        refresh=REFRESH_SECONDS if job.running else None, when=when_in(admin_context(request).tz),
    )  # fmt: skip


async def import_rejects(request: Request, job_id: str, staff: Importer) -> Response:
    """被拒绝的行（CSV：原列、行号、原因）。"""
    job = await _job_or_404(request, job_id)
    data = await import_jobs(request).rejects(job_id) if job.has_rejects else None
    if data is None:
        raise AdminPageError(404, "这次导入没有被拒绝的行")
    return Response(
        data, media_type="text/csv; charset=utf-8",
        headers={"Cache-Control": "no-store",
                 "Content-Disposition": _attachment(job.rejects_name)},
    )  # fmt: skip


def _attachment(filename: str) -> str:
    """``Content-Disposition`` of a download named ``filename`` (RFC 6266; a Chinese name as
    ``filename*``, as Starlette's ``FileResponse`` writes it)."""
    quoted = quote(filename)
    if quoted == filename:
        return f'attachment; filename="{filename}"'
    return f"attachment; filename*=utf-8''{quoted}"
