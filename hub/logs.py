"""Structured logging with personal data masked (PIPL): set up once by the CLI."""

from __future__ import annotations

import logging
import sys
from typing import TextIO, cast

import structlog

from hub.identifiers import mask_personal_data


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the moment of writing (tests swap it; loggers are cached)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO", *, json_output: bool = False) -> None:
    """Route structlog and stdlib logging to stderr; mask numbers and IDs before rendering."""
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if json_output
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
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
