"""``policy_match``: each enterprise a policy is for gets that policy once (惠企政策精准推送).

A policy (``hub.store.enterprise_data.Policy``) names who it is for: industries, tiers, regions,
stages and tags, each a ``;``-joined list where empty means any. Its eligibility is one SQL
condition over ``Enterprise`` (and ``enterprise_tag``), built per policy as an audience, so
matching a policy against 100,000 enterprises is one query the planner walks in id ranges, not
a Python loop over enterprises.

It runs on two occasions, with the same trigger (``program:policy_match``) and trigger key
(``policy:<policy_id>``), so the outbox's idempotency key sends each (policy, enterprise,
contact) once whichever comes first and however often either repeats:

- **on import** of a new or changed policy (``hub import policies``, ``POST /api/v1/policies``):
  :func:`run_on_changes` with the ``RecordChanges`` the save returned;
- **on schedule** (``schedules/policy_push.yaml``): :func:`run` sends every policy still open,
  which reaches the enterprises registered (or re-tagged) since the policy was imported.

An enterprise that already has a message of the policy for one of its contacts is left out of
the query, so a repeat costs one query, not a render per enterprise; one whose only row is
"no contact" is planned again, and reached once it has a contact. An enterprise with a contact
at its frequency cap (``routing.max_per_contact_per_day``/``_per_week``, counted as the planner
counts them) is left out too, and counted as deferred: the planner would record the policy as
skipped for that contact, and the skipped row would hold the idempotency key for good, so ten
policies imported on one day would reach a contact three of them and never the rest. It gets
them on the following daily runs, within its caps.

**A changed policy is not re-sent**, a moved deadline included. An enterprise that got the
policy keeps the one message: an extended deadline leaves what it was told true (applying by
the earlier date still counts), and re-sending every eligible enterprise the whole policy for
an edit is the repetition that teaches enterprises to reply 退订. A change still reaches whom
it newly makes eligible (a widened industry list, say), with the policy as it now stands. A
deadline brought *forward* would make the earlier message wrong; the texts name the policy's
link, where the current deadline is, and the liaison officer follows up (see the README).

What a message says comes from the policy only: its title, deadline and link; the 免申即享
sentence only when the policy's ``free_apply`` is true. A policy whose ``apply_by`` has passed
(before today, in the hub's zone) is not sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import defer

from hub.core.errors import NotFoundError
from hub.core.vocab import MessageKind, MessageStatus, ReplyClass
from hub.outbound.audience import Audience, Term
from hub.outbound.outbox import SendRequest
from hub.outbound.settings import RoutingSettings
from hub.scheduling.programs.base import (
    Program,
    ProgramContext,
    ProgramFire,
    ProgramOutcome,
    program_trigger,
)
from hub.store.db import Database
from hub.store.enterprise_data import Policy
from hub.store.models import Campaign, Contact, Enterprise, InboundReply, Message
from hub.store.record_changes import RecordChanges

__all__ = [
    "DEFERRED",
    "KIND",
    "NAME",
    "POLICY_RECORDS",
    "PROGRAM",
    "REACH_LABELS",
    "TRIGGER",
    "VARIABLES",
    "PolicyAudience",
    "PolicyReach",
    "cap_windows",
    "eligibility",
    "policy_reach",
    "policy_trigger_key",
    "policy_variables",
    "run",
    "run_on_changes",
    "send_policy",
]

NAME: Final = "policy_match"
TRIGGER: Final = program_trigger(NAME)
KIND: Final = MessageKind.POLICY_PUSH
#: The template variables this program supplies (templates/policy_push/meta.yaml).
VARIABLES: Final = frozenset({"policy_title", "summary", "department", "free_apply", "deadline",
                              "url"})  # fmt: skip
EXPIRED: Final = "申报已截止"
#: The record kind of policies in ``RecordChanges`` (hub.importing.data_save.POLICIES).
POLICY_RECORDS: Final = "policy"
_SUMMARY_MAX = 120  # a sentence in the message; the whole summary is behind the link
# Policy list column -> the audience field it restricts (tiers and stages hold vocab values).
_ELIGIBILITY: Final = (
    ("industries", "industry"),
    ("tiers", "tier"),
    ("regions", "region"),
    ("stages", "stage"),
    ("tags", "tags"),
)
_SENT: Final = (MessageStatus.SENT, MessageStatus.DELIVERED)
# The statuses the planner's frequency caps count (hub.outbound.planning._COUNTED).
_COUNTED: Final = (MessageStatus.QUEUED, MessageStatus.HELD, MessageStatus.SENDING,
                   MessageStatus.SENT, MessageStatus.DELIVERED)  # fmt: skip
DEFERRED: Final = "已达发送频次上限，顺延到之后的运行"


def policy_trigger_key(policy_id: str) -> str:
    """The outbox trigger key of a policy's messages: ``policy:<policy_id>``."""
    return f"policy:{policy_id}"


