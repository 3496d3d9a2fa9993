"""The monthly callback survey (回访): at least 70% of last month's resolved tickets.

Seed 000 §三(三): each month, a callback survey of at least 70% of the cases completed. For a
month M (run from its first working day on, by the SLA pass, or ``hub callbacks run``), the
population is the tickets resolved in M-1 (local time) and not reopened since, i.e. now
``resolved`` or ``closed``. The sample:

- always every ticket that had a bad rating (差评, ≤2, not flagged malicious), by phone — a
  person calls back about a complaint;
- topped up to ``ceil(coverage × population)`` (config ``tickets.callback_coverage``) in a
  seeded order (sha256 of month and ticket number), so it is the same on every run and on
  every machine, and no clerk picks the easy cases;
- each recorded as a ``callback_survey`` row (unique on resolved-month and ticket): running
  again adds nothing, or only what a grown population needs.

A sampled ticket gets a ``callback_survey`` message when its contact can be reached (status
``sent``); otherwise, and for bad ratings, it is a phone callback (``pending``) that staff
record with ``hub callbacks record ID --score N --answer TEXT --by USER``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import cast
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock, local_iso
from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import (
    CallbackMethod,
    CallbackStatus,
    MessageKind,
    MessageStatus,
    TicketEventType,
    TicketState,
)
from hub.core.workdays import WorkdayCalendar
from hub.infra.queue import Queue
from hub.outbound.notify import (
    NotifyResult,
    Recipient,
    enqueue_notified,
    enterprise_context,
    notify_one,
)
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.db import Database
from hub.store.models import CallbackSurvey, Contact, Rating, Ticket, TicketEvent
from hub.tickets.settings import TicketsConfig
from hub.tickets.sla.rules import first_workday_of_month

ACTOR = "callbacks"


def parse_month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` → (year, month); ``UsageError`` in Chinese otherwise."""
    try:
        year, month = (int(p) for p in text.strip().split("-"))
        date(year, month, 1)
    except ValueError:
        raise UsageError(f"月份须为 YYYY-MM 格式，如 2026-11，收到“{text}”") from None
    return year, month


