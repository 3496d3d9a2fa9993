"""Telling the enterprise about a step of its ticket: the extension notice (延期告知).

The message is one row written by :func:`hub.outbound.notify.notify_one` in the caller's
transaction, so the ``extended`` event and the notice commit together; the caller enqueues the
results after the commit (:func:`hub.outbound.notify.enqueue_notified`). It goes to the ticket's
contact, on the channel the request came in on when the contact has an address there, else along the
kind's channel chain.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import ChannelName, MessageKind, TicketEventType
from hub.outbound.notify import NotifyResult, Recipient, enterprise_context, notify_one
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.models import Contact, Ticket, TicketEvent
from hub.tickets.deadlines.rules import Deadline, deadline_phrase

NO_CONTACT_REASON = "工单没有联系人，未发送延期告知"


async def notify_extension(
    session: AsyncSession,
    ticket: Ticket,
    deadline: Deadline,
    *,
    reason: str,
    now: datetime,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
) -> list[NotifyResult]:
    """Write the extension notice for the latest extension; [] when there is nobody to tell.

    What became of it (queued, held until when, or not sent and why) is kept on the
    extension's ``extended`` event as ``notice``, so ``hub tickets extend`` and ``show`` say it.
    """
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    if contact is None:
        await _record_notice(session, ticket, None, NO_CONTACT_REASON)
        return []
    channel = ticket.channel
    if channel is not None and (
        channel.value not in policy.enabled_channels
        or (channel is not ChannelName.SANDBOX and not contact.address(channel))
    ):
        channel = None
    context = {
        **await enterprise_context(session, ticket.enterprise_id),
        "ticket_no": ticket.number,
        "reason": reason,
        "deadline": deadline_phrase(deadline.due_at, policy.tz),
        "extra_workdays": deadline.extensions[-1] if deadline.extensions else 0,
    }
    result = await notify_one(
        session, kind=MessageKind.EXTENSION_NOTICE, recipient=Recipient.for_contact(contact),
        context=context, trigger="ticket:extension",
        trigger_key=f"{ticket.id}:{len(deadline.extensions)}", now=now, renderer=renderer,
        policy=policy, channel=channel,
    )  # fmt: skip
    await _record_notice(session, ticket, result, result.reason)
    return [result]


async def _record_notice(
    session: AsyncSession, ticket: Ticket, result: NotifyResult | None, reason: str | None
) -> None:
    """Add the notice's outcome to the ticket's latest ``extended`` event (just recorded by
    :func:`hub.tickets.lifecycle.extend` in this transaction)."""
    event = await session.scalar(
        sa.select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.type == TicketEventType.EXTENDED)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )
    if event is None:
        return
    notice = {
        "message_id": result.message_id if result else None,
        "channel": result.channel.value if result and result.channel else None,
        "status": result.status.value if result and result.status else None,
        "reason": reason,
    }
    event.data = {**(event.data or {}), "notice": notice}  # a new dict: JSON is not mutable
