"""What every ``/api/v1`` router needs, already open."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from hub.core.clock import SHANGHAI, Clock
from hub.scheduling.programs.base import ProgramContext
from hub.store.db import Database
from hub.web.api.auth import Authenticator


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The database, the clock (for routes that write), the zone times print in, the auth."""

    db: Database
    clock: Clock
    tz: ZoneInfo = SHANGHAI
    #: What the seed programs run with when a call saves data they react to (None: no sends).
    programs: ProgramContext | None = None
    authenticate: Authenticator = field(init=False)

    def __post_init__(self) -> None:
        # One Authenticator per app, so FastAPI's per-request dependency cache resolves the
        # token once even when a router and its route both depend on it.
        object.__setattr__(self, "authenticate", Authenticator(self.db))
