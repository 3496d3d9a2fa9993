"""Registry imports started from the web admin, run in the background with their progress.

An uploaded file (CSV or XLSX) is saved under ``data_dir/imports/<job>/`` and imported by the
same code as ``hub import enterprises FILE`` (:func:`hub.importing.service.import_file`):
every valid row saved in one transaction, the rejects written beside the file as
``<name>.rejects.csv`` (row number and reason, naming the field). The job's progress comes from
the importer's own callbacks: the records parsed, then the records saved, chunk by chunk.
The start and the end of each import are in the audit log; the end of an import that saved rows
is written in the import's own transaction (the rows and their entry commit together).

Jobs live in the web process that runs them (the hub serves HTTP from one process): the page
that shows a job asks this registry; a restart forgets the jobs, not the imported rows.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Final, Protocol

from hub.core.clock import Clock
from hub.core.errors import HubError, InputError, UsageError
from hub.importing.service import ImportReport, import_file
from hub.store.audit import AuditNote
from hub.store.db import Database

__all__ = ["ACCEPTED_SUFFIXES", "MAX_UPLOAD_BYTES", "ImportJob", "ImportJobs", "Upload"]

log = logging.getLogger(__name__)

#: The files the importer reads.
ACCEPTED_SUFFIXES: Final = (".csv", ".xlsx")
#: An upload's limit: 100,000 rows of CSV are about 15 MiB, of XLSX less.
MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024
#: Finished jobs kept for their pages (the oldest go first).
_KEPT: Final = 20
_CHUNK: Final = 1024 * 1024


class Upload(Protocol):
    """What an uploaded file gives (Starlette's ``UploadFile``)."""

    @property
    def filename(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(slots=True)
class ImportJob:
    """One import: its file, who started it, where it stands."""

    id: str
    filename: str
    actor: str
    path: Path
    started_at: datetime
    total: int | None = None
    """Records parsed (an enterprise with two contact rows is one); None while parsing."""
    saved: int = 0
    report: ImportReport | None = None
    error: str | None = None
    finished_at: datetime | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def running(self) -> bool:
        return self.report is None and self.error is None

    @property
    def percent(self) -> int:
        """The progress bar: parsing counts as 0, saving runs to 100."""
        if not self.running:
            return 100
        if not self.total:
            return 0
        return min(99, self.saved * 100 // self.total)

    @property
    def phase(self) -> str:
        """Where the import stands, in Chinese."""
        if self.error is not None:
            return "导入失败"
        if self.report is not None:
            return "导入完成"
        if self.total is None:
            return "正在读取并校验文件"
        return f"正在保存：{self.saved} / {self.total} 家企业"

    @property
    def rejects_name(self) -> str:
        """The download name of the rejects: ``企业名录.rejects.csv`` for ``企业名录.xlsx``."""
        return Path(self.filename).stem + ".rejects.csv"


class ImportJobs:
    """The imports this process runs and has run (see the module docstring)."""

    def __init__(self, db: Database, clock: Clock, folder: Path) -> None:
        self._db = db
        self._clock = clock
        self._folder = folder
        self._jobs: dict[str, ImportJob] = {}

    def get(self, job_id: str) -> ImportJob | None:
        return self._jobs.get(job_id)

    def recent(self) -> list[ImportJob]:
        """The jobs, the latest first."""
        return sorted(self._jobs.values(), key=lambda job: job.started_at, reverse=True)

    async def start(self, upload: Upload, actor: str) -> ImportJob:
        """Save the upload and start importing it; UsageError (Chinese) for a file that is no
        CSV or XLSX, is empty, or passes :data:`MAX_UPLOAD_BYTES`."""
        filename = Path(upload.filename or "").name
        suffix = Path(filename).suffix.lower()
        if suffix not in ACCEPTED_SUFFIXES:
            raise UsageError(f"请上传 CSV 或 XLSX 文件（收到“{filename or '无文件'}”）")
        job_id = secrets.token_hex(8)
        path = self._folder / job_id / f"upload{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            size = await _save(upload, path)
            if size == 0:
                raise UsageError(f"文件“{filename}”是空的")
        except UsageError:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        job = ImportJob(job_id, filename, actor, path, self._clock.now())
        await self._audit(job, "enterprise_import_started", {"file": filename, "bytes": size})
        self._forget_old()
        self._jobs[job_id] = job
        job._task = asyncio.create_task(self._run(job), name=f"import {job_id}")
        return job

    async def wait(self, job_id: str) -> ImportJob:
        """The job once it has finished (tests, and a caller that must not return early)."""
        job = self._jobs[job_id]
        if job._task is not None:
            await asyncio.shield(job._task)
        return job

    async def _run(self, job: ImportJob) -> None:
        def parsed(count: int) -> None:
            job.total = count

        def saved(count: int) -> None:
            job.saved += count

        finished = AuditNote(job.actor, "enterprise_import_finished", "import", job.id,
                             {"file": job.filename})  # fmt: skip
        try:  # the entry of an import that saved commits with its rows
            job.report = await import_file(
                self._db, "enterprises", job.path, self._clock,
                progress=saved, on_parsed=parsed, actor=job.actor, audit=finished,
            )  # fmt: skip
        except InputError as exc:  # a file the importer cannot read: its Chinese reason
            job.error = exc.reason  # (its path is the upload's, which tells the clerk nothing)
        except HubError as exc:
            job.error = str(exc)
        except Exception:
            log.exception("import %s failed", job.id)
            job.error = "导入时发生内部错误，未保存任何企业；请联系管理员查看日志"
        job.finished_at = self._clock.now()
        if job.report is not None:
            return
        try:  # a failed import saved nothing: its entry has no change to commit with
            await self._audit(job, "enterprise_import_finished",
                              {"file": job.filename, "error": job.error})  # fmt: skip
        except Exception:  # the failure stands; the page still shows it
            log.exception("import %s: audit entry not written", job.id)

    async def _audit(self, job: ImportJob, action: str, detail: dict[str, object]) -> None:
        async with self._db.write() as session:
            AuditNote(job.actor, action, "import", job.id, detail).add(session, self._clock.now())

    def _forget_old(self) -> None:
        finished = [job for job in self.recent() if not job.running]
        for job in finished[_KEPT - 1 :]:
            del self._jobs[job.id]
            shutil.rmtree(job.path.parent, ignore_errors=True)  # the upload and its rejects

    async def aclose(self) -> None:
        """Wait for the running imports (a shutdown must not cut a transaction's work short)."""
        tasks = [job._task for job in self._jobs.values() if job._task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


async def _save(upload: Upload, path: Path) -> int:
    size = 0
    with path.open("wb") as out:
        async for chunk in _chunks(upload):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                raise UsageError(f"文件超过 {MAX_UPLOAD_BYTES // 2**20} MB，请分批导入")
            out.write(chunk)
    return size


async def _chunks(upload: Upload) -> AsyncIterator[bytes]:
    while chunk := await upload.read(_CHUNK):
        yield chunk
