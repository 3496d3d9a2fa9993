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
import functools
import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.infra.queue import Queue
from hub.outbound.compose import compose_message
from hub.outbound.planning import PlanningPolicy, idempotency_key
from hub.outbound.quiet_hours import QuietHold
from hub.rendering.render import TemplateRenderer
from hub.store.dialect import dialect_name, insert_ignore
from hub.store.models import Contact, Department, Enterprise, EnterpriseTag, Message, Officer, Staff
from hub.store.models import InboundReply as StoredReply

_MESSAGE = cast(sa.Table, Message.__table__)
_IN_CHUNK: Final = 1_000  # keys per IN (...): under every driver's parameter cap


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


def officer_key(officer_id: int) -> str:
    """A liaison officer's name in a notice's idempotency key."""
    return f"officer:{officer_id}"


def officer_recipient(officer: Officer) -> Recipient:
    """A liaison officer as a notice's recipient: WeCom, Telegram or SMS."""
    return Recipient(
        key=officer_key(officer.id),
        name=officer.name,
        addresses={
            c: a
            for c, a in (
                (ChannelName.SMS, officer.mobile),
                (ChannelName.WECOM, officer.wecom_userid),
                (ChannelName.TELEGRAM, officer.telegram_chat_id),
            )
            if a
        },
    )


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
    """The variables every template gets about an enterprise and its officer (templates/README);
    blanks without an enterprise. Read as :func:`enterprise_contexts` reads many: by query,
    never through the enterprise's loaded relationships (an ``Enterprise`` a caller holds may
    have left its tags unloaded)."""
    if enterprise_id is not None:
        found = await enterprise_contexts(session, [enterprise_id])
        if enterprise_id in found:
            return found[enterprise_id]
    return {
        "enterprise": {"name": "", "uscc": "", "tier": "", "industry": "", "region": "",
                       "tags": ()},
        "officer_name": "",
        "officer_mobile": "",
    }  # fmt: skip


# enterprise_contexts' reads, built once (the inbound worker primes its contexts per chunk).
_ENTERPRISE_IDS: Final[sa.BindParameter[list[int]]] = sa.bindparam("ids", expanding=True)
_TAGS_OF: Final = (
    sa.select(EnterpriseTag.enterprise_id, EnterpriseTag.tag)
    .where(EnterpriseTag.enterprise_id.in_(_ENTERPRISE_IDS))
    .order_by(EnterpriseTag.enterprise_id, EnterpriseTag.tag)
)
_CONTEXT_ROWS: Final = (
    sa.select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.tier,
              Enterprise.industry, Enterprise.region, Officer.name, Officer.mobile)
    .outerjoin(Officer, Officer.id == Enterprise.officer_id)
    .where(Enterprise.id.in_(_ENTERPRISE_IDS))
)  # fmt: skip


