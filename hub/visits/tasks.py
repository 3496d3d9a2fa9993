"""The officer's task when a proposal goes unanswered: phone the enterprise.

A visit still PROPOSED ``visits.answer_within_workdays`` working days after its proposal went
(``proposed_at``, counted on the working-day calendar: a proposal on a Friday before a holiday
waits the holiday out), with no visit answer from the enterprise since, puts an
``officer_task`` on its officer's list: call the enterprise's contact (name and number), the
times the proposal offered, and how to record the time agreed on the phone (``hub visits
schedule ID --at …`` or the WeCom text ``走访 ID 改约 …``).

**Once per visit and proposal round.** :attr:`DueTask.key` names the visit and the moment of
its proposal (``visit:12:no-answer:20270301T020000``): a second run sends nothing, and a new
proposal of the same visit (a new ``proposed_at``) may get a task of its own.

The contact's number is in the task (the officer is to call it); it is never logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import ReplyClass, VisitStatus
from hub.core.workdays import WorkdayCalendar
from hub.store.messaging import InboundReply
from hub.store.registry import Contact, Enterprise, Visit
from hub.visits.dossier import Dossier, cn_date
from hub.visits.slots import parse_slots, slot_label

__all__ = [
    "NO_ANSWER_TASK",
    "DueTask",
    "answer_deadline",
    "due_no_answer_tasks",
    "task_variables",
]

#: What the officer is asked to do (the task's first line).
NO_ANSWER_TASK: Final = "请电话联系企业确定走访时间"
#: Ids per IN (…) read.
_IN_CHUNK: Final = 500


@dataclass(frozen=True, slots=True)
class DueTask:
    """A no-answer task due now: the visit, its enterprise and officer, the proposal."""

    visit_id: int
    enterprise_id: int
    officer_id: int
    proposed_at: datetime
    slots: tuple[datetime, ...]

    @property
    def key(self) -> str:
        """The item's key: the visit and its proposal's moment (one task per round)."""
        return f"visit:{self.visit_id}:no-answer:{self.proposed_at.astimezone(UTC):%Y%m%dT%H%M%S}"


def answer_deadline(
    proposed_at: datetime, workdays: int, calendar: WorkdayCalendar, tz: ZoneInfo = SHANGHAI
) -> datetime:
    """When an unanswered proposal becomes a task: ``workdays`` working days after it went, at
    the same time of day (a proposal on Monday 10:00 with 3 days: Thursday 10:00)."""
    local = proposed_at.astimezone(tz)
    day, _ = calendar.add_workdays(local.date(), workdays)
    return datetime.combine(day, local.timetz())


async def due_no_answer_tasks(
    session: AsyncSession, now: datetime, *, calendar: WorkdayCalendar, answer_within: int,
    tz: ZoneInfo = SHANGHAI,
) -> list[DueTask]:  # fmt: skip
    """PROPOSED visits past their answer deadline with no visit answer from the enterprise since
    the proposal, with an officer (the visit's, else the enterprise's), oldest proposal first."""
    # The visit's officer, else the enterprise's; a visit with neither has nobody to tell.
    officer = sa.func.coalesce(Visit.officer_id, Enterprise.officer_id)
    rows = await session.execute(
        sa.select(Visit.id, Visit.enterprise_id, officer, Visit.proposed_at, Visit.slots)
        .join(Enterprise, Enterprise.id == Visit.enterprise_id)
        .where(officer.is_not(None), Visit.status == VisitStatus.PROPOSED,
               Visit.proposed_at.is_not(None), Visit.proposed_at <= now)
        .order_by(Visit.proposed_at, Visit.id)
    )  # fmt: skip
    due: list[DueTask] = []
    for visit_id, enterprise_id, officer_id, proposed_at, slots in rows:
        assert proposed_at is not None  # the WHERE above
        if now >= answer_deadline(proposed_at, answer_within, calendar, tz):
            offered = tuple(parse_slots(slots))
            due.append(DueTask(visit_id, enterprise_id, officer_id, proposed_at, offered))
    answered = await _last_visit_answers(session, [t.enterprise_id for t in due])
    no_answer = datetime.min.replace(tzinfo=UTC)
    return [t for t in due if answered.get(t.enterprise_id, no_answer) < t.proposed_at]


async def _last_visit_answers(
    session: AsyncSession, enterprise_ids: Sequence[int]
) -> dict[int, datetime]:
    """Each enterprise's latest visit answer (a reply classified ``visit_answer``): the visit
    is still PROPOSED only while the worker applies it, and it answered all the same. Read
    through its contacts (both keys indexed), after the deadline left few enterprises."""
    ids = sorted(set(enterprise_ids))
    latest: dict[int, datetime] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            sa.select(Contact.enterprise_id, sa.func.max(InboundReply.received_at))
            .join(InboundReply, InboundReply.contact_id == Contact.id)
            .where(Contact.enterprise_id.in_(ids[start : start + _IN_CHUNK]),
                   InboundReply.classification == ReplyClass.VISIT_ANSWER)
            .group_by(Contact.enterprise_id)
        )  # fmt: skip
        latest.update((enterprise_id, at) for enterprise_id, at in rows if at is not None)
    return latest


def task_variables(
    task: DueTask, dossier: Dossier, answer_within: int, tz: ZoneInfo = SHANGHAI
) -> dict[str, Any]:
    """The ``officer_task`` template's variables (templates/officer_task/meta.yaml)."""
    sent_on = cn_date(task.proposed_at.astimezone(tz).date())
    example = task.slots[0].astimezone(tz) if task.slots else None
    at_text = f"{example:%Y-%m-%d %H:%M}" if example else "2027-03-05 09:30"
    said = f"{example.month}月{example.day}日{example:%H:%M}" if example else "3月5日09:30"
    return {
        "task": NO_ANSWER_TASK,
        "reason": f"{sent_on}发出的走访预约，{answer_within}个工作日未获答复",
        "enterprise_contact_name": dossier.contact_name,
        "enterprise_contact_mobile": dossier.contact_mobile,
        "slots": "、".join(slot_label(s, tz) for s in task.slots),  # as the enterprise read them
        "how_to_record": (
            f"约定后请在企业微信回复“走访 {task.visit_id} 改约 {said}”，"
            f'或运行 hub visits schedule {task.visit_id} --at "{at_text}"'
        ),
        "record_hint": f"约定后在企业微信发“走访{task.visit_id}改约+时间”",
        "visit_id": task.visit_id,
    }
