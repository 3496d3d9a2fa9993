"""Wiring: open every component once, in order, and close what we opened in reverse.

Nothing here runs at import time. ``open_components`` is the one place that knows how the
database, Redis, the queue, the channels, the renderer and the outbox fit together; the CLI,
the web app and the tests all go through it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from channels.base import ChannelRegistry
from channels.sandbox import SandboxChannel
from channels.sms_tencent import TencentSmsChannel, TencentSmsConfig
from hub.clock import Clock, SystemClock
from hub.config import Settings, TencentSmsSettings
from hub.errors import StorageError
from hub.keys import RedisKeys
from hub.metrics import HubMetrics
from hub.outbox import Outbox
from hub.planning import PlanningPolicy
from hub.queue import Queue
from hub.redis_server import open_redis
from hub.render import TemplateRenderer
from hub.store.db import Database
from hub.store.migrate import current_revision, head_revision
from hub.store.templates import seed_templates
from hub.vocab import ChannelName

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Requests in flight per provider channel; the connection pool is sized to match.
HTTP_CONCURRENCY = 64


@dataclass(frozen=True, slots=True)
class Components:
    """Everything a role needs, already open."""

    settings: Settings
    clock: Clock
    db: Database
    redis: Redis
    keys: RedisKeys
    queue: Queue
    channels: ChannelRegistry
    renderer: TemplateRenderer
    outbox: Outbox
    metrics: HubMetrics


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


def sms_template_ids(renderer: TemplateRenderer, provider: str) -> dict[str, str]:
    """Message kind -> the provider's approved SMS template id, as ``meta.yaml`` declares it."""
    ids: dict[str, str] = {}
    for spec in renderer.catalog:
        sms = spec.sms
        if spec.channel == "sms" and sms is not None and sms.template_ids.get(provider):
            ids[spec.kind] = str(sms.template_ids[provider])
    return ids


def tencent_config(
    settings: TencentSmsSettings, template_ids: Mapping[str, str]
) -> TencentSmsConfig:
    """The channel's view of ``channels.sms.tencent`` (config.py checked the secrets are set).

    Template ids come from the templates (``template_ids``, by kind) or the message itself.
    """
    values = (settings.secret_id, settings.secret_key, settings.sdk_app_id, settings.sign_name)
    if any(v is None for v in values):
        raise ValueError("channels.sms.tencent is enabled without its credentials")
    secret_id, secret_key, sdk_app_id, sign_name = (str(v) for v in values)
    return TencentSmsConfig(
        secret_id=secret_id, secret_key=secret_key, sdk_app_id=sdk_app_id, sign_name=sign_name,
        endpoint=settings.endpoint, region=settings.region, template_ids=template_ids,
    )  # fmt: skip


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
        tencent = settings.channels.sms.tencent
        http: aiohttp.ClientSession | None = None
        if tencent.enabled:
            # One session for every provider call of this process (DESIGN.md, HTTP out); it is
            # entered before the registry so it closes after the channels that use it.
            http = await stack.enter_async_context(
                aiohttp.ClientSession(
                    connector=aiohttp.TCPConnector(limit=HTTP_CONCURRENCY, limit_per_host=0)
                )
            )
        # The database's templates are in force; shipped files seed what it lacks.
        catalog = await seed_templates(db, templates_folder(settings), clock, settings)
        renderer = TemplateRenderer(catalog)
        channels = ChannelRegistry()
        stack.push_async_callback(channels.aclose)
        if settings.channels.sandbox.enabled:
            channels.register(
                SandboxChannel(
                    redis,
                    keys,
                    clock,
                    inbox_size=settings.channels.sandbox.inbox_size,
                    qps=settings.channels.sandbox.qps,
                )
            )
        if http is not None:
            channels.register(
                TencentSmsChannel(
                    tencent_config(tencent, sms_template_ids(renderer, "tencent")), http, clock,
                    qps=tencent.qps, concurrency=HTTP_CONCURRENCY,
                )
            )  # fmt: skip
        await queue.ensure_groups(channels.names())
        policy = PlanningPolicy(
            default_channel=ChannelName(settings.channels.default),
            enabled_channels=frozenset(channels.names()),
            routing=settings.routing,
            quiet_hours=settings.quiet_hours,
            tz=settings.hub.tz,
        )
        outbox = Outbox(db, queue, renderer, clock, policy, live_templates=True)
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
        )
