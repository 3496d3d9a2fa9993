"""Every Redis key the hub uses, named in one place (like arq's ``constants.py``).

Keys are ``<prefix>:<rest>``. Keys that one Lua script or MULTI touches together share a
Redis Cluster hash tag (the part in ``{...}``), so they hash to the same slot::

    hub:{out:sms}:stream     outbound stream of channel ``sms`` (entries carry a message id)
    hub:{out:sms}:retry      retry set of ``sms``: message id scored by due time (epoch seconds)
    hub:{out:sms}:dead       dead letters of ``sms``: message id -> JSON {reason, at}
    hub:{in}:stream          inbound stream (entries carry a reply id)
    hub:sandbox:{42}:inbox   what the sandbox channel "sent" to contact 42
    hub:lock:{scheduler}     a named lock (leader election, ...)
    hub:bucket:{tencent}     token bucket of a provider
    hub:alive:{host-42}      a worker's heartbeat (expires when the process dies)
    hub:epoch                when this Redis's hub data began (gone after a FLUSHALL)
    hub:admin:session:{ab12…}  a web admin session (by the SHA-256 of its cookie), with a TTL
    hub:admin:unknown-login:{cd34…}  wrong sign-ins of a username with no account (its SHA-256)
    hub:{imports}:job:9f3a…  a registry import started from the web admin: its progress (JSON)
    hub:{imports}:rejects:9f3a…  that import's rejected rows (CSV bytes)
    hub:{imports}:recent     the latest imports' ids, scored by their start (epoch seconds)

Only :class:`RedisKeys` builds these strings; nothing else in the hub spells a key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

# A name that goes inside a key: no ':' (it separates parts), no '{' or '}' (a second hash
# tag would silently move the key to another Cluster slot), no spaces.
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _checked(kind: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise ValueError(f"{kind} {value!r} may only contain letters, digits, '_', '.' and '-'")
    return value


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Builds every Redis key name from one ``prefix`` (``redis.key_prefix`` in config.yaml).

    Two hubs (or two test runs) sharing one Redis server stay apart by using different
    prefixes. Methods validate the names they are given, so a channel or lock name can never
    break the key layout.
    """

    prefix: str = "hub"

    #: Consumer group of every outbound stream (the dispatchers).
    OUTBOUND_GROUP: ClassVar[str] = "dispatch"
    #: Consumer group of the inbound stream (the inbound workers).
    INBOUND_GROUP: ClassVar[str] = "inbound"
    #: Field of a stream entry that holds the message id (outbound) or reply id (inbound).
    ID_FIELD: ClassVar[str] = "id"

    def __post_init__(self) -> None:
        _checked("key prefix", self.prefix)

    def outbound_stream(self, channel: str) -> str:
        """The stream of message ids waiting to be sent on ``channel``."""
        return f"{self.prefix}:{{out:{_checked('channel', channel)}}}:stream"

    def retry_set(self, channel: str) -> str:
        """Sorted set of message ids to put back on ``channel``'s stream, scored by due time.

        Same hash tag as :meth:`outbound_stream`: the promotion script moves ids between them.
        """
        return f"{self.prefix}:{{out:{_checked('channel', channel)}}}:retry"

    def dead_letters(self, channel: str) -> str:
        """Hash of message ids given up on ``channel`` (value: JSON reason and time).

        Same hash tag as :meth:`outbound_stream`, so a dead letter and the ack of its stream
        entry go in one MULTI.
        """
        return f"{self.prefix}:{{out:{_checked('channel', channel)}}}:dead"

    def inbound_stream(self) -> str:
        """The stream of stored reply ids waiting for the inbound worker."""
        return f"{self.prefix}:{{in}}:stream"

    def sandbox_inbox(self, contact_id: int | str) -> str:
        """List of messages the sandbox channel delivered to one contact."""
        return f"{self.prefix}:sandbox:{{{_checked('contact id', str(contact_id))}}}:inbox"

    def admin_session(self, session_digest: str) -> str:
        """A web admin session, by the SHA-256 (hex) of its cookie: a reader of Redis cannot
        sign in with what it sees."""
        return f"{self.prefix}:admin:session:{{{_checked('session digest', session_digest)}}}"

    def admin_unknown_login(self, username_digest: str) -> str:
        """Wrong sign-ins of a username that has no account (or no password), by its SHA-256:
        counted like a real account's so the answers cannot tell the two apart."""
        return (
            f"{self.prefix}:admin:unknown-login:{{{_checked('username digest', username_digest)}}}"
        )

    def import_job(self, job_id: str) -> str:
        """A web admin import's progress and result, for every web process's pages (JSON)."""
        return f"{self.prefix}:{{imports}}:job:{_checked('import job', job_id)}"

    def import_rejects(self, job_id: str) -> str:
        """The rejected rows of a web admin import, as the CSV its page offers."""
        return f"{self.prefix}:{{imports}}:rejects:{_checked('import job', job_id)}"

    def import_recent(self) -> str:
        """Sorted set of the latest web admin imports' ids, scored by their start."""
        return f"{self.prefix}:{{imports}}:recent"

    def lock(self, name: str) -> str:
        """A named lock, e.g. ``lock("scheduler")`` for the scheduler's leader lock."""
        return f"{self.prefix}:lock:{{{_checked('lock name', name)}}}"

    def token_bucket(self, provider: str) -> str:
        """The rate limiter state of one provider (e.g. ``tencent``, ``wechat.main``)."""
        return f"{self.prefix}:bucket:{{{_checked('provider', provider)}}}"

    def consumer_alive(self, consumer: str) -> str:
        """A stream consumer's heartbeat: set with a TTL while its process runs."""
        return f"{self.prefix}:alive:{{{_checked('consumer', consumer)}}}"

    def redis_epoch(self) -> str:
        """Set once with the time the hub's data in this Redis began; absent after a flush."""
        return f"{self.prefix}:epoch"

    def parked_receipts(self) -> str:
        """Sorted set of delivery receipts that arrived before their send was recorded."""
        return f"{self.prefix}:receipts:parked"

    def access_token(self, app: str) -> str:
        """A provider access token cached for one app (WeChat Official Account, WeCom app)."""
        return f"{self.prefix}:token:{{{_checked('app', app)}}}"

    def telegram_link(self, code: str) -> str:
        """A one-time Telegram deep-link code -> the contact it binds (expires)."""
        return f"{self.prefix}:tglink:{_checked('link code', code)}"

    def webhook_seen(self, provider: str, event_id: str) -> str:
        """Marks a webhook event (not a reply) already handled, for providers that redeliver."""
        return f"{self.prefix}:seen:{_checked('provider', provider)}:{_checked('event', event_id)}"

    def webhook_nonce(self, provider: str, signed: str) -> str:
        """A signature's (timestamp, nonce) seen -> hash of its body (expires with the window)."""
        return f"{self.prefix}:nonce:{_checked('provider', provider)}:{_checked('nonce', signed)}"

    def pattern(self) -> str:
        """A SCAN ``MATCH`` pattern for every key under this prefix (cleanup, diagnostics)."""
        return f"{self.prefix}:*"
