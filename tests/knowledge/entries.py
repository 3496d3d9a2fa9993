"""Small FAQ entries for the knowledge tests, as retrieval sees them."""

from __future__ import annotations

from hub.knowledge.corpus import faq_entry
from hub.knowledge.verdict import Entry
from hub.store.knowledge import FaqEntry


def faq(
    faq_id: str,
    question: str,
    alternates: str = "",
    *,
    answer: str | None = None,
    department: str | None = None,
) -> Entry:
    """An FAQ entry (version 1); its answer ``<question>的答案`` unless given."""
    return faq_entry(
        FaqEntry(
            faq_id=faq_id,
            version=1,
            question=question,
            alternates=alternates,
            answer=answer if answer is not None else f"{question}的答案",
            department=department,
            source="《办事指南》",
        )
    )
