"""A program that fails after ``POST /api/v1/credit-events`` or ``/policies`` saved the row is
no 5xx: the call answers the saved record with a note that the message was not sent and that
the daily run sends it, and the failure is logged (through the real app, ``create_app``)."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.errors import ConfigError
from hub.core.keys import RedisKeys
from hub.scheduling.programs import after_save, credit_warning, policy_match
from hub.scheduling.programs.base import ProgramContext, ProgramSettings
from hub.store.db import Database
from hub.store.models import CreditEvent, Message, Policy
from hub.web.app import create_app
from tests.importing.factories import make_uscc
from tests.pipeline import build
from tests.web.api_support import World, seed_world

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI)
EVENT: dict[str, Any] = {
    "event_id": "XY2027-0001", "uscc": make_uscc(1), "type": "dishonest_debtor",
    "authority": "龙沙区人民法院", "decided_on": "2027-01-02", "summary": "未履行生效判决",
}  # fmt: skip
POLICY: dict[str, Any] = {"policy_id": "ZC-09", "title": "专精特新企业贷款贴息",
                          "apply_by": "2027-06-30", "tags": ["专精特新"]}  # fmt: skip


async def _post(
    db: Database, redis: Redis, keys: RedisKeys, world: World, templates: Path,
    path: str, body: dict[str, Any],
) -> httpx.Response:  # fmt: skip
    clock = FixedClock(NOW)
    hub = build(db, redis, keys, clock)
    programs = ProgramContext(db, hub.outbox, clock, ProgramSettings(templates_folder=templates))
    app = create_app(db, redis, metrics=CollectorRegistry(), clock=clock, programs=programs)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        return await client.post(path, json=body, headers=world.auth("admin"))


async def _count(db: Database, model: type[Any]) -> int:
    async with db.read() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def _broken_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(PROJECT_ROOT / "templates", folder)
    guidance = folder / credit_warning.NAME / credit_warning.GUIDANCE_FILE
    guidance.write_text("dishonest_debtor: 1\n", encoding="utf-8")
    return folder


class _ErrorLog:
    """Stands in for the module's logger: the events logged as errors."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def error(self, event: str, **_: object) -> None:
        self.events.append(event)


async def test_a_credit_event_saved_with_a_broken_guidance_file_answers_200_with_a_note(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    logged = _ErrorLog()
    monkeypatch.setattr(after_save, "log", logged)
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    response = await _post(db, redis_client, redis_keys, world, _broken_templates(tmp_path),
                           "/api/v1/credit-events", EVENT)  # fmt: skip
    assert response.status_code == 200, response.text
    answer = response.json()
    assert (answer["result"], answer["event_id"], answer["credit"]) == (
        "created", "XY2027-0001", "dishonest",
    )  # fmt: skip
    assert "信用警示未发出" in answer["note"]
    assert "guidance.yaml" in answer["note"]  # names the file to fix
    assert "每日的计划运行会补发" in answer["note"]
    assert await _count(db, CreditEvent) == 1  # the event is saved
    assert await _count(db, Message) == 0  # no warning without its guidance
    assert logged.events == ["program_after_save_failed"]


async def test_a_credit_event_that_is_warned_of_has_no_note(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, tmp_path: Path
) -> None:
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    response = await _post(db, redis_client, redis_keys, world, PROJECT_ROOT / "templates",
                           "/api/v1/credit-events", EVENT)  # fmt: skip
    assert response.status_code == 200, response.text
    assert "note" not in response.json()
    assert await _count(db, Message) >= 1


async def test_a_policy_saved_when_matching_fails_answers_200_with_a_note(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    async def failing(ctx: ProgramContext, changes: object) -> None:
        raise ConfigError("模板无法渲染", file="templates/policy_push/meta.yaml", line=3)

    monkeypatch.setattr(policy_match, "run_on_changes", failing)
    world = await seed_world(db, FixedClock(NOW), tmp_path)
    response = await _post(db, redis_client, redis_keys, world, PROJECT_ROOT / "templates",
                           "/api/v1/policies", POLICY)  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["result"] == "created"
    assert "政策推送未发出" in response.json()["note"]
    assert "templates/policy_push/meta.yaml:3" in response.json()["note"]
    assert await _count(db, Policy) == 1
