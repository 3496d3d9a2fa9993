"""Registry rows (一企一档) validated into frozen records, and the rejects a clerk gets back.

Pure apart from reading the input file and writing the rejects file: nothing here touches the
database. The caller passes what it knows from the database (officer codes, department codes)
so that a row naming an unknown one is rejected with the rest of its problems.

Every problem of a row is reported, each as a Chinese sentence naming the column as the file
spells it and the value: ``手机“1380013800”不是有效的手机号``. Rows repeating a USCC add
contacts when their enterprise fields agree and are rejected naming the earlier row when they
don't (docs/design.md, Rules: Import).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from hub.core.identifiers import (
    normalize_mobile,
    normalize_openid,
    normalize_telegram_chat_id,
    normalize_uscc,
    normalize_wecom_userid,
)
from hub.core.vocab import DepartmentRole, Stage, Tier
from hub.importing.columns import (
    DEPARTMENT_COLUMNS,
    ENTERPRISE_COLUMNS,
    OFFICER_COLUMNS,
    ColumnSet,
    HeaderMap,
    RowChecker,
)
from hub.importing.tabular import Reject, TableFormat, open_table, rejects_path, write_rejects

__all__ = [
    "ContactRow",
    "DepartmentRow",
    "EnterpriseRecord",
    "EnterpriseRow",
    "OfficerRow",
    "ParseResult",
    "ParsedDepartments",
    "ParsedEnterprises",
    "ParsedOfficers",
    "Reject",
    "parse_departments",
    "parse_enterprises",
    "parse_keyed",
    "parse_officers",
    "rejects_path",
    "validate_department_row",
    "validate_enterprise_row",
    "validate_officer_row",
    "write_rejects",
]

T = TypeVar("T")


class _Numbered(Protocol):
    """A record dataclass with a row number (``OfficerRow``, ``DepartmentRow``)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def row_number(self) -> int: ...


K = TypeVar("K", bound=_Numbered)


@dataclass(frozen=True, slots=True)
class ContactRow:
    """A person at an enterprise and the addresses they can be reached at (blank = ``None``)."""

    name: str | None
    mobile: str | None
    """E.164, e.g. ``+8613800138000``."""
    wechat_openid: str | None
    wecom_userid: str | None
    telegram_chat_id: str | None


@dataclass(frozen=True, slots=True)
class EnterpriseRow:
    """One valid row of an enterprise file: the enterprise and at most one contact."""

    row_number: int
    uscc: str
    name: str
    tier: Tier
    industry: str | None
    region: str | None
    stage: Stage
    tags: tuple[str, ...]
    """Sorted, without duplicates."""
    officer_code: str | None
    contact: ContactRow | None
    """``None`` when the row has no contact column filled in."""


@dataclass(frozen=True, slots=True)
class EnterpriseRecord:
    """One enterprise of a file after the repeated-USCC rule: first row's fields, all contacts."""

    row_number: int
    """The first row with this USCC."""
    uscc: str
    name: str
    tier: Tier
    industry: str | None
    region: str | None
    stage: Stage
    tags: tuple[str, ...]
    officer_code: str | None
    contacts: tuple[ContactRow, ...]
    """Distinct contacts in file order; exact duplicates are merged."""
    row_numbers: tuple[int, ...]
    """Every accepted row that named this USCC, first included."""


@dataclass(frozen=True, slots=True)
class OfficerRow:
    """One valid row of a liaison-officer (联络员) file."""

    row_number: int
    code: str
    name: str
    mobile: str | None
    wecom_userid: str | None
    telegram_chat_id: str | None
    region: str | None
    department_code: str | None


@dataclass(frozen=True, slots=True)
class DepartmentRow:
    """One valid row of a department file; ``industries`` route requests to it."""

    row_number: int
    code: str
    name: str
    role: DepartmentRole
    industries: tuple[str, ...]
    """Sorted, without duplicates; no industry appears under two departments of one file."""
    head_name: str | None
    head_mobile: str | None
    head_wecom_userid: str | None


