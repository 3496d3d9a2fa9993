"""Quiet hours (免打扰时段): when a message may not go out now, when it may.

Pure functions on an aware ``now``; the zone is the hub's (Asia/Shanghai by default). With a
working-day calendar (``quiet_hours.days_off``), whole days off are quiet too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hub.core.vocab import MessageKind
from hub.core.workdays import WorkdayCalendar
from hub.outbound.settings import QuietHours, QuietWindow

#: In a message's params: until when (ISO time) quiet hours do not hold it — an answer to a
#: contact's own message, which the contact is waiting for (``answer_within_minutes``).
QUIET_EXEMPT_UNTIL = "quiet_exempt_until"


def in_window(local: time, window: QuietWindow) -> bool:
    """True when a local time of day falls inside the window (which may wrap midnight)."""
    if window.start == window.end:
        return False
    if window.start < window.end:
        return window.start <= local < window.end
    return local >= window.start or local < window.end


#: How every quiet-hours reason begins (held messages may also wait for a paused campaign).
QUIET_REASON_PREFIX = "免打扰时段"


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
    return f"{QUIET_REASON_PREFIX}（{span}），将于 {release_at.astimezone(tz):%m-%d %H:%M} 发送"


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


@dataclass(frozen=True, slots=True)
class QuietRules:
    """The deployment's quiet hours, for code that decides a send time after planning (the
    dispatcher's rate-limit retries): the same window, bypass kinds and days off."""

    hours: QuietHours
    tz: ZoneInfo
    days_off: WorkdayCalendar | None = None

    def hold(self, at: datetime, kind: MessageKind, params: Mapping[str, Any]) -> QuietHold | None:
        """The hold of a send of ``kind`` due ``at``, or None when it may go then.

        A message whose params carry :data:`QUIET_EXEMPT_UNTIL` later than ``at`` is not held.
        """
        exempt = params.get(QUIET_EXEMPT_UNTIL)
        if isinstance(exempt, str) and at < datetime.fromisoformat(exempt):
            return None
        return quiet_hold(at, self.hours.window(kind), self.tz, days_off=self.days_off)
