"""Enterprise-data rows (credit events, policies, licences, annual reports) validated into frozen
records, with every problem of a row said in Chinese naming the column, as the registry's are.

Pure apart from reading the file: the caller passes the USCCs on record (``known_usccs``), so a
row naming an enterprise the hub does not know is rejected with the rest of its problems. A
key repeated in a file is merged when the rows agree and rejected naming the earlier row when
they don't (``parse_keyed``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date

from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.identifiers import normalize_uscc
from hub.core.vocab import Stage, Tier
from hub.importing.columns import HeaderMap, RowChecker
from hub.importing.data_columns import (
    ANNUAL_REPORT_COLUMNS,
    CREDIT_COLUMNS,
    LICENCE_COLUMNS,
    POLICY_COLUMNS,
)
from hub.importing.rows import ParseResult, parse_keyed
from hub.importing.tabular import Reject, TableFormat

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "URL_PATTERN",
    "AnnualReportRow",
    "CreditEventRow",
    "LicenceRow",
    "PolicyRow",
    "parse_annual_reports",
    "parse_credit_events",
    "parse_date",
    "parse_flag",
    "parse_licences",
    "parse_policies",
    "parse_url",
    "parse_year",
    "validate_annual_report_row",
    "validate_credit_row",
    "validate_licence_row",
    "validate_policy_row",
]

# 2026-11-23, 2026/11/23, 2026.11.23, 2026年11月23日 (one-digit months and days too), 20261123
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_YEAR = re.compile(r"(\d{4})\s*年?")
FIRST_YEAR, LAST_YEAR = 1900, 2099
"""The years a date or a year may name: a typo (0202, 20266) is refused, not stored."""
_YES = frozenset({"是", "y", "yes", "true", "1", "√"})
_NO = frozenset({"否", "n", "no", "false", "0", "×"})
# Spelled out rather than \s, which differs between Python and JSON Schema (ECMAScript): the API
# states the same pattern (URL_PATTERN), so what its schema allows this accepts. Control
# characters are out too: the API drops them from texts before they are read.
_NOT_IN_URL = (
    "\\x00-\\x20\\x7f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"
)
URL_PATTERN = f"^https?://[^{_NOT_IN_URL}/?#]+[^{_NOT_IN_URL}]*$"
"""A web address as policies give one: ``http(s)://`` and a host, no spaces."""
_URL = re.compile(URL_PATTERN, re.IGNORECASE)


def parse_date(text: str) -> date:
    """A date as clerks write it; ``ValueError`` saying how to write one otherwise."""
    cleaned = unicodedata.normalize("NFKC", text).strip()
    match = _DATE.fullmatch(cleaned) or _COMPACT_DATE.fullmatch(cleaned)
    try:
        if match is None:
            raise ValueError(cleaned)
        year, month, day = (int(part) for part in match.groups())
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise ValueError(cleaned)
        return date(year, month, day)
    except ValueError:
        raise ValueError("不是有效的日期，应如 2026-11-23") from None


def parse_year(text: str) -> int:
    """A four-digit year (``2026`` or ``2026年``)."""
    match = _YEAR.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if match is None or not FIRST_YEAR <= int(match[1]) <= LAST_YEAR:
        raise ValueError("不是有效的年度，应为四位年份，如 2026")
    return int(match[1])


def parse_flag(text: str) -> bool:
    """是/否 (also yes/no, true/false, 1/0, and Excel's TRUE/FALSE)."""
    cleaned = unicodedata.normalize("NFKC", text).strip().lower()
    if cleaned in _YES:
        return True
    if cleaned in _NO:
        return False
    raise ValueError("无效，应为 是 或 否")


def parse_url(text: str) -> str:
    """A web address starting with ``http://`` or ``https://``."""
    cleaned = text.strip()
    if _URL.match(cleaned) is None:
        raise ValueError("不是有效的链接，应以 http:// 或 https:// 开头，且不含空格")
    return cleaned


@dataclass(frozen=True, slots=True)
class CreditEventRow:
    """One valid row of a credit file (or one ``POST /api/v1/credit-events``)."""

    row_number: int
    event_id: str
    uscc: str
    type: CreditEventType
    authority: str
    decided_on: date
    summary: str
    status: CreditEventStatus
    """``active`` when the cell is blank."""
    repaired_on: date | None


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One valid row of a policy file; an empty eligibility list means any."""

    row_number: int
    policy_id: str
    title: str
    summary: str
    department: str | None
    apply_by: date | None
    free_apply: bool
    """免申即享; ``False`` when the cell is blank."""
    url: str | None
    industries: tuple[str, ...]
    tiers: tuple[Tier, ...]
    regions: tuple[str, ...]
    stages: tuple[Stage, ...]
    tags: tuple[str, ...]
    text: str


@dataclass(frozen=True, slots=True)
class LicenceRow:
    """One valid row of a licence file."""

    row_number: int
    uscc: str
    kind: str
    number: str
    expires_on: date
    authority: str | None
    renewed_on: date | None


@dataclass(frozen=True, slots=True)
class AnnualReportRow:
    """One valid row of an annual-report file: the enterprise filed for ``year``."""

    row_number: int
    uscc: str
    year: int
    filed_on: date


def _enterprise(check: RowChecker, known_usccs: Collection[str] | None) -> str | None:
    uscc = check.parsed("uscc", normalize_uscc, required=True)
    check.known("uscc", uscc, known_usccs, "企业")
    return uscc


def validate_credit_row(
    row_number: int,
    raw: Mapping[str, str],
    names: HeaderMap,
    *,
    known_usccs: Collection[str] | None = None,
) -> CreditEventRow | Reject:
    """Validate one credit-event row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    event_id = check.text("event_id", required=True)
    uscc = _enterprise(check, known_usccs)
    kind = check.choice("type", CreditEventType)
    authority = check.text("authority", required=True)
    decided_on = check.parsed("decided_on", parse_date, required=True)
    status = check.choice("status", CreditEventStatus, default=CreditEventStatus.ACTIVE)
    repaired_on = check.parsed("repaired_on", parse_date)
    summary = check.text("summary") or ""
    if (
        check.reasons or event_id is None or uscc is None or kind is None or authority is None
        or decided_on is None or status is None
    ):  # fmt: skip
        return check.reject(row_number)
    return CreditEventRow(
        row_number, event_id, uscc, kind, authority, decided_on, summary, status, repaired_on
    )


