"""What an officer records about a visit: done (notes, problems found), not done (why), the
time he agreed by phone, and the contacts he had with an enterprise between visits.

Every function works in the caller's write transaction and never commits; the CLI
(``hub visits record|schedule|contact``), the API (``/api/v1/visits/{id}/outcome`` …) and the
officers' WeCom/Telegram commands (:mod:`hub.inbound.officer_commands`) all call these.

A problem found on a visit becomes a ticket (:func:`hub.tickets.lifecycle.open_ticket`, the
one ticket opener): routed to the department the officer named, else by the routing rules
(keywords, industry) as a reply's request is; ``source_visit_id`` is the visit; the deadline
runs in working days from the moment it is recorded; its contact is the enterprise's first
contact, so the handler's answer and the rating request reach the enterprise and the loop
closes as for any other request. The acknowledgement (number and deadline) goes to the
officer who recorded it — in the command's answer, the API's body or the reply to his WeCom or
Telegram text — not to the enterprise, which did not write: the officer was there and tells
it. ``details["problems"]`` keeps each problem with its ticket number; recording the same
outcome again opens nothing (a retried call), recording a different one is refused.

A visit not done goes back to ``planned`` (it stays due and is proposed again) with the reason
appended to ``details["not_done"]``; compliance counts it as missed from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI, local_iso
from hub.core.errors import NotFoundError, UsageError
from hub.core.vocab import ContactVia, TicketCategory, Urgency, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.models import Contact, Department, Enterprise, LiaisonContact, Officer, Ticket, Visit
from hub.tickets.deadlines.rules import deadline_phrase
from hub.tickets.lifecycle import open_ticket
from hub.tickets.policy import TicketPolicy
from hub.tickets.routing import department_by_code

__all__ = [
    "ContactRecorded",
    "ProblemFound",
    "ProblemTicket",
    "VisitOutcome",
    "find_enterprise",
    "find_visit",
    "parse_local_time",
    "record_agreed_time",
    "record_contact",
    "record_done",
    "record_not_done",
]

MAX_PROBLEMS = 20
MAX_TEXT = 2000
_WEEKDAYS = "一二三四五六日"
_SUBJECT_PREFIX = "走访发现："


@dataclass(frozen=True, slots=True)
class ProblemFound:
    """A problem the officer found on a visit: its text, and the department he named (code)."""

    text: str
    department: str | None = None
    category: TicketCategory | None = None
    urgency: Urgency | None = None


@dataclass(frozen=True, slots=True)
class ProblemTicket:
    """The ticket a problem became."""

    text: str
    number: str
    department: str | None
    deadline_at: datetime

    def as_dict(self, tz: ZoneInfo = SHANGHAI) -> dict[str, Any]:
        return {
            "text": self.text, "ticket": self.number, "department": self.department,
            "deadline_at": local_iso(self.deadline_at, tz),
            "deadline": deadline_phrase(self.deadline_at, tz),
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class VisitOutcome:
    """A visit after a record: its state, and the tickets its problems became."""

    visit_id: int
    enterprise: str
    status: VisitStatus
    proposed_for: datetime | None = None
    visited_at: datetime | None = None
    tickets: tuple[ProblemTicket, ...] = ()
    #: True when the same outcome was on record already and nothing was written.
    already: bool = False
    not_done: tuple[dict[str, Any], ...] = field(default=())

    def as_dict(self, tz: ZoneInfo = SHANGHAI) -> dict[str, Any]:
        return {
            "visit_id": self.visit_id, "enterprise": self.enterprise,
            "status": self.status.value, "status_label": self.status.label,
            "proposed_for": local_iso(self.proposed_for, tz),
            "visited_at": local_iso(self.visited_at, tz),
            "tickets": [t.as_dict(tz) for t in self.tickets], "already": self.already,
            "not_done": list(self.not_done),
        }  # fmt: skip

    def summary(self, tz: ZoneInfo = SHANGHAI) -> str:
        """One Chinese line for the officer (the command's answer, the WeCom reply)."""
        head = f"走访 {self.visit_id}（{self.enterprise}）{self.status.label}"
        if self.status is VisitStatus.CONFIRMED and self.proposed_for is not None:
            head += f"：{local_phrase(self.proposed_for, tz)}"
        if self.already:
            head += "（此前已记录，未重复登记）"
        if self.tickets:
            parts = [
                f"{t.number}（{t.department or '待分派'}，{deadline_phrase(t.deadline_at, tz)}）"
                for t in self.tickets
            ]
            head += "；问题已转为工单：" + "；".join(parts)
        return head


@dataclass(frozen=True, slots=True)
class ContactRecorded:
    """A contact recorded with an enterprise."""

    id: int
    uscc: str
    enterprise: str
    officer: str | None
    via: ContactVia
    at: datetime
    notes: str

    def as_dict(self, tz: ZoneInfo = SHANGHAI) -> dict[str, Any]:
        return {
            "id": self.id, "uscc": self.uscc, "enterprise": self.enterprise,
            "officer": self.officer, "via": self.via.value, "via_label": self.via.label,
            "at": local_iso(self.at, tz), "notes": self.notes,
        }  # fmt: skip

    def summary(self, tz: ZoneInfo = SHANGHAI) -> str:
        return f"已记录与{self.enterprise}的{self.via.label}（{local_phrase(self.at, tz)}）"


def local_phrase(at: datetime, tz: ZoneInfo = SHANGHAI) -> str:
    """``2027-03-02（周二）09:30`` in the hub's zone."""
    local = at.astimezone(tz)
    return f"{local:%Y-%m-%d}（周{_WEEKDAYS[local.weekday()]}）{local:%H:%M}"


def parse_local_time(text: str, tz: ZoneInfo = SHANGHAI) -> datetime:
    """``2027-03-02 09:30`` (or ISO 8601 with an offset) as an aware time; naive is ``tz``."""
    cleaned = text.strip().replace("T", " ")
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise UsageError(f"时间“{text}”无法识别，应为 2027-03-02 09:30 的形式") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _text(value: str | None, what: str, *, required: bool) -> str:
    cleaned = (value or "").strip()
    if required and not cleaned:
        raise UsageError(f"{what}不能为空")
    if len(cleaned) > MAX_TEXT:
        raise UsageError(f"{what}过长（最多 {MAX_TEXT} 字）")
    return cleaned


async def find_visit(session: AsyncSession, visit_id: int) -> Visit:
    """The visit, or NotFoundError naming the id."""
    visit = await session.get(Visit, visit_id)
    if visit is None:
        raise NotFoundError(f"没有编号为 {visit_id} 的走访")
    return visit


async def find_enterprise(session: AsyncSession, enterprise: str | int) -> Enterprise:
    """An enterprise by USCC (text) or id (int), or NotFoundError naming what was given."""
    if isinstance(enterprise, int):
        found = await session.get(Enterprise, enterprise)
    else:
        code = enterprise.strip().upper()
        found = await session.scalar(sa.select(Enterprise).where(Enterprise.uscc == code))
    if found is None:
        raise NotFoundError(f"没有统一社会信用代码为 {enterprise} 的企业")
    return found


async def _enterprise_name(session: AsyncSession, visit: Visit) -> str:
    name = await session.scalar(
        sa.select(Enterprise.name).where(Enterprise.id == visit.enterprise_id)
    )
    return name or f"企业 {visit.enterprise_id}"


def _refuse_closed(visit: Visit, step: str) -> None:
    if visit.status is VisitStatus.DONE:
        raise UsageError(f"走访 {visit.id} 已记录为完成，不能{step}")
    if visit.status is VisitStatus.CANCELLED:
        raise UsageError(f"走访 {visit.id} 已取消，不能{step}")


def _not_after(at: datetime, now: datetime, what: str) -> None:
    if at.tzinfo is None:
        raise UsageError(f"{what}须带时区")
    if at > now:
        raise UsageError(f"{what}（{local_phrase(at)}）晚于当前时间，不能预先登记")


async def _contact_of(session: AsyncSession, enterprise_id: int) -> int | None:
    """The enterprise's first contact still on record (answers and rating requests go there)."""
    return await session.scalar(
        sa.select(Contact.id)
        .where(Contact.enterprise_id == enterprise_id, Contact.anonymised_at.is_(None))
        .order_by(Contact.id)
        .limit(1)
    )


def _problem_texts(problems: Sequence[ProblemFound]) -> list[tuple[str, str | None]]:
    if len(problems) > MAX_PROBLEMS:
        raise UsageError(f"问题最多 {MAX_PROBLEMS} 条")
    return [
        (_text(p.text, f"问题 {i}", required=True), (p.department or "").strip().upper() or None)
        for i, p in enumerate(problems, 1)
    ]


async def _stored_outcome(
    session: AsyncSession, visit: Visit, name: str, already: bool
) -> VisitOutcome:
    kept = list((visit.details or {}).get("problems") or [])
    numbers = [str(p["ticket"]) for p in kept if p.get("ticket")]
    found = {
        t.number: t
        for t in (await session.scalars(sa.select(Ticket).where(Ticket.number.in_(numbers)))).all()
    }
    tickets = tuple(
        ProblemTicket(str(p["text"]), t.number, p.get("department"), t.deadline_at)
        for p in kept
        if (t := found.get(str(p.get("ticket")))) is not None
    )
    return VisitOutcome(
        visit.id, name, visit.status, visit.proposed_for, visit.visited_at, tickets, already
    )


async def record_done(
    session: AsyncSession,
    visit_id: int,
    *,
    at: datetime | None,
    notes: str | None,
    problems: Sequence[ProblemFound],
    by: str,
    now: datetime,
    policy: TicketPolicy,
) -> VisitOutcome:
    """The visit was made (at ``at``, default now): notes kept, each problem a routed ticket.

    The same outcome recorded again (same problems) changes nothing and says so
    (``already``); a different one for a visit already done is refused.
    """
    visit = await find_visit(session, visit_id)
    name = await _enterprise_name(session, visit)
    wanted = _problem_texts(problems)
    note_text = _text(notes, "走访记录", required=False)
    if visit.status is VisitStatus.DONE:
        kept = [(p.get("text"), p.get("department_named")) for p in
                (visit.details or {}).get("problems") or []]  # fmt: skip
        if kept == wanted and (visit.notes or "") == note_text:
            return await _stored_outcome(session, visit, name, already=True)
    _refuse_closed(visit, "再次记录")
    visited = at or now
    _not_after(visited, now, "走访时间 (at)")
    departments: dict[str, Department] = {}
    for text, code in wanted:
        if code is not None and code not in departments:
            department = await department_by_code(session, code)
            if department is None:
                raise NotFoundError(f"部门编码 {code} 不存在（问题“{text}”的 department）")
            departments[code] = department
    contact_id = await _contact_of(session, visit.enterprise_id)
    made: list[ProblemTicket] = []
    kept_problems: list[dict[str, Any]] = []
    for (text, code), problem in zip(wanted, problems, strict=True):
        body = (
            f"{text}\n（联络员走访 {local_phrase(visited, policy.tz)} 发现，走访编号 {visit.id}）"
        )
        ticket = await open_ticket(
            session, now=now, policy=policy, body=body, enterprise_id=visit.enterprise_id,
            contact_id=contact_id, category=problem.category, urgency=problem.urgency,
            subject=f"{_SUBJECT_PREFIX}{text}", actor=by,
            department=departments.get(code) if code else None,
        )  # fmt: skip
        ticket.source_visit_id = visit.id
        department_code = await _department_code(session, ticket)
        made.append(ProblemTicket(text, ticket.number, department_code, ticket.deadline_at))
        kept_problems.append({
            "text": text, "department_named": code, "department": department_code,
            "ticket": ticket.number, "ticket_id": ticket.id,
        })  # fmt: skip
    details = dict(visit.details or {})
    details["problems"] = kept_problems
    details["done"] = {"at": now.isoformat(), "by": by}
    visit.details = details  # a new dict: the JSON column sees the change
    visit.status = VisitStatus.DONE
    visit.visited_at = visited
    visit.notes = note_text or None
    visit.updated_at = now
    await session.flush()
    return VisitOutcome(visit.id, name, visit.status, visit.proposed_for, visited, tuple(made))


async def _department_code(session: AsyncSession, ticket: Ticket) -> str | None:
    if ticket.department_id is None:
        return None
    return await session.scalar(
        sa.select(Department.code).where(Department.id == ticket.department_id)
    )


async def record_not_done(
    session: AsyncSession, visit_id: int, *, reason: str, by: str, now: datetime
) -> VisitOutcome:
    """The visit did not take place: the reason is kept, and the visit is due again (planned)."""
    why = _text(reason, "未完成原因 (reason)", required=True)
    visit = await find_visit(session, visit_id)
    _refuse_closed(visit, "记录为未完成")
    entry: dict[str, Any] = {"at": now.isoformat(), "reason": why, "by": by}
    if visit.proposed_for is not None:
        entry["was_for"] = visit.proposed_for.isoformat()
    details = dict(visit.details or {})
    details["not_done"] = [*(details.get("not_done") or []), entry]
    visit.details = details
    visit.status = VisitStatus.PLANNED
    visit.proposed_for = None
    visit.updated_at = now
    await session.flush()
    name = await _enterprise_name(session, visit)
    return VisitOutcome(visit.id, name, visit.status, not_done=tuple(details["not_done"]))


async def record_agreed_time(
    session: AsyncSession,
    visit_id: int,
    *,
    at: datetime,
    by: str,
    now: datetime,
    calendar: WorkdayCalendar,
    tz: ZoneInfo = SHANGHAI,
) -> VisitOutcome:
    """The officer agreed a time with the enterprise (by phone): the visit is confirmed for it.

    A time on a day off or already past is refused, naming the day.
    """
    visit = await find_visit(session, visit_id)
    _refuse_closed(visit, "改约时间")
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    if at <= now:
        raise UsageError(f"约定时间 (at) {local_phrase(at, tz)} 已过，请填写今后的时间")
    day = at.astimezone(tz).date()
    if calendar.is_day_off(day):
        raise UsageError(
            f"约定时间 (at) {local_phrase(at, tz)} 是休息日，请约在工作日"
            f"（之后第一个工作日为 {calendar.next_workday(day).isoformat()}）"
        )
    details = dict(visit.details or {})
    details["agreed"] = {"at": now.isoformat(), "for": at.isoformat(), "by": by}
    visit.details = details
    visit.status = VisitStatus.CONFIRMED
    visit.proposed_for = at
    visit.updated_at = now
    await session.flush()
    name = await _enterprise_name(session, visit)
    return VisitOutcome(visit.id, name, visit.status, proposed_for=at)


async def _officer(session: AsyncSession, officer: Officer | str | None, fallback: int | None
                   ) -> Officer | None:  # fmt: skip
    if isinstance(officer, Officer):
        return officer
    if officer:
        found = await session.scalar(sa.select(Officer).where(Officer.code == officer.strip()))
        if found is None:
            raise NotFoundError(f"没有编号为 {officer} 的联络员")
        return found
    return await session.get(Officer, fallback) if fallback is not None else None


async def record_contact(
    session: AsyncSession,
    enterprise: str | int,
    *,
    via: ContactVia,
    at: datetime | None,
    notes: str | None,
    officer: Officer | str | None,
    source: str,
    now: datetime,
) -> ContactRecorded:
    """A contact the officer had with the enterprise (a call, a meeting, online): one row.

    ``enterprise`` by USCC or id; ``officer`` a row or an officer code, default the
    enterprise's own officer.
    """
    found = await find_enterprise(session, enterprise)
    when = at or now
    _not_after(when, now, "联系时间 (at)")
    text = _text(notes, "联系记录", required=False)
    who = await _officer(session, officer, found.officer_id)
    row = LiaisonContact(
        enterprise_id=found.id, officer_id=who.id if who else None, at=when, via=via, notes=text,
        source=source[:64], created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(row)
    await session.flush()
    return ContactRecorded(row.id, found.uscc, found.name, who.code if who else None, via,
                           when, text)  # fmt: skip
