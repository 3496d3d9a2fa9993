"""What the phone simulator's tests share (tests/web/admin and tests/web/browser): the worker
and dispatcher run once through, and a ticket resolved with its rating request sent."""

from __future__ import annotations

from hub.app.runtime import Components, feedback_sender, inbound_worker
from hub.outbound.dispatch import Dispatcher
from hub.outbound.notify import enqueue_notified
from hub.store.models import Ticket
from hub.tickets.feedback import send_feedback
from hub.tickets.lifecycle import resolve


async def settle(hub: Components, *, consumer: str = "t") -> None:
    """What ``hub worker`` does: apply the replies, then send on the sandbox what that queued."""
    worker = inbound_worker(hub, consumer=consumer)
    while await worker.run_once():
        pass
    dispatcher = Dispatcher(hub.db, hub.queue, hub.channels, hub.clock, hub.settings.dispatch,
                            hub.metrics, consumer=consumer)  # fmt: skip
    while await dispatcher.run_once("sandbox", block_ms=1):
        pass


async def resolve_and_ask_rating(hub: Components, ticket_id: int, answer: str) -> str:
    """A handler resolves the ticket: the answer and the rating request are sent (settled).
    Returns the ticket's number."""
    async with hub.db.write() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        now = hub.clock.now()
        await resolve(session, ticket, answer=answer, actor="handler-test", now=now)
        results = await send_feedback(session, ticket, answer=answer, now=now,
                                      sender=feedback_sender(hub))  # fmt: skip
        number = ticket.number
    await enqueue_notified(hub.queue, results)
    await settle(hub)
    return number