@dataclass(frozen=True, slots=True)
class ParseResult(Generic[T]):
    """The outcome of reading one import file, before anything is written to the database."""

    file: Path
    headers: tuple[str, ...]
    """The file's headers as spelled, for ``write_rejects``."""
    records: tuple[T, ...]
    """Accepted records in file order."""
    rejects: tuple[Reject, ...]
    """Rejected rows in file order."""
    valid: int
    """Rows accepted, including repeated-USCC rows merged into an earlier record."""

    @property
    def rejected(self) -> int:
        """Rows rejected."""
        return len(self.rejects)

    def write_rejects(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """Write the rejects next to the input (``rejects_path``) if there are any."""
        if not self.rejects:
            return None
        return write_rejects(path or rejects_path(self.file), self.rejects, self.headers)


ParsedEnterprises = ParseResult[EnterpriseRecord]
ParsedOfficers = ParseResult[OfficerRow]
ParsedDepartments = ParseResult[DepartmentRow]


# --- one row ----------------------------------------------------------------------------------


def validate_enterprise_row(
    row_number: int,
    raw: Mapping[str, str],
    names: HeaderMap,
    *,
    known_officers: Collection[str] | None = None,
) -> EnterpriseRow | Reject:
    """Validate one enterprise row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    uscc = check.parsed("uscc", normalize_uscc, required=True)
    name = check.text("name", required=True)
    tier = check.choice("tier", Tier)
    stage = check.choice("stage", Stage, default=Stage.OPERATING)
    officer = check.text("officer")
    check.known("officer", officer, known_officers, "联络员")
    tags = check.items("tags")
    industry, region = check.text("industry"), check.text("region")
    contact = ContactRow(
        name=check.text("contact_name"),
        mobile=check.parsed("mobile", normalize_mobile),
        wechat_openid=check.parsed("wechat_openid", normalize_openid),
        wecom_userid=check.parsed("wecom_userid", normalize_wecom_userid),
        telegram_chat_id=check.parsed("telegram_chat_id", normalize_telegram_chat_id),
    )
    # the None tests only narrow types: a missing required value has already added a reason
    if check.reasons or uscc is None or name is None or tier is None or stage is None:
        return check.reject(row_number)
    return EnterpriseRow(
        row_number=row_number,
        uscc=uscc,
        name=name,
        tier=tier,
        industry=industry,
        region=region,
        stage=stage,
        tags=tags,
        officer_code=officer,
        contact=None if contact == _NO_CONTACT else contact,
    )


_NO_CONTACT = ContactRow(None, None, None, None, None)


def validate_officer_row(
    row_number: int,
    raw: Mapping[str, str],
    names: HeaderMap,
    *,
    known_departments: Collection[str] | None = None,
) -> OfficerRow | Reject:
    """Validate one liaison-officer row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    code = check.text("code", required=True)
    name = check.text("name", required=True)
    mobile = check.parsed("mobile", normalize_mobile)
    wecom_userid = check.parsed("wecom_userid", normalize_wecom_userid)
    telegram_chat_id = check.parsed("telegram_chat_id", normalize_telegram_chat_id)
    department = check.text("department")
    check.known("department", department, known_departments, "部门")
    region = check.text("region")
    if check.reasons or code is None or name is None:
        return check.reject(row_number)
    return OfficerRow(
        row_number, code, name, mobile, wecom_userid, telegram_chat_id,
        region, department,
    )  # fmt: skip


def validate_department_row(
    row_number: int, raw: Mapping[str, str], names: HeaderMap
) -> DepartmentRow | Reject:
    """Validate one department row; a ``Reject`` lists every problem found in it."""
    check = RowChecker(raw, names)
    code = check.text("code", required=True)
    name = check.text("name", required=True)
    role = check.choice("role", DepartmentRole, default=DepartmentRole.DEPARTMENT)
    head_mobile = check.parsed("head_mobile", normalize_mobile)
    head_wecom_userid = check.parsed("head_wecom_userid", normalize_wecom_userid)
    industries = check.items("industries")
    head_name = check.text("head_name")
    if check.reasons or code is None or name is None or role is None:
        return check.reject(row_number)
    return DepartmentRow(
        row_number, code, name, role, industries,
        head_name, head_mobile, head_wecom_userid,
    )  # fmt: skip


# --- a whole file -----------------------------------------------------------------------------

# Enterprise fields that rows repeating a USCC must agree on: (attribute, column field).
_AGREED_FIELDS = (
    ("name", "name"),
    ("tier", "tier"),
    ("industry", "industry"),
    ("region", "region"),
    ("stage", "stage"),
    ("tags", "tags"),
    ("officer_code", "officer"),
)
# Contact addresses that identify a person: one enterprise cannot have two different
# contacts behind the same one, or replies could not be told apart.
_CONTACT_KEYS = ("mobile", "wechat_openid", "wecom_userid", "telegram_chat_id")


@dataclass
class _Enterprise:
    first: EnterpriseRow
    contacts: list[tuple[int, ContactRow]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)

    def record(self) -> EnterpriseRecord:
        f = self.first
        return EnterpriseRecord(
            f.row_number, f.uscc, f.name, f.tier, f.industry, f.region, f.stage, f.tags,
            f.officer_code, tuple(contact for _, contact in self.contacts),
            tuple(self.row_numbers),
        )  # fmt: skip


def _merge_repeat(earlier: _Enterprise, row: EnterpriseRow, names: HeaderMap) -> list[str]:
    """Add a repeated USCC's row to ``earlier``; return the reasons it cannot be added."""
    differing = [
        names.name(column)
        for attribute, column in _AGREED_FIELDS
        if getattr(row, attribute) != getattr(earlier.first, attribute)
    ]
    if differing:
        return [
            f"与第 {earlier.first.row_number} 行的同一统一社会信用代码企业信息不一致："
            + "、".join(differing)
        ]
    contact = row.contact
    if contact is None or any(contact == known for _, known in earlier.contacts):
        return []  # nothing new, or the same person listed twice: merged
    for key in _CONTACT_KEYS:
        value = getattr(contact, key)
        for number, known in earlier.contacts:
            if value is not None and getattr(known, key) == value:
                column = names.name(key)
                return [f"{column}“{value}”已用于第 {number} 行的联系人，但两行联系人信息不一致"]
    earlier.contacts.append((row.row_number, contact))
    return []


def parse_enterprises(
    path: str | os.PathLike[str],
    *,
    known_officers: Collection[str] | None = None,
    format: TableFormat | None = None,
) -> ParsedEnterprises:
    """Read and validate an enterprise file (``hub import enterprises FILE``).

    ``known_officers`` holds the officer codes on record; when given, a row naming another
    code is rejected. Raises ``InputError`` when the file as a whole is unusable.
    """
    with open_table(path, format=format) as table:
        names = ENTERPRISE_COLUMNS.resolve(table.headers, file=str(path))
        by_uscc: dict[str, _Enterprise] = {}
        rejects: list[Reject] = []
        valid = 0
        for row_number, raw in table:
            row = validate_enterprise_row(row_number, raw, names, known_officers=known_officers)
            if isinstance(row, Reject):
                rejects.append(row)
                continue
            earlier = by_uscc.get(row.uscc)
            if earlier is None:
                contacts = [] if row.contact is None else [(row_number, row.contact)]
                by_uscc[row.uscc] = _Enterprise(row, contacts, [row_number])
            elif reasons := _merge_repeat(earlier, row, names):
                rejects.append(Reject(row_number, tuple(reasons), raw))
                continue
            else:
                earlier.row_numbers.append(row_number)
            valid += 1
        # dicts keep insertion order, so records come out in the order of first appearance
        records = tuple(enterprise.record() for enterprise in by_uscc.values())
        return ParseResult(table.path, table.headers, records, tuple(rejects), valid)


def parse_keyed(
    path: str | os.PathLike[str],
    columns: ColumnSet,
    validate: Callable[[int, Mapping[str, str], HeaderMap], K | Reject],
    key: Callable[[K], str],
    format: TableFormat | None,
    claim: Callable[[K, HeaderMap], list[str]] | None = None,
    *,
    key_fields: tuple[str, ...] = ("code",),
) -> ParseResult[K]:
    """Parse a file of rows identified by a key: exact repeats merge, different ones are rejected.

    ``key_fields`` are the columns the key is made of, named in the reason; ``claim`` checks a
    new record against the ones accepted before it (and records it when it returns no reasons).
    """
    with open_table(path, format=format) as table:
        names = columns.resolve(table.headers, file=str(path))
        seen: dict[str, K] = {}
        rejects: list[Reject] = []
        valid = 0
        for row_number, raw in table:
            row = validate(row_number, raw, names)
            if isinstance(row, Reject):
                rejects.append(row)
                continue
            earlier = seen.get(key(row))
            if earlier is None:
                reasons = claim(row, names) if claim is not None else []
            elif dataclasses.replace(row, row_number=earlier.row_number) == earlier:
                reasons = []  # the same row twice: nothing new
            else:
                named = "、".join(names.name(field) for field in key_fields)
                reasons = [f"{named}“{key(row)}”与第 {earlier.row_number} 行重复且内容不一致"]
            if reasons:
                rejects.append(Reject(row_number, tuple(reasons), raw))
                continue
            seen.setdefault(key(row), row)
            valid += 1
        return ParseResult(table.path, table.headers, tuple(seen.values()), tuple(rejects), valid)


def parse_officers(
    path: str | os.PathLike[str],
    *,
    known_departments: Collection[str] | None = None,
    format: TableFormat | None = None,
) -> ParsedOfficers:
    """Read and validate a liaison-officer file (``hub import officers FILE``).

    ``known_departments`` holds the department codes on record; when given, a row naming
    another code is rejected.
    """

    def validate(number: int, raw: Mapping[str, str], names: HeaderMap) -> OfficerRow | Reject:
        return validate_officer_row(number, raw, names, known_departments=known_departments)

    return parse_keyed(path, OFFICER_COLUMNS, validate, lambda row: row.code, format)


def parse_departments(
    path: str | os.PathLike[str], *, format: TableFormat | None = None
) -> ParsedDepartments:
    """Read and validate a department file (``hub import departments FILE``).

    Requests are routed by industry, so an industry claimed by two departments in the same
    file is rejected on the later row.
    """
    owners: dict[str, DepartmentRow] = {}

    def claim_industries(row: DepartmentRow, names: HeaderMap) -> list[str]:
        reasons = [
            f"{names.name('industries')}“{industry}”已由第 {owners[industry].row_number} 行的"
            f"部门“{owners[industry].name}”主管，一个行业只能由一个部门主管"
            for industry in row.industries
            if industry in owners
        ]
        if not reasons:
            owners.update(dict.fromkeys(row.industries, row))
        return reasons

    return parse_keyed(
        path, DEPARTMENT_COLUMNS, validate_department_row, lambda row: row.code, format,
        claim_industries,
    )  # fmt: skip
