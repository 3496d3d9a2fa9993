"""``web.admin:`` in config.yaml: the web admin's sign-in rules."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from hub.core.settings import FrozenSettings
from hub.tickets.staff_passwords import LockoutPolicy


class AdminSettings(FrozenSettings):
    """Lockout after wrong passwords, how long a session lasts (at most, and without a
    request), the shortest password."""

    max_failed_logins: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    session_hours: float = Field(default=8, gt=0, le=24 * 30)
    idle_minutes: float = Field(default=30, gt=0, le=24 * 60 * 30)
    min_password_length: int = Field(default=10, ge=8, le=64)

    @property
    def lockout(self) -> LockoutPolicy:
        return LockoutPolicy(
            max_failures=self.max_failed_logins,
            lock_for=timedelta(minutes=self.lockout_minutes),
            min_length=self.min_password_length,
        )

    @property
    def session_ttl(self) -> timedelta:
        return timedelta(hours=self.session_hours)

    @property
    def session_idle(self) -> timedelta:
        return timedelta(minutes=self.idle_minutes)
