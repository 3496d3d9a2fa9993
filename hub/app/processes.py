"""Long-running roles: the web server, the dispatcher, the inbound worker and the reconciler,
in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
from datetime import timedelta
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from aiogram import Bot
    from fastapi import FastAPI

    from hub.web.server import HubServer
    from hub.web.webhooks.context import WebhookContext
from hub.app.channel_setup import telegram_bot_of
from hub.app.config import Settings
from hub.app.runtime import (
    Components,
    flush_requeues,
    hub_scheduler,
    inbound_worker,
    open_components,
    program_context,
    sla_pass_once,
    templates_folder,
    ticket_desk,
)
from hub.inbound.accept import requeue_unclassified
from hub.outbound.campaigns import finish_campaigns
from hub.outbound.dispatch import Dispatcher
from hub.outbound.outbox import release_held, requeue_stale
from hub.outbound.receipts import retry_parked
from hub.scheduling.programs import check_program_data
from hub.scheduling.schedule_store import sync_schedules
from hub.scheduling.schedules import load_schedules, schedules_folder
from hub.store.seeding import seed_concurrently
from hub.tickets.deadlines.admin_calendar import recompute_on_start
from hub.tickets.ratings import RatingNotifier
from hub.tickets.sla.loop import run_sla_periodically

log = structlog.get_logger(__name__)


def consumer_name() -> str:
    """This process's consumer name in the stream groups (unique per host and pid)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def webhook_context(settings: Settings, hub: Components) -> WebhookContext:
    """What webhooks and Telegram polling need (FastAPI imported only where they run)."""
    from hub.web.webhooks.context import WebhookContext  # FastAPI: only where webhooks run

    return WebhookContext(settings, hub.db, hub.redis, hub.keys, hub.queue, hub.clock)


async def serve(
    settings: Settings,
    *,
    web: bool,
    worker: bool,
    scheduler: bool = False,
    host: str | None = None,
    port: int | None = None,
) -> None:
    """Run the chosen roles until SIGINT/SIGTERM; in-flight batches finish before exit."""
    # Refuse to start, as on a config error, with program data that would fail every send.
    check_program_data(templates_folder(settings))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with open_components(settings) as hub:
            tasks: list[asyncio.Task[None]] = []
            tg = settings.channels.telegram
            bot = telegram_bot(hub)
            if worker and bot is not None and tg.mode == "polling":
                from hub.web.webhooks.telegram_bot import run_polling  # aiogram: Telegram on

                polling = run_polling(webhook_context(settings, hub), bot, stop)
                tasks.append(asyncio.create_task(polling, name="telegram"))
            if worker:
                dispatcher = Dispatcher(
                    hub.db, hub.queue, hub.channels, hub.clock, settings.dispatch, hub.metrics,
                    consumer=consumer_name(), quiet=hub.quiet,
                    requeues=flush_requeues(hub.db, hub.queue, hub.clock),
                )  # fmt: skip
                tasks.append(asyncio.create_task(dispatcher.run(stop), name="dispatcher"))
                # Replies: classify and apply (tickets, ratings, opt-outs), beside the dispatcher.
                inbound = inbound_worker(hub, consumer=consumer_name())
                tasks.append(asyncio.create_task(inbound.run(stop), name="inbound"))
                tasks.append(asyncio.create_task(_reconcile(hub, stop), name="reconciler"))
            if scheduler:
                # Seed schedules from the files; never undo an admin's edit on restart.
                specs = load_schedules(schedules_folder(settings))
                # Two schedulers starting together on a fresh PostgreSQL database race here.
                await seed_concurrently(lambda: sync_schedules(
                    hub.db, specs, hub.clock, "seed", update_existing=False
                ))  # fmt: skip
                # A year entered in config since the last run makes its deadlines firm.
                await recompute_on_start(hub.db, settings, hub.clock)
                leader = hub_scheduler(hub)
                tasks.append(asyncio.create_task(leader.run(stop), name="scheduler"))
                # Reminders, escalation, unrated tickets, monthly callbacks: the leader only.
                tasks.append(asyncio.create_task(
                    run_sla_periodically(lambda: sla_pass_once(hub),
                                         settings.tickets.sla_every_minutes,
                                         lambda: leader.is_leader, stop), name="sla",
                ))  # fmt: skip
            server: HubServer | None = None
            if web:
                # The web stack (FastAPI, uvicorn) only in processes that serve HTTP.
                from hub.web.server import web_server

                app = web_app(settings, hub, bot if tg.mode == "webhook" else None)
                server = web_server(
                    app, host=host or settings.web.host, port=port or settings.web.port,
                    log_level=settings.logging.level.lower(),
                )  # fmt: skip
                tasks.append(asyncio.create_task(server.serve(), name="web"))
            # What start-up loaded (modules, templates, the app) lives as long as the process:
            # frozen out of the collector's sight, a full collection walks only what requests
            # and chunks allocate since, not all of it (a pause in a webhook's answer).
            gc.collect()
            gc.freeze()
            log.info(
                "hub running",
                roles=[r for r, on in (("web", web), ("worker", worker), ("scheduler", scheduler))
                       if on],
                url=f"http://{host or settings.web.host}:{port or settings.web.port}"
                if web else None,
                consumer=consumer_name() if worker else None,
            )  # fmt: skip
            await _until_stopped_or_failed(stop, tasks)
            if server is not None:
                server.should_exit = True
            await asyncio.gather(*tasks)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("hub stopped")


