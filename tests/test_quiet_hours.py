"""Quiet hours: the window wraps midnight, and held messages are released when it opens."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from hub.clock import SHANGHAI
from hub.config import QuietHours, QuietWindow
from hub.quiet_hours import hold_until
from hub.vocab import MessageKind


def shanghai(hour: int, minute: int = 0, day: int = 23) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "release"),
    [
        (shanghai(20, 59), None),
        (shanghai(21, 0), shanghai(8, 0, day=24)),
        (shanghai(23, 30), shanghai(8, 0, day=24)),
        (shanghai(0, 10), shanghai(8, 0)),
        (shanghai(7, 59), shanghai(8, 0)),
        (shanghai(8, 0), None),
        (shanghai(12, 0), None),
    ],
)
def test_default_window_wraps_midnight(now: datetime, release: datetime | None) -> None:
    held = hold_until(now.astimezone(UTC), QuietHours(), SHANGHAI)
    assert held == (release.astimezone(UTC) if release else None)


def test_a_daytime_window_does_not_wrap() -> None:
    window = QuietWindow(start=time(12, 0), end=time(13, 30))
    assert hold_until(shanghai(12, 15), window, SHANGHAI) == shanghai(13, 30).astimezone(UTC)
    assert hold_until(shanghai(13, 30), window, SHANGHAI) is None


def test_urgent_kinds_bypass_and_kinds_may_have_their_own_window() -> None:
    quiet = QuietHours(
        per_kind={MessageKind.VISIT_REMINDER: QuietWindow(start=time(22, 0), end=time(7, 0))}
    )
    assert quiet.window(MessageKind.CREDIT_WARNING) is None
    assert hold_until(shanghai(21, 30), quiet.window(MessageKind.VISIT_REMINDER), SHANGHAI) is None
    assert hold_until(shanghai(21, 30), quiet.window(MessageKind.NOTICE), SHANGHAI) is not None
