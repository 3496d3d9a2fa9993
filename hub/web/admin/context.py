"""What every ``/admin/`` page module needs, already open: one object per app."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from channels.sms.settings import SmsSettings
from hub.core.clock import SHANGHAI, Clock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient
from hub.scheduling.programs.base import ProgramContext
from hub.store.db import Database
from hub.tickets.desk import TicketDesk
from hub.web.admin.sessions import SessionStore
from hub.web.admin.settings import AdminSettings


@dataclass(frozen=True, slots=True)
class AdminContext:
    """The database, Redis (sessions), the clock, the zone pages print times in, the settings.

    ``ticket_desk`` and ``programs`` are what the API's routes that write get too (None in an
    app built without them: the pages that need them say so).
    """

    db: Database
    redis: RedisClient
    clock: Clock
    keys: RedisKeys = field(default_factory=RedisKeys)
    settings: AdminSettings = field(default_factory=AdminSettings)
    tz: ZoneInfo = SHANGHAI
    ticket_desk: TicketDesk | None = None
    programs: ProgramContext | None = None
    # channels.sms: the template editor counts SMS segments with its signature.
    sms: SmsSettings = field(default_factory=SmsSettings)
    sessions: SessionStore = field(init=False)

    def __post_init__(self) -> None:
        store = SessionStore(
            self.redis, self.keys, self.settings.session_ttl, self.settings.session_idle
        )
        object.__setattr__(self, "sessions", store)
