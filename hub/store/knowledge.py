"""The knowledge base behind smart answers (issue 16): FAQ entries, their versions, and what the
assistant did with each question.

- ``faq_entry``: one FAQ (常见问题) by its ``faq_id``, the version in force. A changed entry gets
  ``version`` + 1 and a new ``faq_entry_version`` row (immutable history); an answer names the
  (``faq_id``, ``version``) it used, so a changed entry is used from its new version on and an
  old answer can still be read as it was sent. ``retired`` takes an entry out of answers
  without deleting its history.
- ``auto_answer``: one question the assistant looked at (a ``request`` reply): what retrieval
  found (the best entry, score, margin, the top suggestions), whether it answered, the ticket
  it belongs to, and — once a person took over — when and why. ``token`` names the public
  answer page (the link an SMS answer carries). ``hub answers stats`` reads this table.

Entry ids: FAQ entries by their ``faq_id``; policy passages as ``policy:<policy_id>#<n>``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.store.base import Base, Timestamps
from hub.store.types import BigId

if TYPE_CHECKING:  # the relationship's annotation only (the registry resolves the name)
    from hub.store.tickets import Ticket


class FaqEntry(Timestamps, Base):
    """An FAQ entry as in force: question, alternate phrasings, answer, owner and validity."""

    __tablename__ = "faq_entry"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    faq_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    version: Mapped[int] = mapped_column(default=1)
    question: Mapped[str] = mapped_column(sa.Text)
    alternates: Mapped[str] = mapped_column(sa.Text, default="")
    """Other ways to ask, ``;``-joined (相似问法)."""
    answer: Mapped[str] = mapped_column(sa.Text)
    department: Mapped[str | None] = mapped_column(sa.String(128))
    valid_until: Mapped[date | None] = mapped_column(sa.Date)
    """The last day the answer holds; after it the entry is never used for an answer."""
    source: Mapped[str | None] = mapped_column(sa.String(512))
    """依据: the document or rule the answer rests on, named in every automatic answer."""
    retired: Mapped[bool] = mapped_column(default=False)


class FaqEntryVersion(Base):
    """One version of an FAQ entry as it was saved; never updated or deleted."""

    __tablename__ = "faq_entry_version"
    __table_args__ = (sa.UniqueConstraint("faq_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    faq_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    version: Mapped[int] = mapped_column()
    body: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(sa.String(64))


class AutoAnswer(Base):
    """What the assistant did with one question: answered it, or handed it to a person."""

    __tablename__ = "auto_answer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    reply_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_reply.id"), unique=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    question: Mapped[str] = mapped_column(sa.Text)
    entry_id: Mapped[str | None] = mapped_column(sa.String(96), index=True)
    """The best entry found (``faq_id`` or ``policy:<id>#<n>``), answered or not."""
    entry_version: Mapped[int | None] = mapped_column()
    answer: Mapped[str | None] = mapped_column(sa.Text)
    """The answer text as sent (None when handed over): the answer page shows exactly this."""
    score: Mapped[float] = mapped_column(default=0.0)
    margin: Mapped[float] = mapped_column(default=0.0)
    answered: Mapped[bool] = mapped_column(default=False, index=True)
    suggestions: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    """The top candidates (entry id, version, title, score), for the handler."""
    token: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    handed_over_at: Mapped[datetime | None] = mapped_column()
    handover_reason: Mapped[str | None] = mapped_column(sa.String(32))
    """``human`` (人工), ``bad_rating``, ``follow_up``; None while the answer stands."""
    #: The ticket, for the flush: a question's row may be written with its new ticket in one
    #: flush, the ticket first (as hub.store.tickets.TicketEvent.ticket).
    ticket: Mapped[Ticket | None] = relationship("Ticket", lazy="raise_on_sql")
