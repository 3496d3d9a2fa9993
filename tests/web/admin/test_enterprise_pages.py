"""/admin/enterprises over HTTP, signed in through the real form: the filter form and the free
expression give the right enterprises with their total, a bad expression is the parser's
Chinese message on the page (400, not 5xx), the dossier shows each section from the rows
created, mobiles are masked by role, a scoped handler cannot open another's enterprise; the
import page takes an upload with a bad row, saves the good rows and hands back the rejects
naming row and field, for admins and dispatchers only, audit-logged."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.importing.service import import_file
from hub.store.db import Database
from hub.store.models import AuditLog, Enterprise
from hub.tickets.staff import StaffRole
from tests.importing.factories import make_uscc, write_csv_file
from tests.web.admin.admin_support import add_user, admin_app, admin_client, csrf_of, sign_in
from tests.web.admin.enterprise_rows import full_record_of_jia
from tests.web.admin.test_import_jobs import BAD_MOBILE, GOOD, GOOD_TOO, registry_csv
from tests.web.api_support import DEPARTMENTS

JIA = make_uscc(1)
_NAMES = re.compile(r'<a href="/admin/enterprises/[0-9A-Z]{18}">([^<]+)</a>')


@pytest.fixture
async def app(
    db: Database, redis_client: Redis, clock: FixedClock, redis_keys: RedisKeys, tmp_path: Path
) -> FastAPI:
    await full_record_of_jia(db)
    departments = write_csv_file(tmp_path / "departments.csv", DEPARTMENTS)
    assert (await import_file(db, "departments", departments, clock)).rejected == 0
    await add_user(db, clock, "admin", StaffRole.ADMIN)
    await add_user(db, clock, "dispatcher", StaffRole.DISPATCHER)
    await add_user(db, clock, "gxj_head", StaffRole.HEAD, department="GXJ")
    await add_user(db, clock, "swj_handler", StaffRole.HANDLER, department="SWJ")
    return admin_app(db, redis_client, clock, redis_keys)


async def _page(app: FastAPI, username: str, path: str) -> httpx.Response:
    async with admin_client(app) as client:
        await sign_in(client, username)
        return await client.get(path)


def _names(html: str) -> set[str]:
    return set(_NAMES.findall(html))


@pytest.mark.parametrize(
    ("query", "names", "total"),
    [
        ("", {"甲机械", "乙商贸", "丙软件", "丁餐饮", "戊建筑"}, 5),
        ("tier=key&tier=general&region=龙沙区", {"甲机械", "丙软件"}, 2),
        ("credit=dishonest", {"丁餐饮"}, 1),
        ("tags=专精特新&stage=startup", {"丙软件"}, 1),
        ("officer=LL001", {"甲机械", "戊建筑"}, 2),
        ("q=industry%3D制造业|建筑业", {"甲机械", "戊建筑"}, 2),
        ("name=商贸", {"乙商贸"}, 1),
    ],
)
async def test_the_filters_list_the_audience_they_say_with_its_total(
    app: FastAPI, query: str, names: set[str], total: int
) -> None:
    response = await _page(app, "admin", f"/admin/enterprises?{query}")
    assert response.status_code == 200
    assert _names(response.text) == names
    assert f'<strong id="total">{total}</strong>' in response.text


async def test_a_bad_expression_is_the_parser_s_chinese_message_on_the_page(app: FastAPI) -> None:
    response = await _page(app, "admin", "/admin/enterprises?q=tier%3Dvip")
    assert response.status_code == 400
    assert "受众表达式中的条件“tier=vip”无效" in response.text
    assert 'value="tier=vip"' in response.text  # the form keeps what was typed
    assert _names(response.text) == set()


async def test_the_dossier_shows_every_section_from_its_rows(app: FastAPI) -> None:
    response = await _page(app, "admin", f"/admin/enterprises/{JIA}")
    assert response.status_code == 200
    html = response.text
    for expected in (
        "甲机械", "+8613900000001",  # an admin sees the mobile in full
        "微信公众号（全部消息）",  # the opt-out
        "号码停机",  # the failed notice's reason
        "年报已经报了", "想申报，请联系我",  # replies
        "GD202702150003", "厂区用电增容申请", "市发展改革委",  # tickets
        "XY2027-0001", "未按规定公示年度报告",  # credit
        "高新技术企业认定奖励", "已回复", "稳岗返还", "未回复",  # policies
        "PW-2027-001", "排污许可证",  # licence
        "2025", "2026-05-20",  # annual report
        "2026Q4", "已走访", "2027Q1", "已确认",  # visits
        "生产正常，反映用电紧张", "厂区用电容量不足，需增容",  # the last visit's notes and problems
    ):  # fmt: skip
        assert expected in html, expected


async def test_mobiles_are_masked_by_role(app: FastAPI) -> None:
    dispatcher = await _page(app, "dispatcher", f"/admin/enterprises/{JIA}")
    head = await _page(app, "gxj_head", f"/admin/enterprises/{JIA}")
    assert "+8613900000001" in dispatcher.text
    assert head.status_code == 200
    assert "+8613900000001" not in head.text
    assert "+86139****0001" in head.text


async def test_a_handler_sees_only_the_enterprises_of_its_department(app: FastAPI) -> None:
    listing = await _page(app, "swj_handler", "/admin/enterprises")
    assert _names(listing.text) == {"乙商贸", "丁餐饮"}
    other = await _page(app, "swj_handler", f"/admin/enterprises/{JIA}")
    assert other.status_code == 404
    assert "没有统一社会信用代码为" in other.text


async def test_all_the_messages_of_an_enterprise_are_a_link_away(app: FastAPI) -> None:
    response = await _page(app, "gxj_head", f"/admin/enterprises/{JIA}/messages")
    assert response.status_code == 200
    assert "号码停机" in response.text
    assert "政策推送" in response.text
    assert "+86139****0001" in response.text


async def _upload(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    form = await client.get("/admin/enterprises/import")
    assert form.status_code == 200
    return await client.post(
        "/admin/enterprises/import", data={"csrf_token": csrf_of(form.text)},
        files={"file": (name, data, "text/csv")},
    )  # fmt: skip


async def test_an_upload_with_a_bad_row_saves_the_good_and_the_rejects_name_row_and_field(
    app: FastAPI, db: Database
) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "dispatcher")
        started = await _upload(client, "新名录.csv", registry_csv(GOOD, BAD_MOBILE, GOOD_TOO))
        assert started.status_code == 303
        job_path = started.headers["location"]
        for _ in range(200):  # the page refreshes itself while the import runs
            page = await client.get(job_path)
            if "导入完成" in page.text:
                break
            assert 'http-equiv="refresh"' in page.text
            await asyncio.sleep(0.05)
        assert "导入完成" in page.text
        assert 'http-equiv="refresh"' not in page.text
        assert '<progress max="100" value="100"' in page.text
        rejects = await client.get(f"{job_path}/rejects.csv")
    assert rejects.status_code == 200
    assert quote("新名录.rejects.csv") in rejects.headers["content-disposition"]
    [reject] = list(csv.DictReader(io.StringIO(rejects.content.decode("utf-8-sig"))))
    assert (reject["行号"], reject["统一社会信用代码"]) == ("3", make_uscc(2))
    assert reject["原因"].startswith("手机“1380”")
    async with db.read() as session:
        names = set(await session.scalars(sa.select(Enterprise.name)))
        actions = list(await session.scalars(
            sa.select(AuditLog.action).where(AuditLog.actor == "dispatcher")
            .where(AuditLog.target_type == "import")
        ))  # fmt: skip
    assert {"鹤城机械有限公司", "鑫盛烤肉店"} <= names
    assert "恒达商贸有限公司" not in names
    assert actions == ["enterprise_import_started", "enterprise_import_finished"]


async def test_a_file_that_is_no_registry_is_refused_on_the_form(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "admin")
        response = await _upload(client, "名录.docx", b"PK\x03\x04")
    assert response.status_code == 400
    assert "请上传 CSV 或 XLSX 文件" in response.text


async def test_only_admins_and_dispatchers_may_import(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "gxj_head")
        form = await client.get("/admin/enterprises/import")
        listing = await client.get("/admin/enterprises")
        forged = await client.post(
            "/admin/enterprises/import", data={"csrf_token": csrf_of(listing.text)},
            files={"file": ("名录.csv", registry_csv(GOOD), "text/csv")},
        )  # fmt: skip
    assert form.status_code == 403
    assert forged.status_code == 403
    assert "导入企业名录" not in listing.text


async def test_an_upload_without_its_csrf_token_is_refused(app: FastAPI) -> None:
    async with admin_client(app) as client:
        await sign_in(client, "admin")
        response = await client.post(
            "/admin/enterprises/import",
            files={"file": ("名录.csv", registry_csv(GOOD), "text/csv")},
        )
    assert response.status_code == 403


async def test_an_upload_may_be_larger_than_the_other_forms(app: FastAPI) -> None:
    """The app's 1 MiB body limit would refuse a city's registry: the upload has its own."""
    async with admin_client(app) as client:
        await sign_in(client, "admin")
        response = await _upload(client, "名录.txt", b"x" * (3 * 1024 * 1024))
    assert response.status_code == 400  # read to the end, then refused for what it is
    assert "请上传 CSV 或 XLSX 文件" in response.text
