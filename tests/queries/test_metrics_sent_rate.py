"""/metrics' sent counter and rate: counted in the database, so every worker's sends show."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.vocab import ChannelName, MessageStatus
from hub.queries.metrics import DatabaseGauges
from hub.store.db import Database
from hub.web.app import create_app
from tests.queries.test_dashboard import add_message
from tests.queries.test_metrics_db import samples

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


async def _send(db: Database, count: int, status: MessageStatus = MessageStatus.SENT) -> None:
    for _ in range(count):
        await add_message(db, channel=ChannelName.SMS, status=status, created_at=NOW)


async def test_the_sent_counter_moves_and_the_rate_is_its_rise_per_second(db: Database) -> None:
    ticks = [100.0]
    gauges = DatabaseGauges(db, FixedClock(NOW), max_age=0.0, monotonic=lambda: ticks[0])
    await _send(db, 3)
    await _send(db, 1, MessageStatus.DELIVERED)  # taken, then its receipt came: still sent
    await _send(db, 2, MessageStatus.QUEUED)
    await gauges.refresh()
    assert gauges.snapshot.sent_by_channel() == {"sms": 4}
    assert gauges.sent_per_second == {}  # one read: no rate yet
    await _send(db, 10)
    ticks[0] = 102.0
    await gauges.refresh()
    assert gauges.snapshot.sent_by_channel() == {"sms": 14}
    assert gauges.sent_per_second == {"sms": 5.0}


async def test_metrics_serves_the_sent_total_for_rate(db: Database, redis_client: Redis) -> None:
    await _send(db, 2)
    await _send(db, 1, MessageStatus.FAILED)
    app = create_app(db, redis_client, metrics=CollectorRegistry(), clock=FixedClock(NOW))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        text = (await client.get("/metrics")).text
    assert samples(text, "hub_messages_sent_total") == {(("channel", "sms"),): 2.0}
    assert "# TYPE hub_messages_sent_total counter" in text
    assert "# TYPE hub_messages_sent_per_second gauge" in text
