"""Wiring: open every component once, in order, and close what we opened in reverse.

Nothing here runs at import time. ``open_components`` is the one place that knows how the
database, Redis, the queue, the channels, the renderer and the outbox fit together; the CLI,
the web app and the tests all go through it. The builders below it make the feature objects a
long-running process or a command needs from the open :class:`Components` (the features take
narrow arguments and never import the app).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from prometheus_client import CollectorRegistry

from channels.base import ChannelRegistry
from hub.app.channel_setup import build_channels
from hub.app.config import Settings
from hub.core.clock import Clock, SystemClock
from hub.core.errors import StorageError
from hub.core.keys import RedisKeys
from hub.core.metrics import HubMetrics
from hub.core.vocab import ChannelName
from hub.core.workdays import WorkdayCalendar
from hub.inbound.accept import requeue_unclassified
from hub.inbound.answers import Answerer
from hub.inbound.apply import ReplyApplier
from hub.inbound.assistant import Assistant
from hub.inbound.worker import InboundWorker
from hub.infra.queue import Queue
from hub.infra.redis_server import RedisClient, open_redis
from hub.knowledge.library import Library
from hub.outbound.outbox import Outbox, requeue_lost
from hub.outbound.planning import PlanningPolicy
from hub.outbound.quiet_hours import QuietRules
from hub.outbound.recovery import Requeue
from hub.rendering.render import TemplateRenderer
from hub.rendering.template_store import seed_templates
from hub.scheduling.programs.base import ProgramContext, ProgramSettings
from hub.scheduling.scheduler import HubScheduler
from hub.store.db import Database
from hub.store.schema_version import current_revision, head_revision
from hub.tickets.desk import Messaging, TicketDesk
from hub.tickets.feedback import FeedbackSender
from hub.tickets.sla.sweep import SlaPassReport, run_sla_pass

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Components:
    """Everything a role needs, already open."""

    settings: Settings
    clock: Clock
    db: Database
    redis: RedisClient
    keys: RedisKeys
    queue: Queue
    channels: ChannelRegistry
    renderer: TemplateRenderer
    outbox: Outbox
    metrics: HubMetrics
    #: Quiet hours as planning applies them, for the dispatcher's rate-limit retries.
    quiet: QuietRules
    #: The process's one knowledge index, rebuilt when FAQ entries or policies change.
    library: Library


def templates_folder(settings: Settings) -> Path:
    """templates/ beside config.yaml, else the one shipped with the project."""
    if settings.source is not None and (settings.source.parent / "templates").is_dir():
        return settings.source.parent / "templates"
    return PROJECT_ROOT / "templates"


@asynccontextmanager
async def open_database(
    settings: Settings, *, require_schema: bool = True
) -> AsyncIterator[Database]:
    """Open the database; refuse to run on a schema that is not at the latest migration."""
    s = settings.storage
    db = Database.open(
        settings.database_url, busy_timeout_ms=s.busy_timeout_ms, pool_size=s.pool_size, echo=s.echo
    )
    try:
        if require_schema:
            current = await current_revision(db)
            if current != head_revision():
                raise StorageError(
                    f"数据库结构版本为 {current or '空'}，需要 {head_revision()}："
                    "请先运行 `hub db upgrade` (database schema is not up to date)"
                )
        yield db
    finally:
        await db.aclose()


@asynccontextmanager
async def open_components(
    settings: Settings, *, clock: Clock | None = None
) -> AsyncIterator[Components]:
    """Open the database, Redis and channels; close them in reverse order on exit."""
    clock = clock or SystemClock()
    async with AsyncExitStack() as stack:
        db = await stack.enter_async_context(open_database(settings))
        handle = await open_redis(settings.redis.url, data_dir=settings.data_dir / "redis")
        stack.push_async_callback(handle.aclose)
        redis = handle.client
        keys = RedisKeys(settings.redis.key_prefix)
        queue = Queue(redis, keys)
        # The database's templates are in force; shipped files seed what it lacks.
        catalog = await seed_templates(db, templates_folder(settings), clock, settings)
        renderer = TemplateRenderer(catalog)
        channels = await build_channels(settings, stack, redis, keys, clock, catalog)
        await queue.ensure_groups(channels.names())
        policy = PlanningPolicy(
            default_channel=ChannelName(settings.channels.default),
            enabled_channels=frozenset(channels.names()),
            routing=settings.routing,
            quiet_hours=settings.quiet_hours,
            tz=settings.hub.tz,
            days_off=(
                WorkdayCalendar.from_years(settings.calendar.years)
                if settings.quiet_hours.days_off
                else None
            ),
        )
        outbox = Outbox(db, queue, renderer, clock, policy, live_templates=True,
                        max_backlog=settings.dispatch.max_backlog)  # fmt: skip
        metrics = HubMetrics(CollectorRegistry())
        yield Components(
            settings=settings,
            clock=clock,
            db=db,
            redis=redis,
            keys=keys,
            queue=queue,
            channels=channels,
            renderer=renderer,
            outbox=outbox,
            metrics=metrics,
            quiet=QuietRules(settings.quiet_hours, policy.tz, policy.days_off),
            library=Library(settings.answers),
        )


def flush_requeues(db: Database, queue: Queue, clock: Clock) -> dict[str, Requeue]:
    """What a beat that finds Redis flushed puts back, one requeue per stream: the outbox's
    queued and sending rows and the stored replies not yet classified. The dispatcher and the
    inbound worker both get them: whichever beat sees the new epoch first rebuilds both."""
    return {
        "outbox": lambda: requeue_lost(db, queue, clock),
        "replies": lambda: requeue_unclassified(db, queue),
    }


def inbound_worker(hub: Components, *, consumer: str) -> InboundWorker:
    """The inbound worker a long-running process runs: the deployment's templates and policies."""
    answerer = Answerer(hub.renderer, hub.outbox.planner.policy)
    assistant = Assistant(hub.library, answerer, hub.settings.web.public_base_url,
                          enabled=hub.settings.answers.enabled)  # fmt: skip
    dispatch = hub.settings.dispatch
    return InboundWorker(
        hub.db, hub.queue, hub.clock, ReplyApplier(hub.settings, answerer, assistant),
        consumer=consumer, block_ms=dispatch.block_ms,
        reclaim_idle_ms=int(dispatch.reclaim_idle_seconds * 1000),
        channels=hub.channels.names(), requeues=flush_requeues(hub.db, hub.queue, hub.clock),
    )  # fmt: skip


