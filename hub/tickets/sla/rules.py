"""Service-level rules for tickets (时限督办): what is due for a ticket at a given moment.

Pure: a :class:`SlaTicket` snapshot, ``now`` and the working-day calendar in, a list of
:class:`SlaAction` out; no I/O. :mod:`hub.tickets.sla.sweep` reads the snapshots from the database,
applies the actions (events, messages, closing) and makes each one happen once.

The steps, for a ticket that is open (new, assigned, in progress, reopened):

1. **Reminder** (时限提醒) to the handler ``remind_before`` (config
   ``tickets.remind_before_hours``) before the deadline, once.
2. **Overdue → level 1** (督办 to the department head) at the deadline (24:00 of the due
   date);
3. **Still overdue → level 2** (督办 to the business-environment office 营商办) at 24:00 of the
   ``escalate_after_workdays``-th working day after the due date. Each escalation is recorded
   with the SLA result ``missed`` at its level.

A ticket resolved before its deadline records the SLA result ``hit``; resolved late, ``missed``
(unless step 2 recorded it already). Each ticket has one SLA result, for its first
resolution: a ticket reopened after a bad rating is not reminded or escalated again here (the
rating service alerts the head and sets its callback and rectification dates).

For a ticket resolved and awaiting a rating (已办结待评价), counted from the day of the (latest)
resolution like deadlines are (the day itself not counted, 24:00 of the N-th working day):

4. **Rating reminder** (评价提醒) to the enterprise after ``rating_reminder_after_workdays``
   (default 3) working days, once per resolution;
5. **Close as no rating** (未评价销号) after ``no_rating_close_after_workdays``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.core.vocab import TicketState
from hub.core.workdays import WorkdayCalendar
from hub.tickets.deadlines.rules import end_of_day

OPEN_STATES = frozenset(
    {TicketState.NEW, TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.REOPENED}
)
LEVEL_HEAD = 1  # 部门负责人
LEVEL_OFFICE = 2  # 营商办


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """The configurable times of the SLA steps (config ``tickets``)."""

    remind_before: timedelta = timedelta(hours=24)
    escalate_after_workdays: int = 2
    rating_reminder_after_workdays: int = 3
    no_rating_close_after_workdays: int = 7
    tz: ZoneInfo = SHANGHAI

    def __post_init__(self) -> None:
        if self.remind_before < timedelta(0):
            raise UsageError("时限提醒提前量不能为负数 (tickets.remind_before_hours)")
        if self.escalate_after_workdays < 1:
            raise UsageError("升级至营商办须至少超期 1 个工作日 (tickets.escalate_after_workdays)")
        if self.rating_reminder_after_workdays < 1:
            raise UsageError("评价提醒须至少 1 个工作日 (tickets.rating_reminder_after_workdays)")
        if self.no_rating_close_after_workdays <= self.rating_reminder_after_workdays:
            raise UsageError(
                "未评价销号须晚于评价提醒 (tickets.no_rating_close_after_workdays > "
                "tickets.rating_reminder_after_workdays)"
            )


@dataclass(frozen=True, slots=True)
class SlaTicket:
    """What the SLA rules read of a ticket (a snapshot; the pass builds it from the rows).

    ``first_resolved_at`` is the first resolution (the SLA judges it), ``resolved_at`` the
    latest (the rating steps count from it); ``escalation_level`` is the highest level
    already escalated (0 none); ``sla_result`` is the recorded SLA result (``hit``/``missed``)
    or None; ``rated`` and ``rating_reminded`` are about the latest resolution only.
    """

    id: int
    state: TicketState
    deadline_at: datetime
    first_resolved_at: datetime | None = None
    resolved_at: datetime | None = None
    reminded_at: datetime | None = None
    escalation_level: int = 0
    sla_result: str | None = None
    rated: bool = False
    rating_reminded: bool = False


class SlaStep(StrEnum):
    """What the pass does for a ticket."""

    REMIND = "remind"
    ESCALATE = "escalate"
    SLA_HIT = "sla_hit"
    SLA_MISSED = "sla_missed"
    RATING_REMINDER = "rating_reminder"
    CLOSE_NO_RATING = "close_no_rating"


@dataclass(frozen=True, slots=True)
class SlaAction:
    """One step due for one ticket; ``due_at`` is when it became due, ``level`` for escalations."""

    step: SlaStep
    ticket_id: int
    due_at: datetime
    level: int = 0


def due_date(deadline_at: datetime, tz: ZoneInfo = SHANGHAI) -> date:
    """The local last day of a deadline that is 24:00 of it (00:00 of the next day)."""
    return (deadline_at.astimezone(tz) - timedelta(microseconds=1)).date()


def escalation_due_at(
    deadline_at: datetime, level: int, policy: SlaPolicy, calendar: WorkdayCalendar
) -> datetime:
    """When an open ticket escalates to ``level``: the deadline, or N working days after it."""
    if level == LEVEL_HEAD:
        return deadline_at
    if level == LEVEL_OFFICE:
        last, _ = calendar.add_workdays(
            due_date(deadline_at, policy.tz), policy.escalate_after_workdays
        )
        return end_of_day(last, policy.tz)
    raise ValueError(f"unknown escalation level {level}")


def after_resolution(
    resolved_at: datetime, workdays: int, policy: SlaPolicy, calendar: WorkdayCalendar
) -> datetime:
    """24:00 of the ``workdays``-th working day after the local day of resolution."""
    last, _ = calendar.add_workdays(resolved_at.astimezone(policy.tz).date(), workdays)
    return end_of_day(last, policy.tz)


def due_actions(
    ticket: SlaTicket, now: datetime, policy: SlaPolicy, calendar: WorkdayCalendar
) -> list[SlaAction]:
    """Every step due for ``ticket`` at ``now`` that has not been done yet, in order."""
    actions: list[SlaAction] = []
    first = ticket.first_resolved_at
    # Once answered, the deadline has been met or missed; a reopened ticket's rectification
    # (差评重办) is followed by its own callback and rectification dates, not escalated here.
    if ticket.state in OPEN_STATES and first is None:
        actions.extend(_open_steps(ticket, now, policy, calendar))
    if ticket.sla_result is None and first is not None:
        step = SlaStep.SLA_HIT if first <= ticket.deadline_at else SlaStep.SLA_MISSED
        actions.append(SlaAction(step, ticket.id, first))
    if ticket.state is TicketState.RESOLVED and ticket.resolved_at is not None and not ticket.rated:
        actions.extend(_unrated_steps(ticket, now, policy, calendar))
    return actions


def plan_pass(
    tickets: Iterable[SlaTicket], now: datetime, policy: SlaPolicy, calendar: WorkdayCalendar
) -> list[SlaAction]:
    """The steps due for many tickets, ticket by ticket."""
    return [a for t in tickets for a in due_actions(t, now, policy, calendar)]


def first_workday_of_month(year: int, month: int, calendar: WorkdayCalendar) -> date:
    """The month's first working day (the monthly callback survey starts on it)."""
    return calendar.workday_on_or_after(date(year, month, 1))


