"""What the assistant did with the questions it saw (``hub answers stats``), read from
``auto_answer`` (:mod:`hub.store.knowledge`) in SQL that runs on SQLite and PostgreSQL.

- the entries that answer most: answered questions by entry, with the latest version used;
- the questions handed to a person most — not answered automatically, or answered and then
  taken over (人工, a bad rating, a follow-up question) — grouped by their text folded as
  people type it (full-width, case, spaces and punctuation ignored) and by the best entry
  retrieval found: the candidates for new or better entries;
- the ratings of automatic answers: a rating of the answer's ticket given after the answer and,
  when a person took over, not after the handover (a later rating rates the person's answer).
  Levels count valid ratings; one flagged malicious (恶意差评) is counted apart and left out
  of 好评率, which is valid ratings ≥3 ÷ valid ratings, as in the monthly report;
- the handovers by reason (``human``, ``bad_rating``, ``follow_up``).

``since`` bounds every figure by the question's time (``auto_answer.created_at``).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import RATING_LABELS
from hub.store.models import AutoAnswer, FaqEntry, Policy, Rating

__all__ = [
    "AnswerRatings",
    "AnswerStats",
    "EntryUse",
    "HandedOverEntry",
    "HandedOverQuestion",
    "answer_stats",
    "entry_titles",
    "fold_question",
]

#: How many rows each list keeps by default.
TOP: Final = 20
POLICY_PREFIX: Final = "policy:"
HANDOVER_REASONS: Final = ("human", "bad_rating", "follow_up")
# What a question's text is folded without: whitespace and punctuation (ASCII and CJK, after
# NFKC has turned full-width forms into ASCII ones).
_NOISE = re.compile(r"[\s\W_]+")


def fold_question(text: str) -> str:
    """The question as grouped: NFKC (full-width folded), case-folded, without spaces or
    punctuation, so "高企认定要什么条件？" and "高企认定 要什么条件?" count as one."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text).casefold())


@dataclass(frozen=True, slots=True)
class EntryUse:
    """One entry and how many questions it answered."""

    entry_id: str
    title: str
    answers: int
    latest_version: int | None


@dataclass(frozen=True, slots=True)
class HandedOverQuestion:
    """One question (folded) handed to a person, how often, and the best entries found for it."""

    question: str
    count: int
    entry_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HandedOverEntry:
    """One best entry of handed-over questions (empty id: nothing matched) and a sample."""

    entry_id: str
    title: str
    count: int
    sample: str


@dataclass(slots=True)
class AnswerRatings:
    """The ratings of automatic answers: valid ratings per level and the malicious ones."""

    levels: dict[int, int] = field(default_factory=lambda: {s: 0 for s in (5, 4, 3, 2, 1)})
    malicious: int = 0

    @property
    def rated(self) -> int:
        """Valid ratings (malicious ones left out)."""
        return sum(self.levels.values())

    @property
    def good_rate(self) -> float | None:
        """好评率: valid ratings ≥3 ÷ valid ratings (None without ratings)."""
        if not self.rated:
            return None
        return (self.levels[5] + self.levels[4] + self.levels[3]) / self.rated


@dataclass(frozen=True, slots=True)
class AnswerStats:
    """Everything ``hub answers stats`` prints."""

    since: datetime | None
    asked: int
    answered: int
    handed_over: int
    top_entries: list[EntryUse]
    handed_over_questions: list[HandedOverQuestion]
    handed_over_entries: list[HandedOverEntry]
    ratings: AnswerRatings
    handovers: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        """The figures as JSON (``--json``)."""
        rate = self.ratings.good_rate
        return {
            "since": self.since.isoformat() if self.since else None,
            "asked": self.asked,
            "answered": self.answered,
            "handed_over": self.handed_over,
            "top_entries": [asdict(e) for e in self.top_entries],
            "handed_over_questions": [
                {**asdict(q), "entry_ids": list(q.entry_ids)} for q in self.handed_over_questions
            ],
            "handed_over_entries": [asdict(e) for e in self.handed_over_entries],
            "ratings": {
                "levels": {str(s): c for s, c in self.ratings.levels.items()},
                "labels": {str(s): RATING_LABELS[s] for s in self.ratings.levels},
                "rated": self.ratings.rated,
                "malicious": self.ratings.malicious,
                "good_rate": None if rate is None else round(rate, 4),
            },
            "handovers": self.handovers,
        }