def feedback_sender(hub: Components) -> FeedbackSender:
    """What resolving a ticket sends the answer and the rating request with."""
    ttl = timedelta(days=hub.settings.tickets.rating_link_valid_days)
    return FeedbackSender(hub.renderer, hub.outbox.planner.policy,
                          hub.settings.web.public_base_url, ttl)  # fmt: skip


def ticket_desk(hub: Components) -> TicketDesk:
    """The ticket desk that also sends what a step causes (notices, feedback)."""
    messaging = Messaging(hub.renderer, hub.outbox.planner.policy, hub.queue, feedback_sender(hub))
    return TicketDesk(hub.db, hub.settings, hub.clock, messaging)


def program_settings(settings: Settings) -> ProgramSettings:
    """What the seed programs read from config.yaml: zone, working-day calendar, links."""
    return ProgramSettings(
        tz=settings.hub.tz,
        calendar=WorkdayCalendar.from_years(settings.calendar.years),
        public_base_url=str(settings.web.public_base_url),
        templates_folder=templates_folder(settings),
        tiers=settings.tiers,
        visits=settings.visits,
        reports=settings.reports,
        reports_dir=settings.data_dir / "reports",
        business_office=settings.tickets.business_office_department,
    )


def program_context(hub: Components) -> ProgramContext:
    """The context a program runs with outside a schedule (an import, an API call)."""
    return ProgramContext(hub.db, hub.outbox, hub.clock, program_settings(hub.settings))


def hub_scheduler(hub: Components) -> HubScheduler:
    """The scheduler of the stored schedules, sending through the outbox."""
    return HubScheduler(
        hub.db, hub.redis, hub.keys, hub.outbox, hub.clock, programs=program_settings(hub.settings)
    )


async def sla_pass_once(hub: Components) -> SlaPassReport:
    """One SLA pass with the open components (``hub sla run`` and the leader's loop)."""
    return await run_sla_pass(hub.db, hub.clock, hub.settings, renderer=hub.renderer,
                              policy=hub.outbox.planner.policy, queue=hub.queue)  # fmt: skip