def _open_steps(
    ticket: SlaTicket, now: datetime, policy: SlaPolicy, calendar: WorkdayCalendar
) -> list[SlaAction]:
    steps: list[SlaAction] = []
    remind_at = ticket.deadline_at - policy.remind_before
    # A reminder after the deadline has passed helps nobody: the escalation says it.
    if ticket.reminded_at is None and remind_at <= now < ticket.deadline_at:
        steps.append(SlaAction(SlaStep.REMIND, ticket.id, remind_at))
    if now < ticket.deadline_at:
        return steps
    for level in (LEVEL_HEAD, LEVEL_OFFICE):
        at = escalation_due_at(ticket.deadline_at, level, policy, calendar)
        if ticket.escalation_level < level and now >= at:
            steps.append(SlaAction(SlaStep.ESCALATE, ticket.id, at, level=level))
    return steps


def _unrated_steps(
    ticket: SlaTicket, now: datetime, policy: SlaPolicy, calendar: WorkdayCalendar
) -> list[SlaAction]:
    assert ticket.resolved_at is not None
    close_at = after_resolution(
        ticket.resolved_at, policy.no_rating_close_after_workdays, policy, calendar
    )
    if now >= close_at:
        return [SlaAction(SlaStep.CLOSE_NO_RATING, ticket.id, close_at)]
    remind_at = after_resolution(
        ticket.resolved_at, policy.rating_reminder_after_workdays, policy, calendar
    )
    if not ticket.rating_reminded and now >= remind_at:
        return [SlaAction(SlaStep.RATING_REMINDER, ticket.id, remind_at)]
    return []
