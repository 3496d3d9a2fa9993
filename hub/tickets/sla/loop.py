"""The SLA pass, every ``tickets.sla_every_minutes``, in the scheduler role's leader only.

Runs beside :class:`~hub.scheduling.scheduler.HubScheduler` (``hub run`` / ``hub scheduler``): a
follower skips its turn, so two scheduler processes do not both remind (each step is claimed in the
database anyway, see :mod:`hub.tickets.sla.sweep`). A failed pass is logged and retried next turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def run_sla_periodically(
    sla_pass: Callable[[], Awaitable[object]],
    every_minutes: float,
    is_leader: Callable[[], bool],
    stop: asyncio.Event,
) -> None:
    """Until ``stop``: a pass (:func:`hub.tickets.sla.sweep.run_sla_pass`, as ``sla_pass`` runs
    it) whenever this process leads, then wait ``every_minutes``."""
    while not stop.is_set():
        if is_leader():
            try:
                await sla_pass()
            except Exception:  # keep the loop alive; the next turn retries
                log.exception("sla pass failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every_minutes * 60)
