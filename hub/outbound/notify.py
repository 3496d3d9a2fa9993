"""One message to one recipient (a contact, a staff member, a department head), on record.

The outbox (:mod:`hub.outbound.outbox`) sends a trigger to an audience of enterprises. The closed
loop also needs single messages — a deadline reminder to a handler, an escalation to a department
head, a rating reminder or callback survey to one contact — and they follow the same rules:
the Message row is the truth, its idempotency key makes repeating the call harmless, it is
routed, rendered and held by quiet hours by the same :func:`~hub.outbound.compose.compose_message`
along the kind's channel chain (``routing.chains``), a recipient without a usable address is
recorded as ``skipped`` with the reason.

:func:`notify_one` writes the row inside the caller's transaction (so the message and the
ticket event that caused it commit together); after the commit the caller hands the results to
:func:`enqueue_notified`. A row committed but never enqueued (a crash in between) is found by
the reconciler (:func:`hub.outbound.outbox.requeue_stale`).

Single messages are transactional: frequency caps and the same-content window do not apply
(the kinds sent this way are in ``routing.cap_exempt`` by default).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.compose import compose_message
from hub.outbound.planning import PlanningPolicy, idempotency_key
from hub.outbound.quiet_hours import QuietHold
from hub.rendering.render import TemplateRenderer
from hub.store.dialect import insert_ignore
from hub.store.models import Contact, Department, Enterprise, Message, Officer, Staff
from hub.store.models import InboundReply as StoredReply

_MESSAGE = cast(sa.Table, Message.__table__)


@dataclass(frozen=True, slots=True)
class _OptOut:
    channel: ChannelName
    kind: str


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who one message goes to, with an address per channel.

    ``key`` names the recipient in the idempotency key (``contact:12``, ``staff:3``,
    ``head:4``). Also quacks like a :class:`Contact` for routing (``address``,
    ``preferred_channel``, ``opt_outs``).
    """

    key: str
    name: str = ""
    enterprise_id: int | None = None
    contact_id: int | None = None
    staff_id: int | None = None
    addresses: Mapping[ChannelName, str] = field(default_factory=dict)
    preferred_channel: ChannelName | None = None
    opt_outs: tuple[_OptOut, ...] = ()

    def address(self, channel: ChannelName) -> str | None:
        found = self.addresses.get(channel)
        if found is None and channel is ChannelName.SANDBOX:
            # The sandbox takes any address: the mobile, else the recipient's key.
            return self.addresses.get(ChannelName.SMS) or self.key
        return found

    @classmethod
    def on_channel(
        cls,
        channel: ChannelName,
        address: str,
        *,
        contact_id: int | None = None,
        enterprise_id: int | None = None,
        name: str = "",
    ) -> Recipient:
        """A fixed channel and address (an answer on the channel a reply came on, also for a
        sender who is no known contact); pass ``channel=`` to :func:`notify_one` as well to
        keep routing on it."""
        return cls(
            key=f"{channel.value}:{address}",
            name=name,
            enterprise_id=enterprise_id,
            contact_id=contact_id,
            addresses={channel: address},
        )

    @classmethod
    def for_contact(cls, contact: Contact) -> Recipient:
        """An enterprise's contact (opt-outs apply)."""
        addresses = {
            c: a
            for c in (ChannelName.SMS, ChannelName.WECHAT, ChannelName.WECOM, ChannelName.TELEGRAM)
            if (a := contact.address(c))
        }
        return cls(
            key=f"contact:{contact.id}",
            name=contact.name or "",
            enterprise_id=contact.enterprise_id,
            contact_id=contact.id,
            addresses=addresses,
            preferred_channel=contact.preferred_channel,
            opt_outs=tuple(_OptOut(o.channel, o.kind) for o in contact.opt_outs),
        )

    @classmethod
    def for_staff(cls, staff: Staff) -> Recipient:
        """A staff member (handler, head): WeCom, Telegram or SMS."""
        return cls(
            key=f"staff:{staff.id}",
            name=staff.name,
            staff_id=staff.id,
            addresses=_staff_addresses(staff.mobile, staff.wecom_userid, staff.telegram_chat_id),
        )

    @classmethod
    def for_department_head(cls, department: Department) -> Recipient:
        """A department's head as entered on the department (no staff account needed)."""
        return cls(
            key=f"head:{department.id}",
            name=department.head_name or department.name,
            addresses=_staff_addresses(department.head_mobile, department.head_wecom_userid, None),
        )

    @property
    def reachable(self) -> bool:
        return bool(self.addresses)


def _staff_addresses(
    mobile: str | None, wecom: str | None, telegram: str | None
) -> dict[ChannelName, str]:
    pairs = (
        (ChannelName.SMS, mobile),
        (ChannelName.WECOM, wecom),
        (ChannelName.TELEGRAM, telegram),
    )
    return {c: a for c, a in pairs if a}


@dataclass(frozen=True, slots=True)
class NotifyResult:
    """The row of one notification: ``created`` False when the key was there already."""

    message_id: int | None
    created: bool
    status: MessageStatus | None
    channel: ChannelName | None
    reason: str | None = None


