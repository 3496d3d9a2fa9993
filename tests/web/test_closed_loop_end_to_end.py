"""The closed loop end to end, on every channel: 收集→转办→办理→反馈→回访→销号.

For the sandbox, Tencent SMS, Aliyun SMS, a WeChat Official Account, WeCom and Telegram: the
hub is opened as every process opens it (``open_components``, a config.yaml with that
provider enabled and aimed at its loopback fake) and served by uvicorn with every webhook and
the rating page; the production inbound worker and dispatcher run between the steps. The
enterprise replies free text through the provider's real webhook → a ticket is opened and
routed (department by industry or the default, a handler by round-robin) and the
acknowledgement with its number reaches the provider's fake → the handler resolves and the
answer with the rating request reaches it (buttons on Telegram and WeCom) → the enterprise
rates 2 (a button where there are buttons, else the digit) → the ticket is reopened and the
department head alerted → resolved again → rated 5 → closed. Every step is an event on the
ticket; both ratings are kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.app.runtime import Components, feedback_sender, open_components
from hub.core.clock import FixedClock
from hub.core.vocab import MessageKind, TicketState
from hub.outbound.notify import enqueue_notified
from hub.store.models import Message, Rating, Staff, Ticket, TicketEvent
from hub.tickets.feedback import send_feedback
from hub.tickets.lifecycle import resolve
from hub.tickets.ratings import RatingNotifier
from hub.tickets.staff import StaffRole
from tests.ticket_support import T0, seed_ticket_world
from tests.web.closed_loop_support import (
    SIDES,
    Sandbox,
    Side,
    linked_contact,
    processes,
    serve_hub,
)

REQUEST = "企业用地手续办理遇到困难，需要协调"
LOOP_EVENTS = [
    "created", "assigned",  # 收集 → 转办 (routed, round-robin)
    "resolved", "rating_requested",  # 办理 → 反馈
    "rated", "reopened", "callback_due", "escalated",  # 差评重办, head alerted, 回访 due
    "resolved", "rating_requested",
    "rated", "closed",  # 好评办结 → 销号
]  # fmt: skip


@dataclass
class Seen:
    """What the run found, checked by the test."""

    statuses: list[int]
    ticket: Ticket
    contact_id: int
    events: list[str]
    ratings: list[tuple[int, str | None]]
    head_alerts: list[Message]
    head_ids: set[int]
    received: list[str]
    answers: list[Message]


async def _heads(hub: Components, departments: dict[str, int]) -> None:
    """A head for every department (tests/ticket_support.py seeds one for GXJ and YSB)."""
    async with hub.db.write() as session:
        for code in ("SWJ", "FGW"):
            session.add(Staff(
                username=f"{code.lower()}_head", name=f"{code}负责人", role=StaffRole.HEAD,
                department_id=departments[code], mobile="+8613800009999", absent=False,
                created_at=T0, updated_at=T0,
            ))  # fmt: skip


async def _run(side: Side, write_config: Callable[..., Path], clock: FixedClock) -> Seen:
    async with AsyncExitStack() as stack:
        await side.start(stack)
        # Staff alerts to the sandbox: heads have a mobile only, and not every run enables SMS.
        config = write_config(channels=side.channels(),
                              tickets={"default_department": "FGW",
                                       "business_office_department": "YSB"},
                              routing={"chains": {"escalation": ["sandbox"]}})  # fmt: skip
        hub = await stack.enter_async_context(open_components(load_settings(config), clock=clock))
        world = await seed_ticket_world(hub.db)
        await _heads(hub, world.departments)
        contact_id = await linked_contact(side, hub)
        notifier = RatingNotifier(hub.renderer, hub.outbox.planner.policy)
        live = await serve_hub(stack, hub, rating_notifier=notifier)
        run_processes = processes(hub)
        feedback = feedback_sender(hub)

        async def settle() -> None:
            """The inbound worker, then the dispatcher on every channel, until both are idle."""
            await run_processes()
            if isinstance(side, Sandbox):
                await side.refresh(live, contact_id)

        async def handler_resolves(ticket_id: int, answer: str) -> None:
            async with hub.db.write() as session:
                ticket = await session.get(Ticket, ticket_id)
                assert ticket is not None
                actor = f"staff:{ticket.handler_id}"
                await resolve(session, ticket, answer=answer, actor=actor, now=clock.now())
                results = await send_feedback(session, ticket, answer=answer, now=clock.now(),
                                              sender=feedback, actor=actor)  # fmt: skip
            await enqueue_notified(hub.queue, results)
            await settle()

        statuses = [await side.say(live, REQUEST)]
        await settle()
        async with hub.db.read() as session:
            [ticket] = (await session.scalars(sa.select(Ticket))).all()
        clock.advance(timedelta(hours=3))
        await handler_resolves(ticket.id, "已协调自然资源局办理，土地证将于12月5日前办结。")
        clock.advance(timedelta(hours=1))
        statuses.append(await side.rate(live, 2, ticket.number))
        await settle()
        clock.advance(timedelta(days=1))
        await handler_resolves(ticket.id, "已整改：土地证已办结，请到政务服务大厅领取。")
        clock.advance(timedelta(hours=1))
        statuses.append(await side.rate(live, 5, ticket.number))
        await settle()

        async with hub.db.read() as session:
            final = await session.get(Ticket, ticket.id)
            events = (await session.scalars(
                sa.select(TicketEvent.type).where(TicketEvent.ticket_id == ticket.id)
                .order_by(TicketEvent.at, TicketEvent.id)
            )).all()  # fmt: skip
            ratings = (await session.execute(
                sa.select(Rating.score, Rating.source).order_by(Rating.id)
            )).all()  # fmt: skip
            heads = set((await session.scalars(
                sa.select(Staff.id).where(Staff.role == StaffRole.HEAD,
                                          Staff.department_id == ticket.department_id)
            )).all())  # fmt: skip
            alerts = list((await session.scalars(
                sa.select(Message).where(Message.kind == MessageKind.ESCALATION)
            )).all())  # fmt: skip
            answers = list((await session.scalars(
                sa.select(Message).where(Message.contact_id == contact_id).order_by(Message.id)
            )).all())  # fmt: skip
        assert final is not None
    return Seen(
        statuses,
        final,
        contact_id,
        [str(e) for e in events],
        [(r.score, r.source) for r in ratings],
        alerts,
        heads,
        side.received(),
        answers,
    )


@pytest.mark.parametrize("kind", SIDES, ids=[s.id for s in SIDES])
def test_reply_ticket_resolve_bad_rating_reopen_resolve_good_rating_close(
    kind: type[Side], write_config: Callable[..., Path], clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    for name, value in kind.env.items():
        monkeypatch.setenv(name, value)
    side = kind(clock)
    seen = asyncio.run(_run(side, write_config, clock))

    assert seen.statuses == [200, 200, 200]
    ticket = seen.ticket
    assert ticket.state is TicketState.CLOSED
    assert ticket.close_reason == "rated"
    assert (ticket.contact_id, ticket.channel) == (seen.contact_id, side.channel)
    assert ticket.department_id is not None
    assert ticket.handler_id is not None
    assert ticket.reopen_count == 1
    assert seen.events == LOOP_EVENTS
    button = side.id in ("telegram", "wecom")
    assert seen.ratings == [
        (2, "button" if button else "reply"),
        (5, "button" if button else "reply"),
    ]
    # the department head was alerted of the bad rating
    assert [a.staff_id for a in seen.head_alerts] == sorted(seen.head_ids)
    assert all(ticket.number in a.body and a.status.value == "sent" for a in seen.head_alerts)
    # every answer went back on the enterprise's channel, and the provider got each one
    kinds = [(m.kind, m.channel) for m in seen.answers]
    assert kinds == [
        (MessageKind.TICKET_ACK, side.channel), (MessageKind.TICKET_FEEDBACK, side.channel),
        (MessageKind.TICKET_ACK, side.channel), (MessageKind.TICKET_FEEDBACK, side.channel),
    ]  # fmt: skip
    assert [(m.status.value, m.status_reason) for m in seen.answers] == [("sent", None)] * 4
    ack, first_feedback, reopened, _ = seen.received
    assert ticket.number in ack
    assert "已受理" in ack
    assert ticket.number in first_feedback
    assert "/r/" in first_feedback
    assert "已重新交办" in reopened
