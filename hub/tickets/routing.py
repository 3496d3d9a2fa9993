"""Which department a request goes to, and which of its handlers gets it (round-robin).

Department, in order: the first rule in config ``tickets.rules`` whose every criterion
matches; else the department whose ``industries`` include the enterprise's industry; else
``tickets.default_department``; else none (the ticket waits for a dispatcher, 待分派).

Handler: the department's staff with role ``handler`` who are not marked absent, in id order,
the one after the last handler who got a ticket there (``routing_cursor``). The cursor row is
locked for the rest of the write transaction (PostgreSQL ``FOR UPDATE``; SQLite has one
writer), so two tickets arriving together go to two handlers.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.vocab import TicketCategory
from hub.store.dialect import insert_ignore
from hub.store.models import Department, Enterprise, RoutingCursor, Staff
from hub.tickets.settings import TicketRule

HANDLER_ROLE = "handler"
_CURSOR = cast(sa.Table, RoutingCursor.__table__)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


# Words that say what kind of request it is, checked in this order (a complaint that asks a
# question is still a complaint). Anything else is a request for help (求助).
_CATEGORY_WORDS: tuple[tuple[TicketCategory, tuple[str, ...]], ...] = (
    (TicketCategory.COMPLAINT, ("投诉", "举报", "不作为", "乱收费")),
    (TicketCategory.SUGGESTION, ("建议", "意见")),
    (TicketCategory.CONSULTATION, ("咨询", "请问", "问一下", "怎么办理", "如何", "是否", "?")),
)


def guess_category(text: str) -> TicketCategory:
    """A first guess at the category from the words used; a clerk can correct it."""
    folded = _fold(text)
    for category, words in _CATEGORY_WORDS:
        if any(w in folded for w in words):
            return category
    return TicketCategory.REQUEST


@dataclass(frozen=True, slots=True)
class RouteFacts:
    """What routing looks at."""

    text: str
    industry: str = ""
    region: str = ""
    category: TicketCategory | None = None


def matching_rule(rules: Sequence[TicketRule], facts: RouteFacts) -> TicketRule | None:
    """The first rule whose every given criterion matches (pure)."""
    text = _fold(facts.text)
    for rule in rules:
        if rule.keywords and not any(_fold(k) in text for k in rule.keywords):
            continue
        if rule.industry is not None and rule.industry != facts.industry:
            continue
        if rule.region is not None and rule.region != facts.region:
            continue
        if rule.category is not None and rule.category is not facts.category:
            continue
        return rule
    return None


async def department_by_code(session: AsyncSession, code: str) -> Department | None:
    return await session.scalar(sa.select(Department).where(Department.code == code))


async def route_department(
    session: AsyncSession,
    rules: Sequence[TicketRule],
    facts: RouteFacts,
    default_department: str | None = None,
    *,
    departments: Sequence[Department] | None = None,
) -> tuple[Department | None, str]:
    """The department and why (``rule:N``, ``industry``, ``default``, ``none``).

    A rule naming a department code that does not exist is skipped (and said in the reason)
    rather than losing the ticket. ``departments``: every department in id order, read once
    for many tickets (:class:`RoutingCache`); else each is looked up as needed.
    """

    async def by_code(code: str) -> Department | None:
        if departments is None:
            return await department_by_code(session, code)
        return next((d for d in departments if d.code == code), None)

    for index, rule in enumerate(rules):
        if matching_rule([rule], facts) is None:
            continue
        department = await by_code(rule.department)
        if department is not None:
            return department, f"rule:{index}"
    if facts.industry:
        if departments is None:
            departments = (
                await session.scalars(sa.select(Department).order_by(Department.id))
            ).all()
        for department in departments:
            if facts.industry in {i for i in department.industries.split(";") if i}:
                return department, "industry"
    if default_department:
        department = await by_code(default_department)
        if department is not None:
            return department, "default"
    return None, "none"


async def enterprise_facts(
    session: AsyncSession, enterprise_id: int | None, text: str, category: TicketCategory | None
) -> RouteFacts:
    enterprise = await session.get(Enterprise, enterprise_id) if enterprise_id is not None else None
    return RouteFacts(
        text=text,
        industry=enterprise.industry if enterprise else "",
        region=enterprise.region if enterprise else "",
        category=category,
    )


async def handlers_of(session: AsyncSession, department_id: int) -> list[Staff]:
    """The department's handlers who are not absent, in id (round-robin) order."""
    rows = await session.scalars(
        sa.select(Staff)
        .where(
            Staff.department_id == department_id,
            Staff.role == HANDLER_ROLE,
            Staff.absent.is_(False),
        )
        .order_by(Staff.id)
    )
    return list(rows.all())


