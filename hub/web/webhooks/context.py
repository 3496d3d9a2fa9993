"""What every webhook router needs, already open; and the checks the SMS webhooks share."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from fastapi import HTTPException, Request

from hub.app.config import Settings
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.inbound.accept_batch import ReplyAccepter
from hub.infra.queue import Queue
from hub.infra.redis_server import RedisClient
from hub.store.db import Database

#: Reads a request's whole body (``Request.body``, or the lean path's reader): called only once
#: the request is verified.
BodyReader = Callable[[], Awaitable[bytes]]


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


def client_host(request: Request) -> str:
    """The peer's address as the server (or its proxy-headers handling) gives it; ``""`` if none."""
    return request.client.host if request.client else ""


def require_allowed_source(host: str, allowed: Sequence[str]) -> None:
    """403 unless ``host`` (the peer address) is in ``allowed`` (IPs or CIDR networks); empty
    allows all."""
    if not allowed:
        return
    try:
        peer = ipaddress.ip_address(host)
    except ValueError:
        raise HTTPException(status_code=403, detail="forbidden") from None
    if not any(peer in ipaddress.ip_network(net, strict=False) for net in allowed):
        raise HTTPException(status_code=403, detail="forbidden")
