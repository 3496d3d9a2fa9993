"""What the enterprise pages (一企一档) show, assembled from the read side.

The search: a filter form whose fields are the audience language's (hub/outbound/audience.py),
turned into one expression (:func:`form_expression`) and parsed by the same parser the
schedules and campaigns use, so a list here is the audience a campaign with that expression
would reach. The dossier: the registry's dossier (hub/queries/registry.enterprise_dossier:
fields, contacts masked by the reader's role with their opt-outs, credit records, licences,
annual reports, message and ticket counts with the latest of each), the visit dossier
(hub/visits/dossier.build_dossier: the policies pushed and whether they were answered, the
last visit's problems), the replies received and every visit with its state. No SQL here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from hub.core.errors import AudienceError
from hub.core.vocab import CreditStatus, LabelledEnum, Stage, Tier
from hub.outbound.audience import Audience, parse_audience
from hub.queries.registry import (
    EnterpriseFilter,
    count_enterprises,
    enterprise_dossier,
    list_enterprises,
)
from hub.queries.replies import ReplyFilter, ReplyRow, list_replies
from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.visits.dossier import Dossier, build_dossier
from hub.visits.status import VisitRow, list_visits

__all__ = [
    "CHOICE_FIELDS",
    "PAGE_SIZE",
    "RECENT",
    "TEXT_FIELDS",
    "DossierPage",
    "EnterpriseSearch",
    "SearchResult",
    "dossier_page",
    "form_expression",
    "search_enterprises",
    "when_in",
]

#: Enterprises per page of the list.
PAGE_SIZE: Final = 50
#: The latest messages, replies and tickets a dossier shows (the rest a click away).
RECENT: Final = 10
#: The form's multiple-choice fields: audience field -> its values and labels.
CHOICE_FIELDS: Final[Mapping[str, type[LabelledEnum]]] = {
    "tier": Tier,
    "stage": Stage,
    "credit": CreditStatus,
}
#: The form's text fields: audience field -> (its label, the operator the form writes).
TEXT_FIELDS: Final[Mapping[str, tuple[str, str]]] = {
    "industry": ("行业", "="),
    "region": ("区域", "="),
    "tags": ("标签包含", "~"),
    "officer": ("联络员工号", "="),
    "uscc": ("统一社会信用代码", "="),
}


@dataclass(frozen=True, slots=True)
class EnterpriseSearch:
    """The list page's query: the form's fields, a free expression, a name, the page."""

    choices: Mapping[str, Sequence[str]] = field(default_factory=dict)
    texts: Mapping[str, str] = field(default_factory=dict)
    expression: str = ""
    name: str = ""
    before: int | None = None
    start: int = 0


def form_expression(search: EnterpriseSearch) -> str:
    """The audience expression the form's fields and the free expression say together.

    Each filled field is one term (several choices of a field are its ``|`` values; a text
    field may hold ``a|b`` itself); the free expression's terms are ANDed after them.
    """
    terms: list[str] = []
    for name in CHOICE_FIELDS:
        values = [v.strip() for v in search.choices.get(name, ()) if v.strip()]
        if values:
            terms.append(f"{name}={'|'.join(values)}")
    for name, (_label, op) in TEXT_FIELDS.items():
        value = search.texts.get(name, "").strip()
        if name == "officer":  # codes are stored upper-case (LL001), as the CLI's --officer
            value = value.upper()
        if value:
            terms.append(f"{name}{op}{value}")
    if search.expression.strip():
        terms.append(search.expression.strip())
    return ",".join(terms)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One page of the list: the expression searched, its rows, the total, or why not."""

    expression: str
    rows: Sequence[Mapping[str, Any]] = ()
    total: int = 0
    start: int = 0
    error: str | None = None

    @property
    def next_before(self) -> int | None:
        """The ``before`` of the next page; None on the last."""
        shown = self.start + len(self.rows)
        return int(self.rows[-1]["id"]) if self.rows and shown < self.total else None


async def search_enterprises(
    db: Database, search: EnterpriseSearch, visibility: Visibility, *, tz: ZoneInfo,
    page_size: int = PAGE_SIZE,
) -> SearchResult:  # fmt: skip
    """The page of enterprises ``search`` asks for, newest first, within the reader's scope.

    A bad expression is no error to the caller: the result carries the parser's Chinese
    message and no rows.
    """
    expression = form_expression(search)
    try:
        audience: Audience = parse_audience(expression)
    except AudienceError as exc:
        return SearchResult(expression, error=str(exc))
    name = search.name.strip() or None
    wanted = EnterpriseFilter(
        audience=audience, name_contains=name, before=search.before, limit=page_size
    )
    total = await count_enterprises(db, wanted, visibility)
    rows = await list_enterprises(db, wanted, visibility, tz=tz)
    return SearchResult(audience.expression, rows, total, search.start)


@dataclass(frozen=True, slots=True)
class DossierPage:
    """Everything the dossier page shows (see the module docstring)."""

    registry: Mapping[str, Any]
    visit_dossier: Dossier
    replies: Sequence[ReplyRow]
    visits: Sequence[VisitRow]
    visibility: Visibility

    def reply_sender(self, row: ReplyRow) -> str:
        """The reply's sender as the reader may see it (masked unless their role shows it)."""
        reply = row.reply
        return self.visibility.address(reply.channel, reply.sender) if reply.sender else ""


async def dossier_page(
    db: Database, uscc: str, visibility: Visibility, now: datetime, *, tz: ZoneInfo,
    recent: int = RECENT,
) -> DossierPage | None:  # fmt: skip
    """The dossier of the enterprise ``uscc``; None when unknown or outside the reader's scope."""
    registry = await enterprise_dossier(db, uscc, visibility, tz=tz, recent=recent)
    if registry is None:
        return None
    enterprise_id = int(registry["id"])
    replies = await list_replies(db, ReplyFilter(enterprise_uscc=uscc, limit=recent), visibility)
    async with db.read() as session:
        visit_dossier = await build_dossier(session, enterprise_id, now, tz=tz)
        visits = await list_visits(
            session, period=None, officer_code=None, state=None,
            today=now.astimezone(tz).date(), visibility=visibility, enterprise_id=enterprise_id,
        )  # fmt: skip
    return DossierPage(registry, visit_dossier, replies, visits, visibility)


def when_in(tz: ZoneInfo) -> Callable[[str | datetime | date | None], str]:
    """A template's time: ``2027-03-01 10:00`` in the hub's zone (ISO text, datetime or date)."""

    def when(value: str | datetime | date | None) -> str:
        if value is None or value == "":
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        return value.isoformat()

    return when
