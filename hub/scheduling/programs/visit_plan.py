"""``visit_plan`` (走访计划与预约), run daily: the visit plan, then the proposals that are due.

1. :func:`hub.visits.plan.plan_visits` creates the visits of each enterprise's current period
   of its tier's cadence (``tiers:``) that are missing, spread over the officer's working days;
   idempotent, so a daily run only fills gaps (a new enterprise, a new officer, a new period).
2. :func:`hub.visits.proposals.send_proposals` proposes each visit due within
   ``visits.propose_workdays_before`` working days: 2–3 slots, status ``proposed``, and a
   ``visit_proposal`` to the enterprise asking it to pick one. The visit cycle sends these
   itself (the status and the message's choices commit with the message), so this program
   only runs it and counts.

The schedule's audience is not used: every enterprise with a liaison officer has visits.
A fire on a day off (``workdays_only``) plans as any day and its proposals are held to the next
working morning; their lead time counts from that morning.
"""

from __future__ import annotations

from typing import Final

import structlog

from hub.core.vocab import MessageKind
from hub.scheduling.programs.base import Program, ProgramContext, ProgramFire, ProgramOutcome
from hub.visits.plan import plan_visits
from hub.visits.proposals import ProposalResult, send_proposals

__all__ = ["KIND", "NAME", "PROGRAM", "VARIABLES", "counted", "run"]

log = structlog.get_logger(__name__)

NAME: Final = "visit_plan"
KIND: Final = MessageKind.VISIT_PROPOSAL
#: The template variables the proposals supply (templates/visit_proposal).
VARIABLES: Final = frozenset({"slot_labels", "slot_text"})
#: ``not_sent`` reason of visits proposed to an enterprise without contacts.
NO_CONTACT: Final = "企业无联系人（已预约，待联络员电话联系）"


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """Plan the visits of the fire's day, then send the proposals that are due."""
    settings = ctx.settings
    now = ctx.clock.now()
    today = fire.fire_time.astimezone(settings.tz).date()
    async with ctx.db.write() as session:
        planned = await plan_visits(
            session, tiers=settings.tiers, calendar=settings.calendar, today=today, now=now
        )
    proposals = await send_proposals(
        ctx.db, ctx.outbox, settings=settings.visits, calendar=settings.calendar, now=now,
        tz=settings.tz, hold=ctx.hold,
    )  # fmt: skip
    # The plan sends nothing: its figures go to the log, the run's detail counts messages.
    log.info("visit_plan", day=today.isoformat(), created=planned.created,
             already_planned=planned.already_planned, reassigned=planned.reassigned,
             proposed=proposals.proposed)  # fmt: skip
    return counted(proposals)


def counted(proposals: ProposalResult) -> ProgramOutcome:
    """The proposals as the run's outcome: one item per visit proposed, its messages as sends;
    visits left unproposed, and proposed to nobody, under ``not_sent``."""
    outcome = ProgramOutcome(
        items=proposals.proposed, created=proposals.created,
        duplicates=proposals.duplicates, skipped=proposals.skipped,
    )  # fmt: skip
    outcome.reasons.update({("skipped", r): n for r, n in proposals.skip_reasons.items()})
    outcome.not_sent.update(proposals.not_proposed)
    if proposals.no_contact:
        outcome.held_back(NO_CONTACT, proposals.no_contact)
    return outcome


PROGRAM: Final = Program(label="走访计划与预约", run=run, kinds=(KIND,), variables=VARIABLES)
"""The ``PROGRAMS`` table's entry (``program: visit_plan`` in a schedule)."""
