"""``visit_reminders``, run at 08:00 and 15:00 on working days: the liaison officers' side of a
visit between its proposal and the visit itself.

- **Reminders** (:mod:`hub.visits.reminders`): each CONFIRMED visit's officer is reminded the
  afternoon of the working day before (from ``visits.remind_before_at``) and the morning of the
  visit (from ``visits.remind_day_at``), with the enterprise's dossier (一企一档,
  :mod:`hub.visits.dossier`): kind ``visit_reminder``.
- **No answer** (:mod:`hub.visits.tasks`): a proposal unanswered ``visits.answer_within_workdays``
  working days on puts a task on the officer's list to phone the enterprise: kind
  ``officer_task``.

Both go to the officer (``routing.chains``: WeCom, then Telegram, then SMS) once per item: the
reminder's key names the visit, the step and the visit's day; the task's the visit and its
proposal's moment. What an earlier run sent is left out before any dossier is read (counted as
duplicates), and the notice's idempotency key guards two runs at once.

A fire on a day off (``workdays_only``) holds the tasks to the next working morning as every
program's messages are held; a reminder is not held: it is about a time fixed with the
enterprise, and a reminder after that time is no reminder (quiet hours still apply).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final, Protocol, TypeVar

import sqlalchemy as sa

from hub.core.vocab import MessageKind
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    notify_officers,
    officer_notice_key,
)
from hub.store.messaging import Message
from hub.store.registry import Officer
from hub.visits.dossier import build_dossiers
from hub.visits.reminders import due_reminders, reminder_variables
from hub.visits.tasks import due_no_answer_tasks, task_variables

__all__ = ["NAME", "PROGRAM", "REMINDER_VARIABLES", "TASK_VARIABLES", "run"]

NAME: Final = "visit_reminders"
#: The variables each kind's templates get from this program (their meta.yaml declares them).
REMINDER_VARIABLES: Final = frozenset({
    "visit_date", "visit_time", "visit_day", "visit_id", "step", "dossier", "open_tickets",
    "overdue_tickets", "credit_events", "policies_sent", "policies_answered", "last_visit",
    "last_problems", "enterprise_contact_name", "enterprise_contact_mobile",
})  # fmt: skip
TASK_VARIABLES: Final = frozenset({
    "task", "reason", "enterprise_contact_name", "enterprise_contact_mobile", "slots",
    "how_to_record", "record_hint", "visit_id",
})  # fmt: skip
#: Keys per look-up of what was sent.
_CHUNK: Final = 500

_Notice = tuple[ProgramItem, Officer, int | None]


class _Due(Protocol):
    """What a due reminder and a due task share: the item's key, its officer and enterprise."""

    @property
    def key(self) -> str: ...
    @property
    def officer_id(self) -> int: ...
    @property
    def enterprise_id(self) -> int: ...


_D = TypeVar("_D", bound=_Due)


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """One run: the reminders due now and the no-answer tasks due now."""
    now = ctx.clock.now()
    tz, calendar, visits = ctx.settings.tz, ctx.settings.calendar, ctx.settings.visits
    async with ctx.db.read() as session:
        reminders = await due_reminders(session, now, calendar=calendar, settings=visits, tz=tz)
        tasks = await due_no_answer_tasks(
            session, now, calendar=calendar, answer_within=visits.answer_within_workdays, tz=tz
        )
    outcome = ProgramOutcome()
    reminders = await _unsent(ctx, outcome, reminders, MessageKind.VISIT_REMINDER)
    tasks = await _unsent(ctx, outcome, tasks, MessageKind.OFFICER_TASK)
    if not reminders and not tasks:
        return outcome
    due: list[_Due] = [*reminders, *tasks]
    async with ctx.db.read() as session:
        dossiers = await build_dossiers(session, {x.enterprise_id for x in due}, now, tz=tz)
        officers = {
            o.id: o
            for o in await session.scalars(
                sa.select(Officer).where(Officer.id.in_(sorted({x.officer_id for x in due})))
            )
        }

    def notice(kind: MessageKind, x: _Due, variables: dict[str, object]) -> _Notice:
        return ProgramItem(NAME, kind, x.key, variables), officers[x.officer_id], x.enterprise_id

    within = visits.answer_within_workdays
    reminder_notices = [
        notice(MessageKind.VISIT_REMINDER, r,
               reminder_variables(r, dossiers[r.enterprise_id], now, tz))
        for r in reminders
    ]  # fmt: skip
    task_notices = [
        notice(
            MessageKind.OFFICER_TASK, t, task_variables(t, dossiers[t.enterprise_id], within, tz)
        )
        for t in tasks
    ]
    # A reminder is about the time agreed with the enterprise: a day off's hold would deliver
    # it after that time. Tasks wait for the working morning like every program's messages.
    for sent in await notify_officers(dataclasses.replace(ctx, hold=None), reminder_notices):
        outcome.add(sent)
    for sent in await notify_officers(ctx, task_notices):
        outcome.add(sent)
    return outcome


async def _unsent(
    ctx: ProgramContext, outcome: ProgramOutcome, due: Sequence[_D], kind: MessageKind
) -> list[_D]:
    """``due`` less what an earlier run sent (each counted as one duplicate), found by the key
    :func:`notify_officers` stores a notice under, so no dossier is read for it again."""
    keys = {officer_notice_key(ProgramItem(NAME, kind, x.key), x.officer_id): x for x in due}
    ordered = sorted(keys)
    sent: set[str] = set()
    async with ctx.db.read() as session:
        for start in range(0, len(ordered), _CHUNK):
            sent.update(
                await session.scalars(
                    sa.select(Message.idempotency_key).where(
                        Message.idempotency_key.in_(ordered[start : start + _CHUNK])
                    )
                )
            )
    for _ in sent:
        outcome.sent_before(1)
    return [x for key, x in keys.items() if key not in sent]


PROGRAM: Final = Program(
    label="走访提醒",
    run=run,
    kinds=(MessageKind.VISIT_REMINDER, MessageKind.OFFICER_TASK),
    variables=REMINDER_VARIABLES | TASK_VARIABLES,
)
"""The ``PROGRAMS`` table's entry (``program: visit_reminders`` in a schedule)."""
