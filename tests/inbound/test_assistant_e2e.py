"""Smart answers end to end on the provider fakes (issue 16's "Done means").

The hub is opened as every process opens it (``open_components`` over a config.yaml enabling one
provider aimed at its loopback fake) and served by uvicorn with every webhook; the demo FAQ
library is saved as ``hub import faq`` saves it; the production inbound worker (with the
process's one Library) and dispatcher run between the steps, as :func:`settle` does.

- WeChat Official Account: a question by the signed, encrypted webhook is answered in the same
  webhook → worker → dispatch cycle by the fake WeChat API (a customer-service text: the answer,
  its source, the ticket number, 回复 人工 转人工服务); "人工" by the same webhook reopens the
  ticket to its department and the enterprise is told (a template message: 已转人工服务).
- Tencent SMS: the same question by Tencent's reply push gets the approved ``auto_answer``
  template with the ticket number and the answer page's link, and the link's page shows the
  answer and its source.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import sqlalchemy as sa

from channels.fakes.wechat_api import WechatApiFake
from hub.app.config import load_settings
from hub.app.runtime import Components, open_components
from hub.core.clock import FixedClock
from hub.core.vocab import MessageKind, ReplyClass, TicketState
from hub.rendering.templates import load_folder
from hub.store.models import AutoAnswer, Message, Ticket
from hub.store.models import InboundReply as StoredReply
from tests.inbound.assistant_support import ENTRY, QUESTION, seed_demo_faq
from tests.ticket_support import seed_ticket_world
from tests.web.closed_loop_support import (
    Live,
    Side,
    Tencent,
    WechatOfficialAccount,
    linked_contact,
    processes,
    serve_hub,
)

CUSTOM_SEND = "/cgi-bin/message/custom/send"
TEMPLATE_SEND = "/cgi-bin/message/template/send"
PUBLIC_BASE_URL = "https://hub.example.cn"


@dataclass
class Running:
    """The hub on one provider's fake, and the way to run its processes once."""

    hub: Components
    live: Live
    contact_id: int
    settle: Callable[[], Awaitable[None]]
    """The inbound worker, then the dispatcher on every channel, until both are idle."""

    async def tickets(self) -> list[Ticket]:
        async with self.hub.db.read() as session:
            return list((await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all())

    async def auto_answers(self) -> list[AutoAnswer]:
        async with self.hub.db.read() as session:
            query = sa.select(AutoAnswer).order_by(AutoAnswer.id)
            return list((await session.scalars(query)).all())

    async def messages(self) -> list[Message]:
        async with self.hub.db.read() as session:
            query = sa.select(Message).where(Message.contact_id == self.contact_id)
            return list((await session.scalars(query.order_by(Message.id))).all())


@asynccontextmanager
async def running(
    side: Side, write_config: Callable[..., Path], clock: FixedClock
) -> AsyncIterator[Running]:
    async with AsyncExitStack() as stack:
        await side.start(stack)
        config = write_config(channels=side.channels(), web={"public_base_url": PUBLIC_BASE_URL},
                              tickets={"default_department": "FGW"})  # fmt: skip
        hub = await stack.enter_async_context(open_components(load_settings(config), clock=clock))
        await seed_ticket_world(hub.db)
        await seed_demo_faq(hub.db, clock.now())
        contact_id = await linked_contact(side, hub)
        live = await serve_hub(stack, hub)
        yield Running(hub, live, contact_id, processes(hub))


def _env(monkeypatch: pytest.MonkeyPatch, side: type[Side]) -> None:
    for name, value in side.env.items():
        monkeypatch.setenv(name, value)


def _customer_texts(fake: WechatApiFake) -> list[str]:
    return [str(call.payload["text"]["content"]) for call in fake.sent(CUSTOM_SEND)]


def test_wechat_question_is_answered_in_the_same_cycle_and_human_reopens_it(
    write_config: Callable[..., Path], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, WechatOfficialAccount)
    side = WechatOfficialAccount(clock)

    async def run() -> None:
        async with running(side, write_config, clock) as hub:
            # WeChat opens its 48-hour customer-service window when the user writes (the fake
            # is told; the real API knows).
            side.fake.user_messaged(side.address)
            assert await side.say(hub.live, QUESTION) == 200
            await hub.settle()  # ONE cycle: webhook stored it, worker answered, dispatcher sent

            [ticket] = await hub.tickets()
            assert (ticket.state, ticket.contact_id) == (TicketState.RESOLVED, hub.contact_id)
            assert ticket.department_id is not None
            [row] = await hub.auto_answers()
            assert (row.answered, row.entry_id, row.ticket_id) == (True, ENTRY, ticket.id)
            [answer] = _customer_texts(side.fake)
            assert row.answer is not None
            assert row.answer in answer
            for part in ("依据：《高新技术企业认定管理办法》", ticket.number,
                         "回复 人工 转人工服务", "5 非常满意"):  # fmt: skip
                assert part in answer
            [message] = await hub.messages()
            assert (message.kind, message.status.value) == (MessageKind.AUTO_ANSWER, "sent")

            assert await side.say(hub.live, "人工") == 200
            await hub.settle()

            [reopened] = await hub.tickets()
            assert reopened.state is TicketState.REOPENED
            assert reopened.department_id == ticket.department_id
            [row] = await hub.auto_answers()
            assert row.handover_reason == "human"
            async with hub.hub.db.read() as session:
                classes = (await session.scalars(
                    sa.select(StoredReply.classification).order_by(StoredReply.id)
                )).all()  # fmt: skip
            assert list(classes) == [ReplyClass.REQUEST, ReplyClass.HANDOVER]
            # ticket_ack is a template message: its fields name the number and the new status
            [told] = [call.payload["data"] for call in side.fake.sent(TEMPLATE_SEND)]
            values = " ".join(str(field["value"]) for field in told.values())
            assert ticket.number in values
            assert "已转人工服务" in values
            kinds = [(m.kind, m.status.value) for m in await hub.messages()]
            assert kinds == [(MessageKind.AUTO_ANSWER, "sent"), (MessageKind.TICKET_ACK, "sent")]

    asyncio.run(run())


def test_sms_question_gets_the_approved_template_with_the_answer_page_link(
    write_config: Callable[..., Path], clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _env(monkeypatch, Tencent)
    side = Tencent(clock)
    spec = load_folder(Path(__file__).resolve().parents[2] / "templates").catalog.get(
        "auto_answer", "sms"
    )
    assert spec is not None
    assert spec.sms is not None
    template_id = spec.sms.template_ids["tencent"]
    approved = dict(side.fake.switches.approved_templates or {})
    side.fake.switches.approved_templates = {**approved, template_id: len(spec.sms.params)}

    async def run() -> None:
        async with running(side, write_config, clock) as hub:
            assert await side.say(hub.live, QUESTION) == 200
            await hub.settle()

            [ticket] = await hub.tickets()
            assert ticket.state is TicketState.RESOLVED
            [row] = await hub.auto_answers()
            assert (row.answered, row.entry_id) == (True, ENTRY)
            [sms] = side.fake.received
            assert sms.template_id == template_id
            _company, number, link = sms.params
            assert number == ticket.number
            assert link == f"{PUBLIC_BASE_URL}/a/{row.token}"
            [message] = await hub.messages()
            assert (message.kind, message.status.value) == (MessageKind.AUTO_ANSWER, "sent")

            # The link's page (served by the same app) shows the answer as sent and its source.
            async with httpx.AsyncClient(base_url=hub.live.base_url) as client:
                page = await client.get(urlsplit(link).path)
            assert page.status_code == 200
            assert row.answer is not None
            assert row.answer in page.text
            assert "《高新技术企业认定管理办法》" in page.text
            assert ticket.number in page.text

    asyncio.run(run())
