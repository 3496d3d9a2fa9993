"""A program's reaction to saved data (an import, an API call), which never undoes the save.

``hub import credit|policies`` and ``POST /api/v1/credit-events|policies`` save the rows first,
then run the program on what changed (``credit_warning.run_on_changes``,
``policy_match.run_on_changes``). When that run fails (a broken guidance.yaml, a template that
no longer renders) the rows stay saved: the failure is logged and said in Chinese, and the
program's daily schedule sends what this run could not once the cause is fixed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

import structlog

from hub.core.errors import HubError
from hub.scheduling.programs.base import ProgramContext, ProgramOutcome
from hub.store.record_changes import RecordChanges

#: What the caller shows when the data was saved but the program's sends failed.
NOT_SENT_NOTE: Final = "数据已保存，但{what}未发出：{error}。问题修正后，每日的计划运行会补发。"
#: A program's reaction to saved records.
ChangeReaction = Callable[[ProgramContext, RecordChanges], Awaitable[ProgramOutcome]]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AfterSave:
    """What a program's reaction to a save did: its outcome, or why it sent nothing."""

    outcome: ProgramOutcome | None = None
    #: Chinese, for the caller to show (see :data:`NOT_SENT_NOTE`); None when it ran.
    note: str | None = None


async def react_after_save(
    react: ChangeReaction, ctx: ProgramContext, changes: RecordChanges, *, what: str
) -> AfterSave:
    """Run ``react`` on what a save changed; a HubError is logged and returned as ``note``
    instead of raised. ``what`` names the sends in Chinese (信用警示, 政策推送)."""
    try:
        return AfterSave(outcome=await react(ctx, changes))
    except HubError as exc:
        log.error("program_after_save_failed", what=what, records=changes.kind, error=str(exc))
        return AfterSave(note=NOT_SENT_NOTE.format(what=what, error=exc))
