"""A contact's reply on the sandbox channel: ``hub sandbox reply`` and the admin's phone simulator.

Both hand the typed text (or a pressed button's payload, ``rating:5:GD…``, ``visit:slot:2:42``,
as a Telegram or WeCom press is stored) to :func:`hub.inbound.accept.accept_reply`, the path a
provider webhook takes: stored once, linked to the contact by its mobile, queued for the inbound
worker. Nothing about it is the sandbox's own but the provider name and a fresh message id.
"""

from __future__ import annotations

import uuid

from channels.base import InboundReply
from hub.core.clock import Clock
from hub.core.vocab import ChannelName
from hub.inbound.accept import Accepted, accept_reply
from hub.infra.queue import Queue
from hub.store.audit import AuditNote
from hub.store.db import Database


async def accept_sandbox_reply(
    db: Database, queue: Queue, clock: Clock, mobile: str, text: str, *,
    audit: AuditNote | None = None,
) -> Accepted:  # fmt: skip
    """Take ``text`` as a reply from the contact with ``mobile`` (normalised, +86…);
    ``audit``: written with the stored reply (the simulator's staff member)."""
    message = InboundReply(provider="sandbox", provider_msg_id=uuid.uuid4().hex, sender=mobile,
                           text=text, raw={"from": mobile, "text": text})  # fmt: skip
    return await accept_reply(db, queue, clock, ChannelName.SANDBOX, message, audit=audit)
