"""The enterprise's dossier (一企一档) the liaison officer takes on a visit.

What the officer should know before he walks in: the enterprise (name, tier, region, the
contact to ask for), its open tickets with their numbers and deadlines (overdue ones marked),
its active credit events, the policies pushed to it and whether it answered them, and the
last visit done: its date, notes and the problems found (``Visit.details["problems"]``, a
list of ``{text, ticket_number, department}`` the outcome recorded).

:func:`build_dossiers` reads many enterprises at once (one query per kind of fact and chunk
of ids: a morning's reminders for a whole district are a handful of reads, not one per
visit); :func:`build_dossier` is one of them. :func:`dossier_text` is the compact Chinese text
a WeCom or Telegram message carries, bounded so the message fits WeCom's 2,048 bytes
(a section's items beyond its share are counted "等N项"); :func:`dossier_variables` are the
fields the ``visit_reminder`` templates use.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.credit import CreditEventStatus
from hub.core.errors import NotFoundError
from hub.core.vocab import MessageKind, MessageStatus, ReplyClass, VisitStatus
from hub.store.enterprise_data import CreditEvent, Policy
from hub.store.messaging import Campaign, InboundReply, Message
from hub.store.registry import Contact, Department, Enterprise, Visit
from hub.store.tickets import Ticket
from hub.tickets.deadlines.rules import deadline_phrase
from hub.tickets.lookup import OPEN_STATES

__all__ = [
    "DOSSIER_MAX_CHARS",
    "Dossier",
    "DossierCreditEvent",
    "DossierPolicy",
    "DossierProblem",
    "DossierTicket",
    "LastVisit",
    "build_dossier",
    "build_dossiers",
    "cn_date",
    "dossier_text",
    "dossier_variables",
]

#: The dossier text's bound, in characters: 3 UTF-8 bytes each, it leaves the reminder's own
#: lines room within WeCom's 2,048-byte text message.
DOSSIER_MAX_CHARS: Final = 420
#: Items shown per section before "等N项" (the officer opens the rest on the workbench).
SECTION_ITEMS: Final = 3
#: Ids per IN (…) read.
_IN_CHUNK: Final = 500
#: A policy push counts as sent to the enterprise once a provider took it.
_SENT: Final = (MessageStatus.SENT, MessageStatus.DELIVERED)
#: policy_match's trigger key of a policy's messages (``policy:<policy_id>``); the program
#: sits above this layer, so the prefix is read here rather than imported.
_POLICY_KEY_PREFIX: Final = "policy:"
_WEEKDAYS: Final = "一二三四五六日"


@dataclass(frozen=True, slots=True)
class DossierTicket:
    """An open ticket: its number, subject, department and deadline."""

    number: str
    subject: str
    department: str
    deadline_at: datetime
    overdue: bool


@dataclass(frozen=True, slots=True)
class DossierCreditEvent:
    """An active credit event: its type (Chinese), authority, date and summary."""

    event_id: str
    type_label: str
    authority: str
    decided_on: date
    summary: str


@dataclass(frozen=True, slots=True)
class DossierPolicy:
    """A policy pushed to the enterprise: when it first went, and whether it was answered."""

    title: str
    sent_at: datetime
    answered: bool
    unsubscribed: bool = False


@dataclass(frozen=True, slots=True)
class DossierProblem:
    """A problem the last visit found, and the ticket it became."""

    text: str
    ticket_number: str = ""
    department: str = ""


@dataclass(frozen=True, slots=True)
class LastVisit:
    """The last visit done: when, the officer's notes, the problems found."""

    visit_id: int
    visited_at: datetime
    notes: str
    problems: tuple[DossierProblem, ...]


@dataclass(frozen=True, slots=True)
class Dossier:
    """One enterprise's dossier at ``as_of`` (see the module docstring)."""

    enterprise_id: int
    name: str
    uscc: str
    tier: str
    region: str
    as_of: datetime
    contact_name: str = ""
    contact_mobile: str = ""
    open_tickets: tuple[DossierTicket, ...] = ()
    credit_events: tuple[DossierCreditEvent, ...] = ()
    policies: tuple[DossierPolicy, ...] = ()
    last_visit: LastVisit | None = None
    tz: ZoneInfo = field(default=SHANGHAI, compare=False)

    @property
    def overdue_tickets(self) -> int:
        return sum(t.overdue for t in self.open_tickets)

    @property
    def policies_answered(self) -> int:
        return sum(p.answered for p in self.policies)


