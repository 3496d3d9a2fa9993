"""Ticket numbers: ``GD`` + receipt day (yyyymmdd, hub time zone) + a 4-digit daily sequence.

The format is the one :mod:`hub.inbound.classify.classifier` recognises in progress queries. The
counter lives in ``ticket_number_seq`` and is bumped by one upsert (``INSERT … ON CONFLICT DO UPDATE
… RETURNING``) inside the ticket's own write transaction: PostgreSQL locks the day's row until that
transaction ends and SQLite serialises writers, so two tickets never get the same number.
"""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningInsert

from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.store.dialect import dialect_insert, dialect_name
from hub.store.models import TicketNumberSeq

PREFIX = "GD"
MAX_PER_DAY = 9999

_SEQ = cast(sa.Table, TicketNumberSeq.__table__)


@functools.cache
def _bump(dialect: str) -> ReturningInsert[Any]:
    """The day's upsert, built once per dialect: the day is a parameter, so every ticket's
    statement is the same (one cached compilation, no values to coerce)."""
    return (
        dialect_insert(dialect, _SEQ)
        .on_conflict_do_update(index_elements=[_SEQ.c.day], set_={"last": _SEQ.c.last + 1})
        .returning(_SEQ.c.last)
    )


def format_number(day: date, seq: int) -> str:
    """``GD202610080001`` for the first ticket received on 8 October 2026."""
    return f"{PREFIX}{day:%Y%m%d}{seq:04d}"


async def next_ticket_number(
    session: AsyncSession, received_at: datetime, tz: ZoneInfo = SHANGHAI
) -> str:
    """The next number for the local day of ``received_at`` (counts in the caller's transaction)."""
    day = received_at.astimezone(tz).date()
    # On the session's connection: what the caller holds pending is not flushed first (the
    # counter needs none of it), so a transaction's new tickets can wait for one flush.
    connection = await session.connection()
    bumped = await connection.execute(_bump(dialect_name(session)), {"day": day, "last": 1})
    seq = int(bumped.scalar_one())
    if seq > MAX_PER_DAY:
        raise UsageError(f"{day:%Y-%m-%d} 的工单编号已用完（每日最多 {MAX_PER_DAY} 件）")
    return format_number(day, seq)
