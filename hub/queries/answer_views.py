"""One question's automatic answer as people see it: the public answer page (``/a/{token}``)
and the suggestions a handler sees on a ticket (``hub tickets show``, the API, the admin page).

Both read ``auto_answer`` (:mod:`hub.store.knowledge`). The page shows the answer exactly as it
was sent (``auto_answer.answer``) and the source of the version that was used; a handler sees
each suggested entry as it is *now* (its version in force), told when it changed, expired or
was retired since the suggestion.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.knowledge.corpus import policy_entries
from hub.queries.answers import policy_id_of
from hub.store.models import AutoAnswer, FaqEntry, FaqEntryVersion, Policy, RatingLink, Ticket

__all__ = [
    "AnswerPage",
    "SuggestionView",
    "answer_page",
    "suggestion_views",
    "ticket_suggestions",
]

#: How many suggestions a handler sees.
SUGGESTIONS_SHOWN = 3


@dataclass(frozen=True, slots=True)
class AnswerPage:
    """What the public answer page shows: nothing personal beyond the enterprise's question."""

    question: str
    answer: str
    source: str
    ticket_number: str | None
    rating_token: str | None
    """The ticket's live rating link (unused, not expired), None: rate by reply."""
    answered_at: datetime
    handed_over: bool


async def answer_page(session: AsyncSession, token: str, now: datetime) -> AnswerPage | None:
    """The page of ``token``; None when no answer was sent under it."""
    row = await session.scalar(sa.select(AutoAnswer).where(AutoAnswer.token == token))
    if row is None or not row.answered or row.answer is None:
        return None
    number = None
    rating_token = None
    if row.ticket_id is not None:
        number = await session.scalar(sa.select(Ticket.number).where(Ticket.id == row.ticket_id))
        rating_token = await session.scalar(
            sa.select(RatingLink.token)
            .where(
                RatingLink.ticket_id == row.ticket_id,
                RatingLink.used_at.is_(None),
                RatingLink.expires_at > now,
            )
            .order_by(RatingLink.created_at.desc())
            .limit(1)
        )
    return AnswerPage(
        question=row.question,
        answer=row.answer,
        source=await _source(session, row.entry_id, row.entry_version),
        ticket_number=number,
        rating_token=rating_token,
        answered_at=row.created_at,
        handed_over=row.handed_over_at is not None,
    )


async def _source(session: AsyncSession, entry_id: str | None, version: int | None) -> str:
    """依据 of the entry version that answered: the FAQ version's source (else the entry's in
    force), a policy passage's policy title."""
    if not entry_id:
        return ""
    policy_id = policy_id_of(entry_id)
    if policy_id is not None:
        title = await session.scalar(sa.select(Policy.title).where(Policy.policy_id == policy_id))
        return f"《{title}》" if title else ""
    if version is not None:
        body = await session.scalar(
            sa.select(FaqEntryVersion.body).where(
                FaqEntryVersion.faq_id == entry_id, FaqEntryVersion.version == version
            )
        )
        if isinstance(body, dict) and body.get("source"):
            return str(body["source"])
    source = await session.scalar(sa.select(FaqEntry.source).where(FaqEntry.faq_id == entry_id))
    return source or ""


async def ticket_suggestions(session: AsyncSession, ticket_id: int) -> list[dict[str, Any]]:
    """The ticket's latest suggestions (entry id, version, title, score; best first, at most
    three): those of its latest question that has any; an empty list without."""
    suggestions = await session.scalar(
        sa.select(AutoAnswer.suggestions)
        .where(AutoAnswer.ticket_id == ticket_id)
        .order_by(AutoAnswer.created_at.desc(), AutoAnswer.id.desc())
        .limit(1)
    )
    if not suggestions:
        return []
    return [
        {
            "entry_id": str(s.get("entry_id", "")),
            "version": s.get("version"),
            "title": str(s.get("title", "")),
            "score": float(s.get("score") or 0.0),
        }
        for s in suggestions[:SUGGESTIONS_SHOWN]
        if isinstance(s, dict)
    ]


@dataclass(frozen=True, slots=True)
class SuggestionView:
    """A suggested entry as a handler reads it: its answer now, and what changed since."""

    entry_id: str
    title: str
    score: float
    answer: str
    source: str
    change: str | None
    """Said in Chinese when the entry changed, expired, was retired or is gone; None if not."""
    usable: bool = True
    """The handler may answer with it: it has an answer, in force (not expired or retired)."""


async def suggestion_views(
    session: AsyncSession, suggestions: list[dict[str, Any]], today: date
) -> list[SuggestionView]:
    """Each suggestion with the current version of its entry (``today``: the hub's day)."""
    views = []
    for s in suggestions:
        entry_id = s["entry_id"]
        policy_id = policy_id_of(entry_id)
        if policy_id is not None:
            views.append(await _policy_view(session, s, policy_id, today))
        else:
            views.append(await _faq_view(session, s, today))
    return views


async def _faq_view(session: AsyncSession, s: dict[str, Any], today: date) -> SuggestionView:
    entry = await session.scalar(sa.select(FaqEntry).where(FaqEntry.faq_id == s["entry_id"]))
    if entry is None:
        return SuggestionView(s["entry_id"], s["title"], s["score"], "", "", "该条目已删除",
                              usable=False)  # fmt: skip
    changes = []
    if s.get("version") is not None and entry.version != s["version"]:
        changes.append(f"建议时为第 {s['version']} 版，现为第 {entry.version} 版")
    if entry.valid_until is not None and entry.valid_until < today:
        changes.append(f"已过有效期（{entry.valid_until.isoformat()}），不可再用于答复")
    if entry.retired:
        changes.append("已停用")
    expired = entry.valid_until is not None and entry.valid_until < today
    return SuggestionView(
        entry.faq_id, entry.question, s["score"], entry.answer, entry.source or "",
        "；".join(changes) or None, usable=bool(entry.answer) and not expired and not entry.retired,
    )  # fmt: skip


async def _policy_view(
    session: AsyncSession, s: dict[str, Any], policy_id: str, today: date
) -> SuggestionView:
    policy = await session.scalar(sa.select(Policy).where(Policy.policy_id == policy_id))
    if policy is None:
        return SuggestionView(s["entry_id"], s["title"], s["score"], "", "", "该政策已删除",
                              usable=False)  # fmt: skip
    changes = []
    # The passage as the policy's text splits now (the text may have changed since).
    passage = next((e for e in policy_entries(policy) if e.entry_id == s["entry_id"]), None)
    if passage is None:
        changes.append("政策文本已修改，建议时的段落已不存在")
    if policy.apply_by is not None and policy.apply_by < today:
        changes.append(f"政策申报已截止（{policy.apply_by.isoformat()}），不可再用于答复")
    answer = passage.answer if passage is not None else policy.summary or policy.title
    closed = policy.apply_by is not None and policy.apply_by < today
    return SuggestionView(
        s["entry_id"], policy.title, s["score"], answer, f"《{policy.title}》",
        "；".join(changes) or None, usable=passage is not None and not closed,
    )  # fmt: skip
