"""The outbound sections of config.yaml: ``dispatch:``, ``quiet_hours:`` and ``routing:`` (pure
pydantic data; :mod:`hub.app.config` composes them into the app's settings)."""

from __future__ import annotations

from datetime import time
from typing import Literal

from pydantic import Field, field_validator

from hub.core.settings import FrozenSettings
from hub.core.vocab import MessageKind

#: A logical channel as config.yaml names it (``channels.default``, ``routing.chains``).
ChannelKey = Literal["sandbox", "sms", "wechat", "wecom", "telegram"]


class DispatchSettings(FrozenSettings):
    """``dispatch:``: how the dispatcher claims, retries and reconciles."""

    batch_size: int = Field(default=200, ge=1, le=10_000)
    block_ms: int = Field(default=500, ge=1)
    max_attempts: int = Field(default=5, ge=1)
    backoff_base_seconds: float = Field(default=2.0, gt=0)
    backoff_max_seconds: float = Field(default=600.0, gt=0)
    reclaim_idle_seconds: int = Field(default=60, ge=1)
    # How often the reconciler re-enqueues rows Redis lost and releases held messages.
    reconcile_every_seconds: float = Field(default=30.0, gt=0)
    # A send plans no further ahead than this many messages waiting on a channel's stream
    # (0: no bound): a million-recipient campaign waits in SQL, not in Redis. 100,000 waiting
    # entries are ~1.6 MB of Redis; a send that waits (a schedule run from the web admin
    # waits in its request) waits only for campaigns larger than that on one channel.
    max_backlog: int = Field(default=100_000, ge=0)


class QuietWindow(FrozenSettings):
    """A daily window (local time) in which messages are held; ``start > end`` wraps midnight."""

    start: time = time(21, 0)
    end: time = time(8, 0)


def _urgent_kinds() -> tuple[MessageKind, ...]:
    return (MessageKind.CREDIT_WARNING, MessageKind.DEADLINE_REMINDER, MessageKind.ESCALATION)


class QuietHours(QuietWindow):
    """Quiet hours: held messages go out when the window opens, never dropped.

    ``days_off``: also hold whole days off (weekends and holidays by the working-day
    calendar, make-up workdays counting as working days) until ``end`` of the next working
    day. Kinds in ``bypass`` are never held.

    ``answer_within_minutes``: an answer to a contact's own message (ticket number, status,
    help) goes out at once when the message came in less than this long ago, quiet hours or
    not: the contact is awake and waiting. 0 holds answers like everything else.
    """

    bypass: tuple[MessageKind, ...] = Field(default_factory=_urgent_kinds)
    per_kind: dict[MessageKind, QuietWindow] = Field(default_factory=dict)
    days_off: bool = False
    answer_within_minutes: int = Field(default=30, ge=0)

    def window(self, kind: MessageKind) -> QuietWindow | None:
        """The window that applies to a kind, or None when the kind may always be sent."""
        if kind in self.bypass:
            return None
        return self.per_kind.get(kind, self)


def _transactional_kinds() -> tuple[MessageKind, ...]:
    # The seed programs' messages about an enterprise's own record (a credit event, its
    # half-yearly report, a licence or annual-report deadline) are exempt too: each goes once
    # per item, and one skipped at the cap would keep its idempotency key and never be sent.
    # policy_push is not: policy_match defers an enterprise at its cap to a later run. The
    # visit cycle's (a visit's proposal, the officer's reminders, answers and tasks, the ledger
    # to the office) go once per visit or task and are exempt for the same reason.
    return (
        MessageKind.TICKET_ACK, MessageKind.TICKET_FEEDBACK, MessageKind.RATING_REMINDER,
        MessageKind.EXTENSION_NOTICE, MessageKind.DEADLINE_REMINDER, MessageKind.ESCALATION,
        MessageKind.VISIT_REMINDER, MessageKind.CREDIT_WARNING, MessageKind.CREDIT_REPORT,
        MessageKind.CREDIT_REPORT_DIGEST, MessageKind.PROCEDURE_REMINDER,
        MessageKind.VISIT_PROPOSAL, MessageKind.VISIT_UPDATE, MessageKind.OFFICER_TASK,
        MessageKind.REPORT_DELIVERY,
    )  # fmt: skip


def _default_chains() -> dict[str, tuple[ChannelKey, ...]]:
    return {"default": ("wechat", "sms")}


class RoutingSettings(FrozenSettings):
    """How a message reaches a contact: channel chains, frequency caps, dedupe window.

    ``chains`` lists channels in order per kind (``default`` for kinds not listed); channels
    that are not enabled are left out, and when none is left the default channel is used. The
    next channel in the chain is the fallback when the contact has no address on a channel or
    a provider refuses the message permanently.
    """

    chains: dict[str, tuple[ChannelKey, ...]] = Field(default_factory=_default_chains)
    max_per_contact_per_day: int | None = Field(default=3, ge=1)
    max_per_contact_per_week: int | None = Field(default=10, ge=1)
    cap_exempt: tuple[MessageKind, ...] = Field(default_factory=_transactional_kinds)
    dedupe_hours: float = Field(default=24.0, ge=0)

    @field_validator("chains")
    @classmethod
    def _known_kinds(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for kind in value:
            if kind != "default" and kind not in {k.value for k in MessageKind}:
                raise ValueError(f"unknown message kind {kind!r} (or 'default')")
        return value
