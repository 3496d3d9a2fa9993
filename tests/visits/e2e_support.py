"""The whole hub on the provider fakes, for the visit cycle's end-to-end tests.

:func:`visit_hub` opens the hub as every process opens it (``open_components`` over a
config.yaml with Tencent SMS, a WeCom app and a Telegram bot enabled, each aimed at its loopback
fake; the 2027 calendar entered), serves the app with every webhook on a real port (uvicorn),
seeds tests/ticket_support's world (registry, departments, handlers) and syncs the shipped
``visit_plan`` and ``visit_reminders`` schedules. :class:`VisitHub` then drives it the way
production does: the scheduler fires a schedule, the dispatcher delivers to the fakes, a party
answers through the provider's real, verified webhook (a Tencent reply push, an encrypted WeCom
callback, a Telegram update), and the production inbound worker applies it.

Who is where: 甲机械 (key, officer 李明 LL001) writes from +8613900000001 by SMS, or from WeCom
member ``jiajixie`` or Telegram chat 700000001 once linked; 李明 is WeCom member ``liming``;
the FGW handler ``fgw_a`` is WeCom member ``fgw_a``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import sqlalchemy as sa
import yaml

from channels.fakes.telegram_api import TelegramBotApiFake
from channels.fakes.tencent_sms import TencentSmsFake
from channels.fakes.tencent_sms_push import push_reply, reply_event
from channels.fakes.wechat_push import WechatPush
from channels.fakes.wecom_api import WecomApiFake
from hub.app.config import load_settings
from hub.app.processes import telegram_bot
from hub.app.runtime import (
    PROJECT_ROOT,
    Components,
    hub_scheduler,
    inbound_worker,
    open_components,
    program_context,
    ticket_desk,
)
from hub.core.clock import FixedClock
from hub.core.vocab import MessageKind
from hub.inbound.telegram_links import bind_chat
from hub.inbound.worker import Processed
from hub.outbound.dispatch import Dispatcher
from hub.rendering.templates import load_folder
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.scheduler import HubScheduler, RunResult
from hub.scheduling.schedules import load_schedule_file
from hub.store.models import Contact, Message, Officer, Staff, Ticket, Visit
from hub.tickets.ratings import RatingNotifier
from hub.tickets.staff import issue_token
from hub.web.app import create_app
from hub.web.webhooks.context import WebhookContext
from hub.web.webhooks.telegram_bot import register_webhook
from tests.ticket_support import TicketWorld, seed_ticket_world
from tests.visits.record_support import HOLIDAYS_2027
from tests.web import test_webhook_telegram as tg
from tests.web import test_webhook_tencent as tc
from tests.web import test_webhook_wechat as wc
from tests.web.test_webhook_tencent import serve

ENTERPRISE = "甲机械"
MOBILE = "+8613900000001"  # 甲机械's contact
ENTERPRISE_WECOM = "jiajixie"
ENTERPRISE_CHAT = tg.CHAT
OFFICER = "LL001"  # 李明
OFFICER_WECOM = "liming"
HANDLER = "fgw_a"
HANDLER_WECOM = "fgw_a"
ENV = {"TC_ID": tc.SECRET_ID, "TC_KEY": tc.SECRET_KEY, "TC_PATH": tc.PATH_SECRET,
       "TG_TOKEN": tg.TOKEN, "TG_SECRET": tg.SECRET, **wc.SECRETS}  # fmt: skip
SCHEDULES = ("visit_plan", "visit_reminders")
PROPOSAL_CHAIN = ["wecom", "telegram", "sms"]


def _epoch(clock: FixedClock) -> Callable[[], float]:
    return lambda: clock.now().timestamp()


def _shipped_chains() -> dict[str, list[str]]:
    """config.yaml's ``routing.chains`` (a test's config.yaml starts from the code's defaults)."""
    shipped = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    return dict(shipped["routing"]["chains"])


def _config(tencent: str, wecom: str, telegram: str) -> dict[str, Any]:
    """The config sections this hub runs with (merged over tests/conftest's defaults)."""
    years = {2027: {"holidays": list(HOLIDAYS_2027.holidays),
                    "workdays": list(HOLIDAYS_2027.workdays)}}  # fmt: skip
    return {
        "channels": {
            "sms": {
                "tencent": {
                    "enabled": True,
                    "endpoint": tencent,
                    "secret_id": "${TC_ID}",
                    "secret_key": "${TC_KEY}",
                    "sdk_app_id": tc.APP_ID,
                    "sign_name": tc.SIGN,
                    "path_secret": "${TC_PATH}",
                }
            },
            "wechat": {"apps": {"work": {**wc.WECOM_APP, "api_base": wecom}}},
            "telegram": {
                "enabled": True,
                "api_base": telegram,
                "token": "${TG_TOKEN}",
                "webhook_secret": "${TG_SECRET}",
            },
        },
        "calendar": {"years": years},
        # The shipped chains (officers and staff: WeCom first); an enterprise reached by WeCom or
        # Telegram gets its proposal there, with buttons (the shipped default, wechat then sms,
        # reaches the Official Account and SMS only).
        "routing": {"chains": {**_shipped_chains(), "visit_proposal": PROPOSAL_CHAIN}},
        "tickets": {
            "rules": [{"keywords": ["停电"], "department": "FGW"}],
            "default_department": "FGW",
        },
    }


