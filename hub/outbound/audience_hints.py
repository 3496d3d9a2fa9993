"""Why an audience matched nobody: values the registry does not have, and the nearest it has.

``industry=制造夜`` is a typo the database cannot tell from a real empty audience; this looks up
the values a term names among the values the registry holds (industries, regions, officer
codes, tags) and suggests the nearest ones, so ``hub send`` can say what to fix. Reads only.
"""

from __future__ import annotations

import difflib
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.outbound.audience import Audience, Term
from hub.store.models import Enterprise, EnterpriseTag, Officer

__all__ = ["audience_hints"]

_COLUMNS: Final[dict[str, Any]] = {
    "industry": Enterprise.industry,
    "region": Enterprise.region,
    "officer": Officer.code,
    "tags": EnterpriseTag.tag,
}
_FIELD_LABELS: Final = {"industry": "行业", "region": "区域", "officer": "联络员", "tags": "标签"}
_SHOWN: Final = 8  # known values listed when none is near


async def audience_hints(session: AsyncSession, audience: Audience) -> list[str]:
    """One line per value of a positive term that no enterprise has, with the nearest known."""
    hints: list[str] = []
    for term in audience.terms:
        if term.op not in ("=", "~") or term.field not in _COLUMNS:
            continue
        known = await _known_values(session, term)
        for value in term.values:
            if value not in known:
                hints.append(_hint(term.field, value, sorted(known)))
    return hints


async def _known_values(session: AsyncSession, term: Term) -> set[str]:
    column = _COLUMNS[term.field]
    rows = await session.scalars(sa.select(column).where(column.is_not(None)).distinct())
    return {str(v) for v in rows if str(v).strip()}


def _hint(field: str, value: str, known: list[str]) -> str:
    label = f"{field}（{_FIELD_LABELS[field]}）"
    if not known:
        return f"{label} 没有“{value}”：登记库中还没有任何{_FIELD_LABELS[field]}"
    near = difflib.get_close_matches(value, known, n=3, cutoff=0.5)
    if near:
        return f"{label} 没有“{value}”，您是不是要找：{'、'.join(near)}"
    listed = "、".join(known[:_SHOWN]) + ("等" if len(known) > _SHOWN else "")
    return f"{label} 没有“{value}”，现有：{listed}"
