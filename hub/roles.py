"""Long-running roles: the web server, the dispatcher and the reconciler, in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from datetime import timedelta

import structlog
import uvicorn

from hub.config import Settings
from hub.dispatch import Dispatcher
from hub.outbox import requeue_stale
from hub.runtime import Components, open_components
from hub.web.app import create_app

log = structlog.get_logger(__name__)

RECONCILE_EVERY_SECONDS = 30.0


def consumer_name() -> str:
    """This process's consumer name in the stream groups (unique per host and pid)."""
    return f"{socket.gethostname()}-{os.getpid()}"


async def serve(
    settings: Settings, *, web: bool, worker: bool, host: str | None = None, port: int | None = None
) -> None:
    """Run the chosen roles until SIGINT/SIGTERM; in-flight batches finish before exit."""
    stop = asyncio.Event()
    async with open_components(settings) as hub:
        tasks: list[asyncio.Task[None]] = []
        if worker:
            dispatcher = Dispatcher(
                hub.db,
                hub.queue,
                hub.channels,
                hub.clock,
                settings.dispatch,
                hub.metrics,
                consumer=consumer_name(),
            )
            tasks.append(asyncio.create_task(dispatcher.run(stop), name="dispatcher"))
            tasks.append(asyncio.create_task(_reconcile(hub, stop), name="reconciler"))
        if web:
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(hub.db, hub.redis, metrics=hub.metrics.registry),
                    host=host or settings.web.host,
                    port=port or settings.web.port,
                    log_level=settings.logging.level.lower(),
                    lifespan="off",
                )
            )
            log.info(
                "hub listening",
                url=f"http://{server.config.host}:{server.config.port}",
                roles=[r for r, on in (("web", web), ("worker", worker)) if on],
            )
            await server.serve()  # returns on SIGINT/SIGTERM (uvicorn installs the handlers)
            stop.set()
        else:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            log.info("hub worker running", consumer=consumer_name())
            await stop.wait()
        await asyncio.gather(*tasks)
        log.info("hub stopped")


async def _reconcile(hub: Components, stop: asyncio.Event) -> None:
    """Periodically re-enqueue outbox rows that Redis lost (or never got, after a crash)."""
    idle = timedelta(seconds=hub.settings.dispatch.reclaim_idle_seconds)
    while not stop.is_set():
        try:
            count = await requeue_stale(hub.db, hub.queue, hub.clock, older_than=idle)
            if count:
                log.warning("re-enqueued stale outbox rows", count=count)
        except Exception:  # keep reconciling; the next pass retries
            log.exception("reconcile failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RECONCILE_EVERY_SECONDS)
