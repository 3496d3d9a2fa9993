"""The assistant: a question in a reply answered from the knowledge base, or handed to a person.

Called by :mod:`hub.inbound.apply` inside the reply's transaction, for a ``request`` that is
not added to an open ticket:

- the question is asked of the process's knowledge index (:class:`KnowledgeSource`, the
  worker's :class:`hub.knowledge.library.Library`), whose :class:`~hub.knowledge.verdict.Verdict`
  says whether the hub is sure;
- sure, from a known contact, answers enabled and an ``auto_answer`` template on the reply's
  channel: the ticket (opened and routed as any request) is resolved by the actor ``assistant``
  with the entry's answer (:func:`hub.tickets.lifecycle.resolve`), an ``auto_answer`` row keeps
  what was found and sent (with the token of its public answer page ``/a/{token}``), and ONE
  ``auto_answer`` message goes back on the reply's channel: the answer, its source (依据), the
  ticket number, "回复 人工 转人工服务" and the rating prompt (SMS: the page's link). It is the
  rating request: no ``ticket_feedback`` is sent, and a bare digit after it rates the ticket;
- otherwise the ticket is a normal one and its ``auto_answer`` row (``answered`` false) carries
  the best three suggestions for the handler.

A person takes over an answered ticket (:mod:`hub.tickets.auto_answers`) when the contact
replies 人工 (:meth:`Assistant.hand_over`), rates it badly (:mod:`hub.tickets.ratings`), or asks
again within the append window while it awaits a rating, unless the new question is confidently
answered by another entry (:meth:`Assistant.follow_up_target`): the ticket is reopened to its
department with its deadline unchanged (the clock runs from receipt, docs/design.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import ChannelName, MessageKind, TicketEventType, TicketState
from hub.inbound.answers import Answer, Answerer
from hub.inbound.classify.text import normalise, strip_courtesy, trim
from hub.knowledge.answer_links import answer_link, new_answer_token
from hub.knowledge.verdict import Candidate, Verdict
from hub.store.models import AutoAnswer, Contact, Department, Staff, Ticket
from hub.store.models import InboundReply as StoredReply
from hub.tickets import lifecycle as tickets
from hub.tickets.auto_answers import HANDOVER_REASONS, HandoverReason, mark_handed_over
from hub.tickets.policy import TicketPolicy
from hub.tickets.routing import next_handler

__all__ = ["ASSISTANT", "Asker", "Assistant", "KnowledgeSource", "shown_answer", "verdict_record"]

#: The actor of everything the assistant does to a ticket.
ASSISTANT: Final = "assistant"
#: Where an answer with no source of its own says it comes from.
DEFAULT_SOURCE: Final = "主动服务知识库"
#: The longest answer a message carries whole; a longer one is cut and links to its page (a
#: WeCom text holds 2,048 bytes: 500 characters of Chinese and the template's lines fit).
MAX_SHOWN_CHARS: Final = 500


class Asker(Protocol):
    """A knowledge index (:class:`hub.knowledge.engine.KnowledgeIndex`): pure and fast."""

    def ask(self, text: str, *, today: date) -> Verdict: ...


class KnowledgeSource(Protocol):
    """The index in force (:class:`hub.knowledge.library.Library`, rebuilt as entries change)."""

    async def current(self, session: AsyncSession, *, now: datetime) -> Asker: ...

    def due(self, now: datetime) -> bool:
        """Whether :meth:`current` would read the database now."""
        ...


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A contact's automatically answered ticket that awaits its rating."""

    ticket: Ticket
    auto_answer: AutoAnswer


