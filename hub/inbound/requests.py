"""Applying a ``request`` or a ``handover`` (人工): the reply becomes or joins a ticket.

Called by :class:`hub.inbound.apply.ReplyApplier` inside the reply's transaction.

- ``request``: appended to the ticket it names or to the enterprise's open ticket within the
  append window, else a new ticket; acknowledged on the same channel with the number. With an
  assistant (:mod:`hub.inbound.assistant`): a new ticket's question is asked of the knowledge
  base, answered at once (``auto_answer``, the ticket resolved by the assistant) when the hub
  is sure, else kept with the suggestions for the handler; a question following up an
  automatic answer awaiting its rating reopens that ticket to a person.
- ``handover`` (人工): the contact's automatically answered ticket awaiting its rating is
  reopened to its department (``ticket_ack`` with the status and deadline); with none, the help
  text.

A request from an unknown sender opens a ticket without enterprise or contact (the reply's
channel and address are its reply path); without an address it is only recorded.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import ChannelName
from hub.inbound.answers import Answerer
from hub.inbound.assistant import Assistant, Awaiting, verdict_record
from hub.inbound.chunk import ChunkFacts
from hub.inbound.classify.classifier import Classification
from hub.inbound.outcome import Applied
from hub.store.models import Contact, Ticket
from hub.store.models import InboundReply as StoredReply
from hub.tickets import lifecycle as tickets
from hub.tickets.policy import CachedTicketPolicy

__all__ = ["ACTOR", "NO_HANDOVER_TEXT", "RequestApplier"]

ACTOR: Final = "inbound"
NO_HANDOVER_TEXT: Final = (
    "您目前没有待转人工的智能答复。如需反映问题，请直接回复文字说明，"
    "我们将登记为工单由工作人员办理。"
)


class RequestApplier:
    """Requests and handovers (see the module docstring)."""

    def __init__(
        self, answerer: Answerer, assistant: Assistant | None, policies: CachedTicketPolicy
    ) -> None:
        self.answerer = answerer
        self.assistant = assistant
        self.policies = policies

    async def request(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None,
        found: Classification, now: datetime, facts: ChunkFacts | None, known: ChunkFacts | None,
    ) -> Applied:  # fmt: skip
        """A request: appended to an open ticket, or a new ticket (maybe answered at once).
        ``facts``: the chunk's (its routing); ``known``: the same while they hold for the reply."""
        if contact is None and not reply.sender.strip():
            return Applied("发送人不明且没有回复地址，只作记录，未建工单")
        body = reply.text
        if found.media_kind is not None:
            body = f"[{found.media_kind}] {found.media_ref}" + (f" {reply.text}" if reply.text
                                                                  else "")  # fmt: skip
        target = await self._appendable(session, reply, contact, found, now, known)
        if target is not None:
            await _append(session, target, body, reply, now)
            answer = await self.answerer.ticket_status(session, reply, contact, target, "ack",
                                                       "已补充到原诉求", now)  # fmt: skip
            return Applied(f"补充到工单 {target.number}", ticket_id=target.id, answers=[answer])
        assistant = self.assistant if found.media_kind is None else None
        verdict = await assistant.ask(session, reply.text, now) if assistant else None
        if assistant is not None and contact is not None and verdict is not None:
            followed = assistant.follow_up_of(
                await self._awaiting(session, contact, known), verdict,
                await self.policies.get(session), now,
            )  # fmt: skip
            if followed is not None:
                return await self._follow_up(session, reply, contact, followed, body, now)
        answering = (
            assistant is not None and contact is not None and verdict is not None
            and assistant.will_answer(verdict, reply, contact)
        )  # fmt: skip
        # A question the hub answers goes to the office behind the answer; others are routed.
        routing = facts.routing if facts is not None else None
        owner = (
            await assistant.answering_department(
                session, verdict, departments=routing.departments if routing else None
            )
            if answering and assistant is not None and verdict is not None
            else None
        )  # fmt: skip
        ticket = await tickets.open_ticket(
            session, policy=await self.policies.get(session), now=now, body=body,
            channel=ChannelName(reply.channel), enterprise_id=reply.enterprise_id,
            contact_id=contact.id if contact is not None else None, source_reply_id=reply.id,
            received_at=reply.received_at, actor=ACTOR, department=owner, routed_by="answer",
            routing=routing, link_reply=False, flush=False,
        )  # fmt: skip
        if assistant is not None and verdict is not None:
            if answering and contact is not None:
                sent, row = await assistant.answer(session, reply, contact, ticket, verdict, now)
                return Applied(f"新建工单 {ticket.number}，智能答复（{row.entry_id}）并办结",
                               ticket=ticket, answers=[sent],
                               data={"auto_answer": verdict_record(verdict, True)})  # fmt: skip
            assistant.record(session, reply, ticket, verdict, now, answered=False)
        answer = await self.answerer.ticket_status(session, reply, contact, ticket, "ack",
                                                   "已受理", now)  # fmt: skip
        outcome = f"新建工单 {ticket.number}"
        if contact is None:
            outcome += "（发送人不是登记的联系人，需人工确认企业）"
        applied = Applied(outcome, ticket=ticket, answers=[answer])
        if verdict is not None:
            applied.data["auto_answer"] = verdict_record(verdict, False)
        return applied

    async def _follow_up(
        self, session: AsyncSession, reply: StoredReply, contact: Contact, ticket: Ticket,
        body: str, now: datetime,
    ) -> Applied:  # fmt: skip
        """A question after an automatic answer: the ticket goes to a person with it added."""
        assert self.assistant is not None
        await self.assistant.hand_over(session, ticket, "follow_up", actor=ACTOR, now=now)
        await _append(session, ticket, body, reply, now)
        answer = await self.answerer.ticket_status(session, reply, contact, ticket, "ack",
                                                   "已补充到原诉求，转人工办理", now)  # fmt: skip
        return Applied(f"追问智能答复，补充到工单 {ticket.number} 并转人工办理",
                       ticket_id=ticket.id, answers=[answer])  # fmt: skip

    async def handover(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None, now: datetime,
        known: ChunkFacts | None,
    ) -> Applied:  # fmt: skip
        """人工: the contact's automatic answer awaiting a rating goes to its department."""
        found = None
        if self.assistant is not None and contact is not None:
            found = await self._awaiting(session, contact, known)
        if found is None:
            answer = await self.answerer.notice(session, reply, contact, "handover",
                                                NO_HANDOVER_TEXT, now)  # fmt: skip
            return Applied("没有待转人工的智能答复，已告知", answers=[answer])
        assert self.assistant is not None
        assert contact is not None
        ticket = await self.assistant.hand_over(session, found.ticket, "human",
                                                actor=f"contact:{contact.id}", now=now)  # fmt: skip
        answer = await self.answerer.ticket_status(session, reply, contact, ticket, "handover",
                                                   "已转人工服务，由承办部门办理", now)  # fmt: skip
        return Applied(f"工单 {ticket.number} 转人工办理", ticket_id=ticket.id, answers=[answer])

    async def _awaiting(
        self, session: AsyncSession, contact: Contact, known: ChunkFacts | None
    ) -> Awaiting | None:
        """The contact's automatic answer awaiting a rating (from the chunk's facts if they
        hold)."""
        if known is not None:
            return known.auto_awaiting.get(contact.id)
        assert self.assistant is not None
        return await self.assistant.awaiting(session, contact.id)

    async def _appendable(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None,
        found: Classification, now: datetime, known: ChunkFacts | None,
    ) -> Ticket | None:  # fmt: skip
        """The ticket a request adds to: the one it names (the enterprise's, not closed), else
        the enterprise's open ticket within the append window; unknown senders always new."""
        if reply.enterprise_id is None or contact is None:
            return None
        if found.ticket_number is not None:
            named = await tickets.ticket_by_number(session, found.ticket_number)
            if (
                named is not None
                and named.enterprise_id == reply.enterprise_id
                and (named.state in tickets.OPEN_STATES)
            ):
                return named
        policy = await self.policies.get(session)
        if known is not None:
            return known.appendable(
                reply.enterprise_id, now - timedelta(hours=policy.tickets.append_window_hours)
            )
        return await tickets.find_appendable_ticket(
            session, policy=policy, enterprise_id=reply.enterprise_id, contact_id=contact.id,
            now=now,
        )  # fmt: skip


async def _append(
    session: AsyncSession, ticket: Ticket, body: str, reply: StoredReply, now: datetime
) -> None:
    """The reply's text added to the ticket (the worker records the ticket on the reply)."""
    await tickets.append_to_ticket(session, ticket, body=body, source_reply_id=reply.id, now=now,
                                   actor=ACTOR, link_reply=False)  # fmt: skip