@dataclass(frozen=True, slots=True)
class PolicyAudience(Audience):
    """A policy's eligible enterprises, less those its messages already reached.

    ``reached_key`` (the policy's trigger key) leaves out every enterprise with a message of
    the policy to one of its contacts; empty, the audience is the eligibility alone.
    """

    reached_key: str = ""
    caps: tuple[tuple[int, datetime], ...] = ()
    """``(cap, since)``: leave out enterprises with a contact that has ``cap`` capped messages
    since then (see :func:`at_cap`)."""
    cap_exempt: tuple[MessageKind, ...] = ()

    def where(self) -> sa.ColumnElement[bool]:
        # Audience.where, not super(): a slots dataclass is rebuilt, and zero-argument super()
        # then names the wrong class.
        condition = Audience.where(self)
        if self.reached_key:
            condition = sa.and_(condition, sa.not_(_reached(self.reached_key)))
        if self.caps:
            condition = sa.and_(condition, sa.not_(_at_cap(self.caps, self.cap_exempt)))
        return condition


def cap_windows(routing: RoutingSettings, now: datetime) -> tuple[tuple[int, datetime], ...]:
    """The frequency caps a policy_push message is under now: ``(cap, since)`` pairs."""
    if KIND in routing.cap_exempt:
        return ()
    windows = (
        (routing.max_per_contact_per_day, now - timedelta(days=1)),
        (routing.max_per_contact_per_week, now - timedelta(days=7)),
    )
    return tuple((cap, since) for cap, since in windows if cap is not None)


def _at_cap(
    caps: tuple[tuple[int, datetime], ...], exempt: tuple[MessageKind, ...]
) -> sa.ColumnElement[bool]:
    """An enterprise with a contact at a cap, counted as hub.outbound.planning counts it."""
    capped = []
    for cap, since in caps:
        recent = (
            sa.select(Message.contact_id)
            .join(Contact, Contact.id == Message.contact_id)
            .where(
                Contact.enterprise_id == Enterprise.id,
                Message.created_at >= since,
                Message.status.in_(_COUNTED),
                Message.kind.not_in(exempt),
            )
            .group_by(Message.contact_id)
            .having(sa.func.count() >= cap)
        )
        capped.append(sa.exists(recent))
    return sa.or_(*capped)


def _reached(key: str) -> sa.ColumnElement[bool]:
    # Uncorrelated: the database reads the policy's messages once per statement (by the
    # campaign's index), not once per enterprise.
    campaign = (
        sa.select(Campaign.id)
        .where(Campaign.trigger == TRIGGER, Campaign.trigger_key == key, Campaign.kind == KIND)
        .scalar_subquery()
    )
    return Enterprise.id.in_(
        sa.select(Message.enterprise_id).where(
            Message.campaign_id == campaign,
            Message.enterprise_id.is_not(None),
            Message.contact_id.is_not(None),
        )
    )


def _items(joined: str) -> tuple[str, ...]:
    return tuple(item for item in (part.strip() for part in joined.split(";")) if item)


