"""What every webhook router needs, already open; and the checks the SMS webhooks share."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from fastapi import HTTPException, Request

from hub.app.config import Settings
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.infra.queue import Queue
from hub.infra.redis_server import RedisClient
from hub.store.db import Database


@dataclass(frozen=True, slots=True)
class WebhookContext:
    settings: Settings
    db: Database
    redis: RedisClient
    keys: RedisKeys
    queue: Queue
    clock: Clock


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
