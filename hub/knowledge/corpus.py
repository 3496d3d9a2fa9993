"""The knowledge base as retrieval reads it: FAQ entries in force and policy passages.

- An FAQ entry (``faq_entry``, not retired) is one :class:`Entry` by its ``faq_id`` and
  version: matched by its question and alternates, answering with its answer.
- A policy (``policy``, step 7's library) is cut into passages: its text's paragraphs, and
  within a paragraph its articles (第一条 …) and numbered items (一、 （一） 1. …), each with the
  policy's title. Passage n is ``policy:<policy_id>#<n>``, valid until the policy's ``apply_by``.
  The title and department lines at the head of a text are no passage of their own; a policy
  with no text answers by its summary.

The builders are pure (tests and the evaluation build entries from CSV files through them);
:func:`load_entries` and :func:`library_fingerprint` read the database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.knowledge.verdict import Entry
from hub.store.enterprise_data import Policy
from hub.store.knowledge import FaqEntry

__all__ = [
    "LibraryFingerprint",
    "faq_entry",
    "library_fingerprint",
    "load_entries",
    "policy_entries",
    "split_passages",
]

#: A passage longer than this is cut again at sentence ends.
MAX_PASSAGE_CHARS = 300

# Where an article or a numbered item starts inside a paragraph: 第一条, 一、, （一）, (1), 1. 1、
_ITEM_START = re.compile(
    r"(?=第[一二三四五六七八九十百零〇\d]+条)"
    r"|(?<=[。；;：:\s])(?=(?:[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[）)]"
    r"|\d{1,2}[.、](?!\d)))"
)
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")


def faq_entry(faq: FaqEntry) -> Entry:
    """An FAQ entry as retrieval indexes it (the row need not be saved: the evaluation builds
    them from a CSV file)."""
    others = tuple(a.strip() for a in re.split(r"[;；]", faq.alternates or "") if a.strip())
    question = faq.question.strip()
    return Entry(
        entry_id=faq.faq_id,
        version=faq.version or 1,
        kind="faq",
        title=question,
        questions=(question, *others),
        answer=faq.answer.strip(),
        source=(faq.source or "").strip(),
        department=faq.department,
        valid_until=faq.valid_until,
    )


def split_passages(text: str, *, skip: Sequence[str] = ()) -> list[str]:
    """A policy text's passages: paragraphs, cut at articles and numbered items, a long one
    cut again at sentence ends. Lines equal to one of ``skip`` (the title, the department)
    are left out."""
    skipped = {s.strip() for s in skip if s and s.strip()}
    passages: list[str] = []
    for paragraph in text.splitlines():
        paragraph = paragraph.strip()
        if not paragraph or paragraph in skipped:
            continue
        for item in _ITEM_START.split(paragraph):
            passages.extend(_cut_long(item.strip()))
    return [p for p in passages if p]


def _cut_long(passage: str) -> list[str]:
    if len(passage) <= MAX_PASSAGE_CHARS:
        return [passage]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(passage):
        if current and len(current) + len(sentence) > MAX_PASSAGE_CHARS:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return pieces


def policy_entries(policy: Policy) -> list[Entry]:
    """A policy's passages as entries ``policy:<policy_id>#<n>`` (n from 1), each matched by
    the policy's title with the passage, answering with the passage."""
    title = policy.title
    passages = split_passages(policy.text or "", skip=(title, policy.department or ""))
    passages = passages or [policy.summary or title]
    return [
        Entry(
            entry_id=f"policy:{policy.policy_id}#{n}",
            version=1,
            kind="policy",
            title=title,
            questions=(f"{title} {passage}",),
            answer=passage,
            source=f"《{title}》",
            department=policy.department,
            valid_until=policy.apply_by,
            url=policy.url,
        )
        for n, passage in enumerate(passages, start=1)
    ]


async def load_entries(session: AsyncSession) -> list[Entry]:
    """Every entry that may answer: the FAQ entries not retired, and every policy's passages
    (expiry is checked when a question is asked, against that day)."""
    faqs = await session.scalars(
        sa.select(FaqEntry).where(FaqEntry.retired.is_(False)).order_by(FaqEntry.faq_id)
    )
    entries = [faq_entry(faq) for faq in faqs]
    policies = await session.scalars(sa.select(Policy).order_by(Policy.policy_id))
    for policy in policies:
        entries.extend(policy_entries(policy))
    return entries


@dataclass(frozen=True, slots=True)
class LibraryFingerprint:
    """What changes whenever an entry that may answer changes: counts, the FAQ versions'
    sum (a new version under a clock that did not move), the last updates."""

    faq_count: int
    faq_versions: int
    faq_updated: datetime | None
    policy_count: int
    policy_updated: datetime | None


async def library_fingerprint(session: AsyncSession) -> LibraryFingerprint:
    """Two aggregate queries, cheap enough to run every ``refresh_s``."""
    faq = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(FaqEntry.version), 0),
                sa.func.max(FaqEntry.updated_at),
            ).where(FaqEntry.retired.is_(False))
        )
    ).one()
    policy = (
        await session.execute(sa.select(sa.func.count(), sa.func.max(Policy.updated_at)))
    ).one()
    return LibraryFingerprint(
        faq_count=int(faq[0]),
        faq_versions=int(faq[1]),
        faq_updated=faq[2],
        policy_count=int(policy[0]),
        policy_updated=policy[1],
    )
