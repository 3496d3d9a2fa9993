"""Quiet hours (免打扰时段): when a message may not go out now, when it may.

Pure functions on an aware ``now``; the zone is the hub's (Asia/Shanghai by default). With a
working-day calendar (``quiet_hours.days_off``), whole days off are quiet too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.config import QuietWindow
from hub.workdays import WorkdayCalendar


def in_window(local: time, window: QuietWindow) -> bool:
    """True when a local time of day falls inside the window (which may wrap midnight)."""
    if window.start == window.end:
        return False
    if window.start < window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end


@dataclass(frozen=True, slots=True)
class QuietHold:
    """A message held by quiet hours: when it goes (UTC) and why, as the user reads it."""

    release_at: datetime
    reason: str


def quiet_hold(
    now: datetime, window: QuietWindow | None, tz: ZoneInfo,
    *, days_off: WorkdayCalendar | None = None,
) -> QuietHold | None:  # fmt: skip
    """The hold of a message created at ``now``, or None when it may go now (see hold_until)."""
    release = hold_until(now, window, tz, days_off=days_off)
    if release is None or window is None:
        return None
    return QuietHold(release, held_reason(release, window, tz, days_off=days_off is not None))


def held_reason(
    release_at: datetime, window: QuietWindow, tz: ZoneInfo, *, days_off: bool = False
) -> str:
    """``免打扰时段（21:00–08:00），将于 12-07 08:00 发送``: the window and the release time."""
    span = f"{window.start:%H:%M}–{window.end:%H:%M}"
    if days_off:
        span += "，休息日全天"
    return f"免打扰时段（{span}），将于 {release_at.astimezone(tz):%m-%d %H:%M} 发送"


def hold_until(
    now: datetime, window: QuietWindow | None, tz: ZoneInfo,
    *, days_off: WorkdayCalendar | None = None,
) -> datetime | None:  # fmt: skip
    """The UTC moment the message may go, if ``now`` is quiet; None when it may go now.

    ``now`` is quiet inside the daily window and, given ``days_off`` (the working-day
    calendar), on a day off: then the message waits for ``window.end`` of the next working day.
    """
    if window is None:
        return None
    local = now.astimezone(tz)
    release: datetime | None = None
    if in_window(local.timetz().replace(tzinfo=None), window):
        release = datetime.combine(local.date(), window.end, tzinfo=tz)
        if release <= local:
            release += timedelta(days=1)
    if days_off is not None:
        day = (release or local).date()
        if days_off.is_day_off(day):
            while days_off.is_day_off(day):
                day += timedelta(days=1)
            release = datetime.combine(day, window.end, tzinfo=tz)
    return release.astimezone(UTC) if release is not None else None
