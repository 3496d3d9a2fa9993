"""Query parameters shared by the list routes, parsed the way the CLI parses them."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar
from zoneinfo import ZoneInfo

from hub.identifiers import normalize_uscc
from hub.vocab import LabelledEnum
from hub.web.api.errors import invalid

E = TypeVar("E", bound=LabelledEnum)

MAX_LIMIT = 1000


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


def local_time(at: datetime | None, tz: ZoneInfo) -> datetime | None:
    """A time without an offset is read in the hub's zone (clerks type local times)."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=tz)


def label(member: LabelledEnum | None) -> str | None:
    return member.label if member is not None else None
