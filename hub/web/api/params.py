"""Parameters shared by the routes, parsed the way the CLI parses them and bounded in the schema.

Whatever a route accepts is what ``/openapi.json`` says it accepts: ids fit the database's
64-bit integers, vocabulary values are listed, texts that must say something have a pattern
that a blank text fails, and every text has a maximum length.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

from fastapi import Path, Query
from pydantic import BeforeValidator, WithJsonSchema

from hub.core.identifiers import normalize_uscc
from hub.core.vocab import LabelledEnum
from hub.web.api.errors import invalid

E = TypeVar("E", bound=LabelledEnum)

MAX_LIMIT = 1000
# SQLite INTEGER and PostgreSQL BIGINT: a larger id was an OverflowError (500), now a 422.
MAX_ID = 2**63 - 1
# Lengths of what people type: a code or username, a short reason, an answer to an enterprise.
MAX_NAME = 64
MAX_REASON = 1000
MAX_ANSWER = 4000

# Characters Python's str.strip() removes (str.isspace), spelled out: JSON Schema's \s is
# ECMAScript's, which differs (it lacks \x1c-\x1f and \x85, and has \ufeff).
_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{_SPACE}]"
"""A pattern (JSON Schema searches, unanchored) that a text passes when it is not all space."""

Id = Annotated[int, Path(ge=1, le=MAX_ID, description="编号")]
Before = Annotated[int | None, Query(ge=1, le=MAX_ID, description="只列编号小于它的（翻页）")]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="最多列出几条")]

USCC_FORMAT = "uscc"
"""A string format of this API: a 统一社会信用代码 whose check character is right."""
# 8 digits and 10 characters of GB 32100's alphabet (no I, O, S, V, Z), or nothing; the format
# adds the check character, which a pattern cannot check.
USCC_PATTERN = "^([0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10})?$"
_UsccText = Annotated[
    str,
    WithJsonSchema({"type": "string", "format": USCC_FORMAT, "pattern": USCC_PATTERN}),
]
Uscc = Annotated[
    _UsccText | None,
    Query(
        max_length=MAX_NAME,
        description="统一社会信用代码（18 位，含校验位，GB 32100-2015）；空值表示不筛选",
    ),
]


def vocab_query(enum: type[LabelledEnum], description: str) -> Any:
    """A query parameter naming a member of ``enum`` by code or Chinese label (listed)."""
    spellings = ["", *dict.fromkeys(s for m in enum for s in (m.value, m.label))]
    return Query(
        max_length=MAX_NAME,
        description=f"{description}；代码或中文名；空值表示不筛选",
        json_schema_extra={"enum": spellings},
    )


def enum_param(enum: type[E], name: str, text: str | None) -> E | None:
    """A vocabulary value given by code or Chinese label (``sms`` or ``短信``); 422 otherwise."""
    if text is None or not text.strip():
        return None
    try:
        member = enum.parse(text)
    except ValueError:
        raise invalid(f"参数 {name} 的值“{text}”无效，可选：{enum.choices()}") from None
    assert isinstance(member, enum)
    return member


def uscc_param(text: str | None) -> str | None:
    """An enterprise named by its 统一社会信用代码; 422 when the code is not valid."""
    if text is None or not text.strip():
        return None
    try:
        return normalize_uscc(text)
    except ValueError as exc:
        raise invalid(f"参数 enterprise 的统一社会信用代码“{text}”{exc}") from None


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_text_only(value: object) -> object:
    """Refuse a number where a time is due: pydantic would read ``0.5`` as a Unix time."""
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError("应为 ISO 8601 时间，如 2026-11-23T08:00:00+08:00")
    return value


IsoDateTime = Annotated[datetime, BeforeValidator(_iso_text_only)]
"""A time as ISO 8601 text (date first); a bare number is refused."""


def _number_only(value: object) -> object:
    """Refuse ``true`` and ``"3"`` where a JSON number is due (pydantic would take them)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("应为整数")
    return value


JsonInt = Annotated[int, BeforeValidator(_number_only)]
"""An integer in a JSON body as JSON Schema means it: ``3`` or ``3.0``, not ``true`` or ``"3"``."""


def local_time(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A time without an offset is read in the hub's zone (clerks type local times)."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=tz)


def label(member: LabelledEnum | None) -> str | None:
    return member.label if member is not None else None
