"""Working-day deadlines (办理时限) for tickets, exactly as docs/design.md's rule says.

- The clock starts when the hub receives the request; a transfer or a return never resets it,
  only an approved extension (延期) moves the deadline.
- "Within N working days" does not count the day of receipt (民法典 第二百零一条): the deadline
  is 24:00 (Asia/Shanghai) of the N-th working day after the receipt day.
- A class of 0 working days (``immediate``, 即办) is due at 24:00 of the receipt day, or of the
  next working day when the request arrives on a day off.
- A deadline that counts any day of a year without calendar data is *provisional*; when that
  year's calendar is entered, ``recompute`` gives the corrected deadline (the caller records a
  ``deadline_recomputed`` ticket event when it moved).

All pure: an aware ``received_at`` (UTC or any zone) in, a ``Deadline`` out; no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.core.vocab import Urgency
from hub.core.workdays import WorkdayCalendar

DEFAULT_CLASSES: Mapping[Urgency, int] = {
    Urgency.IMMEDIATE: 0,
    Urgency.URGENT: 2,
    Urgency.GENERAL: 5,
    Urgency.COMPLEX: 15,
    Urgency.HARD: 30,
}


@dataclass(frozen=True, slots=True)
class Deadline:
    """A ticket's deadline and how it was reached, so it can be extended and recomputed.

    ``due_date`` is the last working day (local); ``due_at`` is 24:00 of it in the hub's zone,
    i.e. 00:00 of the next day, as an aware UTC datetime. ``working_days`` is the urgency
    class's N at receipt (later edits of the class do not move existing deadlines);
    ``extensions`` are the approved extensions in working days, in order.
    """

    urgency: str
    received_at: datetime
    working_days: int
    due_date: date
    due_at: datetime
    provisional: bool
    extensions: tuple[int, ...] = ()
    tz: ZoneInfo = SHANGHAI

    @property
    def received_on(self) -> date:
        """The local day of receipt (not itself counted)."""
        return self.received_at.astimezone(self.tz).date()


def end_of_day(day: date, tz: ZoneInfo = SHANGHAI) -> datetime:
    """24:00 of a local day, i.e. 00:00 of the next, as an aware UTC datetime."""
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(UTC)


def deadline_last_day(at: datetime, tz: ZoneInfo = SHANGHAI) -> date:
    """The last local day of a deadline: a deadline at 00:00 is 24:00 of the day before."""
    local = at.astimezone(tz)
    return (local - timedelta(days=1)).date() if local.time() == time(0) else local.date()


_WEEKDAYS = "一二三四五六日"


def deadline_until(at: datetime, tz: ZoneInfo = SHANGHAI) -> tuple[date, str]:
    """The one rule every deadline text follows: its last local day and the hour it ends —
    ``24时`` for a deadline at 00:00 (24:00 of the day before), else the time (``17:30``)."""
    local = at.astimezone(tz)
    until = "24时" if local.time() == time(0) else f"{local:%H:%M}"
    return deadline_last_day(at, tz), until


def deadline_text(at: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """A deadline as staff read it in lists, ``show`` and the workbook:
    ``2026-12-11（周五）24时前`` (never 2026-12-12T00:00, which a reader takes for the 12th)."""
    day, until = deadline_until(at, tz)
    return f"{day.isoformat()}（周{_WEEKDAYS[day.weekday()]}）{until}前"


def deadline_phrase(at: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """A deadline in a message to the enterprise (``办理时限{{ deadline }}``: the receipt, a
    status answer, the extension notice): ``12月11日（周五）24时前``."""
    day, until = deadline_until(at, tz)
    return f"{day.month}月{day.day}日（周{_WEEKDAYS[day.weekday()]}）{until}前"


def deadline_moment(at: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """A deadline as the point a staff message names (``将于{{ deadline }}到期``, ``已超过办理
    时限{{ deadline }}``, ``整改期限{{ deadline }}``): ``2026年12月11日24时``."""
    day, until = deadline_until(at, tz)
    return f"{day.year}年{day.month}月{day.day}日{until}"


def _check_aware(at: datetime, name: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def compute_deadline(
    received_at: datetime,
    working_days: int,
    calendar: WorkdayCalendar,
    *,
    urgency: str = "",
    tz: ZoneInfo = SHANGHAI,
) -> Deadline:
    """The deadline ``working_days`` after receipt (see the module docstring for the rule)."""
    _check_aware(received_at, "received_at")
    if working_days < 0:
        raise UsageError(f"办理时限不能为负数：{working_days} 个工作日 (deadlines)")
    received_on = received_at.astimezone(tz).date()
    if working_days == 0:
        due_date = calendar.workday_on_or_after(received_on)
        provisional = calendar.span_provisional(received_on, due_date)
    else:
        due_date, provisional = calendar.add_workdays(received_on, working_days)
    return Deadline(
        urgency=urgency,
        received_at=received_at.astimezone(UTC),
        working_days=working_days,
        due_date=due_date,
        due_at=end_of_day(due_date, tz),
        provisional=provisional,
        tz=tz,
    )


def extend(deadline: Deadline, extra_workdays: int, calendar: WorkdayCalendar) -> Deadline:
    """The deadline after an approved extension, counted on from the current due date."""
    if extra_workdays < 1:
        raise UsageError(f"延期须为至少 1 个工作日，收到 {extra_workdays} (extra_workdays)")
    due_date, _ = calendar.add_workdays(deadline.due_date, extra_workdays)
    return replace(
        deadline,
        due_date=due_date,
        due_at=end_of_day(due_date, deadline.tz),
        provisional=_provisional(deadline, due_date, calendar),
        extensions=(*deadline.extensions, extra_workdays),
    )


def recompute(deadline: Deadline, calendar: WorkdayCalendar) -> Deadline:
    """The same deadline (receipt, class N, extensions) counted again on ``calendar``.

    Use after an admin enters a year: compare ``due_at`` with the old one and record a
    ``deadline_recomputed`` event when it moved.
    """
    again = compute_deadline(
        deadline.received_at,
        deadline.working_days,
        calendar,
        urgency=deadline.urgency,
        tz=deadline.tz,
    )
    for extra in deadline.extensions:
        again = extend(again, extra, calendar)
    return again


def touches_year(deadline: Deadline, year: int) -> bool:
    """True when the deadline's counted days include ``year`` (so entering it may move it)."""
    return deadline.received_on.year <= year <= deadline.due_date.year


