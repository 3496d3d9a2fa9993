"""``POST /api/v1/faq`` and ``GET /api/v1/faq[/{faq_id}]``: who may post, versions and audit,
per-item errors with index and field while the rest is saved, 422s for bad bodies, the list's
filters and an entry's history."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.tickets import AuditLog
from tests.web.api_support import World, api_client, seed_world

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 2026-12-01 in Shanghai
LICENCE: dict[str, Any] = {
    "faq_id": "FAQ-001",
    "question": "营业执照丢了怎么补办？",
    "answer": "到政务服务中心登记窗口申请补领。",
    "alternates": ["执照丢了", "营业执照遗失补领"],
    "department": "市市场监督管理局",
    "valid_until": "2027-06-30",
    "source": "《市场主体登记管理条例》",
}
TAX: dict[str, Any] = {
    "faq_id": "FAQ-002",
    "question": "小规模纳税人增值税起征点是多少？",
    "answer": "月销售额10万元以下免征增值税。",
    "department": "市税务局",
    "valid_until": "2026-11-30",  # past on NOW
}
SOCIAL: dict[str, Any] = {
    "faq_id": "FAQ-003",
    "question": "社保断缴有什么影响？",
    "answer": "可能影响医保待遇，请及时补缴。",
}


@pytest.fixture
async def world(any_db: Database, tmp_path: Path) -> World:
    return await seed_world(any_db, FixedClock(NOW), tmp_path)


async def test_entries_are_saved_once_versioned_and_audited(any_db: Database, world: World) -> None:
    async with api_client(any_db, FixedClock(NOW)) as client:
        admin = world.auth("admin")
        first = await client.post("/api/v1/faq", json=[LICENCE, TAX], headers=admin)
        assert first.status_code == 200, first.text
        assert first.json() == {
            "valid": 2, "created": 2, "updated": 0, "unchanged": 0, "rejected": 0,
            "new": ["FAQ-001", "FAQ-002"], "changed": [], "errors": [],
        }  # fmt: skip
        again = await client.post("/api/v1/faq", json=[LICENCE, TAX], headers=admin)
        assert (again.json()["unchanged"], again.json()["created"]) == (2, 0)

        changed = {**LICENCE, "answer": "可网上申请补领，无需登报。"}
        third = await client.post("/api/v1/faq", json=[changed], headers=admin)
        assert (third.json()["updated"], third.json()["changed"]) == (1, ["FAQ-001"])

        shown = await client.get("/api/v1/faq/FAQ-001", headers=world.auth("swj_handler"))
        assert shown.status_code == 200, shown.text
        entry = shown.json()
        assert (entry["version"], entry["answer"], entry["in_force"]) == (
            2, "可网上申请补领，无需登报。", True
        )  # fmt: skip
        assert entry["alternates"] == ["执照丢了", "营业执照遗失补领"]
        assert [(v["version"], v["answer"], v["created_by"]) for v in entry["versions"]] == [
            (1, "到政务服务中心登记窗口申请补领。", "admin"),
            (2, "可网上申请补领，无需登报。", "admin"),
        ]
        assert entry["versions"][0]["created_at"] == "2026-12-01T10:00:00+08:00"
    async with any_db.read() as session:
        audit = (
            await session.execute(
                sa.select(AuditLog.action, AuditLog.target_id, AuditLog.actor)
                .where(AuditLog.target_type == "faq")
                .order_by(AuditLog.id)
            )
        ).all()
    assert [tuple(row) for row in audit] == [
        ("faq.created", "FAQ-001", "admin"), ("faq.created", "FAQ-002", "admin"),
        ("faq.updated", "FAQ-001", "admin"),
    ]  # fmt: skip


async def test_bad_items_are_listed_with_index_and_field_and_the_rest_is_saved(
    any_db: Database, world: World
) -> None:
    body = [
        LICENCE,
        {"faq_id": "FAQ-010", "question": "  ", "answer": "答案"},
        {"faq_id": "FAQ-404", "retired": True},
        {**LICENCE, "answer": "另一个答案"},
        SOCIAL,
        {**SOCIAL, "faq_id": "FAQ/5"},
    ]
    async with api_client(any_db, FixedClock(NOW)) as client:
        answer = await client.post("/api/v1/faq", json=body, headers=world.auth("admin"))
        assert answer.status_code == 200, answer.text
        result = answer.json()
        assert (result["valid"], result["created"], result["rejected"]) == (2, 2, 4)
        assert [(e["index"], e["faq_id"], e["field"]) for e in result["errors"]] == [
            (1, "FAQ-010", "question"), (2, "FAQ-404", "faq_id"), (3, "FAQ-001", "faq_id"),
            (5, "FAQ/5", "faq_id"),
        ]  # fmt: skip
        reasons = [e["error"] for e in result["errors"]]
        assert reasons[0] == "question不能为空"
        assert "不存在，无法停用" in reasons[1]
        assert "与第 0 项重复且内容不一致" in reasons[2]
        listed = await client.get("/api/v1/faq", headers=world.auth("admin"))
        assert [e["faq_id"] for e in listed.json()] == ["FAQ-001", "FAQ-003"]
        assert listed.json()[0]["answer"] == LICENCE["answer"]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        pytest.param(LICENCE, "", id="not-a-list"),
        pytest.param([], "", id="empty"),
        pytest.param([{**LICENCE, "valid_until": "2027/6/30"}], "0.valid_until", id="date"),
        pytest.param([TAX, {**LICENCE, "faq_id": "F" * 65}], "1.faq_id", id="long-id"),
        pytest.param([{**LICENCE, "retired": "是"}], "0.retired", id="retired-text"),
    ],
)
async def test_a_body_that_is_no_list_of_entries_is_a_422_and_nothing_is_saved(
    any_db: Database, world: World, body: Any, named: str
) -> None:
    async with api_client(any_db, FixedClock(NOW)) as client:
        answer = await client.post("/api/v1/faq", json=body, headers=world.auth("admin"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["code"] == "invalid"
        assert "参数无效" in answer.json()["error"]
        assert named in answer.json()["error"]
        listed = await client.get("/api/v1/faq", headers=world.auth("admin"))
        assert listed.json() == []


async def test_only_admins_post_and_every_staff_member_reads(
    any_db: Database, world: World
) -> None:
    async with api_client(any_db, FixedClock(NOW)) as client:
        for username in ("dispatcher", "swj_handler", "gxj_viewer"):
            refused = await client.post("/api/v1/faq", json=[LICENCE], headers=world.auth(username))
            assert refused.status_code == 403, username
        assert (await client.get("/api/v1/faq", headers=world.auth("gxj_viewer"))).json() == []
        missing = await client.get("/api/v1/faq/FAQ-001", headers=world.auth("gxj_viewer"))
        assert missing.status_code == 404
        assert "FAQ-001" in missing.json()["error"]
        assert (await client.get("/api/v1/faq")).status_code == 401


async def test_the_list_filters_by_text_department_and_validity_and_pages(
    any_db: Database, world: World
) -> None:
    async with api_client(any_db, FixedClock(NOW)) as client:
        admin = world.auth("admin")
        await client.post("/api/v1/faq", json=[LICENCE, TAX, SOCIAL], headers=admin)
        retire = await client.post(
            "/api/v1/faq", json=[{"faq_id": "FAQ-003", "retired": True}], headers=admin
        )
        assert (retire.json()["updated"], retire.json()["errors"]) == (1, [])

        async def ids(**params: Any) -> list[str]:
            listed = await client.get("/api/v1/faq", params=params, headers=admin)
            assert listed.status_code == 200, listed.text
            return [entry["faq_id"] for entry in listed.json()]

        assert await ids() == ["FAQ-001", "FAQ-002", "FAQ-003"]
        assert await ids(q="遗失补领") == ["FAQ-001"]  # an alternate
        assert await ids(q="10万元") == ["FAQ-002"]  # the answer
        assert await ids(q="faq-00") == ["FAQ-001", "FAQ-002", "FAQ-003"]
        assert await ids(q="100%") == []
        assert await ids(department="市税务局") == ["FAQ-002"]
        assert await ids(valid="true") == ["FAQ-001"]  # FAQ-002 expired, FAQ-003 retired
        assert await ids(valid="false") == ["FAQ-002", "FAQ-003"]
        assert await ids(after="FAQ-001", limit=1) == ["FAQ-002"]
        shown = await client.get("/api/v1/faq/FAQ-003", headers=admin)
        assert (shown.json()["retired"], shown.json()["in_force"]) == (True, False)
        assert shown.json()["question"] == SOCIAL["question"]  # retiring keeps the text
        assert [v["retired"] for v in shown.json()["versions"]] == [False, True]
