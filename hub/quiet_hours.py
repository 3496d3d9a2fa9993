"""Quiet hours (免打扰时段): when a message may not go out now, when it may.

Pure functions on an aware ``now``; the zone is the hub's (Asia/Shanghai by default).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.config import QuietWindow


def in_window(local: time, window: QuietWindow) -> bool:
    """True when a local time of day falls inside the window (which may wrap midnight)."""
    if window.start == window.end:
        return False
    if window.start < window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end


def hold_until(now: datetime, window: QuietWindow | None, tz: ZoneInfo) -> datetime | None:
    """The UTC moment the window opens, if ``now`` is inside it; None when it may go now."""
    if window is None:
        return None
    local = now.astimezone(tz)
    if not in_window(local.timetz().replace(tzinfo=None), window):
        return None
    release = datetime.combine(local.date(), window.end, tzinfo=tz)
    if release <= local:
        release += timedelta(days=1)
    return release.astimezone(UTC)