async def build_dossier(
    session: AsyncSession, enterprise_id: int, now: datetime, *, tz: ZoneInfo = SHANGHAI
) -> Dossier:
    """The dossier of one enterprise at ``now``; NotFound when there is no such enterprise."""
    found = await build_dossiers(session, [enterprise_id], now, tz=tz)
    if enterprise_id not in found:
        raise NotFoundError(f"企业 {enterprise_id} 不存在")
    return found[enterprise_id]


async def build_dossiers(
    session: AsyncSession, enterprise_ids: Collection[int], now: datetime, *,
    tz: ZoneInfo = SHANGHAI,
) -> dict[int, Dossier]:  # fmt: skip
    """The dossiers of many enterprises at ``now``, by id (ids not found are absent)."""
    ids = sorted(set(enterprise_ids))
    dossiers: dict[int, Dossier] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        contacts = await _contacts(session, chunk)
        tickets = await _open_tickets(session, chunk, now)
        events = await _credit_events(session, chunk)
        policies = await _policies(session, chunk)
        visits = await _last_visits(session, chunk)
        rows = await session.execute(
            sa.select(Enterprise.id, Enterprise.name, Enterprise.uscc, Enterprise.tier,
                      Enterprise.region).where(Enterprise.id.in_(chunk))
        )  # fmt: skip
        for enterprise_id, name, uscc, tier, region in rows:
            contact_name, contact_mobile = contacts.get(enterprise_id, ("", ""))
            dossiers[enterprise_id] = Dossier(
                enterprise_id=enterprise_id, name=name, uscc=uscc, tier=tier.label,
                region=region or "", as_of=now, contact_name=contact_name,
                contact_mobile=contact_mobile, open_tickets=tuple(tickets.get(enterprise_id, ())),
                credit_events=tuple(events.get(enterprise_id, ())),
                policies=tuple(policies.get(enterprise_id, ())),
                last_visit=visits.get(enterprise_id), tz=tz,
            )  # fmt: skip
    return dossiers


