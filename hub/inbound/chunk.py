"""What a chunk of replies reads, loaded before its first reply with one ``IN (…)`` query each.

The inbound worker handles a chunk of replies in one transaction (:mod:`hub.inbound.worker`).
Read one by one, each reply cost about ten SELECTs (its contact, the tickets awaiting the
contact's rating, the enterprise's proposed visit, its open ticket, the automatic answer
awaiting a rating, the enterprise for routing and the answer's template …). :meth:`ChunkFacts.load`
reads them for the whole chunk at once; the ORM rows land in the session's identity map, so
``session.get`` of a contact or an enterprise costs no statement either.

The facts are the records as they were before the chunk's first reply. A reply sees the same
records as when handled alone only while nothing earlier in the chunk changed them, so each
reply's enterprise and contact are marked :meth:`touched` once handled: a later reply of the same
enterprise or contact reads the database instead (its own queries, which see the earlier
replies' flushed effects: the second request of an enterprise is appended to the ticket the first
one opened, a rating follows the answer just sent). Replies of different enterprises change
none of each other's rows (a ticket is rated, appended to or queried only by its own
enterprise's replies); a liaison officer's command may open tickets anywhere, so it marks
everything :meth:`stale`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from hub.core.vocab import TicketState, VisitStatus
from hub.inbound.assistant import Awaiting
from hub.store.models import AutoAnswer, Contact, Enterprise, Ticket, Visit
from hub.store.models import InboundReply as StoredReply
from hub.tickets.lookup import OPEN_STATES
from hub.tickets.routing import RoutingCache

__all__ = ["ASKED_LAST_FIRST", "ChunkFacts"]

_LISTED_STATES: Final = (*OPEN_STATES, TicketState.RESOLVED)

# The chunk's reads, built once with the ids as an expanding parameter: a statement built per
# chunk cost its cache key's walk and more than the query itself (~0.1 ms each).
_IDS: Final[sa.BindParameter[list[int]]] = sa.bindparam("ids", expanding=True)
_CONTACTS: Final = sa.select(Contact).where(Contact.id.in_(_IDS))
# Routing reads the enterprise (industry, region): held here, ``session.get`` finds it in the
# identity map (which holds rows only while they are referenced). Without their contacts (and
# those contacts' opt-outs) and tags, which the relationships would load eagerly: three reads
# per chunk nothing here uses (the answers' enterprise context is read by query,
# :meth:`hub.inbound.answers.Answerer.prime`).
_ENTERPRISES: Final = (
    sa.select(Enterprise)
    .where(Enterprise.id.in_(_IDS))
    .options(lazyload(Enterprise.contacts), lazyload(Enterprise.tags))
)
#: Which of an enterprise's proposed visits a bare answer ("2", "好的") is for when several are
#: (an earlier period's still open beside this one's): the proposal sent last, as in a
#: conversation the answer is to the question asked last.
ASKED_LAST_FIRST: Final = (Visit.proposed_at.desc().nulls_last(), Visit.id.desc())
_PROPOSED_VISITS: Final = (
    sa.select(Visit)
    .where(Visit.enterprise_id.in_(_IDS), Visit.status == VisitStatus.PROPOSED)
    .order_by(*ASKED_LAST_FIRST)
)
_LISTED_TICKETS: Final = sa.select(Ticket).where(
    Ticket.enterprise_id.in_(_IDS), Ticket.state.in_(_LISTED_STATES)
)
_STANDING = sa.and_(AutoAnswer.ticket_id == Ticket.id, AutoAnswer.answered.is_(True),
                    AutoAnswer.handed_over_at.is_(None))  # fmt: skip
_RESOLVED_WHERE = (Ticket.contact_id.in_(_IDS), Ticket.state == TicketState.RESOLVED)
_RESOLVED_ORDER = (Ticket.resolved_at, Ticket.id)
#: The contacts' resolved tickets, with each one's standing automatic answer (or without).
_RESOLVED: Final = {
    True: sa.select(Ticket, AutoAnswer).outerjoin(AutoAnswer, _STANDING)
    .where(*_RESOLVED_WHERE).order_by(*_RESOLVED_ORDER),
    False: sa.select(Ticket, sa.null()).where(*_RESOLVED_WHERE).order_by(*_RESOLVED_ORDER),
}  # fmt: skip


@dataclass(slots=True)
class ChunkFacts:
    """The records a chunk's replies read, as they were before its first reply."""

    #: The replies' contacts and enterprises (also in the session's identity map).
    contacts: dict[int, Contact] = field(default_factory=dict)
    enterprises: dict[int, Enterprise] = field(default_factory=dict)
    #: Each contact's tickets awaiting a rating, oldest resolution first.
    awaiting_rating: dict[int, list[Ticket]] = field(default_factory=dict)
    #: Each enterprise's latest proposed visit.
    visits: dict[int, Visit] = field(default_factory=dict)
    #: Each enterprise's open and resolved tickets (a request joins one, a query lists them).
    tickets: dict[int, list[Ticket]] = field(default_factory=dict)
    #: Each contact's latest automatic answer awaiting a rating (with its ticket).
    auto_awaiting: dict[int, Awaiting] = field(default_factory=dict)
    #: Departments, handlers and round-robin cursors for the tickets the chunk opens.
    routing: RoutingCache | None = None
    #: Enterprises and contacts whose records a handled reply may have changed.
    touched_enterprises: set[int] = field(default_factory=set)
    touched_contacts: set[int] = field(default_factory=set)
    everything_stale: bool = False

    @classmethod
    async def load(
        cls, session: AsyncSession, replies: Sequence[StoredReply], *, now: datetime,
        append_window: timedelta, auto_answers: bool,
    ) -> ChunkFacts:  # fmt: skip
        """Read what ``replies`` need: ~10 statements whatever their number."""
        facts = cls(routing=await RoutingCache.load(session))
        contact_ids = sorted({r.contact_id for r in replies if r.contact_id is not None})
        enterprise_ids = sorted({r.enterprise_id for r in replies if r.enterprise_id is not None})
        if contact_ids:
            rows = await session.scalars(_CONTACTS, {"ids": contact_ids})
            facts.contacts = {c.id: c for c in rows.all()}
            await facts._load_resolved(session, contact_ids, auto_answers=auto_answers)
        if enterprise_ids:
            ids = {"ids": enterprise_ids}
            enterprises = await session.scalars(_ENTERPRISES, ids)
            facts.enterprises = {e.id: e for e in enterprises.all()}
            for visit in await session.scalars(_PROPOSED_VISITS, ids):
                facts.visits.setdefault(visit.enterprise_id, visit)
            for ticket in await session.scalars(_LISTED_TICKETS, ids):
                facts.tickets.setdefault(ticket.enterprise_id or 0, []).append(ticket)
        return facts

    async def _load_resolved(
        self, session: AsyncSession, contact_ids: Collection[int], *, auto_answers: bool
    ) -> None:
        """The contacts' resolved tickets (awaiting a rating, oldest resolution first) and,
        with ``auto_answers``, each contact's latest automatic answer still standing: one
        query, the answers joined to their tickets."""
        rows = await session.execute(_RESOLVED[auto_answers], {"ids": list(contact_ids)})
        listed: set[int] = set()
        for ticket, auto_answer in rows:
            contact_id = ticket.contact_id or 0
            if ticket.id not in listed:
                listed.add(ticket.id)
                self.awaiting_rating.setdefault(contact_id, []).append(ticket)
            if auto_answer is None:
                continue
            held = self.auto_awaiting.get(contact_id)
            newest = (auto_answer.created_at, auto_answer.id)
            if held is None or newest > (held.auto_answer.created_at, held.auto_answer.id):
                self.auto_awaiting[contact_id] = Awaiting(ticket, auto_answer)

    def fresh(self, reply: StoredReply) -> bool:
        """Whether the facts still hold for ``reply``: nothing earlier in the chunk changed its
        enterprise's or its contact's records."""
        return not (
            self.everything_stale
            or (reply.enterprise_id is not None and reply.enterprise_id in self.touched_enterprises)
            or (reply.contact_id is not None and reply.contact_id in self.touched_contacts)
        )

    def touched(self, reply: StoredReply) -> None:
        """``reply`` was handled: its enterprise's and contact's facts may be out of date."""
        if reply.enterprise_id is not None:
            self.touched_enterprises.add(reply.enterprise_id)
        if reply.contact_id is not None:
            self.touched_contacts.add(reply.contact_id)

    def stale(self) -> None:
        """Nothing in the facts is to be trusted any more (a command that writes anywhere, a
        reply whose savepoint rolled back: its rows are expired, its cursor moves undone)."""
        self.everything_stale = True
        if self.routing is not None:
            self.routing.forget_cursors()

    def appendable(self, enterprise_id: int, since: datetime) -> Ticket | None:
        """The enterprise's open ticket active since ``since``, the latest active (as
        :func:`hub.tickets.lookup.find_appendable_ticket` orders them)."""
        active = [t for t in self.tickets.get(enterprise_id, ()) if t.state in OPEN_STATES
                  and t.last_activity_at is not None and t.last_activity_at >= since]  # fmt: skip
        return max(active, key=lambda t: (t.last_activity_at, t.id), default=None)

    def latest(self, enterprise_id: int, limit: int) -> list[Ticket]:
        """The enterprise's open and resolved tickets, the latest received first."""
        listed = self.tickets.get(enterprise_id, [])
        return sorted(listed, key=lambda t: (t.received_at, t.id), reverse=True)[:limit]
