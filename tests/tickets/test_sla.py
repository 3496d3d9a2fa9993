"""SLA rules (pure): reminders, escalation levels, SLA results, unrated tickets, across holidays.

2026 per chinese-calendar: Mid-Autumn Fri 25–Sun 27 Sep, National Day Thu 1–Wed 7 Oct off
(8 Oct is a working day), make-up workdays Sun 20 Sep and Sat 10 Oct.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from hub.core.clock import SHANGHAI
from hub.core.errors import UsageError
from hub.core.vocab import TicketState
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.tickets.deadlines.rules import compute_deadline
from hub.tickets.sla.rules import (
    SlaAction,
    SlaPolicy,
    SlaStep,
    SlaTicket,
    due_actions,
    due_date,
    first_workday_of_month,
    plan_pass,
)

CAL = WorkdayCalendar()
POLICY = SlaPolicy()


def at(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def steps(ticket: SlaTicket, now: datetime, policy: SlaPolicy = POLICY) -> list[SlaAction]:
    return due_actions(ticket, now, policy, CAL)


def test_calendar_facts_the_tests_rely_on() -> None:
    assert not any(CAL.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert CAL.is_workday(date(2026, 10, 8))
    assert CAL.is_workday(date(2026, 9, 20))  # Sunday, make-up workday
    assert CAL.is_workday(date(2026, 10, 10))  # Saturday, make-up workday
    assert not CAL.is_workday(date(2026, 10, 11))


def test_general_ticket_across_national_day_reminded_24h_before_then_escalated() -> None:
    # Received Tue 29 Sep; 5 working days: 30 Sep, 8, 9, 10 (Sat, make-up), 12 Oct.
    deadline = compute_deadline(at(9, 29, 10), 5, CAL).due_at
    assert deadline == at(10, 13)
    ticket = SlaTicket(id=1, state=TicketState.IN_PROGRESS, deadline_at=deadline)
    assert steps(ticket, at(10, 11, 23, 59)) == []
    assert steps(ticket, at(10, 12)) == [SlaAction(SlaStep.REMIND, 1, at(10, 12))]
    reminded = SlaTicket(1, TicketState.IN_PROGRESS, deadline, reminded_at=at(10, 12))
    assert steps(reminded, at(10, 12, 23, 59)) == []
    # Overdue at 24:00 of the due date: level 1 (head), no reminder any more.
    assert steps(reminded, at(10, 13)) == [SlaAction(SlaStep.ESCALATE, 1, at(10, 13), level=1)]
    # Level 2 (营商办) after 2 more working days: 13 and 14 Oct, i.e. at 24:00 of the 14th.
    level1 = SlaTicket(
        1,
        TicketState.IN_PROGRESS,
        deadline,
        reminded_at=at(10, 12),
        escalation_level=1,
        sla_result="missed",
    )
    assert steps(level1, at(10, 14, 23, 59)) == []
    assert steps(level1, at(10, 15)) == [SlaAction(SlaStep.ESCALATE, 1, at(10, 15), level=2)]
    level2 = SlaTicket(
        1,
        TicketState.IN_PROGRESS,
        deadline,
        reminded_at=at(10, 12),
        escalation_level=2,
        sla_result="missed",
    )
    assert steps(level2, at(11, 30)) == []


def test_level_two_counts_working_days_over_the_holiday() -> None:
    # Urgent, received Mon 28 Sep: 29, 30 Sep -> due 24:00 30 Sep; the holiday follows.
    deadline = compute_deadline(at(9, 28, 9), 2, CAL).due_at
    assert deadline == at(10, 1)
    ticket = SlaTicket(2, TicketState.ASSIGNED, deadline, escalation_level=1, sla_result="missed")
    # The whole holiday is not "2 working days overdue": 8 and 9 Oct are.
    assert steps(ticket, at(10, 7, 23)) == []
    assert steps(ticket, at(10, 9, 23, 59)) == []
    assert steps(ticket, at(10, 10)) == [SlaAction(SlaStep.ESCALATE, 2, at(10, 10), level=2)]


def test_makeup_sunday_counts_as_a_working_day() -> None:
    # Urgent, received Fri 18 Sep: Sun 20 (make-up) and Mon 21 -> due 24:00 21 Sep.
    deadline = compute_deadline(at(9, 18, 16), 2, CAL).due_at
    assert deadline == at(9, 22)
    assert due_date(deadline) == date(2026, 9, 21)
    ticket = SlaTicket(3, TicketState.NEW, deadline, reminded_at=at(9, 21))
    escalations = [a for a in steps(ticket, at(9, 24)) if a.step is SlaStep.ESCALATE]
    # Both levels are due at once when the pass did not run for days (22, 23 Sep passed).
    assert [(a.level, a.due_at) for a in escalations] == [(1, at(9, 22)), (2, at(9, 24))]


def test_missed_reminder_window_is_not_sent_after_the_deadline() -> None:
    ticket = SlaTicket(4, TicketState.ASSIGNED, at(10, 13))
    assert [a.step for a in steps(ticket, at(10, 13, 1))] == [SlaStep.ESCALATE]


def test_remind_before_is_configurable() -> None:
    policy = SlaPolicy(remind_before=timedelta(hours=4))
    ticket = SlaTicket(5, TicketState.ASSIGNED, at(10, 13))
    assert steps(ticket, at(10, 12, 19, 59), policy) == []
    assert steps(ticket, at(10, 12, 20), policy)[0].step is SlaStep.REMIND


def test_sla_hit_and_missed_recorded_once_for_the_first_resolution() -> None:
    on_time = SlaTicket(
        6,
        TicketState.RESOLVED,
        at(10, 13),
        first_resolved_at=at(10, 12, 15),
        resolved_at=at(10, 12, 15),
    )
    assert steps(on_time, at(10, 12, 16)) == [SlaAction(SlaStep.SLA_HIT, 6, at(10, 12, 15))]
    late = SlaTicket(
        7,
        TicketState.CLOSED,
        at(10, 13),
        first_resolved_at=at(10, 13, 9),
        resolved_at=at(10, 13, 9),
    )
    assert steps(late, at(10, 14)) == [SlaAction(SlaStep.SLA_MISSED, 7, at(10, 13, 9))]
    recorded = SlaTicket(
        7,
        TicketState.CLOSED,
        at(10, 13),
        first_resolved_at=at(10, 13, 9),
        resolved_at=at(10, 13, 9),
        sla_result="missed",
    )
    assert steps(recorded, at(10, 14)) == []


def test_reopened_ticket_is_not_escalated_on_its_old_deadline() -> None:
    reopened = SlaTicket(
        8,
        TicketState.REOPENED,
        at(10, 13),
        first_resolved_at=at(10, 12, 9),
        resolved_at=at(10, 12, 9),
        sla_result="hit",
    )
    assert steps(reopened, at(10, 20)) == []


def test_unrated_ticket_reminded_after_three_working_days_then_closed() -> None:
    # Resolved Wed 30 Sep: 8, 9, 10 Oct (Sat, make-up) -> reminder at 24:00 10 Oct.
    resolved = at(9, 30, 15)
    ticket = SlaTicket(
        9,
        TicketState.RESOLVED,
        at(10, 13),
        first_resolved_at=resolved,
        resolved_at=resolved,
        sla_result="hit",
    )
    assert steps(ticket, at(10, 10, 12)) == []
    assert steps(ticket, at(10, 11)) == [SlaAction(SlaStep.RATING_REMINDER, 9, at(10, 11))]
    reminded = SlaTicket(
        9,
        TicketState.RESOLVED,
        at(10, 13),
        first_resolved_at=resolved,
        resolved_at=resolved,
        sla_result="hit",
        rating_reminded=True,
    )
    assert steps(reminded, at(10, 15, 23)) == []
    # 7 working days: 8, 9, 10, 12, 13, 14, 15 Oct -> closed as no rating at 24:00 15 Oct.
    assert steps(reminded, at(10, 16)) == [SlaAction(SlaStep.CLOSE_NO_RATING, 9, at(10, 16))]
    rated = SlaTicket(
        9,
        TicketState.RESOLVED,
        at(10, 13),
        first_resolved_at=resolved,
        resolved_at=resolved,
        sla_result="hit",
        rated=True,
    )
    assert steps(rated, at(10, 20)) == []


def test_close_after_is_configurable_and_must_follow_the_reminder() -> None:
    policy = SlaPolicy(no_rating_close_after_workdays=4)
    resolved = at(9, 30, 15)
    ticket = SlaTicket(
        10,
        TicketState.RESOLVED,
        at(10, 13),
        first_resolved_at=resolved,
        resolved_at=resolved,
        sla_result="hit",
        rating_reminded=True,
    )
    assert steps(ticket, at(10, 13), policy) == [SlaAction(SlaStep.CLOSE_NO_RATING, 10, at(10, 13))]
    with pytest.raises(UsageError):
        SlaPolicy(rating_reminder_after_workdays=3, no_rating_close_after_workdays=3)


def test_plan_pass_over_many_tickets_and_first_workday() -> None:
    tickets = [
        SlaTicket(11, TicketState.ASSIGNED, at(10, 13)),
        SlaTicket(
            12,
            TicketState.CLOSED,
            at(10, 13),
            first_resolved_at=at(10, 9),
            resolved_at=at(10, 9),
            sla_result="hit",
            rated=True,
        ),
    ]
    assert [a.ticket_id for a in plan_pass(tickets, at(10, 12, 8), POLICY, CAL)] == [11]
    assert first_workday_of_month(2026, 10, CAL) == date(2026, 10, 8)
    assert first_workday_of_month(2026, 11, CAL) == date(2026, 11, 2)


def test_escalation_into_2027_with_and_without_an_entered_calendar() -> None:
    missing: list[int] = []
    fallback = WorkdayCalendar(warn=missing.append)
    deadline = datetime(2027, 1, 1, tzinfo=SHANGHAI)  # 24:00 Thu 31 Dec 2026
    ticket = SlaTicket(20, TicketState.IN_PROGRESS, deadline, escalation_level=1)
    # No 2027 data: Mon–Fri, so Fri 1 Jan and Mon 4 Jan are the 2 working days.
    assert [
        a.due_at
        for a in due_actions(ticket, datetime(2027, 1, 5, tzinfo=SHANGHAI), POLICY, fallback)
    ] == [datetime(2027, 1, 5, tzinfo=SHANGHAI)]
    assert missing == [2027]
    entered = WorkdayCalendar(
        {2027: YearDays(holidays=frozenset({date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3)}))}
    )
    # New Year's Day entered as a holiday: 4 and 5 Jan count, level 2 at 24:00 5 Jan.
    assert due_actions(ticket, datetime(2027, 1, 5, 12, tzinfo=SHANGHAI), POLICY, entered) == []
    [level2] = due_actions(ticket, datetime(2027, 1, 6, tzinfo=SHANGHAI), POLICY, entered)
    assert (level2.level, level2.due_at) == (2, datetime(2027, 1, 6, tzinfo=SHANGHAI))
