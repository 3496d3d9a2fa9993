"""A visit's records (``Visit.details``) as a clerk reads them on the visit page.

hub/visits writes each answer, agreement, completion and miss as a small dict with ISO times
in UTC (``{"at": "2026-11-23T02:00:00+00:00", "by": "demo-dispatcher"}``). The page shows
each as labelled words with the time in the hub's zone (``时间：2026-11-23 10:00；登记人：
demo-dispatcher``); a list (every answer) as one line per entry. A key or value this module
does not know is shown as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any, Final

__all__ = ["RECORD_LABELS", "local_time", "record_lines"]

#: The keys of ``Visit.details`` (what each record is).
RECORD_LABELS: Final[Mapping[str, str]] = {
    "answers": "企业答复", "agreed": "电话约定", "confirmed": "确认时段", "declined": "企业婉拒",
    "done": "完成登记", "proposal_round": "预约轮次", "reschedule_requested": "企业另约时间",
}  # fmt: skip
#: The keys inside one record.
_FIELDS: Final[Mapping[str, str]] = {
    "at": "时间", "by": "登记人", "for": "约定时间", "action": "答复", "text": "原文",
    "slot": "所选时段", "time": "时段", "proposed_time": "提出时间", "proposed_date": "提出日期",
    "proposed_text": "提出的说法", "not_confirmed": "未确认原因", "reason": "原因",
    "source": "来源",
}  # fmt: skip
_ACTIONS: Final[Mapping[str, str]] = {
    "confirm": "同意", "reschedule": "改期", "slot": "选择时段", "decline": "不需要走访",
}  # fmt: skip


def record_lines(value: Any, tz: tzinfo) -> list[str]:
    """One line per entry of a list record, one line for anything else."""
    if isinstance(value, list):
        return [_words(item, tz) for item in value] or ["—"]
    return [_words(value, tz)]


def _words(value: Any, tz: tzinfo) -> str:
    """A record as ``label：value；…``, a list joined with 、, a time in ``tz``."""
    if isinstance(value, Mapping):
        return "；".join(
            f"{_FIELDS.get(str(key), str(key))}：{_field(str(key), item, tz)}"
            for key, item in value.items()
            if item not in (None, "")
        )
    if isinstance(value, list):
        return "、".join(_words(v, tz) for v in value)
    if isinstance(value, str):
        return local_time(value, tz) or value
    return str(value)


def _field(key: str, value: Any, tz: tzinfo) -> str:
    if key == "action" and isinstance(value, str):
        return _ACTIONS.get(value, value)
    if key == "source" and isinstance(value, str) and value.startswith("reply:"):
        return f"回复 #{value.removeprefix('reply:')}"
    if key == "slot" and isinstance(value, int):
        return f"第 {value} 个"
    return _words(value, tz)


def local_time(text: str, tz: tzinfo) -> str | None:
    """An ISO datetime with its zone as ``YYYY-MM-DD HH:MM`` in ``tz``; a date as written;
    None for anything else."""
    if len(text) < 10 or not text[:4].isdigit() or text[4:5] != "-":
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    if len(text) == 10:  # a date: as written
        return text
    if at.tzinfo is None:
        return at.strftime("%Y-%m-%d %H:%M")
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
