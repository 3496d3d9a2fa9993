"""FAQ entries, policies and ``auto_answer`` rows written straight into the database, for the
answer statistics, the answer page and the suggestions a handler sees."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from hub.core.vocab import TicketState
from hub.store.db import Database
from hub.store.models import AutoAnswer, FaqEntry, FaqEntryVersion, Policy
from tests.ticket_factory import make_org, make_ticket


async def add_faq(
    db: Database,
    faq_id: str,
    question: str,
    answer: str,
    *,
    now: datetime,
    source: str = "",
    version: int = 1,
    valid_until: date | None = None,
    retired: bool = False,
    history: dict[int, dict[str, Any]] | None = None,
) -> None:
    """The entry in force at ``version``; each version's body from ``history`` (default: the
    entry's own fields)."""
    async with db.write() as s:
        s.add(FaqEntry(
            faq_id=faq_id, version=version, question=question, answer=answer, source=source,
            valid_until=valid_until, retired=retired, created_at=now, updated_at=now,
        ))  # fmt: skip
        bodies = history or {version: {"question": question, "answer": answer, "source": source}}
        for number, body in bodies.items():
            s.add(FaqEntryVersion(faq_id=faq_id, version=number, body=body, created_at=now,
                                  created_by="test"))  # fmt: skip


async def add_policy(
    db: Database, policy_id: str, title: str, *, now: datetime, summary: str = "",
    apply_by: date | None = None, text: str | None = None,
) -> None:  # fmt: skip
    """A policy whose full text is ``text`` (default: its summary)."""
    async with db.write() as s:
        s.add(Policy(policy_id=policy_id, title=title, summary=summary, apply_by=apply_by,
                     text=summary if text is None else text, created_at=now,
                     updated_at=now))  # fmt: skip


async def add_auto_answer(
    db: Database,
    question: str,
    *,
    at: datetime,
    entry_id: str | None = None,
    entry_version: int | None = 1,
    answered: bool = False,
    answer: str | None = None,
    ticket_id: int | None = None,
    token: str | None = None,
    handed_over_at: datetime | None = None,
    handover_reason: str | None = None,
    suggestions: list[dict[str, Any]] | None = None,
    score: float = 0.0,
) -> int:
    async with db.write() as s:
        row = AutoAnswer(
            question=question, entry_id=entry_id, entry_version=entry_version if entry_id else None,
            answered=answered, answer=answer, ticket_id=ticket_id, token=token, score=score,
            margin=0.0, suggestions=suggestions or [], created_at=at,
            handed_over_at=handed_over_at, handover_reason=handover_reason,
        )  # fmt: skip
        s.add(row)
        await s.flush()
        return row.id


async def one_ticket(
    db: Database, number: str, *, at: datetime, state: TicketState = TicketState.RESOLVED
) -> int:
    """A ticket of a fresh organisation (make_org: 甲机械有限公司, 联系人1), received at ``at``."""
    org = await make_org(db, at)
    return await make_ticket(db, org, number=number, received_at=at,
                             deadline_at=at + timedelta(days=7), state=state)  # fmt: skip
