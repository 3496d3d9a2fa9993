"""``POST /api/v1/credit-events`` and ``POST /api/v1/policies``: who may post, what a post
changes (and audits), the credit status it sets, and 422s that name the field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.vocab import CreditStatus
from hub.store.db import Database
from hub.store.models import AuditLog, Enterprise, Policy
from hub.tickets.staff import NewStaff, StaffRole, add_staff, issue_token
from tests.importing.factories import make_uscc, wrong_check
from tests.web.api_support import World, api_client, seed_world

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
JIA, UNKNOWN = make_uscc(1), make_uscc(77)
EVENT: dict[str, Any] = {
    "event_id": "XY2026-0001",
    "uscc": JIA,
    "type": "dishonest_debtor",
    "authority": "龙沙区人民法院",
    "decided_on": "2026-03-02",
    "summary": "未履行生效判决",
}
POLICY: dict[str, Any] = {
    "policy_id": "ZC-01",
    "title": "制造业数字化改造补贴",
    "apply_by": "2026-12-31",
    "free_apply": False,
    "url": "https://www.qqhr.gov.cn/zc/1",
    "industries": ["制造业"],
    "tiers": ["重点", "general"],
    "stages": ["operating"],
}


@pytest.fixture
async def world(any_db: Database, tmp_path: Path) -> World:
    return await seed_world(any_db, FixedClock(NOW), tmp_path)


async def credit_of(db: Database, uscc: str) -> CreditStatus:
    async with db.read() as session:
        status = await session.scalar(
            sa.select(Enterprise.credit_status).where(Enterprise.uscc == uscc)
        )
    assert status is not None
    return status


async def test_a_credit_event_sets_the_status_once_and_a_repair_restores_it(
    any_db: Database, world: World
) -> None:
    async with api_client(any_db, FixedClock(NOW)) as client:
        first = await client.post("/api/v1/credit-events", json=EVENT, headers=world.auth("admin"))
        assert first.status_code == 200, first.text
        assert first.json() == {
            "result": "created", "changed": [], "event_id": "XY2026-0001", "uscc": JIA,
            "credit": "dishonest", "credit_label": "失信",
        }  # fmt: skip
        assert await credit_of(any_db, JIA) is CreditStatus.DISHONEST

        again = await client.post(
            "/api/v1/credit-events", json=EVENT, headers=world.auth("dispatcher")
        )
        assert (again.json()["result"], again.json()["credit"]) == ("unchanged", "dishonest")

        repaired = {**EVENT, "status": "已修复", "repaired_on": "2026-11-20"}
        third = await client.post(
            "/api/v1/credit-events", json=repaired, headers=world.auth("dispatcher")
        )
        assert third.json()["result"] == "updated"
        assert third.json()["changed"] == ["repaired_on", "status"]
        assert third.json()["credit"] == "good"
    assert await credit_of(any_db, JIA) is CreditStatus.GOOD
    async with any_db.read() as session:
        entries = (
            await session.execute(
                sa.select(AuditLog.action, AuditLog.actor)
                .where(AuditLog.target_type.in_(["credit_event", "enterprise"]))
                .order_by(AuditLog.id)
            )
        ).all()
    assert [tuple(e) for e in entries] == [
        ("credit_event.created", "admin"),
        ("enterprise.credit_status", "admin"),
        ("credit_event.updated", "dispatcher"),
        ("enterprise.credit_status", "dispatcher"),
    ]


async def test_a_policy_is_saved_with_its_eligibility(any_db: Database, world: World) -> None:
    async with api_client(any_db, FixedClock(NOW)) as client:
        response = await client.post("/api/v1/policies", json=POLICY, headers=world.auth("admin"))
        assert response.json() == {"result": "created", "changed": [], "policy_id": "ZC-01"}
        changed = {**POLICY, "free_apply": True}
        response = await client.post("/api/v1/policies", json=changed, headers=world.auth("admin"))
        assert response.json() == {
            "result": "updated", "changed": ["free_apply"], "policy_id": "ZC-01"
        }  # fmt: skip
    async with any_db.read() as session:
        policy = await session.scalar(sa.select(Policy))
    assert policy is not None
    assert (policy.tiers, policy.stages, policy.industries, policy.free_apply) == (
        "general;key", "operating", "制造业", True
    )  # fmt: skip


@pytest.mark.parametrize("username", ["gxj_viewer", "gxj_head", "swj_handler"])
async def test_only_admins_and_dispatchers_may_post(
    db: Database, tmp_path: Path, username: str
) -> None:
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    async with api_client(db, FixedClock(NOW)) as client:
        for path, body in (("/api/v1/credit-events", EVENT), ("/api/v1/policies", POLICY)):
            response = await client.post(path, json=body, headers=world.auth(username))
            assert (response.status_code, response.json()["code"]) == (403, "forbidden")
            response = await client.post(path, json=body)
            assert response.status_code == 401
    async with db.read() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Policy)) == 0


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        ("/api/v1/credit-events", {**EVENT, "type": "blacklist"}, "type"),
        ("/api/v1/credit-events", {**EVENT, "decided_on": "2026-02-30"}, "decided_on"),
        ("/api/v1/credit-events", {**EVENT, "decided_on": 0}, "decided_on"),
        ("/api/v1/credit-events", {**EVENT, "uscc": wrong_check(JIA)}, "uscc"),
        ("/api/v1/credit-events", {**EVENT, "event_id": "   "}, "event_id"),
        ("/api/v1/credit-events", {**EVENT, "status": "作废"}, "status"),
        ("/api/v1/credit-events", {k: v for k, v in EVENT.items() if k != "authority"},
         "authority"),
        ("/api/v1/policies", {**POLICY, "url": "www.example.com"}, "url"),
        ("/api/v1/policies", {**POLICY, "free_apply": "true"}, "free_apply"),
        ("/api/v1/policies", {**POLICY, "tiers": ["vip"]}, "tiers"),
        ("/api/v1/policies", {**POLICY, "title": "\x00"}, "title"),
    ],
)  # fmt: skip
async def test_bad_input_is_a_422_naming_the_field(
    db: Database, tmp_path: Path, path: str, body: dict[str, Any], named: str
) -> None:
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    async with api_client(db, FixedClock(NOW)) as client:
        response = await client.post(path, json=body, headers=world.auth("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid"
    assert named in response.json()["error"]


async def test_an_unknown_enterprise_is_a_404(db: Database, tmp_path: Path) -> None:
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    async with api_client(db, FixedClock(NOW)) as client:
        response = await client.post(
            "/api/v1/credit-events", json={**EVENT, "uscc": UNKNOWN}, headers=world.auth("admin")
        )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert UNKNOWN in response.json()["error"]


async def test_lists_are_newest_first_and_credit_events_scoped(
    any_db: Database, world: World
) -> None:
    yi = make_uscc(2)  # 乙商贸, 批发和零售业: outside 工信局's industries
    async with api_client(any_db, FixedClock(NOW)) as client:
        admin = world.auth("admin")
        for body in (EVENT, {**EVENT, "event_id": "XY-2", "uscc": yi, "status": "removed"}):
            assert (await client.post("/api/v1/credit-events", json=body, headers=admin)).is_success
        assert (await client.post("/api/v1/policies", json=POLICY, headers=admin)).is_success

        listed = (await client.get("/api/v1/credit-events", headers=admin)).json()
        assert [(e["event_id"], e["enterprise"]["uscc"]) for e in listed] == [
            ("XY-2", yi), ("XY2026-0001", JIA)
        ]  # fmt: skip
        assert listed[1]["type_label"] == "失信被执行人"
        active = await client.get("/api/v1/credit-events?status=有效", headers=admin)
        assert [e["event_id"] for e in active.json()] == ["XY2026-0001"]
        scoped = await client.get("/api/v1/credit-events", headers=world.auth("gxj_viewer"))
        assert [e["event_id"] for e in scoped.json()] == ["XY2026-0001"]

        (policy,) = (await client.get("/api/v1/policies", headers=world.auth("gxj_viewer"))).json()
        assert (policy["policy_id"], policy["tiers"], policy["apply_by"]) == (
            "ZC-01", ["general", "key"], "2026-12-31"
        )  # fmt: skip


async def test_a_scoped_dispatcher_writes_only_within_the_scope(
    db: Database, tmp_path: Path
) -> None:
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    clock = FixedClock(NOW)
    await add_staff(db, clock, NewStaff("gxj_dispatcher", "调度员", StaffRole.DISPATCHER, "GXJ",
                                        None), actor="test")  # fmt: skip
    scoped = {
        "Authorization": f"Bearer {await issue_token(db, clock, 'gxj_dispatcher', actor='t')}"
    }
    yi = make_uscc(2)  # 乙商贸, 批发和零售业: outside 工信局's industries
    async with api_client(db, clock) as client:
        outside = await client.post(
            "/api/v1/credit-events", json={**EVENT, "uscc": yi}, headers=scoped
        )
        assert outside.status_code == 404
        ok = await client.post("/api/v1/credit-events", json=EVENT, headers=scoped)
        assert ok.json()["result"] == "created"
        other = {**EVENT, "event_id": "XY-YI", "uscc": yi}
        assert (
            await client.post("/api/v1/credit-events", json=other, headers=world.auth("admin"))
        ).is_success
        moved = await client.post(
            "/api/v1/credit-events", json={**other, "uscc": JIA}, headers=scoped
        )
        assert moved.status_code == 404
        assert "XY-YI" in moved.json()["error"]
