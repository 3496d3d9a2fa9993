"""The SLA pass, every ``tickets.sla_every_minutes``, in the scheduler role's leader only.

Runs beside :class:`~hub.scheduling.scheduler.HubScheduler` (``hub run`` / ``hub scheduler``): a
follower skips its turn, so two scheduler processes do not both remind (each step is claimed in the
database anyway, see :mod:`hub.tickets.sla.sweep`). A failed pass is logged and retried next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from hub.tickets.sla.sweep import SlaPassReport, run_sla_pass

if TYPE_CHECKING:
    from hub.app.runtime import Components

log = structlog.get_logger(__name__)


async def sla_pass_once(hub: Components) -> SlaPassReport:
    """One pass with the open components (the CLI's ``hub sla run`` and the loop)."""
    return await run_sla_pass(
        hub.db,
        hub.clock,
        hub.settings,
        renderer=hub.renderer,
        policy=hub.outbox.planner.policy,
        queue=hub.queue,
    )


async def run_sla_periodically(
    hub: Components, is_leader: Callable[[], bool], stop: asyncio.Event
) -> None:
    """Until ``stop``: a pass whenever this process leads, then wait the interval."""
    every = hub.settings.tickets.sla_every_minutes * 60
    while not stop.is_set():
        if is_leader():
            try:
                await sla_pass_once(hub)
            except Exception:  # keep the loop alive; the next turn retries
                log.exception("sla pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
