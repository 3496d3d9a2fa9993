"""The extension notice (延期告知): SMS parameters in the approved order, the ticket's channel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from hub.app.runtime import PROJECT_ROOT
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import Message, Ticket
from hub.tickets.deadlines.rules import deadline_phrase
from hub.tickets.lifecycle import extend
from hub.tickets.notices import notify_extension
from tests.ticket_support import TicketWorld, new_ticket, policy, seed_ticket_world, sh

NOW = sh(2026, 11, 23, 10)
RENDERER = TemplateRenderer(PROJECT_ROOT / "templates")


@pytest.fixture
async def world(db: Database) -> TicketWorld:
    return await seed_ticket_world(db)


def test_due_text_reads_as_the_last_working_day() -> None:
    assert deadline_phrase(datetime(2026, 12, 7, 16, 0, tzinfo=UTC)) == "12月7日（周一）24时前"


@pytest.mark.parametrize(
    ("enabled", "channel"), [({"sms"}, ChannelName.SMS), ({"sandbox"}, ChannelName.SANDBOX)]
)
async def test_the_notice_names_the_reason_and_the_new_deadline(
    db: Database, world: TicketWorld, enabled: set[str], channel: ChannelName
) -> None:
    planning = PlanningPolicy(ChannelName(next(iter(enabled))), frozenset(enabled))
    ticket = await new_ticket(db, world, at=NOW)  # came in by SMS
    async with db.write() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        deadline = await extend(session, row, policy=policy(), working_days=5,
                                reason="需会同供电公司现场核查", actor="head", now=NOW)  # fmt: skip
        results = await notify_extension(session, row, deadline, reason="需会同供电公司现场核查",
                                         now=NOW, renderer=RENDERER, policy=planning)  # fmt: skip
    assert [r.status for r in results] == [MessageStatus.QUEUED]
    async with db.read() as session:
        message = (await session.scalars(sa.select(Message))).one()
    assert (message.kind, message.channel) == (MessageKind.EXTENSION_NOTICE, channel)
    if channel is ChannelName.SMS:
        assert message.params["names"] == ["company", "ticket", "reason", "deadline"]
        assert message.params["values"] == [
            "甲机械", ticket.number, "需会同供电公司现场核查", "12月7日（周一）24时前",
        ]  # fmt: skip
    else:
        assert "经批准延期 5 个工作日" in message.body
    # a second call for the same extension writes nothing new
    async with db.write() as session:
        row = await session.get(Ticket, ticket.id)
        assert row is not None
        again = await notify_extension(session, row, deadline, reason="x", now=NOW,
                                       renderer=RENDERER, policy=planning)  # fmt: skip
    assert [r.created for r in again] == [False]