def validate_policy_row(
    row_number: int, raw: Mapping[str, str], names: HeaderMap
) -> PolicyRow | Reject:
    """Validate one policy row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    policy_id = check.text("policy_id", required=True)
    title = check.text("title", required=True)
    apply_by = check.parsed("apply_by", parse_date)
    free_apply = check.parsed("free_apply", parse_flag)
    url = check.parsed("url", parse_url)
    tiers = check.choices("tiers", Tier)
    stages = check.choices("stages", Stage)
    industries, regions = check.items("industries"), check.items("regions")
    tags = check.items("tags")
    department = check.text("department")
    summary, text = check.text("summary") or "", check.text("text") or ""
    if check.reasons or policy_id is None or title is None:
        return check.reject(row_number)
    return PolicyRow(
        row_number, policy_id, title, summary, department, apply_by, bool(free_apply), url,
        industries, tiers, regions, stages, tags, text,
    )  # fmt: skip


def validate_licence_row(
    row_number: int,
    raw: Mapping[str, str],
    names: HeaderMap,
    *,
    known_usccs: Collection[str] | None = None,
) -> LicenceRow | Reject:
    """Validate one licence row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    uscc = _enterprise(check, known_usccs)
    kind = check.text("kind", required=True)
    number = check.text("number", required=True)
    expires_on = check.parsed("expires_on", parse_date, required=True)
    authority = check.text("authority")
    renewed_on = check.parsed("renewed_on", parse_date)
    if check.reasons or uscc is None or kind is None or number is None or expires_on is None:
        return check.reject(row_number)
    return LicenceRow(row_number, uscc, kind, number, expires_on, authority, renewed_on)


def validate_annual_report_row(
    row_number: int,
    raw: Mapping[str, str],
    names: HeaderMap,
    *,
    known_usccs: Collection[str] | None = None,
) -> AnnualReportRow | Reject:
    """Validate one annual-report row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    uscc = _enterprise(check, known_usccs)
    year = check.parsed("year", parse_year, required=True)
    filed_on = check.parsed("filed_on", parse_date, required=True)
    if check.reasons or uscc is None or year is None or filed_on is None:
        return check.reject(row_number)
    return AnnualReportRow(row_number, uscc, year, filed_on)


def parse_credit_events(
    path: str | os.PathLike[str],
    *,
    known_usccs: Collection[str] | None = None,
    format: TableFormat | None = None,
) -> ParseResult[CreditEventRow]:
    """Read and validate a credit file (``hub import credit FILE``), keyed by 事件编号."""

    def validate(number: int, raw: Mapping[str, str], names: HeaderMap) -> CreditEventRow | Reject:
        return validate_credit_row(number, raw, names, known_usccs=known_usccs)

    return parse_keyed(
        path, CREDIT_COLUMNS, validate, lambda row: row.event_id, format,
        key_fields=("event_id",),
    )  # fmt: skip


def parse_policies(
    path: str | os.PathLike[str], *, format: TableFormat | None = None
) -> ParseResult[PolicyRow]:
    """Read and validate a policy file (``hub import policies FILE``), keyed by 政策编号."""
    return parse_keyed(
        path, POLICY_COLUMNS, validate_policy_row, lambda row: row.policy_id, format,
        key_fields=("policy_id",),
    )  # fmt: skip


def parse_licences(
    path: str | os.PathLike[str],
    *,
    known_usccs: Collection[str] | None = None,
    format: TableFormat | None = None,
) -> ParseResult[LicenceRow]:
    """Read and validate a licence file (``hub import licences FILE``), keyed by enterprise,
    licence type and number."""

    def validate(number: int, raw: Mapping[str, str], names: HeaderMap) -> LicenceRow | Reject:
        return validate_licence_row(number, raw, names, known_usccs=known_usccs)

    return parse_keyed(
        path, LICENCE_COLUMNS, validate, lambda row: f"{row.uscc}/{row.kind}/{row.number}",
        format, key_fields=("uscc", "kind", "number"),
    )  # fmt: skip


def parse_annual_reports(
    path: str | os.PathLike[str],
    *,
    known_usccs: Collection[str] | None = None,
    format: TableFormat | None = None,
) -> ParseResult[AnnualReportRow]:
    """Read and validate an annual-report file (``hub import annual-reports FILE``), keyed by
    enterprise and year."""

    def validate(number: int, raw: Mapping[str, str], names: HeaderMap) -> AnnualReportRow | Reject:
        return validate_annual_report_row(number, raw, names, known_usccs=known_usccs)

    return parse_keyed(
        path, ANNUAL_REPORT_COLUMNS, validate, lambda row: f"{row.uscc}/{row.year}", format,
        key_fields=("uscc", "year"),
    )  # fmt: skip
