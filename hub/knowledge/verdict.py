"""What retrieval says about one question: the candidates found and whether to answer.

These types are the knowledge package's interface to the rest of the hub: the inbound worker
turns a confident :class:`Verdict` into an ``auto_answer`` message and an ``auto_answer`` row,
an unsure one into a ticket carrying :attr:`Verdict.suggestions` for the handler; ``hub answers
ask`` prints one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

__all__ = ["Candidate", "Entry", "Verdict"]

EntryKind = Literal["faq", "policy"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One answerable unit of the knowledge base, as retrieval indexes it.

    ``entry_id`` is the FAQ's ``faq_id`` or ``policy:<policy_id>#<n>`` for the n-th passage of
    a policy's text; ``version`` is the FAQ entry's version (a policy passage: 1). ``questions``
    are the texts matched against a question (the FAQ question and its alternates; a policy
    passage's title and the passage), ``answer`` what is sent. ``valid_until`` is the last day it
    may answer (FAQ ``valid_until``; a policy's ``apply_by``).
    """

    entry_id: str
    version: int
    kind: EntryKind
    title: str
    questions: tuple[str, ...]
    answer: str
    source: str
    department: str | None = None
    valid_until: date | None = None
    url: str | None = None

    def valid_on(self, day: date) -> bool:
        """True while the entry may answer: no end date, or not past it."""
        return self.valid_until is None or day <= self.valid_until


@dataclass(frozen=True, slots=True)
class Candidate:
    """One entry found for a question, with its retrieval score."""

    entry: Entry
    score: float

    def as_dict(self) -> dict[str, Any]:
        """The suggestion as stored with a ticket and shown to a handler."""
        return {
            "entry_id": self.entry.entry_id,
            "version": self.entry.version,
            "title": self.entry.title,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """Retrieval's answer to one question: the best candidates (best first, at most three),
    the best score, its margin over the runner-up, and whether the hub is sure enough to
    answer automatically."""

    question: str
    candidates: tuple[Candidate, ...]
    score: float
    margin: float
    confident: bool
    handover_reason: str | None = None
    """Why a person must answer (Chinese, for the CLI and the handler); None when confident."""

    @property
    def best(self) -> Candidate | None:
        """The best candidate, or None when nothing matched."""
        return self.candidates[0] if self.candidates else None

    @property
    def suggestions(self) -> list[dict[str, Any]]:
        """The candidates as stored with a ticket (``auto_answer.suggestions``)."""
        return [candidate.as_dict() for candidate in self.candidates]
