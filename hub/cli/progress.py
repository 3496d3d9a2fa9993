"""Progress of a long send on stderr: planning (messages planned and stored of the plan) and
sending (messages with a final status of the campaign), for ``hub send`` and ``hub bench``.

On a terminal, two rich bars with counts, rate and time left; otherwise (a log file, CI) one
plain line per stage every ``every_s`` seconds and when the stage ends, so a million-message
run's log shows it moving without a line per chunk; with ``--json`` nothing (the caller passes
``enabled=False``): stdout stays the JSON document, and stderr quiet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

PLAIN_EVERY_S = 5.0
_LABELS = {"plan": "规划入库", "send": "发送"}


class SendProgress:
    """The two stages' counts, shown as they move; a context manager (starts and stops the bars).

    ``planned(done, total)`` fits :class:`hub.outbound.outbox.ProgressHook`; ``sent(done,
    total)`` is called by whoever polls the campaign's counts. A total of None (unknown) shows
    the count alone.
    """

    def __init__(
        self, console: Console, *, enabled: bool = True, every_s: float = PLAIN_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.console = console
        self.enabled = enabled
        self.every_s = every_s
        self.monotonic = monotonic
        self.bars: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._started: dict[str, float] = {}
        self._last_line: dict[str, float] = {}
        self._finished: set[str] = set()

    def __enter__(self) -> SendProgress:
        if self.enabled and self.console.is_terminal:
            self.bars = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                TimeRemainingColumn(), console=self.console, transient=False,
            )  # fmt: skip
            self.bars.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        if self.bars is not None:
            self.bars.stop()
            self.bars = None

    def planned(self, done: int, total: int | None) -> None:
        """Messages planned and stored so far, of ``total``."""
        self._update("plan", done, total)

    def sent(self, done: int, total: int | None) -> None:
        """Messages of the campaign with a final status (sent, failed, ...), of ``total``."""
        self._update("send", done, total)

    def _update(self, stage: str, done: int, total: int | None) -> None:
        if not self.enabled or stage in self._finished:
            return
        now = self.monotonic()
        began = self._started.setdefault(stage, now)
        rate = done / (now - began) if now > began else 0.0
        finished = total is not None and done >= total
        if finished:
            self._finished.add(stage)
        if self.bars is not None:
            task = self._tasks.get(stage)
            if task is None:
                task = self._tasks[stage] = self.bars.add_task(_LABELS[stage], total=total, rate="")
            self.bars.update(task, completed=done, total=total, rate=f"{rate:,.0f} 条/秒")
            return
        last = self._last_line.get(stage)
        if finished or last is None or now - last >= self.every_s:
            self._last_line[stage] = now
            self.console.print(_plain_line(stage, done, total, rate), markup=False)


def _plain_line(stage: str, done: int, total: int | None, rate: float) -> str:
    """One progress line for a log: ``发送 50,000/100,000（50%）1,234 条/秒``."""
    of = "" if total is None else f"/{total:,}（{done / total:.0%}）" if total else "/0"
    return f"{_LABELS[stage]} {done:,}{of} {rate:,.0f} 条/秒"
