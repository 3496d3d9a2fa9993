"""hub.queries.metrics: gauges counted in the database, so /metrics shows every process's work."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import FixedClock
from hub.core.vocab import TicketState
from hub.queries.metrics import DatabaseGauges, read_snapshot
from hub.store.db import Database
from hub.web.app import create_app
from tests.ticket_factory import make_org, make_ticket
from tests.wall_clock import NEVER_QUIET

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # Monday 10:00 in Shanghai


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one family in Prometheus text, keyed by their sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def scrape(app: object) -> str:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        response = await client.get("/metrics")
    assert response.status_code == 200
    return response.text


def test_messages_sent_by_the_cli_process_show_in_the_api_process_metrics(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(quiet_hours=NEVER_QUIET)
    assert main(["--config", str(config), "demo", "--enterprises", "12", "--json"]) == 0
    capsys.readouterr()
    # `hub send` in a process of its own: the API process's counters never see it.
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from hub.cli import main; sys.exit(main())",
         "--config", str(config), "send", "notice", "--audience", "all",
         "--set", "text=请于本月底前完成年报公示", "--json"],
        capture_output=True, text=True, env={**os.environ}, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    created = json.loads(done.stdout)["created"]
    assert created > 0

    async def scrape_api_process() -> str:
        settings = load_settings(config)
        db = Database.open(settings.database_url)
        redis = Redis.from_url(settings.redis.url)
        try:
            return await scrape(create_app(db, redis, metrics=CollectorRegistry()))
        finally:
            await redis.aclose()
            await db.aclose()

    text = asyncio.run(scrape_api_process())
    messages = samples(text, "hub_messages")
    assert sum(messages.values()) == created
    assert messages[(("channel", "sandbox"), ("status", "queued"))] > 0
    assert messages[(("channel", "sandbox"), ("status", "dead"))] == 0
    assert samples(text, "hub_database_metrics_up") == {(): 1.0}


async def test_open_and_overdue_tickets_by_department_and_ratings(db: Database) -> None:
    org = await make_org(db, NOW)
    day = timedelta(days=1)
    await make_ticket(db, org, number="GD1", received_at=NOW - 5 * day, deadline_at=NOW - day)
    await make_ticket(db, org, number="GD2", received_at=NOW - day, deadline_at=NOW + day)
    await make_ticket(db, org, number="GD3", received_at=NOW - day, deadline_at=NOW - day,
                      department=None, handler=None, state=TicketState.NEW)  # fmt: skip
    for number, score, malicious in (("GD4", 5, False), ("GD5", 1, False), ("GD6", 1, True)):
        await make_ticket(db, org, number=number, received_at=NOW - 9 * day,
                          deadline_at=NOW - 2 * day, state=TicketState.CLOSED,
                          resolutions=[NOW - 3 * day],
                          ratings=[(score, NOW - 2 * day, malicious)])  # fmt: skip
    clock = FixedClock(NOW)
    registry = CollectorRegistry(auto_describe=False)
    gauges = DatabaseGauges(db, clock)
    registry.register(gauges)
    await gauges.refresh()
    text = generate_latest(registry).decode()

    assert samples(text, "hub_tickets_open") == {
        (("department", "FGW"),): 2.0,
        (("department", "none"),): 1.0,
    }
    assert samples(text, "hub_tickets_overdue") == {
        (("department", "FGW"),): 1.0,
        (("department", "none"),): 1.0,
    }
    assert samples(text, "hub_ratings") == {
        (("malicious", "false"), ("score", "1")): 1.0,
        (("malicious", "false"), ("score", "5")): 1.0,
        (("malicious", "true"), ("score", "1")): 1.0,
    }
    assert samples(text, "hub_ratings_good_ratio") == {(): 0.5}  # the malicious one left out


async def test_a_snapshot_is_reused_for_max_age_seconds(db: Database) -> None:
    org = await make_org(db, NOW)
    clock = FixedClock(NOW)
    ticks = [100.0]
    gauges = DatabaseGauges(db, clock, max_age=5.0, monotonic=lambda: ticks[0])
    await gauges.refresh()
    assert gauges.snapshot.tickets_open == {}
    await make_ticket(db, org, number="GD1", received_at=NOW, deadline_at=NOW + timedelta(days=3))
    ticks[0] = 104.9
    await gauges.refresh()
    assert gauges.snapshot.tickets_open == {}  # cached
    ticks[0] = 105.0
    await gauges.refresh()
    assert gauges.snapshot.tickets_open == {"FGW": 1}


async def test_database_down_keeps_the_process_metrics_and_says_so(redis_client: Redis) -> None:
    dead = Database.open("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        text = await scrape(create_app(dead, redis_client, metrics=CollectorRegistry()))
    finally:
        await dead.aclose()
    assert samples(text, "hub_database_metrics_up") == {(): 0.0}


async def test_snapshot_of_an_empty_database(db: Database) -> None:
    snapshot = await read_snapshot(db, FixedClock(NOW))
    assert snapshot.messages == {}
    assert snapshot.tickets_open == {}
    assert snapshot.ratings == {}
    assert snapshot.good_ratio is None
