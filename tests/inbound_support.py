"""The inbound loop for tests: stored replies → InboundWorker → tickets, ratings, answers.

Real database (the caller's), real Redis, the shipped templates, an injected clock; the
departments, staff and enterprises of :mod:`tests.ticket_support`. Replies go in the way
webhooks put them in (:func:`hub.inbound.accept.accept_reply`), so they are linked and queued.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis

from channels.base import InboundReply
from hub.app.config import Settings
from hub.core.clock import FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import ChannelName, MessageKind
from hub.inbound.accept import accept_reply
from hub.inbound.answers import Answerer
from hub.inbound.apply import ReplyApplier
from hub.inbound.worker import InboundWorker, Processed
from hub.infra.queue import Queue
from hub.outbound.notify import enqueue_notified
from hub.outbound.planning import PlanningPolicy
from hub.outbound.settings import RoutingSettings
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import InboundReply as StoredReply
from hub.store.models import Message, Ticket, TicketEvent
from hub.tickets.feedback import FeedbackSender, send_feedback
from hub.tickets.lifecycle import resolve, ticket_by_number
from hub.tickets.settings import TicketsSettings
from tests.ticket_support import RULES, TicketWorld, seed_ticket_world

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
ALL_CHANNELS = frozenset(c.value for c in ChannelName)
_ids = itertools.count(1)


@dataclass
class Loop:
    """The pieces of the inbound loop a test drives."""

    db: Database
    queue: Queue
    clock: FixedClock
    world: TicketWorld
    worker: InboundWorker
    feedback: FeedbackSender

    async def reply(self, text: str, *, sender: str = "+8613900000001",
                    channel: ChannelName = ChannelName.SANDBOX,
                    raw: dict[str, Any] | None = None) -> int:  # fmt: skip
        """Store a reply as a webhook would; its id."""
        n = next(_ids)
        reply = InboundReply(provider=channel.value, provider_msg_id=f"t-{n}", sender=sender,
                             text=text, raw=raw or {"n": n})  # fmt: skip
        return (await accept_reply(self.db, self.queue, self.clock, channel, reply)).reply_id

    async def drain(self) -> list[Processed]:
        """Handle everything on the inbound stream."""
        done: list[Processed] = []
        while batch := await self.worker.run_once():
            done.extend(batch)
        return done

    async def stored(self, reply_id: int) -> StoredReply:
        async with self.db.read() as session:
            reply = await session.get(StoredReply, reply_id)
        assert reply is not None
        return reply

    async def ticket(self, number_or_id: str | int) -> Ticket:
        async with self.db.read() as session:
            found = (
                await ticket_by_number(session, number_or_id)
                if isinstance(number_or_id, str)
                else await session.get(Ticket, number_or_id)
            )
        assert found is not None
        return found

    async def resolve(self, ticket_id: int, answer: str = "已协调解决，详见答复。") -> list[int]:
        """Resolve as a handler does, sending the feedback (the caller's part of the contract)."""
        async with self.db.write() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            await resolve(session, ticket, answer=answer, actor="handler", now=self.clock.now())
            results = await send_feedback(session, ticket, answer=answer, now=self.clock.now(),
                                          sender=self.feedback, actor="handler")  # fmt: skip
        return await enqueue_notified(self.queue, results)

    async def messages(self, kind: MessageKind | None = None) -> list[Message]:
        async with self.db.read() as session:
            query = sa.select(Message).order_by(Message.id)
            if kind is not None:
                query = query.where(Message.kind == kind)
            return list((await session.scalars(query)).all())

    async def events(self, ticket_id: int) -> list[str]:
        async with self.db.read() as session:
            rows = await session.scalars(
                sa.select(TicketEvent.type)
                .where(TicketEvent.ticket_id == ticket_id)
                .order_by(TicketEvent.at, TicketEvent.id)
            )
            return [str(t) for t in rows.all()]

    async def count(self, model: type[Any]) -> int:
        async with self.db.read() as session:
            return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def settings(**tickets: Any) -> Settings:
    options = {"rules": RULES, "default_department": "FGW",
               "business_office_department": "YSB", **tickets}  # fmt: skip
    return Settings(tickets=TicketsSettings(**options))


def planning_policy(enabled: frozenset[str] = ALL_CHANNELS) -> PlanningPolicy:
    return PlanningPolicy(
        default_channel=ChannelName.SANDBOX, enabled_channels=enabled,
        routing=RoutingSettings(chains={"default": ("sandbox",)}),
    )  # fmt: skip


async def make_loop(
    db: Database, redis: Redis, keys: RedisKeys, clock: FixedClock, *,
    consumer: str = "w1", reclaim_idle_ms: int = 60_000, **tickets: Any,
) -> Loop:  # fmt: skip
    world = await seed_ticket_world(db)
    queue = Queue(redis, keys, clock=clock)
    await queue.ensure_groups(sorted(ALL_CHANNELS))
    renderer = TemplateRenderer(TEMPLATES)
    policy = planning_policy()
    applier = ReplyApplier(settings(**tickets), Answerer(renderer, policy))
    worker = InboundWorker(db, queue, clock, applier, consumer=consumer, block_ms=1,
                           reclaim_idle_ms=reclaim_idle_ms)  # fmt: skip
    feedback = FeedbackSender(renderer, policy, "https://hub.example.cn")
    return Loop(db, queue, clock, world, worker, feedback)