def _handed_over() -> sa.ColumnElement[bool]:
    """A question a person works: never answered automatically, or taken over since."""
    return sa.or_(AutoAnswer.answered.is_(False), AutoAnswer.handed_over_at.is_not(None))


def _since(stmt: Any, since: datetime | None) -> Any:
    return stmt if since is None else stmt.where(AutoAnswer.created_at >= since)


async def answer_stats(
    session: AsyncSession, *, since: datetime | None = None, top: int = TOP
) -> AnswerStats:
    """The figures of the questions seen since ``since`` (all of them without it)."""
    totals = (
        await session.execute(
            _since(
                sa.select(
                    sa.func.count(),
                    sa.func.count().filter(AutoAnswer.answered.is_(True)),
                    sa.func.count().filter(_handed_over()),
                ),
                since,
            )
        )
    ).one()
    top_entries = await _top_entries(session, since, top)
    by_question, by_entry = await _handed_over_groups(session, since, top)
    titles = await entry_titles(
        session, [e.entry_id for e in top_entries] + [e for e, _, _ in by_entry if e]
    )
    return AnswerStats(
        since=since,
        asked=int(totals[0] or 0),
        answered=int(totals[1] or 0),
        handed_over=int(totals[2] or 0),
        top_entries=[
            EntryUse(e.entry_id, titles.get(e.entry_id, ""), e.answers, e.latest_version)
            for e in top_entries
        ],
        handed_over_questions=by_question,
        handed_over_entries=[
            HandedOverEntry(entry_id, titles.get(entry_id, ""), count, sample)
            for entry_id, count, sample in by_entry
        ],
        ratings=await _ratings(session, since),
        handovers=await _handovers(session, since),
    )


async def _top_entries(session: AsyncSession, since: datetime | None, top: int) -> list[EntryUse]:
    answers = sa.func.count().label("answers")
    stmt = _since(
        sa.select(AutoAnswer.entry_id, answers, sa.func.max(AutoAnswer.entry_version))
        .where(AutoAnswer.answered.is_(True), AutoAnswer.entry_id.is_not(None))
        .group_by(AutoAnswer.entry_id)
        .order_by(answers.desc(), AutoAnswer.entry_id)
        .limit(top),
        since,
    )
    return [
        EntryUse(str(entry_id), "", int(count), version)
        for entry_id, count, version in (await session.execute(stmt)).all()
    ]


async def _handed_over_groups(
    session: AsyncSession, since: datetime | None, top: int
) -> tuple[list[HandedOverQuestion], list[tuple[str, int, str]]]:
    """Handed-over questions by folded text, and by best entry (id, count, a sample question).

    SQL groups by the exact text and entry; the folding (NFKC, punctuation) is Python's, on
    those groups — far fewer rows than questions when people ask alike.
    """
    stmt = _since(
        sa.select(AutoAnswer.question, AutoAnswer.entry_id, sa.func.count())
        .where(_handed_over())
        .group_by(AutoAnswer.question, AutoAnswer.entry_id),
        since,
    )
    questions: Counter[str] = Counter()
    shown: dict[str, str] = {}
    entries_of: dict[str, Counter[str]] = defaultdict(Counter)
    entry_counts: Counter[str] = Counter()
    entry_samples: dict[str, Counter[str]] = defaultdict(Counter)
    for question, entry_id, count in (await session.execute(stmt)).all():
        folded = fold_question(question) or question.strip()
        questions[folded] += count
        # The text shown is the first spelling met; ordering makes it stable across runs.
        shown[folded] = min(shown.get(folded, question.strip()), question.strip())
        entry = entry_id or ""
        if entry:
            entries_of[folded][entry] += count
        entry_counts[entry] += count
        entry_samples[entry][question.strip()] += count
    by_question = [
        HandedOverQuestion(shown[q], count, tuple(e for e, _ in _ranked(entries_of[q].items())))
        for q, count in _ranked(questions.items())[:top]
    ]
    by_entry = [
        (entry, count, _ranked(entry_samples[entry].items())[0][0])
        for entry, count in _ranked(entry_counts.items())[:top]
    ]
    return by_question, by_entry


