"""Registry imports started from the web admin, run in the background with their progress.

An uploaded file (CSV or XLSX) is saved under ``folder/<job>/`` and imported by the same code as
``hub import enterprises FILE`` (:func:`hub.importing.service.import_file`): every valid row
saved in one transaction, the rejects written beside the file (row number and reason, naming
the field). The job's progress comes from the importer's own callbacks: the records parsed,
then the records saved, chunk by chunk. The start and the end of each import are in the audit
log; the end of an import that saved rows is written in the import's own transaction (the rows
and their entry commit together).

The import runs in the web process that took the upload, but its page may be asked of any
(several ``hub api`` behind a load balancer): the job's record lives in Redis, written when it
starts, every :data:`PUBLISH_EVERY_S` while it runs and when it ends, with its rejects (CSV
bytes) beside it; the upload's folder is removed once the import ended. Records and rejects
stay :data:`KEEP_FOR`, and the form lists the latest :data:`KEPT`. A record that says
"running" but was not written for :data:`STALE_AFTER` belongs to a process that stopped: its
page says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Protocol

from hub.core.clock import Clock
from hub.core.errors import HubError, InputError, UsageError
from hub.core.keys import RedisKeys
from hub.importing.service import ImportReport, import_file
from hub.infra.redis_server import REDIS_ERRORS, RedisClient
from hub.store.audit import AuditNote
from hub.store.db import Database

__all__ = [
    "ACCEPTED_SUFFIXES", "KEEP_FOR", "KEPT", "MAX_UPLOAD_BYTES", "ImportCounts", "ImportJob",
    "ImportJobs", "Upload",
]  # fmt: skip

log = logging.getLogger(__name__)

#: The files the importer reads.
ACCEPTED_SUFFIXES: Final = (".csv", ".xlsx")
#: An upload's limit: 100,000 rows of CSV are about 15 MiB, of XLSX less.
MAX_UPLOAD_BYTES: Final = 64 * 1024 * 1024
#: Imports the form lists (the oldest finished ones go first).
KEPT: Final = 20
#: How long an import's record and rejects stay in Redis.
KEEP_FOR: Final = timedelta(days=7)
#: How often a running import writes its progress.
PUBLISH_EVERY_S: Final = 0.5
#: A "running" record not written for this long: its process stopped.
STALE_AFTER: Final = timedelta(seconds=30)
#: What a stopped import's page says (the rows and the end entry commit together).
STOPPED: Final = (
    "导入进程在完成前停止（服务重启？）：审计日志中若没有这次导入的“完成”记录，则未保存任何企业，"
    "请重新上传"
)
_CHUNK: Final = 1024 * 1024


class Upload(Protocol):
    """What an uploaded file gives (Starlette's ``UploadFile``)."""

    @property
    def filename(self) -> str | None: ...

    async def read(self, size: int = -1) -> bytes: ...


@dataclass(frozen=True, slots=True)
class ImportCounts:
    """What a finished import's page shows of its :class:`ImportReport`."""

    valid: int
    created: int
    updated: int
    unchanged: int
    rejected: int

    @classmethod
    def of(cls, report: ImportReport) -> ImportCounts:
        return cls(report.valid, report.created, report.updated, report.unchanged,
                   report.rejected)  # fmt: skip


@dataclass(slots=True)
class ImportJob:
    """One import: its file, who started it, where it stands."""

    id: str
    filename: str
    actor: str
    started_at: datetime
    total: int | None = None
    """Records parsed (an enterprise with two contact rows is one); None while parsing."""
    saved: int = 0
    report: ImportCounts | None = None
    has_rejects: bool = False
    error: str | None = None
    finished_at: datetime | None = None
    written_at: datetime | None = None
    """When its record was last written (a running import's heartbeat)."""

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

    def record(self) -> str:
        """The job as Redis keeps it (JSON)."""
        data: dict[str, Any] = {
            "id": self.id, "filename": self.filename, "actor": self.actor,
            "started_at": self.started_at.isoformat(), "total": self.total, "saved": self.saved,
            "report": None, "has_rejects": self.has_rejects, "error": self.error,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "written_at": self.written_at.isoformat() if self.written_at else None,
        }  # fmt: skip
        if self.report is not None:
            r = self.report
            data["report"] = [r.valid, r.created, r.updated, r.unchanged, r.rejected]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_record(cls, text: str, now: datetime) -> ImportJob:
        """The job a record describes; a running one not written for :data:`STALE_AFTER`
        is shown as stopped."""
        data = json.loads(text)
        job = cls(
            data["id"], data["filename"], data["actor"],
            datetime.fromisoformat(data["started_at"]), data["total"], data["saved"],
            ImportCounts(*data["report"]) if data["report"] is not None else None,
            data["has_rejects"], data["error"], _when(data["finished_at"]),
            _when(data["written_at"]),
        )  # fmt: skip
        written = job.written_at or job.started_at
        if job.running and now - written > STALE_AFTER:
            job.error = STOPPED
        return job


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(slots=True)
class _Running:
    job: ImportJob
    path: Path
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class ImportJobs:
    """Starts imports in this process; reads any process's from Redis (module docstring)."""

    def __init__(
        self, db: Database, clock: Clock, folder: Path, redis: RedisClient, keys: RedisKeys
    ) -> None:
        self._db = db
        self._clock = clock
        self._folder = folder
        self._redis = redis
        self._keys = keys
        self._running: dict[str, _Running] = {}

    async def get(self, job_id: str) -> ImportJob | None:
        """The job's record as every web process sees it; None for an unknown or expired id."""
        try:
            key = self._keys.import_job(job_id)
        except ValueError:  # not an id this registry could have made
            return None
        text = await self._redis.get(key)
        return None if text is None else ImportJob.from_record(str(text), self._clock.now())

    async def recent(self) -> list[ImportJob]:
        """The latest :data:`KEPT` jobs, the latest first."""
        ids = await self._redis.zrevrange(self._keys.import_recent(), 0, KEPT - 1)
        now = self._clock.now()
        return [ImportJob.from_record(t, now) for t in await self._records(ids) if t is not None]

    async def _records(self, ids: list[Any]) -> list[str | None]:
        """The records of ``ids`` (None for an expired one), in one call: the keys share the
        ``{imports}`` hash tag, so this works on a Redis Cluster too."""
        if not ids:
            return []
        texts = await self._redis.mget([self._keys.import_job(str(i)) for i in ids])
        return [None if t is None else str(t) for t in texts]

    async def rejects(self, job_id: str) -> bytes | None:
        """The job's rejected rows (CSV), if it had any and they have not expired."""
        raw = await self._redis.get(self._keys.import_rejects(job_id))
        return None if raw is None else raw.encode("utf-8") if isinstance(raw, str) else raw

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
        job = ImportJob(job_id, filename, actor, self._clock.now())
        try:
            await self._audit(job, "enterprise_import_started", {"file": filename, "bytes": size})
            await self._publish(job)
            await self._redis.zadd(self._keys.import_recent(),
                                   {job_id: job.started_at.timestamp()})  # fmt: skip
            await self._forget_old()
        except BaseException:
            shutil.rmtree(path.parent, ignore_errors=True)
            raise
        running = self._running[job_id] = _Running(job, path)
        running.task = asyncio.create_task(self._run(running), name=f"import {job_id}")
        return job

    async def wait(self, job_id: str) -> ImportJob:
        """The job's record once it has finished (tests, and a caller that must not return
        early)."""
        running = self._running.get(job_id)
        if running is not None and running.task is not None:
            await asyncio.shield(running.task)
        job = await self.get(job_id)
        if job is None:
            raise KeyError(job_id)
        return job

    async def _run(self, running: _Running) -> None:
        job = running.job

        def parsed(count: int) -> None:
            job.total = count

        def saved(count: int) -> None:
            job.saved += count

        finished = AuditNote(job.actor, "enterprise_import_finished", "import", job.id,
                             {"file": job.filename})  # fmt: skip
        report: ImportReport | None = None
        beat = asyncio.create_task(self._beat(job))
        try:  # the entry of an import that saved commits with its rows
            report = await import_file(
                self._db, "enterprises", running.path, self._clock,
                progress=saved, on_parsed=parsed, actor=job.actor, audit=finished,
            )  # fmt: skip
        except InputError as exc:  # a file the importer cannot read: its Chinese reason
            job.error = exc.reason  # (its path is the upload's, which tells the clerk nothing)
        except HubError as exc:
            job.error = str(exc)
        except Exception:
            log.exception("import %s failed", job.id)
            job.error = "导入时发生内部错误，未保存任何企业；请联系管理员查看日志"
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
        try:
            await self._finish(job, running.path, report)
        finally:
            shutil.rmtree(running.path.parent, ignore_errors=True)  # the upload and its rejects
            del self._running[job.id]

    async def _finish(self, job: ImportJob, path: Path, report: ImportReport | None) -> None:
        """The end on record: the rejects first, then the job that points at them."""
        job.finished_at = self._clock.now()
        if report is not None:
            if report.rejects_file is not None:
                data = await asyncio.to_thread(Path(report.rejects_file).read_bytes)
                await self._redis.set(self._keys.import_rejects(job.id), data,
                                      ex=int(KEEP_FOR.total_seconds()))  # fmt: skip
                job.has_rejects = True
            job.report = ImportCounts.of(report)
        else:
            try:  # a failed import saved nothing: its entry has no change to commit with
                await self._audit(job, "enterprise_import_finished",
                                  {"file": job.filename, "error": job.error})  # fmt: skip
            except Exception:  # the failure stands; the page still shows it
                log.exception("import %s: audit entry not written", job.id)
        await self._publish(job)

    async def _beat(self, job: ImportJob) -> None:
        """A running import's progress, written every :data:`PUBLISH_EVERY_S`."""
        while True:
            await asyncio.sleep(PUBLISH_EVERY_S)
            try:
                await self._publish(job)
            except REDIS_ERRORS as exc:  # the import goes on; its page may lag
                log.warning("import %s: progress not written: %s", job.id, exc)

    async def _publish(self, job: ImportJob) -> None:
        job.written_at = self._clock.now()
        await self._redis.set(self._keys.import_job(job.id), job.record(),
                              ex=int(KEEP_FOR.total_seconds()))  # fmt: skip

    async def _audit(self, job: ImportJob, action: str, detail: dict[str, object]) -> None:
        async with self._db.write() as session:
            AuditNote(job.actor, action, "import", job.id, detail).add(session, self._clock.now())

    async def _forget_old(self) -> None:
        """Past the latest :data:`KEPT`, finished (or expired) jobs leave the list with their
        records and rejects; a running one stays until it ends."""
        recent = self._keys.import_recent()
        older = [str(i) for i in await self._redis.zrange(recent, 0, -(KEPT + 1))]
        texts = await self._records(older)
        now = self._clock.now()
        doomed = [
            job_id for job_id, text in zip(older, texts, strict=True)
            if text is None or not ImportJob.from_record(text, now).running
        ]  # fmt: skip
        if doomed:
            await self._redis.zrem(recent, *doomed)
            for job_id in doomed:
                await self._redis.delete(self._keys.import_job(job_id),
                                         self._keys.import_rejects(job_id))  # fmt: skip

    async def aclose(self) -> None:
        """Wait for the running imports (a shutdown must not cut a transaction's work short)."""
        tasks = [r.task for r in self._running.values() if r.task is not None]
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