def _tencent_fake(clock: FixedClock) -> TencentSmsFake:
    """Tencent's fake with every shipped SMS template approved (id -> parameter count)."""
    fake = TencentSmsFake(tc.SECRET_ID, tc.SECRET_KEY, sdk_app_id=tc.APP_ID, clock=_epoch(clock))
    approved = {}
    for kind in MessageKind:
        spec = load_folder(PROJECT_ROOT / "templates").catalog.get(kind.value, "sms")
        if spec is not None and spec.sms is not None:
            approved[spec.sms.template_ids["tencent"]] = len(spec.sms.params)
    fake.switches.approved_templates = approved
    return fake


@dataclass
class VisitHub:
    """The running hub, its fakes, and the parties' ways to answer."""

    hub: Components
    clock: FixedClock
    world: TicketWorld
    base_url: str
    http: aiohttp.ClientSession
    sms: TencentSmsFake
    wecom: WecomApiFake
    telegram: TelegramBotApiFake
    scheduler: HubScheduler
    dispatcher: Dispatcher

    # --- time and the processes ---------------------------------------------------------------

    async def fire(self, schedule: str, at: datetime) -> RunResult:
        """The scheduler's fire of ``schedule`` at ``at`` (the clock set there), then delivery."""
        self.clock.set(at)
        run = await self.scheduler.fire(schedule, at, require_enabled=True)
        await self.settle()
        return run

    async def settle(self) -> list[Processed]:
        """The inbound worker, then the dispatcher on every channel, until both are idle."""
        worker = inbound_worker(self.hub, consumer="e2e")
        processed: list[Processed] = []
        while batch := await worker.run_once(block_ms=1):
            processed += batch
        for name in self.hub.channels.names():
            while await self.dispatcher.run_once(name, block_ms=1):
                pass
        return processed

    # --- the parties --------------------------------------------------------------------------

    async def api_post(self, username: str, path: str, body: dict[str, Any]) -> httpx.Response:
        """A staff member's call to ``/api/v1`` with a token issued to him."""
        token = await issue_token(self.hub.db, self.clock, username, actor="test")
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            return await client.post(f"/api/v1{path}", json=body,
                                     headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    async def sms_reply(self, text: str, mobile: str = MOBILE) -> int:
        """``mobile`` answers by SMS: Tencent's reply push to the hub's webhook; its status."""
        url = f"{self.base_url}/webhooks/sms/tencent/{tc.PATH_SECRET}/reply"
        event = reply_event(mobile, text, at=int(self.clock.now().timestamp()), sign=tc.SIGN)
        return (await push_reply(self.http, url, event)).status

    def wecom_push(self) -> WechatPush:
        return WechatPush.wecom(token=wc.WC_TOKEN, corp_id=wc.WC_CORP, agent_id=wc.WC_AGENT,
                                encoding_aes_key=wc.WC_KEY, clock=self.clock)  # fmt: skip

    async def wecom_text(self, userid: str, text: str) -> int:
        """A WeCom member writes to the app: the encrypted callback; the webhook's status."""
        push = self.wecom_push()
        return await self._wecom_post(push, push.text(userid, text))

    async def wecom_press(self, userid: str, task_id: str, key: str) -> int:
        """A WeCom member presses a card's button: the encrypted template_card_event."""
        push = self.wecom_push()
        return await self._wecom_post(push, push.template_card_click(userid, task_id, key))

    async def _wecom_post(self, push: WechatPush, request: Any) -> int:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            return (await push.send(request, wc.WC_URL, client=client)).status_code

    async def telegram_press(self, chat: int, data: str) -> int:
        """A press of the inline button ``data`` on the bot's last message to ``chat``."""
        if not self.telegram.webhook_url:  # what `hub run` registers at start-up
            bot = telegram_bot(self.hub)
            assert bot is not None
            await register_webhook(bot, f"{self.base_url}/webhooks/telegram", tg.SECRET)
        return await self.telegram.deliver(self.telegram.callback_update(chat, data), self.http)

    def wecom_texts(self, userid: str) -> list[str]:
        """What the WeCom fake delivered to ``userid``, as text (a card: title, detail, buttons)."""
        out = []
        for payload in self.wecom.delivered(userid):
            if payload.get("msgtype") == "template_card":
                card = payload["template_card"]
                buttons = " ".join(b["text"] for b in card.get("button_list", []))
                out.append(f"{card['main_title']['title']} {card.get('sub_title_text', '')} "
                           f"{buttons}")  # fmt: skip
            else:
                out.append(str(payload[payload["msgtype"]]["content"]))
        return out

    def sms_to(self, mobile: str) -> list[tuple[str, tuple[str, ...]]]:
        """(template id, params) of each SMS the Tencent fake accepted for ``mobile``."""
        national = mobile.removeprefix("+")
        return [(r.template_id, r.params) for r in self.sms.received
                if any(n.lstrip("+") == national for n in r.phone_numbers)]  # fmt: skip

    # --- links and reads ----------------------------------------------------------------------

    async def link_enterprise_wecom(self) -> None:
        async with self.hub.db.write() as session:
            await session.execute(sa.update(Contact).where(Contact.mobile == MOBILE)
                                  .values(wecom_userid=ENTERPRISE_WECOM))  # fmt: skip

    async def link_enterprise_telegram(self) -> None:
        async with self.hub.db.read() as session:
            contact_id = await session.scalar(sa.select(Contact.id).where(Contact.mobile == MOBILE))
        assert contact_id is not None
        assert await bind_chat(self.hub.db, self.clock, contact_id, str(ENTERPRISE_CHAT))

    async def visit(self, period: str = "2027Q1") -> Visit:
        """甲机械's visit of ``period`` (the plan makes one per period)."""
        async with self.hub.db.read() as session:
            found = await session.scalar(sa.select(Visit).where(
                Visit.enterprise_id == self.world.enterprises[ENTERPRISE], Visit.period == period
            ))  # fmt: skip
        assert found is not None
        return found

    async def tickets(self) -> list[Ticket]:
        async with self.hub.db.read() as session:
            return list((await session.scalars(sa.select(Ticket).order_by(Ticket.id))).all())

    async def messages(self, kind: MessageKind) -> list[Message]:
        async with self.hub.db.read() as session:
            query = sa.select(Message).where(Message.kind == kind).order_by(Message.id)
            return list((await session.scalars(query)).all())


async def _link_staff(hub: Components) -> None:
    """李明 and the FGW handler on WeCom (the officer's and staff's first channel)."""
    async with hub.db.write() as session:
        await session.execute(sa.update(Officer).where(Officer.code == OFFICER)
                              .values(wecom_userid=OFFICER_WECOM))  # fmt: skip
        await session.execute(sa.update(Staff).where(Staff.username == HANDLER)
                              .values(wecom_userid=HANDLER_WECOM))  # fmt: skip


@asynccontextmanager
async def visit_hub(
    write_config: Callable[..., Path], clock: FixedClock
) -> AsyncIterator[VisitHub]:
    """The hub running on the fakes (see the module's docstring); closed on exit."""
    async with AsyncExitStack() as stack:
        sms = _tencent_fake(clock)
        wecom = WecomApiFake(wc.WC_CORP, "s2", int(wc.WC_AGENT), clock=_epoch(clock),
                             users=[ENTERPRISE_WECOM, OFFICER_WECOM, HANDLER_WECOM])  # fmt: skip
        telegram = TelegramBotApiFake(tg.TOKEN, clock=_epoch(clock))
        endpoints = [await stack.enter_async_context(f.serve()) for f in (sms, wecom, telegram)]
        settings = load_settings(write_config(**_config(*endpoints)), env=ENV)
        hub = await stack.enter_async_context(open_components(settings, clock=clock))
        world = await seed_ticket_world(hub.db)
        await _link_staff(hub)
        specs = [load_schedule_file(PROJECT_ROOT / "schedules" / f"{n}.yaml") for n in SCHEDULES]
        await sync_schedules(hub.db, specs, clock, actor="test")
        context = WebhookContext(hub.settings, hub.db, hub.redis, hub.keys, hub.queue, hub.clock)
        app = create_app(  # as hub.app.processes serves it
            hub.db, hub.redis, metrics=hub.metrics.registry, webhooks=context,
            telegram_bot=telegram_bot(hub), clock=hub.clock, tz=settings.hub.tz,
            rating_notifier=RatingNotifier(hub.renderer, hub.outbox.planner.policy),
            ticket_desk=ticket_desk(hub), programs=program_context(hub),
        )  # fmt: skip
        base_url = await stack.enter_async_context(serve(app))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        dispatcher = Dispatcher(hub.db, hub.queue, hub.channels, hub.clock, hub.settings.dispatch,
                                hub.metrics, consumer="e2e")  # fmt: skip
        yield VisitHub(hub, clock, world, base_url, http, sms, wecom, telegram,
                       hub_scheduler(hub), dispatcher)  # fmt: skip
