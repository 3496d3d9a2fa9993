"""The sandbox channel: the default with no credentials. Messages land in a per-contact inbox.

Nothing leaves the machine. Each "sent" message is kept (newest first, capped) in Redis under
the contact's inbox key so ``hub sandbox inbox`` and tests can read what a contact received.
Free text is allowed here, unlike on SMS providers.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from redis.exceptions import RedisClusterException, RedisError

from channels.base import ChannelError, ChannelLimits, OutboundMessage, RetryableError, SendResult
from hub.core.clock import Clock
from hub.core.keys import RedisKeys
from hub.infra.redis_server import RedisClient


class SandboxChannel:
    """Delivers into Redis lists; one pipeline round trip per batch."""

    name: ClassVar[str] = "sandbox"
    provider: ClassVar[str] = "sandbox"
    # Delivers into Redis lists: it accepts what any template renders.
    limits: ClassVar[ChannelLimits] = ChannelLimits()
    max_batch: ClassVar[int] = 500
    default_qps: ClassVar[float] = 10_000.0

    def __init__(
        self, redis: RedisClient, keys: RedisKeys, clock: Clock, *, inbox_size: int = 200,
        qps: float | None = None,
    ) -> None:  # fmt: skip
        #: Sends per second across all workers (``channels.sandbox.qps``), for drills.
        self.qps = qps or self.default_qps
        self._redis = redis
        self._keys = keys
        self._clock = clock
        self._inbox_size = inbox_size

    async def send_batch(
        self, messages: Sequence[OutboundMessage]
    ) -> list[SendResult | ChannelError]:
        at = self._clock.now().isoformat()
        pipe = self._redis.pipeline(transaction=False)
        for message in messages:
            key = self._keys.sandbox_inbox(message.contact_id or 0)
            entry = {
                "message_id": message.message_id,
                "kind": message.kind,
                "address": message.address,
                "body": message.body,
                "at": at,
            }
            pipe.lpush(key, json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(key, 0, self._inbox_size - 1)
        try:
            await pipe.execute()
        except (RedisError, RedisClusterException) as exc:
            error = RetryableError(f"sandbox inbox write failed: {exc}", code="redis")
            return [error for _ in messages]
        return [SendResult(m.message_id, f"sandbox-{m.message_id}") for m in messages]

    async def inbox(self, contact_id: int, limit: int = 20) -> list[dict[str, object]]:
        """The newest messages delivered to a contact."""
        raw = await self._redis.lrange(self._keys.sandbox_inbox(contact_id), 0, limit - 1)
        return [json.loads(item) for item in raw]

    async def aclose(self) -> None:
        """The Redis client is owned by the runtime, not by this channel."""
