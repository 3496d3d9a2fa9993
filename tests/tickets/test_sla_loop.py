"""The periodic SLA pass runs only while this process leads the scheduler."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from hub.app.config import load_settings
from hub.app.runtime import open_components, sla_pass_once
from hub.core.clock import SHANGHAI, FixedClock
from hub.store.models import Message
from hub.tickets.sla.loop import run_sla_periodically
from tests.ticket_factory import make_org, make_ticket


async def test_only_the_leader_runs_the_pass(write_config: Callable[..., Path]) -> None:
    settings = load_settings(write_config(tickets={"sla_every_minutes": 0.002}))
    now = datetime(2026, 10, 12, 9, tzinfo=SHANGHAI)
    async with open_components(settings, clock=FixedClock(now)) as hub:
        org = await make_org(hub.db, now)
        await make_ticket(
            hub.db,
            org,
            number="GD202610090001",
            received_at=now,
            deadline_at=datetime(2026, 10, 13, tzinfo=SHANGHAI),
        )

        async def messages() -> int:
            async with hub.db.read() as s:
                return int(await s.scalar(sa.select(sa.func.count()).select_from(Message)) or 0)

        leading = False
        stop = asyncio.Event()
        every = settings.tickets.sla_every_minutes
        loop = asyncio.create_task(
            run_sla_periodically(lambda: sla_pass_once(hub), every, lambda: leading, stop)
        )
        await asyncio.sleep(0.5)  # several turns as a follower
        assert await messages() == 0
        leading = True
        for _ in range(50):
            await asyncio.sleep(0.1)
            if await messages():
                break
        await asyncio.sleep(0.5)  # more turns as the leader: nothing new
        stop.set()
        await asyncio.wait_for(loop, 5)
        assert await messages() == 1  # the reminder, once, however many turns ran