def previous_month(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def month_span(year: int, month: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar month as aware datetimes."""
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    return (
        datetime.combine(date(year, month, 1), time(0), tzinfo=tz),
        datetime.combine(date(*nxt, 1), time(0), tzinfo=tz),
    )


def sample_order(month: str, number: str) -> str:
    """The seeded position of a ticket in a month's sample (same everywhere, every run)."""
    return hashlib.sha256(f"callback\x1f{month}\x1f{number}".encode()).hexdigest()


def choose_sample(
    month: str, numbers: dict[int, str], bad: set[int], existing: set[int], coverage: float
) -> list[int]:
    """Ticket ids to add: all bad-rated ones, then seeded order up to the coverage (pure)."""
    need = math.ceil(coverage * len(numbers) - 1e-9)
    chosen = set(existing) | (bad & set(numbers))
    for ticket_id in sorted(numbers, key=lambda i: sample_order(month, numbers[i])):
        if len(chosen) >= need:
            break
        chosen.add(ticket_id)
    return sorted(chosen - existing)


@dataclass(slots=True)
class CallbackOutcome:
    """One month's sample: population, rows there now, rows this call added."""

    month: str  # the month the tickets were resolved in
    population: int = 0
    surveyed: int = 0
    added: int = 0
    by_phone: int = 0
    message_ids: list[int] = field(default_factory=list)

    @property
    def coverage(self) -> float:
        return self.surveyed / self.population if self.population else 1.0

    def as_dict(self) -> dict[str, object]:
        return {
            "month": self.month,
            "population": self.population,
            "surveyed": self.surveyed,
            "added": self.added,
            "by_phone": self.by_phone,
            "coverage": round(self.coverage, 4),
            "message_ids": self.message_ids,
        }


async def run_monthly_callbacks(
    db: Database,
    clock: Clock,
    settings: TicketsConfig,
    *,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
    queue: Queue,
    calendar: WorkdayCalendar | None = None,
    month: str | None = None,
    only_from_first_workday: bool = False,
) -> CallbackOutcome:
    """Draw (or top up) the sample for the tickets resolved in the month before ``month``
    (default: the current month), send the survey messages, enqueue them after the commit."""
    now = clock.now()
    tz = settings.hub.tz
    today = now.astimezone(tz).date()
    year, mon = parse_month(month) if month else (today.year, today.month)
    resolved_year, resolved_mon = previous_month(year, mon)
    label = month_label(resolved_year, resolved_mon)
    if only_from_first_workday:
        cal = calendar or WorkdayCalendar.from_years(settings.calendar.years)
        if (year, mon) != (today.year, today.month) or today < first_workday_of_month(
            year, mon, cal
        ):
            return CallbackOutcome(month=label)
    start, end = month_span(resolved_year, resolved_mon, tz)
    outcome = CallbackOutcome(month=label)
    results: list[NotifyResult] = []
    coverage = settings.tickets.callback_coverage
    # Read first: on most passes of a month the sample is complete and nothing is written.
    async with db.read() as session:
        numbers, existing, bad = await _population(session, label, start, end)
    outcome.population, outcome.surveyed = len(numbers), len(existing)
    if not choose_sample(label, numbers, bad, existing, coverage):
        return outcome
    async with db.write() as session:
        numbers, existing, bad = await _population(session, label, start, end)
        outcome.population = len(numbers)
        to_add = choose_sample(label, numbers, bad, existing, coverage)
        for ticket_id in to_add:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            result = await _survey_one(
                session, ticket, label, ticket_id in bad, now, tz, renderer, policy
            )
            outcome.added += 1
            if result is None:
                outcome.by_phone += 1
            else:
                results.append(result)
        outcome.surveyed = len(existing) + outcome.added
    outcome.message_ids = await enqueue_notified(queue, results)
    return outcome


async def _population(
    session: AsyncSession, label: str, start: datetime, end: datetime
) -> tuple[dict[int, str], set[int], set[int]]:
    """The month's resolved tickets (id → number), those sampled already, the bad-rated."""
    numbers: dict[int, str] = dict(
        (
            await session.execute(
                sa.select(Ticket.id, Ticket.number).where(
                    Ticket.resolved_at >= start,
                    Ticket.resolved_at < end,
                    Ticket.state.in_([TicketState.RESOLVED, TicketState.CLOSED]),
                )
            )
        ).all()
    )
    existing = set(
        (
            await session.scalars(
                sa.select(CallbackSurvey.ticket_id).where(CallbackSurvey.month == label)
            )
        ).all()
    )
    return numbers, existing, await _bad_rated(session, list(numbers))


async def _bad_rated(session: AsyncSession, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        (
            await session.scalars(
                sa.select(Rating.ticket_id).where(
                    Rating.ticket_id.in_(ids), Rating.score <= 2, Rating.malicious.is_(False)
                )
            )
        ).all()
    )


async def _survey_one(
    session: AsyncSession,
    ticket: Ticket,
    month: str,
    bad: bool,
    now: datetime,
    tz: ZoneInfo,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
) -> NotifyResult | None:
    """One sampled ticket: a message when the contact can be reached (and it was not a bad
    rating), else a phone callback. Returns the message's result, None for phone."""
    contact = await session.get(Contact, ticket.contact_id) if ticket.contact_id else None
    result: NotifyResult | None = None
    if not bad and contact is not None and contact.anonymised_at is None:
        assert ticket.resolved_at is not None
        day = ticket.resolved_at.astimezone(tz).date()
        values = {
            **await enterprise_context(session, ticket.enterprise_id),
            "procedure": f"诉求{ticket.number}",
            "completed_on": f"{day.year}年{day.month}月{day.day}日",
        }
        result = await notify_one(
            session,
            kind=MessageKind.CALLBACK_SURVEY,
            recipient=Recipient.for_contact(contact),
            context=values,
            trigger="callback",
            trigger_key=f"{month}:{ticket.id}",
            now=now,
            renderer=renderer,
            policy=policy,
        )
        if result.status is MessageStatus.SKIPPED:
            result = None
    method = CallbackMethod.MESSAGE if result is not None else CallbackMethod.PHONE
    survey = CallbackSurvey(
        month=month,
        ticket_id=ticket.id,
        method=method,
        status=CallbackStatus.SENT if result is not None else CallbackStatus.PENDING,
        message_id=result.message_id if result is not None else None,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            type=TicketEventType.CALLBACK_DUE,
            actor=ACTOR,
            at=now,
            reason=f"{month} 月度回访（{method.label}）",
            data={"survey_id": survey.id, "month": month, "method": method.value, "monthly": True},
        )
    )
    return result


@dataclass(frozen=True, slots=True)
class SurveyView:
    """A callback survey row as the CLI prints it."""

    id: int
    month: str
    ticket_number: str
    method: str
    status: str
    score: int | None
    answer: str | None
    recorded_by: str | None
    recorded_at: str | None
    created_at: str | None

    def as_dict(self) -> dict[str, object]:
        return {f: getattr(self, f) for f in self.__slots__}


async def list_surveys(
    db: Database, *, month: str | None = None, status: CallbackStatus | None = None
) -> list[SurveyView]:
    """The surveys, optionally of one resolved-month and status, in id order."""
    query = (
        sa.select(CallbackSurvey, Ticket.number)
        .join(Ticket, Ticket.id == CallbackSurvey.ticket_id)
        .order_by(CallbackSurvey.id)
    )
    if month is not None:
        query = query.where(CallbackSurvey.month == month_label(*parse_month(month)))
    if status is not None:
        query = query.where(CallbackSurvey.status == status)
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return [_view(s, number) for s, number in rows]


def _view(s: CallbackSurvey, number: str) -> SurveyView:
    return SurveyView(
        id=s.id,
        month=s.month,
        ticket_number=number,
        method=s.method.value,
        status=s.status.value,
        score=s.score,
        answer=s.answer,
        recorded_by=s.recorded_by,
        recorded_at=local_iso(s.recorded_at),
        created_at=local_iso(s.created_at),
    )


async def record_answer(
    db: Database,
    clock: Clock,
    survey_id: int,
    *,
    score: int | None,
    answer: str | None,
    by: str,
    unreachable: bool = False,
) -> SurveyView:
    """Record the answer of a callback (phone or a reply), with a ``callback_done`` event."""
    if not unreachable and score is None:
        raise UsageError("请用 --score 填写满意度 1–5，或用 --unreachable 标记无法联系")
    if score is not None and not 1 <= score <= 5:
        raise UsageError(f"满意度须为 1–5，收到 {score}")
    now = clock.now()
    async with db.write() as session:
        survey = await session.get(CallbackSurvey, survey_id)
        if survey is None:
            raise NotFoundError(f"没有编号为 {survey_id} 的回访记录")
        record_survey_answer(
            session, survey, score=score, answer=answer, by=by, now=now, unreachable=unreachable
        )
        number = await session.scalar(sa.select(Ticket.number).where(Ticket.id == survey.ticket_id))
    return _view(survey, number or "")


async def survey_for_message(session: AsyncSession, message_id: int) -> CallbackSurvey | None:
    """The survey a ``callback_survey`` message asked (so a reply to it can be recorded)."""
    return cast(
        CallbackSurvey | None,
        await session.scalar(
            sa.select(CallbackSurvey).where(CallbackSurvey.message_id == message_id)
        ),
    )


def record_survey_answer(
    session: AsyncSession,
    survey: CallbackSurvey,
    *,
    score: int | None,
    answer: str | None,
    by: str,
    now: datetime,
    unreachable: bool = False,
) -> None:
    """Set the answer on the survey and add the ``callback_done`` event (caller's transaction)."""
    survey.score = score
    survey.answer = answer
    survey.recorded_by = by
    survey.recorded_at = now
    survey.status = CallbackStatus.UNREACHABLE if unreachable else CallbackStatus.ANSWERED
    session.add(
        TicketEvent(
            ticket_id=survey.ticket_id,
            type=TicketEventType.CALLBACK_DONE,
            actor=by,
            at=now,
            reason="无法联系" if unreachable else (answer or None),
            data={
                "survey_id": survey.id,
                "month": survey.month,
                "score": score,
                "method": survey.method.value,
                "monthly": True,
            },
        )
    )
