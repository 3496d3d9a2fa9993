"""Times named in a reply to a visit proposal: "下周二上午", "12月1日下午3点", "明天10:30".

Resolved against the reply's arrival time in Asia/Shanghai:

- days: 今天/今日, 明天/明日, 后天, 大后天 (今早/明早 add 上午, 今晚/明晚 add 晚上);
  本周X/这周X (this week, Monday first, even if already past), 下周X, 下下周X; 周X/星期X/
  礼拜X alone is the next such day, today included unless the named hour has passed;
  X月X日/号 and YYYY-MM-DD or M/D (a day already past this year means next year);
  X号/X日 alone (already past this month means next month); 下个月X号.
- hours: X点, X点半, X点一刻/三刻, X点Y分, X时, HH:MM; 上午/早上 (09:00 when no hour),
  中午 (12:00), 下午/午后 (14:00), 晚上/傍晚 (no default hour). An hour 1–11 after 下午/晚上,
  1–2 after 中午, and a bare hour 1–7 ("3点") are afternoon hours: visits happen in office
  hours. "早一点"/"晚一点" is not one o'clock.
- a time of day with no day applies to the day the proposal offered, if any.

A mention that names no day (and none was offered) has no ``at``; its ``text`` still says what
was written, for the officer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

from hub.core.clock import SHANGHAI
from hub.inbound.classify.text import NUMBER, parse_number

_PART_ALIASES: Final = {
    "上午": "上午", "早上": "上午", "早晨": "上午", "中午": "中午",
    "下午": "下午", "午后": "下午", "傍晚": "晚上", "晚上": "晚上",
}  # fmt: skip
_PART_DEFAULT_HOUR: Final[dict[str, int | None]] = {"上午": 9, "中午": 12, "下午": 14, "晚上": None}
_PART_HOURS: Final = {
    "上午": range(0, 12),
    "中午": range(11, 14),
    "下午": range(12, 18),
    "晚上": range(18, 24),
}
_RELATIVE: Final[dict[str, tuple[int, str | None]]] = {
    "今天": (0, None), "今日": (0, None), "今早": (0, "上午"), "今晚": (0, "晚上"),
    "明天": (1, None), "明日": (1, None), "明早": (1, "上午"), "明晚": (1, "晚上"),
    "后天": (2, None), "大后天": (3, None),
}  # fmt: skip
_WEEKDAYS: Final = (
    {name: index for index, name in enumerate("一二三四五六日")}
    | {str(index + 1): index for index in range(7)}
    | {"天": 6}
)

_RELATIVE_RE = re.compile("大后天|后天|明天|明日|明早|明晚|今天|今日|今早|今晚")
_WEEK_RE = re.compile(r"(下下个?|下个?|本|这个?)?(?:周|星期|礼拜)([一二三四五六日天1-7])")
_YMD_RE = re.compile(r"(?<!\d)(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})[日号]?")
_MONTH_DAY_RE = re.compile(rf"({NUMBER})月({NUMBER})[日号]?")
_SLASH_RE = re.compile(r"(?<![\d/])(\d{1,2})/(\d{1,2})(?![\d/])")
_NEXT_MONTH_RE = re.compile(rf"下个?月({NUMBER})[日号]")
_DAY_RE = re.compile(rf"(?<![\d月一二两三四五六七八九十])({NUMBER})[日号]")
_CLOCK_RE = re.compile(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?!\d)")
_HOUR_RE = re.compile(
    rf"(?<![\d一二两三四五六七八九十])({NUMBER})(?:\s?[-~到至]\s?{NUMBER})?\s?[点时]钟?"
    rf"(半|一刻|三刻|({NUMBER})分?)?"
)
_PART_RE = re.compile("上午|早上|早晨|中午|下午|午后|傍晚|晚上")
# "早一点" (a bit earlier), "快一点": 一点 here is "a little", not one o'clock.
_LITTLE_BEFORE = frozenset("快早晚慢多少好大小高低差有")
_MINUTE_WORDS: Final = {"半": 30, "一刻": 15, "三刻": 45}


@dataclass(frozen=True, slots=True)
class TimeMention:
    """A time named in a reply: the day and hour when they could be resolved, and the words."""

    text: str
    day: date | None = None
    hour: int | None = None  # explicit, or the default of ``part``
    minute: int = 0
    part: str | None = None  # 上午 / 中午 / 下午 / 晚上
    explicit_hour: bool = False
    spans: tuple[tuple[int, int], ...] = ()  # where ``text`` came from, in the text searched

    @property
    def at(self) -> datetime | None:
        """The moment named, in Asia/Shanghai; None without a day or an hour."""
        if self.day is None or self.hour is None:
            return None
        return datetime.combine(self.day, time(self.hour, self.minute), SHANGHAI)

    def matches(self, offered: datetime) -> bool:
        """Whether this names the offered time (same day; same hour, or its part of day)."""
        local = offered.astimezone(SHANGHAI)
        if self.day != local.date():
            return False
        if self.explicit_hour:
            return (self.hour, self.minute) == (local.hour, local.minute)
        return self.part is None or local.hour in _PART_HOURS[self.part]


def find_time(text: str, now: datetime, offered: datetime | None = None) -> TimeMention | None:
    """The time ``text`` names, resolved against ``now``; None when it names none."""
    now = now.astimezone(SHANGHAI)
    today = now.date()
    spans: list[tuple[int, int]] = []
    day, implied_part, bare_weekday = _find_day(text, today, spans)
    part_match = _PART_RE.search(text)
    part = _PART_ALIASES[part_match.group()] if part_match else implied_part
    if part_match:
        spans.append(part_match.span())
    hour, minute = _find_hour(text, part, spans)
    if not spans:
        return None
    explicit = hour is not None
    if hour is None and part is not None:
        hour = _PART_DEFAULT_HOUR[part]
    if day is None and offered is not None:
        day = offered.astimezone(SHANGHAI).date()
    if bare_weekday and day == today and hour is not None and time(hour, minute) <= now.time():
        day = today + timedelta(days=7)
    spans.sort()
    words = "".join(text[start:end] for start, end in spans)
    return TimeMention(words, day, hour, minute, part, explicit, tuple(spans))


def _find_day(
    text: str, today: date, spans: list[tuple[int, int]]
) -> tuple[date | None, str | None, bool]:
    """(day, part of day it implies, whether it was a bare weekday); records its span."""
    if found := _RELATIVE_RE.search(text):
        spans.append(found.span())
        offset, part = _RELATIVE[found.group()]
        return today + timedelta(days=offset), part, False
    if found := _WEEK_RE.search(text):
        spans.append(found.span())
        prefix, weekday = found.group(1) or "", _WEEKDAYS[found.group(2)]
        monday = today - timedelta(days=today.weekday())
        if prefix.startswith("下下"):
            return monday + timedelta(days=14 + weekday), None, False
        if prefix.startswith("下"):
            return monday + timedelta(days=7 + weekday), None, False
        if prefix:
            return monday + timedelta(days=weekday), None, False
        return today + timedelta(days=(weekday - today.weekday()) % 7), None, True
    if found := _YMD_RE.search(text):
        spans.append(found.span())
        year, month_of_year, day_of_month = (int(group) for group in found.groups())
        return _date(year, month_of_year, day_of_month), None, False
    if found := _MONTH_DAY_RE.search(text) or _SLASH_RE.search(text):
        spans.append(found.span())
        month, number = parse_number(found.group(1)), parse_number(found.group(2))
        named = _date(today.year, month, number)
        if named is not None and named < today:
            named = _date(today.year + 1, month, number)
        return named, None, False
    if found := _NEXT_MONTH_RE.search(text):
        spans.append(found.span())
        return _date(*_next_month(today), parse_number(found.group(1))), None, False
    if found := _DAY_RE.search(text):
        spans.append(found.span())
        number = parse_number(found.group(1))
        named = _date(today.year, today.month, number)
        if named is None or named < today:
            named = _date(*_next_month(today), number)
        return named, None, False
    return None, None, False


def _find_hour(text: str, part: str | None, spans: list[tuple[int, int]]) -> tuple[int | None, int]:
    """(hour on a 24-hour clock, minute) named in ``text``; records its span."""
    if found := _CLOCK_RE.search(text):
        spans.append(found.span())
        return _afternoon(int(found.group(1)), part), int(found.group(2))
    for found in _HOUR_RE.finditer(text):
        raw_hour, raw_minute, minute_number = found.group(1), found.group(2), found.group(3)
        start = found.start()
        if raw_hour == "一" and raw_minute is None and start and text[start - 1] in _LITTLE_BEFORE:
            continue
        hour = parse_number(raw_hour)
        if raw_minute is None:
            minute: int | None = 0
        elif minute_number is not None:
            minute = parse_number(minute_number)
        else:
            minute = _MINUTE_WORDS[raw_minute]
        if hour is None or hour > 24 or minute is None or minute > 59:
            continue
        spans.append(found.span())
        return _afternoon(hour % 24, part), minute
    return None, 0


def _afternoon(hour: int, part: str | None) -> int:
    """The 24-hour clock hour of ``hour`` said with ``part`` (or alone, in office hours)."""
    if part in ("下午", "晚上") and 1 <= hour <= 11:
        return hour + 12
    if part == "中午" and 1 <= hour <= 2:
        return hour + 12
    if part is None and 1 <= hour <= 7:
        return hour + 12
    return hour


def _next_month(today: date) -> tuple[int, int]:
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


def _date(year: int, month: int | None, day: int | None) -> date | None:
    if month is None or day is None:
        return None
    try:
        return date(year, month, day)
    except (ValueError, OverflowError):
        return None
