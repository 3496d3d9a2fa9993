"""The injected clock: time-dependent logic takes a Clock, tests pass a FixedClock."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Tells the time. ``now()`` is always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests, replays)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)


def local_iso(at: datetime | None, tz: ZoneInfo = SHANGHAI) -> str | None:
    """ISO 8601 in the hub's zone (+08:00), as the CLI and API print times."""
    return at.astimezone(tz).isoformat(timespec="seconds") if at is not None else None


def next_local(now: datetime, at: time, tz: ZoneInfo = SHANGHAI) -> datetime:
    """The next ``at`` o'clock in ``tz`` strictly after ``now`` (a provider's window opening)."""
    local = now.astimezone(tz)
    target = datetime.combine(local.date(), at, tzinfo=tz)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=tz)
    return target


def seconds_until_midnight(now: datetime | None) -> float:
    """Seconds to the next 00:00 in Shanghai, when the providers' daily quotas reset (an hour
    when ``now`` is unknown)."""
    if now is None:
        return 3600.0
    return (next_local(now, time(0, 0)) - now).total_seconds()
