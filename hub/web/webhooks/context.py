"""What every webhook router needs, already open; and the checks the SMS webhooks share."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from hub.app.config import Settings
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.inbound.accept_batch import ReplyAccepter
from hub.infra.queue import Queue
from hub.infra.redis_server import RedisClient
from hub.store.db import Database


@dataclass(frozen=True, slots=True)
class WebhookContext:
    """The open components the webhooks use, and the one group commit their replies share."""

    settings: Settings
    db: Database
    redis: RedisClient
    keys: RedisKeys
    queue: Queue
    clock: Clock
    # Every provider's replies go through it: concurrent requests share transactions.
    accepter: ReplyAccepter = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "accepter", ReplyAccepter(self.db, self.queue, self.clock))


def require_path_secret(given: str, expected: str | None) -> None:
    """403 unless ``given`` equals the configured path secret (constant-time compare)."""
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status_code=403, detail="forbidden")


def require_allowed_source(request: Request, allowed: Sequence[str]) -> None:
    """403 unless the peer address is in ``allowed`` (IPs or CIDR networks); empty allows all."""
    if not allowed:
        return
    host = request.client.host if request.client else ""
    try:
        peer = ipaddress.ip_address(host)
    except ValueError:
        raise HTTPException(status_code=403, detail="forbidden") from None
    if not any(peer in ipaddress.ip_network(net, strict=False) for net in allowed):
        raise HTTPException(status_code=403, detail="forbidden")
