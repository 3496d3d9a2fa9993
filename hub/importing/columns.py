"""Which headers each import accepts, in English or Chinese, and how a file's headers map to them.

docs/design.md fixes the enterprise columns ("What other systems rely on"); officers and departments
follow the same pattern. A header is matched after NFKC, trimming, and (for English) ignoring
case, spaces, ``_`` and ``-``, so ``WeChat OpenID`` is ``wechat_openid``. Anything else is an
``InputError`` naming the header: a typo must never drop a column silently.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TypeVar, cast

from hub.core.errors import InputError
from hub.core.vocab import LabelledEnum
from hub.importing.tabular import (
    CELL_PROBLEM_PREFIX,
    REJECT_COLUMNS,
    UNNAMED_COLUMN_PREFIX,
    Reject,
    shown_value,
)

__all__ = [
    "DEPARTMENT_COLUMNS",
    "ENTERPRISE_COLUMNS",
    "IGNORED_HEADERS",
    "OFFICER_COLUMNS",
    "Column",
    "ColumnSet",
    "HeaderMap",
    "RowChecker",
]

IGNORED_HEADERS = frozenset(REJECT_COLUMNS)
"""Columns that a rejects file adds; accepted and ignored so a corrected rejects file re-imports."""

# Whitespace, separators, and invisible characters (BOM, zero-width space) pasted with a header.
_SEPARATORS = re.compile(r"[\s_\-\ufeff\u200b\u200c\u200d\u2060]+")
_LIST_SEPARATOR = re.compile(r"[;；]")
# limits hold for each item: RowChecker.items
_LIST_FIELDS = frozenset({"tags", "industries", "regions"})
_MARKED_KEYS = (UNNAMED_COLUMN_PREFIX, CELL_PROBLEM_PREFIX)
_SHORTEST_LIMIT = 32  # the least max_length of any column (tests/importing/test_lengths.py)
# Unknown or repeated headers named in one message; the rest are counted.
_LISTED_MAX = 5
_HINTED_MAX = 40  # longer "headers" get no did-you-mean hint
E = TypeVar("E", bound=LabelledEnum)
V = TypeVar("V")


def _match_key(header: str) -> str:
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", header)).lower()


@dataclass(frozen=True, slots=True)
class Column:
    """One logical column: its field name in code and the header spellings that mean it."""

    field: str
    """English name used in code and in the English header, e.g. ``contact_name``."""
    label: str
    """Chinese header; ``""`` for technical IDs that clerks copy from a system in English."""
    required: bool = False
    max_length: int | None = None
    """Characters the database column holds (each item, for a list); ``None``: not checked
    here, because the value is normalised (identifiers) or unlimited. PostgreSQL refuses a
    longer value where SQLite stores it; tests/importing/test_lengths.py keeps the two equal."""

    @property
    def spellings(self) -> tuple[str, ...]:
        """Accepted headers as they appear in documentation: English first."""
        return (self.field, self.label) if self.label else (self.field,)

    @property
    def display(self) -> str:
        """How to name the column to a clerk when the file itself does not spell it."""
        return self.label or self.field


@dataclass(frozen=True, slots=True)
class HeaderMap:
    """A file's headers resolved against a ``ColumnSet``.

    ``headers`` maps each field present in the file to the header as the file spells it, so
    that clerk-facing messages say ``手机`` to one clerk and ``mobile`` to another.
    """

    columns: ColumnSet
    headers: Mapping[str, str]

    def value(self, row: Mapping[str, str], field: str) -> str:
        """The stripped cell text of ``field`` in ``row``; ``""`` when blank or absent."""
        header = self.headers.get(field)
        return row.get(header, "") if header is not None else ""

    def name(self, field: str) -> str:
        """The column's name for messages: the file's spelling, else its Chinese label."""
        return self.headers.get(field) or self.columns.column(field).display


@dataclass(frozen=True, slots=True)
class ColumnSet:
    """The columns of one import kind (``enterprises``, ``officers``, ``departments``)."""

    kind: str
    columns: tuple[Column, ...]
    limits: Mapping[str, int] = field(init=False, repr=False, compare=False)
    """``max_length`` by field, for the columns that have one."""

    def __post_init__(self) -> None:
        limits = {c.field: c.max_length for c in self.columns if c.max_length is not None}
        object.__setattr__(self, "limits", limits)  # frozen: set once, here

    def column(self, field: str) -> Column:
        """The column for ``field``; ``KeyError`` for a field this kind does not have."""
        for column in self.columns:
            if column.field == field:
                return column
        raise KeyError(field)

    def resolve(self, headers: Sequence[str], *, file: str) -> HeaderMap:
        """Map a file's headers to fields, or raise ``InputError`` naming every bad header.

        Unknown headers (with a suggestion when one is close), two headers for the same
        column (``mobile`` and ``手机``), and missing required columns are all reported in
        one message, so the clerk fixes the header row once.
        """
        by_key: dict[str, Column] = {}
        for known in self.columns:
            for spelling in known.spellings:
                by_key[_match_key(spelling)] = known
        ignored = {_match_key(header) for header in IGNORED_HEADERS}

        found: dict[str, str] = {}
        unknown: list[str] = []
        repeated: list[str] = []
        for header in headers:
            key = _match_key(header)
            if key in ignored:
                continue
            column = by_key.get(key)
            if column is None:
                unknown.append(header)
            elif column.field in found:
                repeated.append(
                    f"表头“{shown_value(found[column.field])}”和“{shown_value(header)}”是同一列，"
                    "只能保留一个"
                )
            else:
                found[column.field] = header
        problems = _first_few(repeated, "组表头重复")
        if unknown:
            problems.insert(0, self._unknown(unknown, by_key))
        missing = [c.display for c in self.columns if c.required and c.field not in found]
        if missing:
            problems.append("缺少必填列：" + "、".join(f"“{name}”" for name in missing))
        if problems:
            raise InputError("；".join(problems), file=file)
        return HeaderMap(self, found)

    def _unknown(self, headers: Sequence[str], by_key: Mapping[str, Column]) -> str:
        """One sentence for the unknown headers: the first few, each with a hint, and the count.

        A row of data pasted as the header row has thousands of them; naming each would bury
        the message (and take minutes of ``difflib``).
        """
        if len(headers) > _LISTED_MAX:
            named = "、".join(f"“{shown_value(h)}”" for h in headers[:_LISTED_MAX])
            listed = f"未知表头{named}等共 {len(headers)} 个（表头行是否填成了数据？）"
        else:
            listed = "；".join(
                f"未知表头“{shown_value(header)}”{self._hint(header, by_key)}" for header in headers
            )
        accepted = "、".join("/".join(column.spellings) for column in self.columns)
        return f"{listed}，可用的表头为：{accepted}"

    def _hint(self, header: str, by_key: Mapping[str, Column]) -> str:
        if len(header) > _HINTED_MAX:
            return ""  # a paragraph is no misspelt header
        spellings = [s for column in self.columns for s in column.spellings]
        close = difflib.get_close_matches(header, spellings, n=1, cutoff=0.5)
        if not close:
            close = [
                column.display
                for key, column in by_key.items()
                if key and (key in _match_key(header) or _match_key(header) in key)
            ][:1]
        return f"（是否应为“{close[0]}”？）" if close else ""


def _first_few(problems: list[str], what: str) -> list[str]:
    """``problems`` when they are few; else the first few and how many there are in all."""
    if len(problems) <= _LISTED_MAX:
        return problems
    return [*problems[:_LISTED_MAX], f"……共 {len(problems)} {what}"]


ENTERPRISE_COLUMNS = ColumnSet(
    "enterprises",
    (
        Column("uscc", "统一社会信用代码", required=True),
        Column("name", "企业名称", required=True, max_length=256),
        Column("tier", "联络类别", required=True),
        Column("industry", "行业", max_length=64),
        Column("region", "区域", max_length=64),
        Column("stage", "阶段"),
        Column("tags", "标签", max_length=64),
        Column("contact_name", "联系人", max_length=64),
        Column("mobile", "手机"),
        Column("wechat_openid", ""),
        Column("wecom_userid", ""),
        Column("telegram_chat_id", ""),
        Column("officer", "联络员", max_length=32),
    ),
)

OFFICER_COLUMNS = ColumnSet(
    "officers",
    (
        Column("code", "工号", required=True, max_length=32),
        Column("name", "姓名", required=True, max_length=64),
        Column("mobile", "手机"),
        Column("wecom_userid", ""),
        Column("telegram_chat_id", ""),
        Column("region", "区域", max_length=64),
        Column("department", "所属部门", max_length=32),
    ),
)

DEPARTMENT_COLUMNS = ColumnSet(
    "departments",
    (
        Column("code", "部门编码", required=True, max_length=32),
        Column("name", "部门名称", required=True, max_length=128),
        Column("role", "类型"),
        Column("industries", "主管行业"),
        Column("head_name", "负责人", max_length=64),
        Column("head_mobile", "负责人手机"),
        Column("head_wecom_userid", ""),
    ),
)


@dataclass
class RowChecker:
    """Reads the fields of one raw row by column, collecting a reason for each bad one.

    Validation goes on after a problem so that the clerk sees every problem of the row at once;
    each reason names the column as the file spells it and quotes the value.
    """

    raw: Mapping[str, str]
    names: HeaderMap
    reasons: list[str] = field(default_factory=list)
    unreadable: AbstractSet[str] = frozenset()
    """Headers whose cell could not be read as it is: their reason is said once, by the reader."""

    def __post_init__(self) -> None:
        unnamed: list[str] = []
        problems: list[str] = []
        for key, value in self.raw.items():
            if not key.startswith(_MARKED_KEYS):  # one test for both: this runs for every cell
                continue
            if key.startswith(UNNAMED_COLUMN_PREFIX):
                where = key.removeprefix(UNNAMED_COLUMN_PREFIX)
                unnamed.append(f"{where}没有表头，却填了“{shown_value(value)}”")
            else:
                problems.append(value)  # said by the reader, naming the column
                self.unreadable = {*self.unreadable, key.removeprefix(CELL_PROBLEM_PREFIX)}
        # a row pasted past the headers can have thousands: the rejects file names a few
        if unnamed:
            self.reasons += _first_few(unnamed, "列没有表头却填了内容")
        if problems:
            self.reasons += _first_few(problems, "格无法导入")

    def text(self, field: str, *, required: bool = False) -> str | None:
        """The field's text, ``None`` when blank (a reason is added if it is ``required``)."""
        # HeaderMap.value inlined: this runs for every column of every row
        header = self.names.headers.get(field)
        value = self.raw.get(header, "") if header is not None else ""
        if not value:
            if required:
                self._refuse(field, f"{self.names.name(field)}不能为空")
            return None
        if len(value) > _SHORTEST_LIMIT:  # nearly every value is shorter: spares the look-up
            limit = self.names.columns.limits.get(field)
            if limit is not None and len(value) > limit and field not in _LIST_FIELDS:
                self._refuse(field, self._too_long(field, value, limit))
                return None
        return value

    def _refuse(self, field: str, reason: str) -> None:
        """Add ``reason``, unless the reader has already said why the field's cell is unusable.

        What is left of such a cell (a formula's empty cell, a name with U+FFFD) would fail
        again; saying so as well would only add noise. Checked here, when a value fails, so
        that the valid values of every row do not pay for it.
        """
        if not (self.unreadable and self.names.headers.get(field) in self.unreadable):
            self.reasons.append(reason)

    def items(self, field: str) -> tuple[str, ...]:
        """A ``;``-separated list (tags, industries), sorted and without duplicates."""
        text = self.text(field)
        if text is None:
            return ()
        items = tuple(
            sorted({item.strip() for item in _LIST_SEPARATOR.split(text) if item.strip()})
        )
        limit = self.names.columns.limits.get(field)
        if limit is not None and (long := [item for item in items if len(item) > limit]):
            self._refuse(field, self._too_long(field, long[0], limit))
        return items

    def _too_long(self, field: str, value: str, limit: int) -> str:
        return (
            f"{self.names.name(field)}“{shown_value(value)}”有 {len(value)} 个字符，最多 {limit} 个"
        )

    def parsed(self, field: str, parse: Callable[[str], V], *, required: bool = False) -> V | None:
        """The field read by ``parse``; ``None`` when blank or when ``parse`` refuses it.

        ``parse`` raises ``ValueError`` saying what is wrong after the value is quoted:
        ``手机“1380013800”不是有效的手机号``.
        """
        value = self.text(field, required=required)
        if value is None:
            return None
        try:
            return parse(value)
        except ValueError as exc:
            self._refuse(field, f"{self.names.name(field)}“{shown_value(value)}”{exc}")
            return None

    def choice(self, field: str, enum: type[E], *, default: E | None = None) -> E | None:
        """The member named in English or Chinese; blank gives ``default`` (required if none)."""
        value = self.text(field, required=default is None)
        if value is None:
            return default
        try:
            # parse() is typed on the base class but returns a member of the enum it is called on
            return cast(E, enum.parse(unicodedata.normalize("NFKC", value)))
        except ValueError:
            labels = "/".join(member.label for member in enum)
            values = "/".join(member.value for member in enum)
            shown = shown_value(value)
            self._refuse(field, f"{self.names.name(field)}“{shown}”无效，应为 {labels} 或 {values}")
            return None

    def choices(self, field: str, enum: type[E]) -> tuple[E, ...]:
        """A ``;``-separated list of members (English or Chinese), sorted by value; an item that
        names none adds a reason."""
        members: set[E] = set()
        for item in self.items(field):
            try:
                members.add(cast(E, enum.parse(unicodedata.normalize("NFKC", item))))
            except ValueError:
                choices = "/".join(f"{member.value}/{member.label}" for member in enum)
                self._refuse(
                    field, f"{self.names.name(field)}中的“{shown_value(item)}”无效，应为 {choices}"
                )
        return tuple(sorted(members, key=lambda member: member.value))

    def known(self, field: str, code: str | None, known: Collection[str] | None, what: str) -> None:
        """Add a reason when ``code`` is not among the ``known`` codes (``None``: not checked)."""
        if code is not None and known is not None and code not in known:
            shown = shown_value(code)
            self._refuse(field, f"{self.names.name(field)}“{shown}”不存在，请先导入{what}")

    def reject(self, row_number: int) -> Reject:
        """The row as a ``Reject`` carrying every reason collected."""
        return Reject(row_number, tuple(self.reasons), dict(self.raw))