@dataclass(frozen=True, slots=True)
class Assistant:
    """Asks the knowledge base and writes what the answer does (see the module docstring).

    ``enabled`` is ``answers.enabled``: when false nothing is answered automatically, but the
    suggestions are still kept for the handler.
    """

    library: KnowledgeSource
    answerer: Answerer
    public_base_url: str
    enabled: bool = True

    async def ask(self, session: AsyncSession, text: str, now: datetime) -> Verdict | None:
        """What the knowledge base says about a question (None: no words to ask with)."""
        if not strip_courtesy(trim(normalise(text))):
            return None
        index = await self.library.current(session, now=now)
        return index.ask(text, today=now.astimezone(self.answerer.tz).date())

    def will_answer(
        self, verdict: Verdict | None, reply: StoredReply, contact: Contact | None
    ) -> bool:
        """Whether the question is answered automatically (see the module docstring)."""
        return (
            self.enabled
            and contact is not None
            and verdict is not None
            and verdict.confident
            and verdict.best is not None
            and self.answerer.can_answer(MessageKind.AUTO_ANSWER, ChannelName(reply.channel))
        )

    async def answering_department(
        self, session: AsyncSession, verdict: Verdict,
        departments: Sequence[Department] | None = None,
    ) -> Department | None:  # fmt: skip
        """The department that owns the answering entry (an FAQ's 部门, a policy's department,
        by name or code), so that a handover reaches the office that decides the question — a
        tax question from a restaurant goes to the tax bureau, not to the restaurant's industry
        department. None (an entry naming no known department): routed as any request.
        ``departments``: all of them in id order, read already (no query)."""
        best = verdict.best
        named = best.entry.department.strip() if best and best.entry.department else ""
        if not named:
            return None
        if departments is not None:
            return next((d for d in departments
                         if d.name == named or d.code == named.upper()), None)  # fmt: skip
        found: Department | None = await session.scalar(
            sa.select(Department)
            .where(sa.or_(Department.name == named, Department.code == named.upper()))
            .limit(1)
        )
        return found

    async def answer(
        self, session: AsyncSession, reply: StoredReply, contact: Contact, ticket: Ticket,
        verdict: Verdict, now: datetime,
    ) -> tuple[Answer, AutoAnswer]:  # fmt: skip
        """Resolve the new ticket with the best entry's answer and send it (one message)."""
        best = verdict.best
        assert best is not None
        await tickets.resolve(session, ticket, answer=best.entry.answer, actor=ASSISTANT,
                              now=now, automatic=True)  # fmt: skip
        row = self.record(session, reply, ticket, verdict, now, answered=True)
        url = answer_link(self.public_base_url, row.token or "")
        variables = {"ticket_no": ticket.number, "answer": shown_answer(best.entry.answer, url),
                     "source": _source(best), "answer_url": url}  # fmt: skip
        sent = await self.answerer.answer(session, reply, contact, purpose="auto_answer",
                                          kind=MessageKind.AUTO_ANSWER, variables=variables,
                                          now=now)  # fmt: skip
        # The answer asks for the rating: the SLA pass reminds and closes from here as usual.
        ticket.rating_requested_at = now
        result = sent.result
        tickets.record(
            session, ticket, TicketEventType.RATING_REQUESTED, actor=ASSISTANT, now=now,
            reason="发送智能答复与评价邀请" if result and result.message_id else
            f"智能答复未发送：{sent.reason or (result.reason if result else '')}",
            message_id=result.message_id if result else None,
            message_kind=MessageKind.AUTO_ANSWER.value, entry_id=best.entry.entry_id,
            entry_version=best.entry.version,
            # as hub.tickets.feedback records its request (hub tickets show reads them)
            channel=result.channel.value if result and result.channel else None,
            status=result.status.value if result and result.status else None,
        )  # fmt: skip
        await session.flush()
        return sent, row

    def record(
        self, session: AsyncSession, reply: StoredReply, ticket: Ticket | None, verdict: Verdict,
        now: datetime, *, answered: bool,
    ) -> AutoAnswer:  # fmt: skip
        """The ``auto_answer`` row of a question: what was found, and whether it was answered."""
        best = verdict.best
        row = AutoAnswer(
            reply_id=reply.id, ticket=ticket,
            question=reply.text, entry_id=best.entry.entry_id if best else None,
            entry_version=best.entry.version if best else None,
            answer=best.entry.answer if answered and best else None,
            score=float(verdict.score), margin=float(verdict.margin), answered=answered,
            suggestions=verdict.suggestions, token=new_answer_token() if answered else None,
            created_at=now,
        )  # fmt: skip
        session.add(row)
        return row

    async def awaiting(self, session: AsyncSession, contact_id: int) -> Awaiting | None:
        """The contact's latest automatically answered ticket still awaiting its rating
        (resolved, not closed: the SLA pass closes it when the rating window ends)."""
        found = (
            await session.execute(
                sa.select(Ticket, AutoAnswer)
                .join(AutoAnswer, AutoAnswer.ticket_id == Ticket.id)
                .where(
                    Ticket.contact_id == contact_id,
                    Ticket.state == TicketState.RESOLVED,
                    AutoAnswer.answered.is_(True),
                    AutoAnswer.handed_over_at.is_(None),
                )
                .order_by(AutoAnswer.created_at.desc(), AutoAnswer.id.desc())
                .limit(1)
            )
        ).first()
        return Awaiting(found[0], found[1]) if found is not None else None

    async def follow_up_target(
        self, session: AsyncSession, contact: Contact, verdict: Verdict | None,
        policy: TicketPolicy, now: datetime,
    ) -> Ticket | None:  # fmt: skip
        """The answered ticket a new question follows up: the contact's one awaiting its rating,
        active within the append window, unless this question is confidently answered by
        another entry (a new question, answered on its own)."""
        if verdict is None:  # courtesy alone ("谢谢") follows nothing up
            return None
        return self.follow_up_of(await self.awaiting(session, contact.id), verdict, policy, now)

    def follow_up_of(
        self, found: Awaiting | None, verdict: Verdict, policy: TicketPolicy, now: datetime
    ) -> Ticket | None:
        """:meth:`follow_up_target` given the contact's answered ticket awaiting a rating."""
        if found is None:
            return None
        since = now - timedelta(hours=policy.tickets.append_window_hours)
        active = found.ticket.last_activity_at
        if active is None or active < since:
            return None
        best = verdict.best
        if (
            verdict.confident
            and best is not None
            and best.entry.entry_id != found.auto_answer.entry_id
        ):
            return None
        return found.ticket

    async def hand_over(
        self, session: AsyncSession, ticket: Ticket, reason: HandoverReason, *, actor: str,
        now: datetime,
    ) -> Ticket:  # fmt: skip
        """Reopen an automatically answered ticket to its department, as a normal ticket: with
        its handler, or the department's next one when he is absent now or there was none."""
        await tickets.reopen(session, ticket, reason=HANDOVER_REASONS[reason], actor=actor,
                             now=now, handover=reason)  # fmt: skip
        await mark_handed_over(session, ticket.id, reason, now)
        handler = await session.get(Staff, ticket.handler_id) if ticket.handler_id else None
        if (handler is None or handler.absent) and ticket.department_id is not None:
            present = await next_handler(session, ticket.department_id, now)
            if present is not None:
                await tickets.assign(session, ticket, present, actor=actor, now=now,
                                     reason="转人工：原经办人不在岗或未分派")  # fmt: skip
        return ticket


def shown_answer(answer: str, url: str) -> str:
    """The answer as a message shows it: whole, or cut with the link to the whole on its page."""
    if len(answer) <= MAX_SHOWN_CHARS:
        return answer
    return f"{answer[:MAX_SHOWN_CHARS].rstrip()}……（完整答复：{url}）"


def _source(best: Candidate) -> str:
    """依据 as the answer names it: the entry's source, else its title, else the library."""
    return best.entry.source.strip() or best.entry.title.strip() or DEFAULT_SOURCE


def verdict_record(verdict: Verdict, answered: bool) -> dict[str, Any]:
    """What the reply's classification record keeps of the knowledge base's verdict."""
    best = verdict.best
    return {"answered": answered, "entry_id": best.entry.entry_id if best else None,
            "score": round(verdict.score, 4), "margin": round(verdict.margin, 4)}  # fmt: skip
