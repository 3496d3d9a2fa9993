"""A whole outbound pipeline for tests: real Redis, a real database, an injected clock.

The channels are the real sandbox and a scripted channel implementing the same interface as
the providers (no patching of the hub's own code).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import ChannelError, ChannelRegistry, OutboundMessage, SendResult
from channels.sandbox import SandboxChannel
from hub.app.runtime import flush_requeues
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.core.workdays import WorkdayCalendar
from hub.infra.queue import Queue
from hub.outbound.audience import parse_audience
from hub.outbound.dispatch import Dispatcher
from hub.outbound.outbox import Outbox, SendOutcome, SendRequest
from hub.outbound.planning import PlanningPolicy
from hub.outbound.settings import DispatchSettings, QuietHours, RoutingSettings
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Message

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


class ScriptedChannel:
    """A channel whose provider answers are scripted per call (our interface, no patching)."""

    name: ClassVar[str] = "sms"
    provider: ClassVar[str] = "scripted"
    max_batch: ClassVar[int] = 2
    default_qps: ClassVar[float] = 100.0

    def __init__(self, answers: list[type[ChannelError] | None]) -> None:
        self.answers = answers
        self.sent: list[OutboundMessage] = []

    async def send_batch(
        self, messages: Sequence[OutboundMessage]
    ) -> list[SendResult | ChannelError]:
        results: list[SendResult | ChannelError] = []
        for message in messages:
            answer = self.answers.pop(0) if self.answers else None
            if answer is None:
                self.sent.append(message)
                results.append(SendResult(message.message_id, f"p-{message.message_id}"))
            else:
                results.append(answer("provider said no", code="E1"))
        return results

    async def aclose(self) -> None:
        return None


@dataclass
class Hub:
    db: Database
    queue: Queue
    keys: RedisKeys
    outbox: Outbox
    dispatcher: Dispatcher
    sandbox: SandboxChannel
    clock: FixedClock


def build(
    db: Database,
    redis: Redis,
    keys: RedisKeys,
    clock: FixedClock,
    *extra: object,
    max_attempts: int = 3,
    routing: RoutingSettings | None = None,
    quiet_hours: QuietHours | None = None,
) -> Hub:
    queue = Queue(redis, keys, clock=clock)
    registry = ChannelRegistry()
    sandbox = SandboxChannel(redis, keys, clock)
    registry.register(sandbox)
    for channel in extra:
        registry.register(channel)  # type: ignore[arg-type]
    policy = PlanningPolicy(
        default_channel=ChannelName.SANDBOX,
        enabled_channels=frozenset(registry.names()),
        routing=routing or RoutingSettings(chains={"default": ("sandbox",)}),
        quiet_hours=quiet_hours or QuietHours(),
        days_off=WorkdayCalendar() if quiet_hours is not None and quiet_hours.days_off else None,
    )
    outbox = Outbox(db, queue, TemplateRenderer(TEMPLATES), clock, policy)
    settings = DispatchSettings(max_attempts=max_attempts, block_ms=1, batch_size=50)
    dispatcher = Dispatcher(
        db,
        queue,
        registry,
        clock,
        settings,
        HubMetrics(CollectorRegistry()),
        consumer="c1",
        rng=random.Random(7),
        requeues=flush_requeues(db, queue, clock),
    )
    return Hub(db, queue, keys, outbox, dispatcher, sandbox, clock)


def notice(audience: str, **kwargs: object) -> SendRequest:
    return SendRequest(
        kind=MessageKind.NOTICE,
        audience=parse_audience(audience),
        variables={"text": "请于月底前完成年报公示"},
        **kwargs,  # type: ignore[arg-type]
    )


async def submit(outbox: Outbox, request: SendRequest) -> tuple[SendOutcome, list[int]]:
    """``outbox.submit(request)``, and the ids of the messages it created and enqueued, in
    order (collected from its ``on_chunk`` hook: the outcome counts them, ``queued``)."""
    ids: list[int] = []

    async def collect(chunk: Sequence[int], _committed_at: datetime) -> None:
        ids.extend(chunk)

    return await outbox.submit(request, on_chunk=collect), ids


async def queued_ids(outbox: Outbox, request: SendRequest) -> list[int]:
    """The ids of the messages ``outbox.submit(request)`` created and enqueued (:func:`submit`)."""
    return (await submit(outbox, request))[1]


async def statuses(db: Database) -> dict[int, MessageStatus]:
    async with db.read() as session:
        return dict((await session.execute(sa.select(Message.id, Message.status))).all())


async def setup(hub: Hub) -> None:
    await hub.queue.ensure_groups(["sandbox", "sms"])
