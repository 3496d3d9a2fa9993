"""A proposal unanswered N working days on: a task for the officer to phone the enterprise.

The 2027 calendar is entered: Monday 5 April is a holiday (Qingming), so a proposal on Friday
2 April at 10:00 with 3 working days to answer becomes a task on Thursday 8 April at 10:00.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import SHANGHAI
from hub.core.vocab import ReplyClass, VisitStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.store.db import Database
from hub.visits.dossier import build_dossier
from hub.visits.tasks import NO_ANSWER_TASK, answer_deadline, due_no_answer_tasks, task_variables
from tests.seed import seed_registry
from tests.visits import dossier_rows as rows

CALENDAR = WorkdayCalendar().with_year(2027, YearDays(holidays=frozenset({date(2027, 4, 5)})))


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), tzinfo=SHANGHAI)


PROPOSED = at(date(2027, 4, 2), 10)  # Friday
DEADLINE = at(date(2027, 4, 8), 10)  # Tue 6, Wed 7, Thu 8: the holiday Monday skipped
SLOTS = [at(date(2027, 4, 12), 9, 30).isoformat(), at(date(2027, 4, 13), 14, 30).isoformat()]


def test_the_answer_deadline_counts_working_days_and_skips_the_holiday() -> None:
    assert answer_deadline(PROPOSED, 3, CALENDAR) == DEADLINE
    assert answer_deadline(at(date(2027, 3, 1), 16, 30), 3, CALENDAR) == at(
        date(2027, 3, 4), 16, 30
    )


async def proposed(session: AsyncSession, enterprise_id: int, period: str) -> int:
    """A visit proposed on Friday 2 April with two slots, not answered."""
    return await rows.visit(session, enterprise_id, None, period, VisitStatus.PROPOSED,
                            proposed_at=PROPOSED, slots=SLOTS)  # fmt: skip


async def answer(session: AsyncSession, enterprise_id: int, when: datetime, text: str) -> None:
    """The enterprise's answer to a visit proposal, classified as the inbound worker does."""
    await rows.reply(session, enterprise_id, when, classification=ReplyClass.VISIT_ANSWER,
                     text=text)  # fmt: skip


async def due_at(db: Database, now: datetime) -> list[int]:
    async with db.read() as session:
        tasks = await due_no_answer_tasks(session, now, calendar=CALENDAR, answer_within=3)
    return [t.visit_id for t in tasks]


async def test_an_unanswered_proposal_is_due_from_its_deadline_and_an_answered_one_never(
    any_db: Database,
) -> None:
    ids = await seed_registry(any_db)
    async with any_db.write() as session:
        silent = await proposed(session, ids["甲机械"], "2027Q2")
        answered = await proposed(session, ids["丙软件"], "2027H1")
        await answer(session, ids["丙软件"], at(date(2027, 4, 6), 9), "下周二上午可以")
        await rows.visit(
            session,
            ids["戊建筑"],
            None,
            "2027",
            VisitStatus.CONFIRMED,
            proposed_at=PROPOSED,
            proposed_for=at(date(2027, 4, 12), 9, 30),
        )
    assert await due_at(any_db, at(date(2027, 4, 8), 9, 59)) == []
    assert await due_at(any_db, DEADLINE) == [silent]
    assert await due_at(any_db, at(date(2027, 4, 9), 15)) == [silent]  # until the officer acts
    assert answered not in await due_at(any_db, at(date(2027, 4, 30), 15))  # fmt: skip


async def test_an_answer_to_an_earlier_round_does_not_count_for_this_one(any_db: Database) -> None:
    ids = await seed_registry(any_db)
    async with any_db.write() as session:
        visit = await proposed(session, ids["甲机械"], "2027Q2")
        await answer(session, ids["甲机械"], at(date(2027, 3, 20), 9), "不需要走访")
    assert await due_at(any_db, DEADLINE) == [visit]


async def test_the_task_gives_the_number_to_call_the_times_offered_and_how_to_record(
    db: Database,
) -> None:
    ids = await seed_registry(db)
    async with db.write() as session:
        visit = await proposed(session, ids["甲机械"], "2027Q2")
    async with db.read() as session:
        [task] = await due_no_answer_tasks(session, DEADLINE, calendar=CALENDAR, answer_within=3)
        dossier = await build_dossier(session, ids["甲机械"], DEADLINE)
    assert task.key == f"visit:{visit}:no-answer:20270402T020000"
    variables = task_variables(task, dossier, 3)
    assert variables["task"] == NO_ANSWER_TASK == "请电话联系企业确定走访时间"
    assert variables["reason"] == "4月2日（周五）发出的走访预约，3个工作日未获答复"
    assert variables["enterprise_contact_name"] == "甲机械联系人1"
    assert variables["enterprise_contact_mobile"] == "+8613900000001"
    assert variables["slots"] == "4月12日（周一）上午9:30、4月13日（周二）下午2:30"
    assert f'hub visits schedule {visit} --at "2027-04-12 09:30"' in variables["how_to_record"]
    assert f"走访 {visit} 改约 4月12日09:30" in variables["how_to_record"]