async def next_handler(session: AsyncSession, department_id: int, now: datetime) -> Staff | None:
    """The next present handler after the department's last one; None when nobody is there."""
    handlers = await handlers_of(session, department_id)
    if not handlers:
        return None
    last = await _locked_cursor(session, department_id, now)
    return await _advance(session, department_id, handlers, last, now)


async def _locked_cursor(session: AsyncSession, department_id: int, now: datetime) -> int | None:
    """The department's last handler, its cursor row locked for the rest of the transaction."""
    await session.execute(
        insert_ignore(
            session, _CURSOR,
            {"department_id": department_id, "last_handler_id": None, "updated_at": now},
            conflict_columns=[_CURSOR.c.department_id],
        )
    )  # fmt: skip
    last: int | None = await session.scalar(
        sa.select(RoutingCursor.last_handler_id)
        .where(RoutingCursor.department_id == department_id)
        .with_for_update()
    )
    return last


async def _advance(
    session: AsyncSession, department_id: int, handlers: Sequence[Staff], last: int | None,
    now: datetime,
) -> Staff:  # fmt: skip
    chosen = next((h for h in handlers if last is None or h.id > last), handlers[0])
    # On the session's connection: nothing the caller holds pending is flushed first (a new
    # ticket waiting for its transaction's one flush, hub.tickets.lifecycle ``flush=False``).
    connection = await session.connection()
    await connection.execute(
        sa.update(RoutingCursor)
        .where(RoutingCursor.department_id == department_id)
        .values(last_handler_id=chosen.id, updated_at=now)
    )
    return chosen


# RoutingCache's reads, built once (the inbound worker loads the cache per chunk).
_ALL_DEPARTMENTS: Final = sa.select(Department).order_by(Department.id)
_PRESENT_HANDLERS: Final = (
    sa.select(Staff)
    .where(Staff.role == HANDLER_ROLE, Staff.absent.is_(False), Staff.department_id.is_not(None))
    .order_by(Staff.id)
)


@dataclass(slots=True)
class RoutingCache:
    """The departments, their present handlers and their round-robin cursors, read once for
    the many tickets one write transaction opens (the inbound worker's chunk of replies).

    Valid for that transaction only. Each ticket still moves its department's cursor row (one
    ``UPDATE``); the row is read and locked once. After a savepoint rolled back, call
    :meth:`forget_cursors`: the rolled-back moves are read again from the database.
    """

    departments: list[Department]
    handlers: dict[int, list[Staff]]
    cursors: dict[int, int | None] = field(default_factory=dict)

    @classmethod
    async def load(cls, session: AsyncSession) -> RoutingCache:
        """Every department and every present handler: two statements."""
        departments = list((await session.scalars(_ALL_DEPARTMENTS)).all())
        handlers: dict[int, list[Staff]] = {}
        for staff in await session.scalars(_PRESENT_HANDLERS):
            handlers.setdefault(staff.department_id or 0, []).append(staff)
        return cls(departments, handlers)

    async def next_handler(
        self, session: AsyncSession, department_id: int, now: datetime
    ) -> Staff | None:
        """:func:`next_handler` from the cache: one ``UPDATE`` of the cursor."""
        handlers = self.handlers.get(department_id)
        if not handlers:
            return None
        if department_id not in self.cursors:
            self.cursors[department_id] = await _locked_cursor(session, department_id, now)
        chosen = await _advance(session, department_id, handlers, self.cursors[department_id], now)
        self.cursors[department_id] = chosen.id
        return chosen

    def forget_cursors(self) -> None:
        """Read the cursors again (a savepoint that moved one was rolled back)."""
        self.cursors.clear()