async def enterprise_context(session: AsyncSession, enterprise_id: int | None) -> dict[str, Any]:
    """The variables every template gets about an enterprise and its officer (templates/README)."""
    context: dict[str, Any] = {
        "enterprise": {
            "name": "",
            "uscc": "",
            "tier": "",
            "industry": "",
            "region": "",
            "tags": (),
        },
        "officer_name": "",
        "officer_mobile": "",
    }
    if enterprise_id is None:
        return context
    enterprise = await session.get(Enterprise, enterprise_id)
    if enterprise is None:
        return context
    context["enterprise"] = {
        "name": enterprise.name,
        "uscc": enterprise.uscc,
        "tier": enterprise.tier.label,
        "industry": enterprise.industry,
        "region": enterprise.region,
        "tags": enterprise.tag_names,
    }
    if enterprise.officer_id is not None:
        officer = await session.get(Officer, enterprise.officer_id)
        if officer is not None:
            context["officer_name"] = officer.name
            context["officer_mobile"] = officer.mobile or ""
    return context


async def notify_one(
    session: AsyncSession,
    *,
    kind: MessageKind,
    recipient: Recipient,
    context: Mapping[str, Any],
    trigger: str,
    trigger_key: str,
    now: datetime,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
    channel: ChannelName | None = None,
    quiet: bool = True,
    hold: QuietHold | None = None,
) -> NotifyResult:
    """Route, render and insert one message (ON CONFLICT on its key: nothing new on a repeat).

    ``context`` is the template's variables; ``hub_name`` and ``contact.name`` are added.
    ``quiet=False``: quiet hours do not hold it (an answer the contact is waiting for).
    ``hold``: a hold the caller decided (a schedule's fire on a day off), instead of quiet hours'.
    ``RenderError`` when the kind has no template on a routed channel (the caller's mistake);
    a template that cannot render this recipient's data is recorded as a skipped row.
    """
    key = idempotency_key(
        trigger,
        f"{trigger_key}|{recipient.key}",
        recipient.enterprise_id or 0,
        recipient.contact_id,
        kind.value,
    )
    existing = (
        await session.execute(
            sa.select(Message.id, Message.status, Message.channel).where(
                Message.idempotency_key == key
            )
        )
    ).one_or_none()
    if existing is not None:
        return NotifyResult(existing.id, False, existing.status, existing.channel)
    values: dict[str, Any] = {
        **context,
        "hub_name": policy.hub_name,
        "contact": {"name": recipient.name},
    }
    message = compose_message(
        cast(Contact, recipient),
        kind.value,
        policy.chain(kind, channel),
        values,
        renderer,
        enabled=policy.enabled_channels,
    )
    if quiet:
        message = message.held(hold or policy.quiet_hold(kind, now))
    row: dict[str, Any] = {
        "idempotency_key": key,
        "kind": kind,
        "enterprise_id": recipient.enterprise_id,
        "contact_id": recipient.contact_id,
        "staff_id": recipient.staff_id,
        "channel": message.channel,
        "address": message.address,
        "status": message.status,
        "status_reason": message.reason,
        "body": message.body,
        "params": message.stored_params(),
        "template_version_id": message.template_version_id,
        "next_attempt_at": message.release_at,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }
    stmt = insert_ignore(session, _MESSAGE, row).returning(
        _MESSAGE.c.id, _MESSAGE.c.status, _MESSAGE.c.channel
    )
    inserted = (await session.execute(stmt)).one_or_none()
    if inserted is None:  # another writer got there between our read and insert
        found = (
            await session.execute(
                sa.select(Message.id, Message.status, Message.channel).where(
                    Message.idempotency_key == key
                )
            )
        ).one()
        return NotifyResult(found.id, False, found.status, found.channel)
    return NotifyResult(inserted.id, True, inserted.status, inserted.channel, message.reason)


async def enqueue_notified(queue: Queue, results: Iterable[NotifyResult]) -> list[int]:
    """Put the newly created, queued messages on their channels' streams (after the commit)."""
    queued: list[tuple[int, ChannelName]] = []
    for r in results:
        if r.created and r.status is MessageStatus.QUEUED and r.message_id is not None:
            assert r.channel is not None
            queued.append((r.message_id, r.channel))
    return await queue.enqueue_by_channel(queued)


def reply_recipient(reply: StoredReply, contact: Contact | None) -> Recipient:
    """Who answers to ``reply`` go to: its sender, on its channel only.

    A known contact keeps its opt-outs (an unsubscribed channel is not answered on); an
    unknown sender is keyed by a hash of channel and address (no personal data in keys).
    """
    channel = ChannelName(reply.channel)
    # The sandbox delivers by mobile (Recipient.address reads the SMS address for it).
    on = ChannelName.SMS if channel is ChannelName.SANDBOX else channel
    addresses: dict[ChannelName, str] = {on: reply.sender}
    if contact is not None:
        base = Recipient.for_contact(contact)
        return dataclasses.replace(base, addresses=addresses, preferred_channel=None)
    digest = hashlib.sha256(f"{channel.value}\x1f{reply.sender}".encode()).hexdigest()[:16]
    return Recipient(key=f"sender:{digest}", addresses=addresses)
