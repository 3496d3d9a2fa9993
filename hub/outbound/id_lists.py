"""``id IN (...)`` of a fixed length, for hot statements built once per length.

SQLAlchemy's ``bindparam(expanding=True)`` renders the list into the statement at every
execution, and a statement built per call computes its cache key every time: on the
dispatcher's path (a claim and a record per group of up to 64 messages) each cost more than
the SQL itself. A statement whose ``IN`` has one named parameter per id is compiled once per
length and reused (``functools.lru_cache`` on the length); :func:`id_params` binds it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import InstrumentedAttribute


def in_ids(
    column: sa.ColumnElement[int] | InstrumentedAttribute[int], count: int
) -> sa.ColumnElement[bool]:
    """``column IN (:b_id0, …, :b_id<count-1>)``."""
    return column.in_([sa.bindparam(f"b_id{i}") for i in range(count)])


def id_params(ids: Sequence[int]) -> dict[str, Any]:
    """The parameters of :func:`in_ids` for ``ids``."""
    return {f"b_id{i}": message_id for i, message_id in enumerate(ids)}
