"""What every command shares: loading settings, running async code, printing lists and errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from hub.app.config import Settings, load_settings
from hub.app.runtime import open_database
from hub.core.clock import Clock, SystemClock
from hub.core.errors import UsageError
from hub.core.logs import configure_logging
from hub.store.db import Database

T = TypeVar("T")

# Text, never rich markup: what commands print holds names, file names and reasons that users
# typed, and rich dropped a "[x]" in them and failed with a MarkupError on a "[/x]".
out = Console(highlight=False, soft_wrap=True, markup=False)
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def settings_from(ctx: typer.Context) -> Settings:
    """Load (once per process) the config named by --config / $HUB_CONFIG / ./config.yaml."""
    obj = ctx.ensure_object(dict)
    if "settings" not in obj:
        settings = load_settings(obj.get("config_path"))
        configure_logging(
            settings.logging.level, json_output=settings.logging.json_output, tz=settings.hub.tz
        )
        obj["settings"] = settings
    settings_obj: Settings = obj["settings"]
    return settings_obj


def clock_from(ctx: typer.Context) -> Clock:
    """The clock commands take the time from: the wall clock unless ``main(clock=...)`` gave one."""
    clock: Clock | None = ctx.ensure_object(dict).get("clock")
    return clock if clock is not None else SystemClock()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def with_database(ctx: typer.Context, act: Callable[[Database], Awaitable[T]]) -> T:
    """Open the configured database, run ``act`` on it, close it, and return what it gave."""
    settings = settings_from(ctx)

    async def run() -> T:
        async with open_database(settings) as db:
            return await act(db)

    return run_async(run())


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


#: The width a table may take when stdout is a file or a pipe: no value is ever cut.
UNBOUNDED_WIDTH = 100_000


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A table: on a terminal, long values wrap within its width (never cut with "…"); into
    a file or a pipe, every row is one line, however wide."""
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        # Text, not markup: a value such as "[sandbox]" is printed as it is.
        table.add_row(*(Text("" if v is None else str(v)) for v in row))
    if out.is_terminal:
        out.print(table)
    else:
        # Console.print's width is capped at the console's (80 columns off a terminal).
        wide = Console(file=out.file, width=UNBOUNDED_WIDTH, highlight=False, no_color=True,
                       markup=False)  # fmt: skip
        wide.print(table)


def print_error(label: str, message: object) -> None:
    """``label`` in red on stderr, then ``message`` as it is (an error names what users typed)."""
    err.print(Text.assemble((label, "red"), " ", str(message)))


def parse_set_options(pairs: list[str]) -> dict[str, str]:
    """``--set name=value`` options as template variables; a malformed one is a usage error."""
    variables = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip().isidentifier():
            raise UsageError(f"--set 需要 名称=值 的形式，收到“{pair}”")
        variables[name.strip()] = value
    return variables