async def _contacts(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """The person to ask for: the first named contact, not anonymised, one with a mobile first."""
    found: dict[int, tuple[str, str]] = {}
    rows = await session.execute(
        sa.select(Contact.enterprise_id, Contact.name, Contact.mobile)
        .where(Contact.enterprise_id.in_(ids), Contact.name.is_not(None), Contact.name != "",
               Contact.anonymised_at.is_(None))
        .order_by(Contact.enterprise_id, Contact.mobile.is_(None), Contact.id)
    )  # fmt: skip
    for enterprise_id, name, mobile in rows:
        found.setdefault(enterprise_id, (name or "", mobile or ""))
    return found


async def _open_tickets(
    session: AsyncSession, ids: Sequence[int], now: datetime
) -> dict[int, list[DossierTicket]]:
    """Open tickets, the nearest deadline first (overdue ones lead)."""
    found: dict[int, list[DossierTicket]] = {}
    rows = await session.execute(
        sa.select(Ticket.enterprise_id, Ticket.number, Ticket.subject, Department.name,
                  Ticket.deadline_at)
        .outerjoin(Department, Department.id == Ticket.department_id)
        .where(Ticket.enterprise_id.in_(ids), Ticket.state.in_(OPEN_STATES))
        .order_by(Ticket.enterprise_id, Ticket.deadline_at, Ticket.id)
    )  # fmt: skip
    for enterprise_id, number, subject, department, deadline_at in rows:
        assert enterprise_id is not None  # the IN (…) above
        found.setdefault(enterprise_id, []).append(
            DossierTicket(number, subject, department or "", deadline_at, deadline_at < now)
        )
    return found


async def _credit_events(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[DossierCreditEvent]]:
    """Active credit events, the latest decided first."""
    found: dict[int, list[DossierCreditEvent]] = {}
    rows = await session.scalars(
        sa.select(CreditEvent)
        .where(CreditEvent.enterprise_id.in_(ids), CreditEvent.status == CreditEventStatus.ACTIVE)
        .order_by(CreditEvent.enterprise_id, CreditEvent.decided_on.desc(), CreditEvent.id)
    )
    for e in rows:
        found.setdefault(e.enterprise_id, []).append(
            DossierCreditEvent(e.event_id, e.type.label, e.authority, e.decided_on, e.summary)
        )
    return found


async def _policies(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[DossierPolicy]]:
    """Policies pushed and taken by a provider, the latest first; one entry per policy however
    many contacts it went to. Answered: a reply the hub linked to one of its messages (a reply
    is linked to the last message its sender was sent, hub.inbound.accept); a TD is marked."""
    sent = (
        sa.select(Message.id, Message.enterprise_id, Campaign.trigger_key,
                  sa.func.coalesce(Message.sent_at, Message.created_at).label("at"))
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(Message.enterprise_id.in_(ids), Message.kind == MessageKind.POLICY_PUSH,
               Message.status.in_(_SENT))
    )  # fmt: skip
    rows = (await session.execute(sent)).all()
    if not rows:
        return {}
    # The replies to policy pushes, read through the enterprises' contacts (both keys indexed;
    # a reply's in_reply_to is not).
    replies: dict[int, set[ReplyClass | None]] = {}
    for message_id, classification in await session.execute(
        sa.select(InboundReply.in_reply_to, InboundReply.classification)
        .join(Contact, Contact.id == InboundReply.contact_id)
        .join(Message, Message.id == InboundReply.in_reply_to)
        .where(Contact.enterprise_id.in_(ids), Message.kind == MessageKind.POLICY_PUSH)
    ):  # fmt: skip
        assert message_id is not None  # the join above
        replies.setdefault(message_id, set()).add(classification)
    policy_ids = {k[len(_POLICY_KEY_PREFIX) :] for k in {r.trigger_key for r in rows}
                  if k.startswith(_POLICY_KEY_PREFIX)}  # fmt: skip
    titles: dict[str, str] = {}
    if policy_ids:
        for policy_id, title in await session.execute(
            sa.select(Policy.policy_id, Policy.title).where(Policy.policy_id.in_(policy_ids))
        ):
            titles[policy_id] = title
    # (enterprise, policy key) -> first sent, answered, unsubscribed
    merged: dict[tuple[int, str], tuple[datetime, bool, bool]] = {}
    for message_id, enterprise_id, key, at in rows:
        assert enterprise_id is not None  # the IN (…) above
        classes = replies.get(message_id, set())
        first, answered, td = merged.get((enterprise_id, key), (at, False, False))
        merged[(enterprise_id, key)] = (
            min(first, at),
            answered or bool(classes),
            td or ReplyClass.UNSUBSCRIBE in classes,
        )
    found: dict[int, list[DossierPolicy]] = {}
    for (enterprise_id, key), (at, answered, td) in merged.items():
        title = titles.get(key.removeprefix(_POLICY_KEY_PREFIX), "") or "政策推送"
        found.setdefault(enterprise_id, []).append(DossierPolicy(title, at, answered, td))
    for listed in found.values():
        listed.sort(key=lambda p: p.sent_at, reverse=True)
    return found


async def _last_visits(session: AsyncSession, ids: Sequence[int]) -> dict[int, LastVisit]:
    """Each enterprise's latest visit done."""
    latest = (
        sa.select(Visit.enterprise_id, sa.func.max(Visit.visited_at).label("at"))
        .where(Visit.enterprise_id.in_(ids), Visit.status == VisitStatus.DONE,
               Visit.visited_at.is_not(None))
        .group_by(Visit.enterprise_id)
        .subquery()
    )  # fmt: skip
    rows = await session.scalars(
        sa.select(Visit)
        .join(latest, sa.and_(latest.c.enterprise_id == Visit.enterprise_id,
                              latest.c.at == Visit.visited_at))
        .where(Visit.status == VisitStatus.DONE)
        .order_by(Visit.id)
    )  # fmt: skip
    found: dict[int, LastVisit] = {}
    for visit in rows:
        assert visit.visited_at is not None
        found[visit.enterprise_id] = LastVisit(
            visit.id, visit.visited_at, visit.notes or "", _problems(visit.details)
        )
    return found


def _problems(details: dict[str, Any] | None) -> tuple[DossierProblem, ...]:
    """``details["problems"]`` as the outcome records it; a bare string is a problem's text."""
    problems: list[DossierProblem] = []
    for p in (details or {}).get("problems") or ():
        if isinstance(p, str):
            problems.append(DossierProblem(p))
        elif isinstance(p, dict) and p.get("text"):
            problems.append(DossierProblem(
                str(p["text"]), str(p.get("ticket_number") or ""), str(p.get("department") or "")
            ))  # fmt: skip
    return tuple(problems)


# -- the text -----------------------------------------------------------------------------


def cn_date(day: date) -> str:
    """``3月2日（周二）``: a date as the officer's messages write it."""
    return f"{day.month}月{day.day}日（周{_WEEKDAYS[day.weekday()]}）"


def _full_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _clip(text: str, chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _section(title: str, items: Sequence[str], empty: str) -> list[str]:
    if not items:
        return [f"{title}：{empty}"]
    lines = [f"{title}（{len(items)}项）："]
    lines += [f"· {item}" for item in items[:SECTION_ITEMS]]
    if len(items) > SECTION_ITEMS:
        lines.append(f"……等{len(items)}项")
    return lines


def dossier_text(d: Dossier, *, max_chars: int = DOSSIER_MAX_CHARS) -> str:
    """The dossier as a WeCom or Telegram message's lines: at most :data:`SECTION_ITEMS` items
    per section ("……等N项" says how many there are) and at most ``max_chars`` characters (a
    text cut there ends "……"). The contact's mobile is in it: the officer calls that number."""
    tickets = [
        f"{t.number} {_clip(t.subject, 24)}"
        + (f"（{t.department}）" if t.department else "")
        + (f"，已超期（时限{deadline_phrase(t.deadline_at, d.tz)}）" if t.overdue
           else f"，时限{deadline_phrase(t.deadline_at, d.tz)}")
        for t in d.open_tickets
    ]  # fmt: skip
    events = [
        f"{e.type_label}（{e.authority}，{_full_date(e.decided_on)}）"
        + (f"：{_clip(e.summary, 30)}" if e.summary else "")
        for e in d.credit_events
    ]
    policies = [
        f"{_clip(p.title, 28)}（{_full_date(p.sent_at.astimezone(d.tz).date())}推送，"
        + ("已退订）" if p.unsubscribed else "已回复）" if p.answered else "未回复）")
        for p in d.policies
    ]
    contact = "联系人：" + (d.contact_name or "未登记")
    if d.contact_mobile:
        contact += f"，电话{d.contact_mobile.removeprefix('+86')}"
    lines = [f"【一企一档】{d.name}（{d.tier}类{'，' + d.region if d.region else ''}）", contact]
    lines += _section("未办结诉求", tickets, "无")
    lines += _section("有效信用事项", events, "无")
    lines += _section("已推送政策", policies, "无")
    lines += _last_visit_lines(d)
    text = "\n".join(lines)
    return text if len(text) <= max_chars else text[: max_chars - 2] + "……"


def _last_visit_lines(d: Dossier) -> list[str]:
    last = d.last_visit
    if last is None:
        return ["上次走访：暂无记录"]
    lines = [f"上次走访：{_full_date(last.visited_at.astimezone(d.tz).date())}"]
    if last.notes:
        lines[0] += f"，{_clip(last.notes, 40)}"
    problems = [
        _clip(p.text, 30)
        + (f"（工单{p.ticket_number}" + (f"，{p.department}" if p.department else "") + "）"
           if p.ticket_number else "")
        for p in last.problems
    ]  # fmt: skip
    if problems:
        lines += _section("上次发现的问题", problems, "无")
    return lines


def dossier_variables(d: Dossier) -> dict[str, Any]:
    """What the ``visit_reminder`` templates read of the dossier (its meta.yaml declares them):
    the text, the counts an SMS carries, the enterprise's contact to ask for."""
    last = d.last_visit
    return {
        "dossier": dossier_text(d),
        "open_tickets": len(d.open_tickets),
        "overdue_tickets": d.overdue_tickets,
        "credit_events": len(d.credit_events),
        "policies_sent": len(d.policies),
        "policies_answered": d.policies_answered,
        "last_visit": _full_date(last.visited_at.astimezone(d.tz).date()) if last else "暂无记录",
        "last_problems": len(last.problems) if last else 0,
        "enterprise_contact_name": d.contact_name,
        "enterprise_contact_mobile": d.contact_mobile,
    }
