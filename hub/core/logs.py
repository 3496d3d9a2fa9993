"""Structured logging with personal data masked (PIPL): set up once by the CLI."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from datetime import datetime
from typing import Any, TextIO, cast
from zoneinfo import ZoneInfo

import structlog

from hub.core.clock import SHANGHAI
from hub.core.identifiers import mask_personal_data


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the moment of writing (tests swap it; loggers are cached)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


class LocalTimeStamper:
    """``timestamp``: ISO 8601 in the hub's zone with its offset (2026-12-06T22:06:01.123+08:00),
    as every time the hub prints; structlog's own stamper gives UTC or the machine's local time
    without an offset."""

    def __init__(self, tz: ZoneInfo = SHANGHAI) -> None:
        self.tz = tz

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict["timestamp"] = datetime.now(self.tz).isoformat(timespec="milliseconds")
        return event_dict


def configure_logging(
    level: str = "INFO", *, json_output: bool = False, tz: ZoneInfo = SHANGHAI
) -> None:
    """Route structlog and stdlib logging to stderr; mask numbers and IDs before rendering;
    stamp times in ``tz`` (the hub's zone) with the offset."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            LocalTimeStamper(tz),
            structlog.processors.format_exc_info,
            mask_personal_data,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    # Alembic narrates every migration step at INFO; the CLI prints its own one-line result.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLevelName(level)))