def is_overdue(deadline: Deadline, now: datetime) -> bool:
    """True from 24:00 of the due date on."""
    _check_aware(now, "now")
    return now >= deadline.due_at


def remaining_workdays(now: datetime, deadline: Deadline, calendar: WorkdayCalendar) -> int:
    """Working days after today up to the due date, like "within N working days" counts them.

    On the receipt day it is the class's N; 0 on the due date itself (due at 24:00 tonight).
    Once overdue it is minus the working days since the due date, which is still 0 until the
    first one passes (the weekend after a Friday deadline): check ``is_overdue`` for that.
    """
    _check_aware(now, "now")
    today = now.astimezone(deadline.tz).date()
    if is_overdue(deadline, now):
        return -calendar.workdays_between(deadline.due_date, today)
    return calendar.workdays_between(today, deadline.due_date)


def _provisional(deadline: Deadline, due_date: date, calendar: WorkdayCalendar) -> bool:
    first = deadline.received_on
    if deadline.working_days > 0:
        first += timedelta(days=1)  # the receipt day is not counted
    return calendar.span_provisional(first, due_date)


class DeadlineRule:
    """Urgency classes (即办/紧急/一般/复杂/疑难) → working days, and deadlines from them.

    ``classes`` comes from config ``deadlines`` (the seeds) or the admin-edited table; keys are
    class names (``urgent``) and, when a key is an ``Urgency``, its Chinese label works too.
    """

    def __init__(
        self,
        classes: Mapping[Urgency, int] | Mapping[str, int] = DEFAULT_CLASSES,
        *,
        tz: ZoneInfo = SHANGHAI,
    ) -> None:
        bad = {str(name): days for name, days in classes.items() if days < 0}
        if bad:
            raise UsageError(f"办理时限不能为负数 (deadlines)：{bad}")
        self._classes = {str(name): days for name, days in classes.items()}
        self.tz = tz

    @property
    def classes(self) -> Mapping[str, int]:
        return dict(self._classes)

    def working_days(self, urgency: str) -> int:
        """N for a class, by name or Chinese label; ``UsageError`` naming the known classes."""
        return self._resolve(urgency)[1]

    def deadline(self, received_at: datetime, urgency: str, calendar: WorkdayCalendar) -> Deadline:
        """The deadline of a request of class ``urgency`` received at ``received_at``."""
        name, days = self._resolve(urgency)
        return compute_deadline(received_at, days, calendar, urgency=name, tz=self.tz)

    def _resolve(self, urgency: str) -> tuple[str, int]:
        name = str(urgency).strip()
        if name not in self._classes:
            with suppress(ValueError):
                name = str(Urgency.parse(name))
        days = self._classes.get(name)
        if days is None:
            known = "、".join(self._classes)
            raise UsageError(f"未知的办理时限类别 {urgency!r} (urgency)；可选：{known}")
        return name, days