def eligibility(policy: Policy, *, unreached: bool = False) -> PolicyAudience:
    """The enterprises ``policy`` is for: every listed field restricts, an empty list is any.

    Within a field the values are alternatives (``制造业;软件业``: either industry; tags: any
    one of them); the fields together must all hold. ``unreached`` leaves out the enterprises
    the policy's messages already reached.
    """
    terms = tuple(
        Term(field=field, op="~" if field == "tags" else "=", values=values)
        for column, field in _ELIGIBILITY
        if (values := _items(getattr(policy, column)))
    )
    shown = ",".join(f"{t.field}{t.op}{'|'.join(t.values)}" for t in terms) or "all"
    key = policy_trigger_key(policy.policy_id)
    return PolicyAudience(
        expression=f"{key} {shown}", terms=terms, reached_key=key if unreached else ""
    )


def _date_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def policy_variables(policy: Policy) -> dict[str, Any]:
    """What the policy_push template says of ``policy``: all of it from the policy's row."""
    summary = " ".join(policy.summary.split())
    if len(summary) > _SUMMARY_MAX:
        summary = summary[: _SUMMARY_MAX - 1] + "…"
    return {
        "policy_title": policy.title,
        "summary": summary.rstrip("。"),
        "department": policy.department or "",
        "free_apply": bool(policy.free_apply),
        "deadline": _date_text(policy.apply_by) if policy.apply_by is not None else "",
        "url": policy.url or "",
    }


def _today(ctx: ProgramContext) -> date:
    return ctx.clock.now().astimezone(ctx.settings.tz).date()


def _expired(policy: Policy, today: date) -> bool:
    return policy.apply_by is not None and policy.apply_by < today


async def send_policy(
    ctx: ProgramContext, policy: Policy, *, within: Audience | None = None
) -> ProgramOutcome:
    """Send ``policy`` to each eligible enterprise not yet reached; nothing once it expired.

    ``within`` narrows the enterprises further (a schedule's audience).
    """
    outcome = ProgramOutcome()
    if _expired(policy, _today(ctx)):
        outcome.held_back(EXPIRED)
        return outcome
    routing = ctx.outbox.planner.policy.routing
    audience = eligibility(policy, unreached=True)
    if within is not None and within.terms:
        audience = replace(
            audience,
            expression=f"{audience.expression} & {within.expression}",
            terms=audience.terms + within.terms,
        )
    uncapped = replace(
        audience, caps=cap_windows(routing, ctx.clock.now()), cap_exempt=routing.cap_exempt
    )
    request = SendRequest(
        kind=KIND,
        audience=uncapped,
        trigger=TRIGGER,
        trigger_key=policy_trigger_key(policy.policy_id),
        variables=policy_variables(policy),
        created_by=TRIGGER,
        hold=ctx.hold,
    )
    # Those not yet reached: nobody left is the daily run's usual answer, and it then costs
    # one COUNT instead of an outbox round (a year of daily runs spent 40% of its time there).
    # With caps it also counts the deferred: those due, less those the send reaches.
    async with ctx.db.read() as session:
        due = await session.scalar(
            sa.select(sa.func.count()).select_from(Enterprise).where(audience.where())
        )
    if not due:
        outcome.sent_before(0)  # counted as the outbox round it replaces would count it
        return outcome
    sent = await ctx.outbox.submit(request)
    outcome.add(sent)
    if uncapped.caps and (deferred := int(due) - sent.recipients) > 0:
        outcome.held_back(DEFERRED, deferred)
    return outcome


async def _send_all(
    ctx: ProgramContext, policies: Iterable[Policy], within: Audience | None = None
) -> ProgramOutcome:
    outcome = ProgramOutcome()
    for policy in policies:
        outcome.merge(await send_policy(ctx, policy, within=within))
    return outcome


def _policies() -> sa.Select[Policy]:
    # The full text (up to 200,000 characters a policy) is for answering questions, not sending.
    return sa.select(Policy).options(defer(Policy.text))


async def run(ctx: ProgramContext, fire: ProgramFire) -> ProgramOutcome:
    """A schedule's fire: every policy still open to the eligible enterprises not yet reached
    (those registered or re-tagged since it was imported); the expired ones counted, not sent."""
    today = _today(ctx)
    async with ctx.db.read() as session:
        policies = list(await session.scalars(_policies().order_by(Policy.id)))
    open_ = [p for p in policies if not _expired(p, today)]
    outcome = await _send_all(ctx, open_, fire.audience)
    if len(open_) < len(policies):
        outcome.held_back(EXPIRED, len(policies) - len(open_))
    return outcome


