"""On resolve: the enterprise gets the answer and a rating request (办理结果反馈 + 好差评).

:func:`send_feedback` is called by whoever resolves a ticket (``hub tickets resolve``, the API,
tests), in the same write transaction right after :func:`hub.tickets.lifecycle.resolve`; after the
commit the caller enqueues the results with :func:`hub.outbound.notify.enqueue_notified`. It
writes:

- a ``rating_link`` row: a short token for the rating page ``/r/{token}``
  (:mod:`hub.web.rating_page`), which needs an explicit submit, so a link scanner opening it
  rates nothing; one live link per ticket (a repeated call reuses it);
- one ``ticket_feedback`` message, on the channel the ticket came in on (else the routing
  chain), through :func:`hub.outbound.notify.notify_one`: the answer, the five levels
  "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意" as numbered choices (the template
  prints them) and the link; beside the text it asks for a rating (:func:`choice_params`:
  intent, not buttons) and names the page, and each channel draws that its own way: Telegram
  inline buttons (``rate:N:<number>``), WeCom a button card (keys ``rating:N``, task id
  ``rating_<number>_r<round>_<token>``) whose click opens the rating page, a WeChat template
  message that opens it; SMS and the sandbox keep the text;
- ``ticket.rating_requested_at`` and a ``rating_requested`` event.

A ticket with no contact is answered where its request came from (the source reply's channel
and address); with neither, nothing is sent and the event says so.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from channels.base import Choices
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketEventType
from hub.outbound.notify import (
    NotifyResult,
    Recipient,
    enterprise_context,
    notify_one,
    reply_recipient,
)
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.rendering.template_spec import WECHAT_FIELD_MAX_CHARS
from hub.store.models import Contact, Department, Message, RatingLink, Ticket, TicketEvent
from hub.store.models import InboundReply as StoredReply

__all__ = ["FeedbackSender", "choice_params", "rating_url", "send_feedback"]

TRIGGER: Final = "feedback"
#: How long a rating link works by default (``tickets.rating_link_valid_days``).
LINK_TTL: Final = timedelta(days=30)
SUMMARY_CHARS: Final = WECHAT_FIELD_MAX_CHARS  # the summary fills a WeChat template field


@dataclass(frozen=True, slots=True)
class FeedbackSender:
    """What sending feedback needs: the templates, the routing policy, the public base URL."""

    renderer: TemplateRenderer
    policy: PlanningPolicy
    public_base_url: str
    link_ttl: timedelta = LINK_TTL


def rating_url(base_url: str, token: str) -> str:
    """The rating page of a link token."""
    return f"{base_url.rstrip('/')}/r/{token}"


def choice_params(
    *, number: str, token: str, url: str, answer: str, round_no: int = 0
) -> dict[str, Any]:
    """What the feedback carries besides its text, on every channel: the rating it asks for
    (:class:`channels.base.Choices`, which each channel draws) and the page to open.

    The ask id (a WeCom card's task id, unique per app) carries the resolution's round: a
    ticket reopened and resolved again asks again, with the same live link.
    """
    choices = Choices(
        "rating", ref=number, ask_id=f"rating_{number}_r{round_no}_{token}",
        title=f"诉求 {number} 已办结，请评价", detail=answer[:100],
    )  # fmt: skip
    return {"choices": choices.to_params(), "url": url}


async def send_feedback(
    session: AsyncSession,
    ticket: Ticket,
    *,
    answer: str,
    now: datetime,
    sender: FeedbackSender,
    actor: str = "system",
) -> list[NotifyResult]:
    """The answer and the rating request for a ticket just resolved (see the module docstring)."""
    recipient, channel = await _recipient(session, ticket, sender.policy.enabled_channels)
    if recipient is None:
        session.add(TicketEvent(
            ticket_id=ticket.id, type=TicketEventType.RATING_REQUESTED, actor=actor, at=now,
            reason="工单没有联系人，也没有来信地址，未发送评价邀请", data={"sent": False},
        ))  # fmt: skip
        return []
    token = await _link(session, ticket, now, sender.link_ttl)
    url = rating_url(sender.public_base_url, token)
    context = await enterprise_context(session, ticket.enterprise_id)
    context.update(
        ticket_no=ticket.number, department=await _department(session, ticket),
        result_summary=_summary(answer), answer=answer, rating_url=url,
    )  # fmt: skip
    result = await notify_one(
        session, kind=MessageKind.TICKET_FEEDBACK, recipient=recipient, context=context,
        trigger=TRIGGER, trigger_key=f"{ticket.id}:{ticket.reopen_count}", now=now,
        renderer=sender.renderer, policy=sender.policy, channel=channel,
    )  # fmt: skip
    if result.created and result.message_id is not None:
        extra = {"number": ticket.number, "token": token, "url": url, "answer": answer,
                 "round_no": ticket.reopen_count}  # fmt: skip
        await _add_channel_params(session, result.message_id, extra)
    ticket.rating_requested_at = now
    session.add(TicketEvent(
        ticket_id=ticket.id, type=TicketEventType.RATING_REQUESTED, actor=actor, at=now,
        reason=_requested_reason(result),
        data={"message_id": result.message_id, "channel": result.channel.value
              if result.channel else None, "status": result.status.value if result.status
              else None, "reason": result.reason},
    ))  # fmt: skip
    return [result]


def _requested_reason(result: NotifyResult) -> str:
    """The event's reason, as ``hub tickets show`` lists it: held ones say until when."""
    if result.status is MessageStatus.HELD and result.reason:
        return f"办理结果与评价邀请暂缓发送：{result.reason}"
    if result.status is MessageStatus.SKIPPED and result.reason:
        return f"办理结果与评价邀请未发送：{result.reason}"
    return "发送办理结果与评价邀请"


async def _recipient(
    session: AsyncSession, ticket: Ticket, enabled: frozenset[str]
) -> tuple[Recipient | None, ChannelName | None]:
    """The contact on the ticket's channel (its chain when that channel is off or the contact
    has no address there), else the sender of the ticket's source reply on that reply's
    channel."""
    if ticket.contact_id is not None:
        contact = await session.get(Contact, ticket.contact_id)
        if contact is not None:
            channel = ticket.channel
            if channel is not None and (
                channel.value not in enabled
                or (channel is not ChannelName.SANDBOX and not contact.address(channel))
            ):
                channel = None  # the routing chain instead
            return Recipient.for_contact(contact), channel
    if ticket.source_reply_id is not None:
        reply = await session.get(StoredReply, ticket.source_reply_id)
        if reply is not None and reply.sender.strip():
            return reply_recipient(reply, None), ChannelName(reply.channel)
    return None, None


async def _link(session: AsyncSession, ticket: Ticket, now: datetime, ttl: timedelta) -> str:
    """The ticket's live rating link, or a new one (a 12-character token, 72 random bits)."""
    live = await session.scalar(
        sa.select(RatingLink.token)
        .where(RatingLink.ticket_id == ticket.id, RatingLink.used_at.is_(None),
               RatingLink.expires_at > now)
        .order_by(RatingLink.created_at.desc())
        .limit(1)
    )  # fmt: skip
    if live is not None:
        return str(live)
    token = secrets.token_urlsafe(9)
    session.add(RatingLink(token=token, ticket_id=ticket.id, contact_id=ticket.contact_id,
                           created_at=now, expires_at=now + ttl))  # fmt: skip
    await session.flush()
    return token


async def _department(session: AsyncSession, ticket: Ticket) -> str:
    if ticket.department_id is not None:
        department = await session.get(Department, ticket.department_id)
        if department is not None:
            return department.name
    return "承办部门"


def _summary(answer: str) -> str:
    """The answer's first sentence, at most a WeChat template field's length (20 characters)."""
    first = answer.strip().replace("\n", " ")
    for mark in "。；;！!":
        first = first.split(mark, 1)[0]
    return (first[: SUMMARY_CHARS - 1] + "…") if len(first) > SUMMARY_CHARS else first or "已办结"


async def _add_channel_params(
    session: AsyncSession, message_id: int, extra: Mapping[str, Any]
) -> None:
    """The rating asked for and the page, on the message and each fallback (same transaction)."""
    message = await session.get(Message, message_id)
    if message is None:
        return
    more = choice_params(**extra)
    params: dict[str, Any] = {**dict(message.params or {}), **more}
    fallbacks = params.get("fallbacks")
    if isinstance(fallbacks, list):
        params["fallbacks"] = [
            {**f, "params": {**dict(f.get("params") or {}), **more}} for f in fallbacks
        ]
    message.params = params
