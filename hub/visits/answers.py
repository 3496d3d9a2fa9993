"""An enterprise's answer to a visit proposal (走访预约) applied to the visit; the officer told.

The inbound worker classifies a reply (:mod:`hub.inbound.classify.visit`) and hands the answer
here, inside the reply's write transaction. What each answer does to the :class:`Visit`:

- ``slot`` (a number, "第二个", a slot button): that offered time is agreed — ``confirmed``,
  ``proposed_for`` the slot. A number beyond the slots offered changes nothing.
- ``confirm`` ("好的", "确认", the confirm button): the one time proposed is agreed. When the
  proposal offered several slots, agreement alone does not say which: nothing changes and the
  officer is asked to call.
- ``reschedule`` with a day and an hour ("下周二上午可以"): the visit moves to that time —
  ``confirmed`` when it is a working day within the officer's hours (``visits.work_start`` /
  ``work_end``) and still ahead, else ``planned`` with the time kept as the enterprise's request
  for the officer to settle. Without a day and an hour ("改期", "下周二可以"): ``planned``, the
  request kept.
- ``decline`` ("不需要走访"): recorded in ``details["declined"]``; the visit stays due
  (``planned``): the cadence is the service plan's, the officer decides what to do.

A visit already done or cancelled is not changed by a late answer.

Every answer is appended to ``details["answers"]`` and the officer is told at once: a
``visit_update`` notice written in the same transaction (:func:`hub.outbound.notify.notify_many`);
the caller enqueues :attr:`AnswerApplied.notified` after the commit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any, Final, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import MessageKind, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.outbound.notify import (
    Notice,
    NotifyResult,
    enterprise_context,
    notify_many,
    officer_recipient,
)
from hub.outbound.planning import PlanningPolicy
from hub.rendering.render import TemplateRenderer
from hub.store.models import Enterprise, Officer, Visit
from hub.visits.settings import VisitsSettings
from hub.visits.slots import parse_slots, slot_label

__all__ = [
    "AnswerAction",
    "AnswerApplied",
    "VisitReply",
    "apply_visit_answer",
]

#: What an enterprise can answer to a visit proposal (see the module docstring).
AnswerAction = Literal["confirm", "reschedule", "slot", "decline"]
#: The trigger of the officer's notices (the key adds the visit and the reply).
TRIGGER: Final = "visit_answer"


@dataclass(frozen=True, slots=True)
class VisitReply:
    """An answer as the classifier read it: the action, the slot picked (1-based) or the time
    proposed, the words as written and where it came from (``reply:<id>``, for the record)."""

    action: AnswerAction
    source: str
    text: str = ""
    slot: int | None = None
    proposed_time: datetime | None = None
    proposed_date: date | None = None
    proposed_text: str | None = None


@dataclass(slots=True)
class AnswerApplied:
    """What the answer did (``outcome``, in Chinese, for the reply's record) and the officer's
    notice rows the caller enqueues after the commit."""

    outcome: str
    status: VisitStatus
    notified: list[NotifyResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Decision:
    status: VisitStatus
    proposed_for: datetime | None
    answer: str  # for the officer: what the enterprise answered
    next_step: str  # for the officer: what it means for him
    record: dict[str, Any]


async def apply_visit_answer(
    session: AsyncSession,
    visit: Visit,
    answer: VisitReply,
    now: datetime,
    *,
    calendar: WorkdayCalendar,
    settings: VisitsSettings,
    renderer: TemplateRenderer,
    policy: PlanningPolicy,
) -> AnswerApplied:
    """Apply ``answer`` to ``visit`` and tell its officer (see the module docstring).

    A visit already done or cancelled is left as it is (a late press of an old button).
    """
    if visit.status in (VisitStatus.DONE, VisitStatus.CANCELLED):
        return AnswerApplied(f"走访 {visit.id} {visit.status.label}，答复只作记录", visit.status)
    decision = _decide(visit, answer, now, calendar, settings)
    details = dict(visit.details or {})
    entry = {"at": now.isoformat(), "source": answer.source, "action": answer.action,
             "text": answer.text, **decision.record}  # fmt: skip
    details["answers"] = [*details.get("answers", ()), entry]
    if answer.action == "decline":
        details["declined"] = entry
    elif answer.action == "reschedule":
        details["reschedule_requested"] = entry
    if decision.status is VisitStatus.CONFIRMED:
        details["confirmed"] = entry
    visit.details = details
    visit.status = decision.status
    visit.proposed_for = decision.proposed_for
    visit.updated_at = now
    outcome = f"走访 {visit.id}：{decision.answer}，{decision.next_step}"
    notified = await _tell_officer(session, visit, answer, decision, now, renderer, policy)
    if not notified:
        outcome += "（该企业没有联络员，未通知）"
    return AnswerApplied(outcome, decision.status, notified)


def _decide(
    visit: Visit, answer: VisitReply, now: datetime, calendar: WorkdayCalendar,
    settings: VisitsSettings,
) -> _Decision:  # fmt: skip
    keep = _Decision(visit.status, visit.proposed_for, "", "", {})
    slots = parse_slots(visit.slots)
    match answer.action:
        case "slot":
            n = answer.slot or 0
            if not 1 <= n <= len(slots):
                offered = f"只提供了{len(slots)}个时间" if slots else "预约没有提供可选时间"
                return _replace(keep, f"回复选择第{n}个时间，但{offered}", "请与企业电话确认",
                                {"slot": n})  # fmt: skip
            at = slots[n - 1]
            return _Decision(VisitStatus.CONFIRMED, at, f"选择第{n}个时间（{slot_label(at)}）",
                             "走访时间已确认", {"slot": n, "time": at.isoformat()})  # fmt: skip
        case "confirm":
            if len(slots) > 1:
                return _replace(keep, "同意走访，但未选择时间", "请与企业电话确认时间", {})
            agreed = slots[0] if slots else visit.proposed_for
            if agreed is None:
                return _replace(keep, "同意走访", "预约没有时间，请与企业电话确认", {})
            return _Decision(VisitStatus.CONFIRMED, agreed, f"同意按{slot_label(agreed)}走访",
                             "走访时间已确认", {"time": agreed.isoformat()})  # fmt: skip
        case "reschedule":
            return _moved(visit, answer, now, calendar, settings)
        case _:
            return _Decision(VisitStatus.PLANNED, visit.proposed_for, "表示不需要走访",
                             "走访仍按计划待完成，请与企业沟通", {})  # fmt: skip


def _moved(
    visit: Visit, answer: VisitReply, now: datetime, calendar: WorkdayCalendar,
    settings: VisitsSettings,
) -> _Decision:  # fmt: skip
    record: dict[str, Any] = {}
    if answer.proposed_time is not None:
        record["proposed_time"] = answer.proposed_time.isoformat()
    if answer.proposed_date is not None:
        record["proposed_date"] = answer.proposed_date.isoformat()
    if answer.proposed_text:
        record["proposed_text"] = answer.proposed_text
    at = answer.proposed_time
    if at is None:
        said = (
            f"申请改期（{answer.proposed_text}）"
            if answer.proposed_text
            else "申请改期，未写明时间"
        )
        return _Decision(VisitStatus.PLANNED, visit.proposed_for, said,
                         "请与企业重新约定时间", record)  # fmt: skip
    said = f"提出改到{slot_label(at)}"
    refusal = _refused_time(at, now, calendar, settings)
    if refusal is not None:
        record["not_confirmed"] = refusal
        return _Decision(VisitStatus.PLANNED, at, said, f"{refusal}，请与企业重新约定", record)
    return _Decision(VisitStatus.CONFIRMED, at, said, "已按该时间确认走访", record)


def _refused_time(
    at: datetime, now: datetime, calendar: WorkdayCalendar, settings: VisitsSettings
) -> str | None:
    """Why a time the enterprise proposed is not confirmed as it is; None when it can be."""
    local = at.astimezone(SHANGHAI)
    if at <= now:
        return "该时间已过"
    if not calendar.is_workday(local.date()):
        return "该日不是工作日"
    if not settings.work_start <= local.time() < settings.work_end:
        hours = f"{_hhmm(settings.work_start)}–{_hhmm(settings.work_end)}"
        return f"不在工作时间（{hours}）内"
    return None


def _hhmm(at: time) -> str:
    return at.strftime("%H:%M")


def _replace(keep: _Decision, answer: str, next_step: str, record: dict[str, Any]) -> _Decision:
    return _Decision(keep.status, keep.proposed_for, answer, next_step, record)


async def _tell_officer(
    session: AsyncSession, visit: Visit, answer: VisitReply, decision: _Decision, now: datetime,
    renderer: TemplateRenderer, policy: PlanningPolicy,
) -> list[NotifyResult]:  # fmt: skip
    """The ``visit_update`` notice to the visit's officer (the enterprise's, if the visit has
    none); nothing when there is no officer."""
    officer_id = visit.officer_id
    if officer_id is None:
        enterprise = await session.get(Enterprise, visit.enterprise_id)
        officer_id = enterprise.officer_id if enterprise is not None else None
    officer = await session.get(Officer, officer_id) if officer_id is not None else None
    if officer is None:
        return []
    context = await enterprise_context(session, visit.enterprise_id)
    at = decision.proposed_for
    context.update(
        answer=decision.answer,
        visit_time=slot_label(at) if at is not None else "待定",
        visit_status=decision.status.label,
        next_step=decision.next_step,
        reply_text=answer.text,
    )
    notice = Notice(MessageKind.VISIT_UPDATE, officer_recipient(officer), context, TRIGGER,
                    f"{visit.id}:{answer.source}")  # fmt: skip
    return await notify_many(session, [notice], now=now, renderer=renderer, policy=policy)