async def enterprise_contexts(
    session: AsyncSession, enterprise_ids: Collection[int]
) -> dict[int, dict[str, Any]]:
    """:func:`enterprise_context` of many enterprises in a few reads (ids not found: absent)."""
    ids = sorted(set(enterprise_ids))
    contexts: dict[int, dict[str, Any]] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        tags: dict[int, list[str]] = {}
        for enterprise_id, tag in await session.execute(_TAGS_OF, {"ids": chunk}):
            tags.setdefault(enterprise_id, []).append(tag)
        for e in await session.execute(_CONTEXT_ROWS, {"ids": chunk}):
            contexts[e[0]] = {
                "enterprise": {"name": e[1], "uscc": e[2], "tier": e[3].label,
                               "industry": e[4], "region": e[5], "tags": tuple(tags.get(e[0], ()))},
                "officer_name": e[6] or "",
                "officer_mobile": e[7] or "",
            }  # fmt: skip
    return contexts


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
    extra_params: Mapping[str, Any] | None = None,
    known_new: bool = False,
) -> NotifyResult:
    """Route, render and insert one message (ON CONFLICT on its key: nothing new on a repeat).

    ``context`` is the template's variables; ``hub_name`` and ``contact.name`` are added.
    ``quiet=False``: quiet hours do not hold it (an answer the contact is waiting for).
    ``hold``: a hold the caller decided (a schedule's fire on a day off), instead of quiet hours'.
    ``extra_params``: merged into the row's params as it is inserted. ``known_new``: the
    caller knows no row has the key yet (the inbound worker applies a reply once), so it is
    inserted without looking first; a conflict still answers with the existing row.
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
    existing = None
    if not known_new:
        existing = (
            await session.execute(
                sa.select(Message.id, Message.status, Message.channel).where(
                    Message.idempotency_key == key
                )
            )
        ).one_or_none()
    if existing is not None:
        return NotifyResult(existing.id, False, existing.status, existing.channel)
    notice = Notice(kind, recipient, context, trigger, trigger_key)
    row, reason = _notice_row(notice, key, now, renderer, policy, channel, quiet, hold)
    if extra_params:  # channel-specific params the caller adds (an answer's quiet exemption)
        row["params"] = {**(row["params"] or {}), **extra_params}
    # The row as parameters, not values in the statement: one statement for every row.
    inserted = (await session.execute(_insert_one(dialect_name(session)), row)).one_or_none()
    if inserted is None:  # another writer got there between our read and insert
        found = (
            await session.execute(
                sa.select(Message.id, Message.status, Message.channel).where(
                    Message.idempotency_key == key
                )
            )
        ).one()
        return NotifyResult(found.id, False, found.status, found.channel)
    return NotifyResult(inserted.id, True, inserted.status, inserted.channel, reason)


@functools.cache
def _insert_one(dialect: str) -> sa.Insert:
    """:func:`notify_one`'s insert-ignore, built once per dialect: a statement built per
    message cost its cache key's walk each time (the inbound worker's answers)."""
    return insert_ignore(dialect, _MESSAGE).returning(
        _MESSAGE.c.id, _MESSAGE.c.status, _MESSAGE.c.channel
    )


def _notice_row(
    notice: Notice, key: str, now: datetime, renderer: TemplateRenderer,
    policy: PlanningPolicy, channel: ChannelName | None, quiet: bool, hold: QuietHold | None,
) -> tuple[dict[str, Any], str | None]:  # fmt: skip
    """The composed message row of one notice, and why it is not queued (if it is not)."""
    kind, recipient = notice.kind, notice.recipient
    values: dict[str, Any] = {
        **notice.context,
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
    return row, message.reason


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice of a batch (:func:`notify_many`): as :func:`notify_one`'s arguments."""

    kind: MessageKind
    recipient: Recipient
    context: Mapping[str, Any]
    trigger: str
    trigger_key: str

    def key(self) -> str:
        """Its message's idempotency key (as :func:`notify_one` derives it)."""
        r = self.recipient
        return idempotency_key(self.trigger, f"{self.trigger_key}|{r.key}",
                               r.enterprise_id or 0, r.contact_id, self.kind.value)  # fmt: skip


async def notify_many(
    session: AsyncSession,
    notices: Sequence[Notice],
    *,
    now: datetime,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
    hold: QuietHold | None = None,
) -> list[NotifyResult]:
    """:func:`notify_one` for many notices in one read of the keys on record and one insert
    (quiet hours or ``hold`` apply to each); their results, in order. A notice whose key is
    on record (or earlier in the batch) creates nothing."""
    keys = [n.key() for n in notices]
    found: dict[str, NotifyResult] = {}
    for start in range(0, len(keys), _IN_CHUNK):
        for on_record in await session.execute(
            sa.select(Message.idempotency_key, Message.id, Message.status, Message.channel)
            .where(Message.idempotency_key.in_(keys[start : start + _IN_CHUNK]))
        ):  # fmt: skip
            found[on_record[0]] = NotifyResult(on_record[1], False, on_record[2], on_record[3])
    rows: list[dict[str, Any]] = []
    reasons: dict[str, str | None] = {}
    for notice, key in zip(notices, keys, strict=True):
        if key not in found and key not in reasons:
            row, reasons[key] = _notice_row(notice, key, now, renderer, policy, None, True, hold)
            rows.append(row)
    created: dict[str, NotifyResult] = {}
    if rows:
        stmt = insert_ignore(session, _MESSAGE).returning(
            _MESSAGE.c.idempotency_key, _MESSAGE.c.id, _MESSAGE.c.status, _MESSAGE.c.channel
        )
        for key, message_id, status, channel in (await session.execute(stmt, rows)).all():
            created[key] = NotifyResult(message_id, True, status, channel, reasons[key])
    results: list[NotifyResult] = []
    for key in keys:
        if key in created:
            # Only the first notice under a key created its row; a repeat in the batch did not.
            results.append(created.pop(key))
            found[key] = dataclasses.replace(results[-1], created=False, reason=None)
        elif key in found:
            results.append(found[key])
        else:  # another writer got there between our read and insert
            other = (
                await session.execute(
                    sa.select(Message.id, Message.status, Message.channel).where(
                        Message.idempotency_key == key
                    )
                )
            ).one()
            found[key] = NotifyResult(other.id, False, other.status, other.channel)
            results.append(found[key])
    return results


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
