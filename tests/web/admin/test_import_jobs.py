"""Imports started from the web admin: run in the background by the CLI's importer, progress
counted, the good rows saved and the bad one in the rejects file naming its row and field,
start and end in the audit log (the end of a saving import in its own transaction); a file that
is no CSV/XLSX is refused before anything runs. The jobs are on record in Redis, so another web
process (another ``ImportJobs``) shows them too — on a Redis Cluster as well."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.errors import StorageError, UsageError
from hub.core.keys import RedisKeys
from hub.importing.service import import_file
from hub.infra.redis_server import RedisClient
from hub.store.audit import AuditNote
from hub.store.db import Database
from hub.store.models import AuditLog, Enterprise
from hub.web.admin.import_jobs import KEPT, STALE_AFTER, STOPPED, ImportJob, ImportJobs
from tests.importing.factories import csv_text, make_uscc, write_xlsx_file
from tests.redis_fixtures import ALL_REDIS_KINDS

HEADER = ["统一社会信用代码", "企业名称", "联络类别", "行业", "区域", "联系人", "手机"]
GOOD = [make_uscc(1), "鹤城机械有限公司", "重点", "制造业", "龙沙区", "王伟", "13800138000"]
BAD_MOBILE = [make_uscc(2), "恒达商贸有限公司", "一般", "批发和零售业", "建华区", "张敏", "1380"]
GOOD_TOO = [make_uscc(3), "鑫盛烤肉店", "普通", "住宿和餐饮业", "铁锋区", "李娜", "13900139000"]


class FakeUpload:
    """An uploaded file as Starlette hands it over, read in chunks."""

    def __init__(self, filename: str, data: bytes) -> None:
        self.filename = filename
        self._data = io.BytesIO(data)

    async def read(self, size: int = -1) -> bytes:
        return self._data.read(size)


def registry_csv(*rows: list[str]) -> bytes:
    return csv_text([HEADER, *rows]).encode("utf-8-sig")


#: The tests of jobs run on every kind of Redis, the Cluster too (one MGET reads the records).
every_redis = pytest.mark.parametrize("redis_client", ALL_REDIS_KINDS, indirect=True)


@pytest.fixture
def jobs(
    db: Database, clock: FixedClock, tmp_path: Path, redis_client: RedisClient,
    redis_keys: RedisKeys,
) -> ImportJobs:  # fmt: skip
    return ImportJobs(db, clock, tmp_path / "imports", redis_client, redis_keys)


@every_redis
async def test_the_good_rows_are_saved_and_the_rejects_name_row_and_field(
    db: Database, clock: FixedClock, tmp_path: Path, jobs: ImportJobs
) -> None:
    job = await jobs.start(FakeUpload("企业名录.csv", registry_csv(GOOD, BAD_MOBILE, GOOD_TOO)),
                           actor="admin")  # fmt: skip
    job = await jobs.wait(job.id)
    assert job.error is None
    assert job.report is not None
    assert (job.report.valid, job.report.created, job.report.rejected) == (2, 2, 1)
    assert (job.total, job.saved, job.percent, job.phase) == (2, 2, 100, "导入完成")
    async with db.read() as session:
        names = set(await session.scalars(sa.select(Enterprise.name)))
        audit = (await session.scalars(sa.select(AuditLog).order_by(AuditLog.id))).all()
    assert names == {"鹤城机械有限公司", "鑫盛烤肉店"}
    assert job.has_rejects
    rejects = await jobs.rejects(job.id)
    assert rejects is not None
    [reject] = list(csv.DictReader(io.StringIO(rejects.decode("utf-8-sig"))))
    assert reject["行号"] == "3"  # the header is row 1
    assert reject["原因"].startswith("手机“1380”")
    assert job.rejects_name == "企业名录.rejects.csv"
    assert [(a.action, a.actor, a.target_id) for a in audit] == [
        ("enterprise_import_started", "admin", job.id),
        ("enterprise_import_finished", "admin", job.id),
    ]
    assert (audit[1].detail["created"], audit[1].detail["rejected"]) == (2, 1)
    assert audit[1].detail["file"] == "企业名录.csv"


@every_redis
async def test_a_file_missing_a_required_column_fails_with_its_chinese_reason(
    db: Database, clock: FixedClock, tmp_path: Path, jobs: ImportJobs
) -> None:
    data = csv_text([["企业名称"], ["鹤城机械有限公司"]]).encode()
    job = await jobs.wait((await jobs.start(FakeUpload("x.csv", data), actor="admin")).id)
    assert job.report is None
    assert job.error is not None
    assert "统一社会信用代码" in job.error
    assert job.phase == "导入失败"
    async with db.read() as session:
        audit = (await session.scalars(sa.select(AuditLog).order_by(AuditLog.id))).all()
    assert [a.action for a in audit] == ["enterprise_import_started", "enterprise_import_finished"]
    assert "统一社会信用代码" in audit[1].detail["error"]


async def test_the_end_entry_commits_with_the_rows_or_neither_is_kept(
    db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    path = tmp_path / "名录.csv"
    path.write_bytes(registry_csv(GOOD, BAD_MOBILE, GOOD_TOO))
    # A detail the JSON column cannot hold: the entry fails inside the import's transaction.
    unwritable = AuditNote("admin", "enterprise_import_finished", "import", "j1", {"bad": object()})
    with pytest.raises(StorageError, match="JSON serializable"):
        await import_file(db, "enterprises", path, clock, audit=unwritable)
    async with db.read() as session:
        assert (await session.scalars(sa.select(Enterprise.name))).all() == []
        assert (await session.scalars(sa.select(AuditLog))).all() == []

    note = AuditNote("admin", "enterprise_import_finished", "import", "j2", {"file": "名录.csv"})
    report = await import_file(db, "enterprises", path, clock, audit=note)
    async with db.read() as session:
        [entry] = (await session.scalars(sa.select(AuditLog))).all()
        saved = set(await session.scalars(sa.select(Enterprise.name)))
    assert saved == {"鹤城机械有限公司", "鑫盛烤肉店"}
    assert (entry.target_id, entry.at) == ("j2", clock.now())
    assert entry.detail == {"file": "名录.csv", "kind": "enterprises", "valid": 2, "rejected": 1,
                            "created": 2, "updated": 0, "unchanged": 0}  # fmt: skip
    assert (report.created, report.rejected) == (2, 1)


@every_redis
async def test_an_xlsx_upload_is_read_as_the_cli_reads_it(tmp_path: Path, jobs: ImportJobs) -> None:
    workbook = write_xlsx_file(tmp_path / "名录.xlsx", [HEADER, GOOD, BAD_MOBILE])
    upload = FakeUpload("名录.xlsx", workbook.read_bytes())
    job = await jobs.wait((await jobs.start(upload, actor="dispatcher")).id)
    assert job.report is not None
    assert (job.report.created, job.report.rejected) == (1, 1)


@every_redis
async def test_only_the_latest_finished_jobs_are_kept_and_their_files_go_when_they_end(
    clock: FixedClock, tmp_path: Path, jobs: ImportJobs
) -> None:
    first = await jobs.wait((await jobs.start(FakeUpload("a.csv", registry_csv(GOOD)), "a")).id)
    assert list((tmp_path / "imports").iterdir()) == []  # the upload went with its end
    for n in range(KEPT):
        clock.advance(timedelta(minutes=1))
        await jobs.wait((await jobs.start(FakeUpload(f"{n}.csv", registry_csv(GOOD)), "a")).id)
    recent = await jobs.recent()
    assert [job.filename for job in recent] == [f"{n}.csv" for n in reversed(range(KEPT))]
    assert await jobs.get(first.id) is None


@every_redis
async def test_another_web_process_shows_a_job_and_a_stopped_one_says_so(
    db: Database, clock: FixedClock, tmp_path: Path, jobs: ImportJobs,
    redis_client: RedisClient, redis_keys: RedisKeys,
) -> None:  # fmt: skip
    other = ImportJobs(db, clock, tmp_path / "other", redis_client, redis_keys)
    done = await jobs.wait(
        (await jobs.start(FakeUpload("名录.csv", registry_csv(GOOD, BAD_MOBILE)), "admin")).id
    )
    seen = await other.get(done.id)
    assert seen == done
    assert await other.rejects(done.id) == await jobs.rejects(done.id)
    assert [job.id for job in await other.recent()] == [done.id]
    # A process that stopped mid-import left its record "running": once it is stale, its
    # page says the import stopped instead of refreshing for ever.
    stopped = ImportJob("0123456789abcdef", "旧名录.csv", "admin", clock.now(), total=5, saved=2)
    stopped.written_at = clock.now()
    await redis_client.set(redis_keys.import_job(stopped.id), stopped.record())
    assert (await other.get(stopped.id)) == stopped
    clock.advance(STALE_AFTER + timedelta(seconds=1))
    late = await other.get(stopped.id)
    assert late is not None
    assert (late.running, late.phase, late.error) == (False, "导入失败", STOPPED)
    assert await other.get("no-such-job") is None
    assert await other.get("../../etc") is None


@every_redis
@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [("名录.txt", b"a,b", "请上传 CSV 或 XLSX 文件"), ("名录.csv", b"", "是空的")],
)
async def test_a_file_that_is_no_registry_is_refused_before_it_runs(
    tmp_path: Path, jobs: ImportJobs, filename: str, data: bytes, reason: str
) -> None:
    with pytest.raises(UsageError, match=reason):
        await jobs.start(FakeUpload(filename, data), actor="admin")
    assert await jobs.recent() == []
    assert list((tmp_path / "imports").glob("*/*")) == []  # no upload left behind
