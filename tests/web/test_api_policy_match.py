"""``POST /api/v1/policies`` matches a new policy at once: each enterprise it is for gets it,
once (a repeat and a deadline moved send nothing more)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.scheduling.programs.base import ProgramContext
from hub.store.db import Database
from hub.store.models import Message
from hub.web.api import router
from tests.pipeline import build
from tests.web.api_support import seed_world

NOW = datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI)
POLICY: dict[str, Any] = {
    "policy_id": "ZC-02",
    "title": "专精特新企业贷款贴息",
    "apply_by": "2027-06-30",
    "url": "https://zwfw.example.gov.cn/zc/2",
    "tags": ["专精特新"],
}


async def test_a_posted_policy_goes_to_each_enterprise_it_is_for_once(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, tmp_path: Path
) -> None:
    clock = FixedClock(NOW)
    world = await seed_world(db, clock, tmp_path)
    hub = build(db, redis_client, redis_keys, clock)
    app = FastAPI()
    app.include_router(router(db, clock, programs=ProgramContext(db, hub.outbox, clock)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        headers = world.auth("admin")
        first = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        assert first.json()["result"] == "created", first.text
        again = await client.post("/api/v1/policies", json=POLICY, headers=headers)
        assert again.json()["result"] == "unchanged"
        moved = {**POLICY, "apply_by": "2027-07-31"}
        third = await client.post("/api/v1/policies", json=moved, headers=headers)
        assert third.json()["changed"] == ["apply_by"]
    async with db.read() as session:
        bodies = list(await session.scalars(sa.select(Message.body).order_by(Message.id)))
    assert len(bodies) == 2  # 甲机械 and 丙软件, tagged 专精特新, one contact each
    assert all("专精特新企业贷款贴息" in body and "2027年6月30日" in body for body in bodies)
