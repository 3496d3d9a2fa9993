"""Who gets a message: audience expressions over the enterprise registry.

Grammar (docs/design.md): ``field=value`` terms joined by ``,`` (AND); ``|`` between values (OR);
``!=`` negates; ``tags~X`` means the tags contain X. Fields: tier, industry, region, stage,
tags, credit, officer, plus ``uscc`` to name enterprises directly and ``all`` for everyone.
Tier, stage and credit values may be English or Chinese (``tier=重点|general``).

    tier=key|general,industry=制造业,tags~专精特新
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from hub.core.errors import AudienceError
from hub.core.identifiers import normalize_uscc
from hub.core.vocab import CreditStatus, LabelledEnum, Stage, Tier
from hub.store.models import Enterprise, EnterpriseTag, Officer

Operator = Literal["=", "!=", "~", "!~"]
_TERM = re.compile(r"^\s*([a-z_]+)\s*(!=|=|!~|~)\s*(.+?)\s*$")
_ENUM_FIELDS: dict[str, type[LabelledEnum]] = {"tier": Tier, "stage": Stage, "credit": CreditStatus}
_TEXT_FIELDS = ("industry", "region", "officer", "uscc")
FIELDS = (*_ENUM_FIELDS, *_TEXT_FIELDS, "tags")


@dataclass(frozen=True, slots=True)
class Term:
    """One condition: ``field op value|value``."""

    field: str
    op: Operator
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Audience:
    """A parsed audience expression; ``terms`` empty means every enterprise."""

    expression: str
    terms: tuple[Term, ...]

    def where(self) -> sa.ColumnElement[bool]:
        """The SQL condition on :class:`Enterprise` selecting this audience."""
        return sa.and_(sa.true(), *(_condition(term) for term in self.terms))


def parse_audience(expression: str) -> Audience:
    """Parse an expression; raises AudienceError naming the bad term."""
    text = expression.strip()
    if text in ("", "all", "*"):
        return Audience(expression=text or "all", terms=())
    terms = []
    for raw in text.replace("，", ",").split(","):
        if not raw.strip():
            raise AudienceError(raw, "空条件（多余的逗号）")
        terms.append(_parse_term(raw))
    return Audience(expression=text, terms=tuple(terms))


def _parse_term(raw: str) -> Term:
    match = _TERM.match(raw)
    if match is None:
        raise AudienceError(raw.strip(), "应写成 字段=值、字段!=值 或 tags~值")
    field, op, value_text = match.group(1), match.group(2), match.group(3)
    if field not in FIELDS:
        raise AudienceError(raw.strip(), f"未知字段 {field}，可用字段：{'、'.join(FIELDS)}")
    if op in ("~", "!~") and field != "tags":
        raise AudienceError(raw.strip(), "“~”只能用于 tags（标签包含）")
    if field == "tags" and op in ("=", "!="):
        op = "~" if op == "=" else "!~"
    values = tuple(v.strip() for v in value_text.replace("｜", "|").split("|"))
    if any(not v for v in values):
        raise AudienceError(raw.strip(), "值为空")
    if field in _ENUM_FIELDS:
        enum = _ENUM_FIELDS[field]
        parsed = []
        for value in values:
            try:
                parsed.append(enum.parse(value).value)
            except ValueError:
                raise AudienceError(raw.strip(), f"“{value}”无效，应为 {enum.choices()}") from None
        values = tuple(parsed)
    if field == "uscc":
        try:
            values = tuple(normalize_uscc(v) for v in values)
        except ValueError as exc:
            raise AudienceError(raw.strip(), str(exc)) from None
    return Term(field=field, op=op, values=values)  # type: ignore[arg-type]


def _condition(term: Term) -> sa.ColumnElement[bool]:
    positive: sa.ColumnElement[bool]
    if term.field == "tags":
        positive = sa.exists().where(
            EnterpriseTag.enterprise_id == Enterprise.id, EnterpriseTag.tag.in_(term.values)
        )
    elif term.field == "officer":
        # IS NOT NULL keeps "officer!=X" true for enterprises that have no officer.
        positive = sa.and_(
            Enterprise.officer_id.is_not(None),
            Enterprise.officer_id.in_(sa.select(Officer.id).where(Officer.code.in_(term.values))),
        )
    else:
        column = {
            "tier": Enterprise.tier,
            "stage": Enterprise.stage,
            "credit": Enterprise.credit_status,
            "industry": Enterprise.industry,
            "region": Enterprise.region,
            "uscc": Enterprise.uscc,
        }[term.field]
        positive = column.in_(term.values)
    return sa.not_(positive) if term.op in ("!=", "!~") else positive
