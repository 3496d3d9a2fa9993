"""hub.cli.progress: bars on a terminal, a plain line every few seconds elsewhere, nothing off."""

from __future__ import annotations

import io

from rich.console import Console

from hub.cli.progress import SendProgress


def _console(*, terminal: bool) -> tuple[Console, io.StringIO]:
    sink = io.StringIO()
    return Console(file=sink, force_terminal=terminal, width=120, markup=False), sink


def test_without_a_terminal_a_plain_line_every_few_seconds_and_at_the_end() -> None:
    console, sink = _console(terminal=False)
    ticks = [0.0]
    with SendProgress(console, every_s=5.0, monotonic=lambda: ticks[0]) as progress:
        for done in range(0, 10_001, 1000):  # one update a second
            ticks[0] = done / 1000
            progress.planned(done, 10_000)
        progress.sent(4_000, 10_000)
        ticks[0] = 12.0
        progress.sent(10_000, 10_000)
        progress.sent(10_000, 10_000)  # a stage that ended says so once
    lines = sink.getvalue().splitlines()
    assert lines == [
        "规划入库 0/10,000（0%） 0 条/秒",
        "规划入库 5,000/10,000（50%） 1,000 条/秒",
        "规划入库 10,000/10,000（100%） 1,000 条/秒",
        "发送 4,000/10,000（40%） 0 条/秒",
        "发送 10,000/10,000（100%） 5,000 条/秒",
    ]


def test_on_a_terminal_two_bars_with_counts() -> None:
    console, sink = _console(terminal=True)
    with SendProgress(console) as progress:
        progress.planned(500, 1_000)
        progress.sent(250, 1_000)
    shown = sink.getvalue()
    assert "规划入库" in shown
    assert "500/1000" in shown
    assert "发送" in shown
    assert "250/1000" in shown


def test_disabled_shows_nothing() -> None:
    console, sink = _console(terminal=True)
    with SendProgress(console, enabled=False) as progress:
        progress.planned(1, 2)
        progress.sent(2, 2)
    assert sink.getvalue() == ""
