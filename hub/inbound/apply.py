"""Applying a classified reply: what each class of docs/design.md does to the records.

Called by the inbound worker inside the reply's own write transaction (so everything here
commits with the classification, or not at all). Each class:

- ``rating`` answering a monthly callback survey (the reply answers a ``callback_survey``
  message still awaiting an answer): recorded on the survey (:mod:`hub.tickets.callback_survey`),
  not on the ticket, which is usually closed;
- ``rating``: applied (:func:`hub.tickets.lifecycle.apply_rating`) to the ticket it names or to the
  contact's one ticket awaiting a rating — only a ticket of the sender's enterprise that is
  resolved and not closed. Several awaiting and none named: the contact is asked which, with
  the numbers listed (``rating_reminder``). A bad rating's reopening is told to the enterprise
  (``ticket_ack`` with the new status and deadline).
- ``unsubscribe``: the contact is opted out of the channel the reply came on.
- ``visit_answer``: a slot picked, a confirmation, another time or a decline, applied to the
  visit by :func:`hub.visits.answers.apply_visit_answer`, which tells the officer at once
  (``visit_update``, enqueued with the answers after the commit).
- ``query``: the ticket's state and deadline (``ticket_ack``); without a number, each of the
  enterprise's open tickets (at most three).
- ``help``: the help text (``notice``; not on SMS, which sends approved templates only).
- ``request`` and ``handover`` (人工): a ticket opened, appended to or handed to a person
  (:mod:`hub.inbound.requests`).

Unknown senders (no contact): the reply is stored and classified. A request from one opens a
ticket without enterprise or contact — the reply's channel and address are its reply path, so
the acknowledgement still reaches the sender and the dispatcher can identify the enterprise.
Without an address (an empty sender) nothing is guessed: the reply is only recorded. Ratings,
visit answers and opt-outs from unknown senders have nothing to apply to and are recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import FixedClock
from hub.core.vocab import (
    CallbackStatus,
    ChannelName,
    MessageKind,
    ReplyClass,
    TicketState,
    VisitStatus,
)
from hub.inbound.answers import Answerer
from hub.inbound.assistant import Assistant
from hub.inbound.chunk import ASKED_LAST_FIRST, ChunkFacts
from hub.inbound.classify.classifier import Classification, ReplyContext, classify, classify_media
from hub.inbound.outcome import Applied, with_button_ref
from hub.inbound.requests import RequestApplier
from hub.outbound.optouts import record_opt_out
from hub.store.models import CallbackSurvey, Contact, Message, Ticket, Visit
from hub.store.models import InboundReply as StoredReply
from hub.tickets import lifecycle as tickets
from hub.tickets.callback_survey import record_survey_answer, survey_for_message
from hub.tickets.policy import CachedTicketPolicy
from hub.tickets.ratings import RatingNotifier, apply_rating
from hub.tickets.settings import TicketsConfig
from hub.visits.answers import VisitReply, apply_visit_answer
from hub.visits.settings import VisitsSettings
from hub.visits.slots import parse_slots

RATING_PROMPT: Final = "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意"
HELP_TEXT: Final = (
    "使用说明：直接回复文字即可反映诉求，我们将登记为工单并告知编号；回复工单编号可查询办理进度；"
    f"诉求办结后请回复数字评价：{RATING_PROMPT}；回复TD退订。"
)
MAX_QUERY_ANSWERS: Final = 3
POLICY_TTL_S: Final = 60.0
_MEDIA_TYPES: Final = {"voice", "image", "video", "shortvideo", "file"}
#: The messages that ask a contact for a rating (a bare digit answers the one asked last).
_RATING_ASKS: Final = (
    MessageKind.TICKET_FEEDBACK,
    MessageKind.RATING_REMINDER,
    MessageKind.CALLBACK_SURVEY,
    MessageKind.AUTO_ANSWER,
)


class InboundConfig(TicketsConfig, Protocol):
    """What applying replies reads from the settings: the tickets' and ``visits:``.

    :class:`hub.app.config.Settings` satisfies it structurally.
    """

    @property
    def visits(self) -> VisitsSettings: ...


class ReplyApplier:
    """Builds a reply's context, classifies it, and applies it (see the module docstring)."""

    def __init__(
        self, settings: InboundConfig, answerer: Answerer, assistant: Assistant | None = None
    ) -> None:
        self.settings = settings
        self.answerer = answerer
        #: The ticket policy, read again from config and the database once a minute.
        self.policies = CachedTicketPolicy(settings, POLICY_TTL_S)
        self.requests = RequestApplier(answerer, assistant, self.policies)
        self.notifier = RatingNotifier(answerer.renderer, answerer.policy)

    @property
    def assistant(self) -> Assistant | None:
        """Smart answers (None: every request is a ticket for a person, as before issue 16)."""
        return self.requests.assistant

    @assistant.setter
    def assistant(self, assistant: Assistant | None) -> None:
        self.requests.assistant = assistant

    # --- context and classification ---------------------------------------------------------

    async def load_facts(
        self, session: AsyncSession, replies: Sequence[StoredReply], now: datetime
    ) -> ChunkFacts:
        """What a chunk of replies reads (:mod:`hub.inbound.chunk`), and their enterprises'
        template context (:meth:`Answerer.prime`): a dozen statements for the whole chunk."""
        policy = await self.policies.get(session)
        facts = await ChunkFacts.load(
            session, replies, now=now, append_window=timedelta(
                hours=policy.tickets.append_window_hours),
            auto_answers=self.assistant is not None,
        )  # fmt: skip
        await self.answerer.prime(
            session, {r.enterprise_id for r in replies if r.enterprise_id is not None}
        )
        return facts

    async def context(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None, now: datetime,
        facts: ChunkFacts | None = None,
    ) -> ReplyContext:  # fmt: skip
        """What the contact was asked: tickets awaiting a rating, a visit awaiting an answer
        (its one time or its slots), and whether the proposal came after the rating request.
        ``facts``: what the worker read for the reply's chunk, used while it holds for it."""
        known = facts if facts is not None and facts.fresh(reply) else None
        awaiting: tuple[str, ...] = ()
        if contact is not None:
            rated = (
                known.awaiting_rating.get(contact.id, [])
                if known is not None
                else await tickets.awaiting_rating(session, contact.id)
            )
            awaiting = tuple(t.number for t in rated)
        survey = await self._survey(session, reply)
        if survey is not None:  # a reply to a callback survey rates that survey's ticket
            number = await session.scalar(
                sa.select(Ticket.number).where(Ticket.id == survey.ticket_id)
            )
            awaiting = (str(number),)
        visit = None
        if reply.enterprise_id is not None and known is not None:
            visit = known.visits.get(reply.enterprise_id)
        elif reply.enterprise_id is not None:
            visit = (
                await session.scalars(
                    sa.select(Visit)
                    .where(
                        Visit.enterprise_id == reply.enterprise_id,
                        Visit.status == VisitStatus.PROPOSED,
                    )
                    .order_by(*ASKED_LAST_FIRST)
                    .limit(1)
                )
            ).first()
        if visit is None:
            return ReplyContext(now=now, awaiting_rating=awaiting)
        slots = tuple(parse_slots(visit.slots))
        if len(slots) < 2:  # one time offered: confirm or reschedule it, no number to pick
            offered = slots[0] if slots else visit.proposed_for
            return ReplyContext(now=now, awaiting_rating=awaiting, awaiting_visit=visit.id,
                                visit_at=offered)  # fmt: skip
        return ReplyContext(
            now=now, awaiting_rating=awaiting, awaiting_visit=visit.id, visit_slots=slots,
            # A reply to a callback survey rates it; else the ask that came last takes a digit.
            visit_asked_last=survey is None and await self._proposed_last(session, visit, contact),
        )  # fmt: skip

    async def _proposed_last(
        self, session: AsyncSession, visit: Visit, contact: Contact | None
    ) -> bool:
        """Whether the visit's proposal went after the latest rating request to the contact."""
        if contact is None:
            return True
        asked = await session.scalar(
            sa.select(sa.func.max(Message.created_at)).where(
                Message.contact_id == contact.id, Message.kind.in_(_RATING_ASKS)
            )
        )
        proposed = visit.proposed_at or visit.updated_at
        return asked is None or (proposed is not None and proposed > asked)

    def classify(self, reply: StoredReply, context: ReplyContext) -> Classification:
        """The reply's class: media by its type, a button with the ticket its raw data names."""
        raw = reply.raw if isinstance(reply.raw, dict) else {}
        msg_type = str(raw.get("MsgType") or "")
        if msg_type in _MEDIA_TYPES:
            ref = str(raw.get("MediaId") or raw.get("MsgId") or reply.provider_msg_id)
            return classify_media(msg_type, ref, normalised=reply.text)
        return classify(with_button_ref(reply.text, raw), context=context)

    # --- applying -----------------------------------------------------------------------------

    async def apply(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None,
        found: Classification, now: datetime, facts: ChunkFacts | None = None,
    ) -> Applied:  # fmt: skip
        """Apply the classified reply; ``facts`` as for :meth:`context`."""
        known = facts if facts is not None and facts.fresh(reply) else None
        match found.cls:
            case ReplyClass.RATING:
                return await self._rating(session, reply, contact, found, now)
            case ReplyClass.UNSUBSCRIBE:
                return await self._unsubscribe(session, reply, contact, now)
            case ReplyClass.VISIT_ANSWER:
                return await self._visit(session, reply, found, now)
            case ReplyClass.QUERY:
                return await self._query(session, reply, contact, found, now, known)
            case ReplyClass.HELP:
                answer = await self.answerer.notice(session, reply, contact, "help", HELP_TEXT, now)
                return Applied("发送使用说明", answers=[answer])
            case ReplyClass.HANDOVER:
                return await self.requests.handover(session, reply, contact, now, known)
            case _:
                return await self.requests.request(session, reply, contact, found, now, facts,
                                                   known)  # fmt: skip

    async def _survey(self, session: AsyncSession, reply: StoredReply) -> CallbackSurvey | None:
        """The monthly callback survey (回访) the reply answers, while it awaits an answer."""
        if reply.in_reply_to is None:
            return None
        kind = await session.scalar(sa.select(Message.kind).where(Message.id == reply.in_reply_to))
        if kind != MessageKind.CALLBACK_SURVEY:
            return None
        survey = await survey_for_message(session, reply.in_reply_to)
        if survey is None or survey.status not in (CallbackStatus.PENDING, CallbackStatus.SENT):
            return None
        return survey

    async def _rating(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None,
        found: Classification, now: datetime,
    ) -> Applied:  # fmt: skip
        survey = await self._survey(session, reply) if contact is not None else None
        if survey is not None:
            record_survey_answer(session, survey, score=found.rating, answer=found.comment,
                                 by=f"reply:{reply.id}", now=now)  # fmt: skip
            return Applied(f"回访评价 {found.rating} 分，已记入回访", ticket_id=survey.ticket_id,
                           data={"survey_id": survey.id})  # fmt: skip
        if contact is None:
            return Applied("发送人不是登记的联系人，评价未计入，需人工核对")
        if found.ticket_number is None:
            if found.candidates:
                answer = await self.answerer.ask_which(
                    session, reply, contact, found.candidates, now
                )
                return Applied("多个工单待评价，已询问是哪一件", answers=[answer])
            text = "您目前没有待评价的诉求。如需反映问题，请直接回复文字说明。"
            answer = await self.answerer.notice(session, reply, contact, "no_rating", text, now)
            return Applied("没有待评价的工单，评价未计入", answers=[answer])
        ticket = await tickets.ticket_by_number(session, found.ticket_number)
        if ticket is None or ticket.enterprise_id != reply.enterprise_id:
            text = f"未查到编号为 {found.ticket_number} 的诉求，请核对编号。"
            answer = await self.answerer.notice(
                session, reply, contact, "rating_unknown", text, now
            )
            return Applied(f"工单 {found.ticket_number} 不存在或不属于该企业，评价未计入",
                           answers=[answer])  # fmt: skip
        if ticket.state is not TicketState.RESOLVED:
            text = f"诉求 {ticket.number} 当前{ticket.state.label}，暂不能评价。"
            answer = await self.answerer.notice(session, reply, contact, "rating_state", text, now)
            return Applied(f"工单 {ticket.number} 当前{ticket.state.label}，评价未计入",
                           ticket_id=ticket.id, answers=[answer])  # fmt: skip
        assert found.rating is not None
        source = "button" if reply.text.startswith("rating:") else "reply"
        outcome = await apply_rating(
            session, ticket, policy=await self.policies.get(session), score=found.rating,
            contact_id=contact.id, now=now, source_reply_id=reply.id, comment=found.comment,
            actor=f"contact:{contact.id}", source=source, notifier=self.notifier,
        )  # fmt: skip
        applied = Applied(f"工单 {ticket.number} 评价 {found.rating} 分", ticket_id=ticket.id,
                          data={"rating_id": outcome.rating.id},
                          notified=list(outcome.notified))  # fmt: skip
        if outcome.escalated:
            applied.outcome += "，第二次差评，升级督办至营商办"
        after = _state_of(ticket)  # apply_rating moved it on
        if after is TicketState.REOPENED:
            applied.outcome += "，差评重办"
            due = ticket.rectify_due_at or ticket.deadline_at
            applied.answers.append(await self.answerer.ticket_status(
                session, reply, contact, ticket, "reopened", "已重新交办，我们将尽快整改并回复",
                now, deadline=due,
            ))  # fmt: skip
        elif after is TicketState.CLOSED:
            applied.outcome += "，好评办结"
        return applied

    async def _unsubscribe(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None, now: datetime
    ) -> Applied:
        channel = ChannelName(reply.channel)
        if contact is None:
            return Applied("发送人不是登记的联系人，无可退订的记录")
        dialect = session.get_bind().dialect.name
        new = await record_opt_out(
            session, dialect, FixedClock(now), contact.id, channel, source=f"reply:{reply.id}"
        )
        return Applied(f"已退订{channel.label}" if new else f"此前已退订{channel.label}")

    async def _visit(
        self, session: AsyncSession, reply: StoredReply, found: Classification, now: datetime
    ) -> Applied:
        visit = await session.get(Visit, found.visit_id) if found.visit_id is not None else None
        if visit is None or visit.enterprise_id != reply.enterprise_id:
            return Applied("没有找到该企业待答复的走访，需人工核对")
        assert found.visit_action is not None
        answer = VisitReply(
            found.visit_action, source=f"reply:{reply.id}",
            text="" if reply.text.startswith("visit:") else reply.text, slot=found.visit_slot,
            proposed_time=found.proposed_time, proposed_date=found.proposed_date,
            proposed_text=found.proposed_text,
        )  # fmt: skip
        done = await apply_visit_answer(
            session, visit, answer, now, calendar=(await self.policies.get(session)).calendar,
            settings=self.settings.visits, renderer=self.answerer.renderer,
            policy=self.answerer.policy,
        )  # fmt: skip
        return Applied(done.outcome, data={"visit_id": visit.id}, notified=done.notified)

    async def _query(
        self, session: AsyncSession, reply: StoredReply, contact: Contact | None,
        found: Classification, now: datetime, known: ChunkFacts | None,
    ) -> Applied:  # fmt: skip
        if found.ticket_number is not None:
            ticket = await tickets.ticket_by_number(session, found.ticket_number)
            if (
                ticket is None
                or ticket.enterprise_id is None
                or (ticket.enterprise_id != reply.enterprise_id)
            ):
                text = f"未查到编号为 {found.ticket_number} 的诉求，请核对编号。"
                answer = await self.answerer.notice(session, reply, contact, "query", text, now)
                return Applied(f"工单 {found.ticket_number} 不存在或不属于该企业",
                               answers=[answer])  # fmt: skip
            answer = await self.answerer.ticket_state(session, reply, contact, ticket, now)
            return Applied(f"答复工单 {ticket.number} 的进度", ticket_id=ticket.id,
                           answers=[answer])  # fmt: skip
        open_tickets: list[Ticket] = []
        if reply.enterprise_id is not None and known is not None:
            open_tickets = known.latest(reply.enterprise_id, MAX_QUERY_ANSWERS)
        elif reply.enterprise_id is not None:
            open_tickets = list(
                (
                    await session.scalars(
                        sa.select(Ticket)
                        .where(
                            Ticket.enterprise_id == reply.enterprise_id,
                            Ticket.state.in_((*tickets.OPEN_STATES, TicketState.RESOLVED)),
                        )
                        .order_by(Ticket.received_at.desc(), Ticket.id.desc())
                        .limit(MAX_QUERY_ANSWERS)
                    )
                ).all()
            )
        if not open_tickets:
            text = "您目前没有办理中的诉求。如需反映问题，请直接回复文字说明。"
            answer = await self.answerer.notice(session, reply, contact, "query", text, now)
            return Applied("没有办理中的工单", answers=[answer])
        answers = [
            await self.answerer.ticket_state(session, reply, contact, t, now) for t in open_tickets
        ]
        numbers = "、".join(t.number for t in open_tickets)
        return Applied(f"答复办理中的工单进度（{numbers}）", answers=answers)


def _state_of(ticket: Ticket) -> TicketState:
    return ticket.state
