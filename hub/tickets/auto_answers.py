"""The automatic answer a ticket was resolved with, and its handing over to a person.

A question answered from the knowledge base is a ticket resolved by the assistant
(:mod:`hub.inbound.assistant`) with an ``auto_answer`` row linked to it. When the enterprise asks
for a person (人工), rates the answer badly (≤2) or follows it up with another question, the
ticket is reopened to its department as a normal ticket and the row records when and why
(``handed_over_at``, ``handover_reason``); it stays linked, so the handler sees the answer that
was suggested. All in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.models import AutoAnswer

__all__ = ["HANDOVER_REASONS", "HandoverReason", "answered_automatically", "mark_handed_over"]

HandoverReason = Literal["human", "bad_rating", "follow_up"]
#: Why a person took over an automatic answer, as the ticket's reopening says it.
HANDOVER_REASONS: Final[dict[str, str]] = {
    "human": "企业回复“人工”，转人工服务",
    "bad_rating": "智能答复差评，转人工服务",
    "follow_up": "企业对智能答复追问，转人工服务",
}


async def answered_automatically(session: AsyncSession, ticket_id: int) -> AutoAnswer | None:
    """The ticket's automatic answer that still stands (answered, not handed over)."""
    return await session.scalar(
        sa.select(AutoAnswer)
        .where(
            AutoAnswer.ticket_id == ticket_id,
            AutoAnswer.answered.is_(True),
            AutoAnswer.handed_over_at.is_(None),
        )
        .order_by(AutoAnswer.id.desc())
        .limit(1)
    )


async def mark_handed_over(
    session: AsyncSession, ticket_id: int, reason: HandoverReason, now: datetime
) -> AutoAnswer | None:
    """Record that a person takes over the ticket's automatic answer; None when it has none."""
    row = await answered_automatically(session, ticket_id)
    if row is not None:
        row.handed_over_at = now
        row.handover_reason = reason
    return row