async def run_on_changes(ctx: ProgramContext, changes: RecordChanges) -> ProgramOutcome:
    """An import or API call saved policies: send the new and changed ones (a change reaches
    only the enterprises not yet reached: see the module docstring). Other records: nothing."""
    if changes.kind != POLICY_RECORDS or not changes.changed:
        return ProgramOutcome()
    ids = sorted({change.id for change in changes.changed})
    async with ctx.db.read() as session:
        policies = list(
            await session.scalars(_policies().where(Policy.id.in_(ids)).order_by(Policy.id))
        )
    return await _send_all(ctx, policies)


PROGRAM: Final = Program(label="政策匹配推送", run=run, kinds=(KIND,), variables=VARIABLES)


# --- reach -------------------------------------------------------------------------------------


#: The reach counts' Chinese labels, in the order people read them.
REACH_LABELS: Final = MappingProxyType({
    "matched": "匹配企业", "sent": "已发送", "delivered": "已送达", "replied": "已回复",
    "opted_out": "已退订",
})  # fmt: skip


@dataclass(frozen=True, slots=True)
class PolicyReach:
    """How far a policy got, in enterprises: eligible now, and what its messages did."""

    policy_id: str
    title: str
    matched: int
    """Enterprises eligible now (by the policy's lists, as they stand)."""
    sent: int
    """Enterprises with a message of the policy sent (or delivered)."""
    delivered: int
    replied: int
    """Enterprises that replied to a message of the policy."""
    opted_out: int
    """Enterprises whose reply to a message of the policy was an opt-out (退订)."""

    def counts(self) -> dict[str, int]:
        """The five counts by name, in the order people read them."""
        return {name: getattr(self, name) for name in REACH_LABELS}


async def policy_reach(db: Database, policy_id: str) -> PolicyReach:
    """Count a policy's reach from its messages (trigger ``program:policy_match``, trigger key
    ``policy:<policy_id>``); NotFoundError for an unknown policy."""
    async with db.read() as session:
        policy = await session.scalar(sa.select(Policy).where(Policy.policy_id == policy_id))
        if policy is None:
            raise NotFoundError(f"没有政策编号为 {policy_id} 的政策 (policy not found)")
        matched = await session.scalar(
            sa.select(sa.func.count()).select_from(Enterprise).where(eligibility(policy).where())
        )
        messages = (
            sa.select(
                Message.id,
                Message.enterprise_id,
                Message.status,
                Message.sent_at,
                Message.delivered_at,
            )
            .join(Campaign, Campaign.id == Message.campaign_id)
            .where(
                Campaign.trigger == TRIGGER,
                Campaign.trigger_key == policy_trigger_key(policy_id),
                Message.enterprise_id.is_not(None),
            )
            .subquery()
        )
        enterprises = sa.func.count(sa.distinct(messages.c.enterprise_id))
        sent, delivered = (
            await session.execute(
                sa.select(
                    enterprises.filter(
                        sa.or_(messages.c.status.in_(_SENT), messages.c.sent_at.is_not(None))
                    ),
                    enterprises.filter(
                        sa.or_(
                            messages.c.status == MessageStatus.DELIVERED,
                            messages.c.delivered_at.is_not(None),
                        )
                    ),
                )
            )
        ).one()
        replied, opted_out = (
            await session.execute(
                sa.select(
                    enterprises,
                    enterprises.filter(InboundReply.classification == ReplyClass.UNSUBSCRIBE),
                ).join(InboundReply, InboundReply.in_reply_to == messages.c.id)
            )
        ).one()
    return PolicyReach(
        policy_id=policy.policy_id, title=policy.title, matched=int(matched or 0),
        sent=int(sent), delivered=int(delivered), replied=int(replied),
        opted_out=int(opted_out),
    )  # fmt: skip