def _ranked(counts: Iterable[tuple[str, int]]) -> list[tuple[str, int]]:
    """Most first, then by text: the same order on every database."""
    return sorted(counts, key=lambda item: (-item[1], item[0]))


async def _ratings(session: AsyncSession, since: datetime | None) -> AnswerRatings:
    # A rating may follow two answers of one ticket (a follow-up answered again): each rating
    # counts once (DISTINCT on its id).
    rated = (
        _since(
            sa.select(Rating.id, Rating.score, Rating.malicious)
            .join(AutoAnswer, AutoAnswer.ticket_id == Rating.ticket_id)
            .where(
                AutoAnswer.answered.is_(True),
                Rating.at >= AutoAnswer.created_at,
                sa.or_(AutoAnswer.handed_over_at.is_(None), Rating.at <= AutoAnswer.handed_over_at),
            ),
            since,
        )
        .distinct()
        .subquery()
    )
    stmt = sa.select(rated.c.score, rated.c.malicious, sa.func.count()).group_by(
        rated.c.score, rated.c.malicious
    )
    ratings = AnswerRatings()
    for score, malicious, count in (await session.execute(stmt)).all():
        if malicious:
            ratings.malicious += count
        else:
            ratings.levels[int(score)] += count
    return ratings


async def _handovers(session: AsyncSession, since: datetime | None) -> dict[str, int]:
    stmt = _since(
        sa.select(AutoAnswer.handover_reason, sa.func.count())
        .where(AutoAnswer.handed_over_at.is_not(None))
        .group_by(AutoAnswer.handover_reason),
        since,
    )
    counts = {reason: 0 for reason in HANDOVER_REASONS}
    for reason, count in (await session.execute(stmt)).all():
        counts[reason or "unknown"] = counts.get(reason or "unknown", 0) + count
    return counts


def policy_id_of(entry_id: str) -> str | None:
    """The policy a passage id ``policy:<policy_id>#<n>`` names (None for an FAQ id)."""
    if not entry_id.startswith(POLICY_PREFIX):
        return None
    return entry_id[len(POLICY_PREFIX) :].rsplit("#", 1)[0]


async def entry_titles(session: AsyncSession, entry_ids: Iterable[str]) -> dict[str, str]:
    """Entry id -> its title as in force: an FAQ entry's question, a policy's title (a passage
    id names its policy). Ids of entries gone are absent."""
    wanted = set(entry_ids)
    faq_ids = sorted(e for e in wanted if policy_id_of(e) is None)
    policies = {e: p for e in wanted if (p := policy_id_of(e)) is not None}
    titles: dict[str, str] = {}
    if faq_ids:
        rows = await session.execute(
            sa.select(FaqEntry.faq_id, FaqEntry.question).where(FaqEntry.faq_id.in_(faq_ids))
        )
        titles.update({faq_id: question for faq_id, question in rows.all()})
    if policies:
        rows = await session.execute(
            sa.select(Policy.policy_id, Policy.title).where(
                Policy.policy_id.in_(sorted(set(policies.values())))
            )
        )
        by_policy = {policy_id: title for policy_id, title in rows.all()}
        titles.update({e: by_policy[p] for e, p in policies.items() if p in by_policy})
    return titles
