"""Answers to an enterprise's reply, on the SAME channel and address the reply came from.

Every answer is a Message row written in the inbound worker's transaction through
:func:`hub.outbound.notify.notify_one` (the outbox is the truth); its idempotency key is built from
the reply's id and the answer's purpose (``ack``, ``help``, ``query`` …), so processing a reply
again writes nothing new. After the commit the worker enqueues the new rows
(:func:`hub.outbound.notify.enqueue_notified`), and the dispatcher sends them.

SMS providers send only approved templates: an answer whose kind has no template on the
reply's channel (``notice`` — help and free-text answers — on SMS) is not written, and the
reason is kept in the reply's classification record instead.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import ChannelName, MessageKind
from hub.outbound.notify import (
    NotifyResult,
    enterprise_context,
    enterprise_contexts,
    notify_one,
    reply_recipient,
)
from hub.outbound.planning import PlanningPolicy
from hub.outbound.quiet_hours import QUIET_EXEMPT_UNTIL
from hub.rendering.render import TemplateRenderer
from hub.store.models import Contact, Ticket
from hub.store.models import InboundReply as StoredReply
from hub.tickets.deadlines.rules import deadline_phrase

__all__ = ["Answer", "Answerer"]

#: The trigger every answer to a reply is recorded under (the key adds the reply id).
TRIGGER = "reply"
CONTEXT_TTL_S = 60.0
CONTEXT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class Answer:
    """What became of one answer: the message row, or why there is none."""

    purpose: str
    kind: MessageKind
    result: NotifyResult | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"purpose": self.purpose, "kind": self.kind.value}
        if self.result is not None:
            data["message_id"] = self.result.message_id
            data["status"] = self.result.status.value if self.result.status else None
        if self.reason or (self.result is not None and self.result.reason):
            data["reason"] = self.reason or (self.result.reason if self.result else None)
        return data


@dataclass(frozen=True, slots=True)
class Answerer:
    """Writes answers to replies with the deployment's templates and routing policy.

    The enterprise part of a template's context (name, tier, tags, officer) is kept for a
    minute per enterprise: a busy enterprise's replies then cost no ORM load of the
    enterprise with its contacts and tags each (the inbound benchmark's largest cost).
    """

    renderer: TemplateRenderer
    policy: PlanningPolicy
    _contexts: dict[int | None, tuple[float, dict[str, Any]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @property
    def tz(self) -> ZoneInfo:
        return self.policy.tz

    def can_answer(self, kind: MessageKind, channel: ChannelName) -> bool:
        """Whether ``kind`` has a template on ``channel`` (SMS needs an approved one: the
        default text of a free-text kind such as ``notice`` renders, but no provider sends it)."""
        spec = self.renderer.catalog.get(kind.value, channel.value)
        if spec is None:
            return False
        return spec.approved_sms if channel is ChannelName.SMS else True

    async def answer(
        self,
        session: AsyncSession,
        reply: StoredReply,
        contact: Contact | None,
        *,
        purpose: str,
        kind: MessageKind,
        variables: Mapping[str, Any],
        now: datetime,
        extra_params: Mapping[str, Any] | None = None,
    ) -> Answer:
        """One answer to ``reply`` (at most one per reply and purpose)."""
        channel = ChannelName(reply.channel)
        if not self.can_answer(kind, channel):
            return Answer(purpose, kind, None, f"{channel.label}渠道没有“{kind.label}”模板，未回复")
        context = await self.enterprise_context(session, reply.enterprise_id)
        context.update(variables)
        # The contact just wrote and is waiting: quiet hours do not hold the answer.
        waited_for_until = reply.received_at + timedelta(
            minutes=self.policy.quiet_hours.answer_within_minutes
        )
        quiet = now >= waited_for_until
        if not quiet:
            # Nor a rate-limit retry of it while the contact still waits (hub.outbound.dispatch).
            exempt = {QUIET_EXEMPT_UNTIL: waited_for_until.isoformat()}
            extra_params = {**(extra_params or {}), **exempt}
        # Without flushing what the reply left pending first (its new ticket, its events): the
        # message refers to none of it, and the chunk's end flushes a whole chunk's at once.
        with session.no_autoflush:
            result = await notify_one(
                session, kind=kind, recipient=reply_recipient(reply, contact), context=context,
                trigger=TRIGGER, trigger_key=f"{reply.id}:{purpose}", now=now,
                renderer=self.renderer, policy=self.policy, channel=channel, quiet=quiet,
                extra_params=extra_params, known_new=True,
            )  # fmt: skip
        return Answer(purpose, kind, result)

    async def ticket_state(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None, ticket: Ticket,
        now: datetime,
    ) -> Answer:  # fmt: skip
        """The ticket's state and deadline, answering a progress query (one per ticket)."""
        status = f"当前状态：{ticket.state.label}"
        return await self.ticket_status(session, reply, contact, ticket, f"query:{ticket.number}",
                                        status, now)  # fmt: skip

    async def ticket_status(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None, ticket: Ticket,
        purpose: str, status: str, now: datetime, *, deadline: datetime | None = None,
    ) -> Answer:  # fmt: skip
        """A ``ticket_ack``: the ticket's number, ``status`` and deadline (``deadline`` or the
        ticket's own)."""
        variables = {
            "ticket_no": ticket.number, "status": status,
            "deadline": deadline_phrase(deadline or ticket.deadline_at, self.tz),
        }  # fmt: skip
        return await self.answer(session, reply, contact, purpose=purpose,
                                 kind=MessageKind.TICKET_ACK, variables=variables,
                                 now=now)  # fmt: skip

    async def ask_which(
        self, session: AsyncSession, reply: StoredReply, contact: Contact,
        numbers: tuple[str, ...], now: datetime,
    ) -> Answer:  # fmt: skip
        """A ``rating_reminder`` asking which of the tickets ``numbers`` a bare rating rates."""
        variables = {"tickets": "、".join(numbers), "first_ticket": numbers[0]}
        return await self.answer(session, reply, contact, purpose="which",
                                 kind=MessageKind.RATING_REMINDER, variables=variables,
                                 now=now)  # fmt: skip

    async def notice(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None, purpose: str,
        text: str, now: datetime,
    ) -> Answer:  # fmt: skip
        """A free-text ``notice`` (not on SMS, which sends approved templates only)."""
        return await self.answer(session, reply, contact, purpose=purpose,
                                 kind=MessageKind.NOTICE, variables={"text": text},
                                 now=now)  # fmt: skip

    async def prime(self, session: AsyncSession, enterprise_ids: Collection[int]) -> None:
        """Remember the contexts of many enterprises not remembered now: two reads in all
        (the inbound worker, before a chunk of replies)."""
        moment = time.monotonic()
        missing = [e for e in set(enterprise_ids) if (cached := self._contexts.get(e)) is None
                   or moment - cached[0] >= CONTEXT_TTL_S]  # fmt: skip
        if not missing:
            return
        if len(self._contexts) + len(missing) > CONTEXT_CACHE_SIZE:
            self._contexts.clear()
        for enterprise_id, context in (await enterprise_contexts(session, missing)).items():
            self._contexts[enterprise_id] = (moment, context)

    async def enterprise_context(
        self, session: AsyncSession, enterprise_id: int | None
    ) -> dict[str, Any]:
        """:func:`hub.outbound.notify.enterprise_context`, remembered for ``CONTEXT_TTL_S``."""
        cached = self._contexts.get(enterprise_id)
        if cached is not None and time.monotonic() - cached[0] < CONTEXT_TTL_S:
            return _own_copy(cached[1])
        if len(self._contexts) > CONTEXT_CACHE_SIZE:
            self._contexts.clear()
        context = await enterprise_context(session, enterprise_id)
        self._contexts[enterprise_id] = (time.monotonic(), _own_copy(context))
        return context


def _own_copy(context: dict[str, Any]) -> dict[str, Any]:
    """A remembered enterprise context the caller may change: its top level and the
    ``enterprise`` mapping are copied (every other value is a string or a tuple), without
    ``copy.deepcopy``'s walk."""
    return {**context, "enterprise": dict(context["enterprise"])}