def web_app(settings: Settings, hub: Components, telegram: Bot | None) -> FastAPI:
    """The web role's app, as ``hub run`` and ``hub api`` serve it (the browser tests too);
    ``telegram``: the bot whose webhook is mounted (webhook mode), else None."""
    from hub.web.app import create_app  # FastAPI: only in processes that serve HTTP

    return create_app(
        hub.db,
        hub.redis,
        metrics=hub.metrics.registry,
        webhooks=webhook_context(settings, hub),
        telegram_bot=telegram,
        clock=hub.clock,
        tz=settings.hub.tz,
        rating_notifier=RatingNotifier(hub.renderer, hub.outbox.planner.policy),
        ticket_desk=ticket_desk(hub),
        programs=program_context(hub),
        reports_dir=settings.data_dir / "reports",
        keys=hub.keys,
        admin_settings=settings.web.admin,
        sms_settings=settings.channels.sms,
    )


def telegram_bot(hub: Components) -> Bot | None:
    """The Telegram channel's bot, when Telegram is enabled (webhook and polling reuse it)."""
    return telegram_bot_of(hub.channels)


async def _until_stopped_or_failed(stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> None:
    """Wait for a stop signal, or for a role to end by itself (e.g. the port is taken)."""
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    waiter.cancel()
    for task in done:
        if task is not waiter and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _reconcile(hub: Components, stop: asyncio.Event) -> None:
    """Re-enqueue rows Redis lost (or never got, after a crash); release held messages; mark
    finished campaigns done."""
    idle = timedelta(seconds=hub.settings.dispatch.reclaim_idle_seconds)
    while not stop.is_set():
        try:
            count = await requeue_stale(hub.db, hub.queue, hub.clock, older_than=idle)
            if count:
                log.warning("re-enqueued stale outbox rows", count=count)
            since = hub.clock.now() - idle
            replies = await requeue_unclassified(hub.db, hub.queue, received_before=since)
            if replies:
                log.warning("re-enqueued stored replies missing from the stream", count=replies)
            released = await release_held(hub.db, hub.queue, hub.clock)
            if released:
                log.info("released held messages", count=released)
            async with hub.db.write() as session:
                # Campaigns whose last message met its fate outside the dispatcher's recording.
                finished = await finish_campaigns(session, hub.clock.now())
            if finished:
                log.info("campaigns done", campaign_ids=finished)
            await retry_parked(hub.db, hub.redis, hub.keys, hub.clock)
        except Exception:  # keep reconciling; the next pass retries
            log.exception("reconcile failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), hub.settings.dispatch.reconcile_every_seconds)
