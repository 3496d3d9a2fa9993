"""Planning a trigger: who gets what, on which channel, now, later, or not at all (and why).

Reads only. For each enterprise in the audience and each of its contacts: route along the
kind's channel chain, render the message for the primary channel and each fallback, then
apply the recipient's limits — quiet hours hold it (``held`` until the window opens),
frequency caps and the same-content dedupe window skip it with a reason.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from hub.audience import Audience
from hub.clock import SHANGHAI
from hub.config import QuietHours, RoutingSettings
from hub.quiet_hours import hold_until
from hub.render import TemplateRenderer
from hub.routing import NoRoute, Route, channel_chain, route_contact
from hub.store.db import Database
from hub.store.models import Contact, Enterprise, Message, Officer
from hub.vocab import ChannelName, MessageKind, MessageStatus

_COUNTED = (
    MessageStatus.QUEUED, MessageStatus.HELD, MessageStatus.SENDING, MessageStatus.SENT,
    MessageStatus.DELIVERED,
)  # fmt: skip
_IN_CHUNK = 900  # stays under SQLite's bound-parameter limit with room to spare


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One trigger: what to send to whom, and the key that makes repeating it harmless."""

    kind: MessageKind
    audience: Audience
    trigger: str = "cli"
    trigger_key: str = field(default_factory=lambda: uuid.uuid4().hex)
    channel: ChannelName | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    created_by: str = "cli"


@dataclass(frozen=True, slots=True)
class PlannedMessage:
    """A message before it is stored: routed and rendered, or skipped with a reason."""

    idempotency_key: str
    enterprise_id: int
    contact_id: int | None
    channel: ChannelName
    address: str
    body: str
    status: MessageStatus
    reason: str | None
    release_at: datetime | None = None
    fallbacks: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class PlanningPolicy:
    """The deployment's rules a plan follows (from config.yaml)."""

    default_channel: ChannelName
    enabled_channels: frozenset[str]
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    quiet_hours: QuietHours = field(default_factory=QuietHours)
    tz: ZoneInfo = SHANGHAI
    hub_name: str = "主动服务"


def idempotency_key(
    trigger: str, trigger_key: str, enterprise_id: int, contact_id: int | None, kind: str
) -> str:
    """DESIGN.md's key, hashed to a fixed width."""
    raw = f"{trigger}\x1f{trigger_key}\x1f{enterprise_id}\x1f{contact_id or '-'}\x1f{kind}"
    return hashlib.sha256(raw.encode()).hexdigest()


class Planner:
    """Turns a :class:`SendRequest` into planned messages."""

    def __init__(self, db: Database, renderer: TemplateRenderer, policy: PlanningPolicy) -> None:
        self.db = db
        self.renderer = renderer
        self.policy = policy

    async def plan(self, request: SendRequest, now: datetime) -> list[PlannedMessage]:
        stmt = (
            sa.select(Enterprise, Officer)
            .outerjoin(Officer, Enterprise.officer_id == Officer.id)
            .where(request.audience.where())
            .options(selectinload(Enterprise.contacts).selectinload(Contact.opt_outs))
            .order_by(Enterprise.id)
        )
        async with self.db.read() as session:
            rows = (await session.execute(stmt)).all()
            contact_ids = [c.id for enterprise, _ in rows for c in enterprise.contacts]
            history = await _recent_history(session, contact_ids, now, self.policy.routing)
        chain = channel_chain(
            request.kind.value, self.policy.routing, enabled=self.policy.enabled_channels,
            default=self.policy.default_channel, requested=request.channel,
        )  # fmt: skip
        release_at = hold_until(now, self.policy.quiet_hours.window(request.kind), self.policy.tz)
        planned: list[PlannedMessage] = []
        for enterprise, officer in rows:
            for message in self._plan_enterprise(request, enterprise, officer, chain):
                planned.append(self._limit(request, message, history, release_at))
        return planned

    def _plan_enterprise(
        self,
        request: SendRequest,
        enterprise: Enterprise,
        officer: Officer | None,
        chain: Sequence[ChannelName],
    ) -> Iterable[PlannedMessage]:
        kind = request.kind.value
        if not enterprise.contacts:
            key = idempotency_key(request.trigger, request.trigger_key, enterprise.id, None, kind)
            yield PlannedMessage(key, enterprise.id, None, chain[0], "", "",
                                 MessageStatus.SKIPPED, "企业没有联系人")  # fmt: skip
            return
        for contact in enterprise.contacts:
            key = idempotency_key(
                request.trigger, request.trigger_key, enterprise.id, contact.id, kind
            )
            routes = route_contact(contact, kind, chain, enabled=self.policy.enabled_channels)
            if isinstance(routes, NoRoute):
                yield PlannedMessage(key, enterprise.id, contact.id, routes.channel, "", "",
                                     MessageStatus.SKIPPED, routes.reason)  # fmt: skip
                continue
            context = self._context(request, enterprise, contact, officer)
            primary = routes.primary
            fallbacks = tuple(self._fallback(kind, route, context) for route in routes.fallbacks)
            body = self.renderer.render(kind, primary.channel.value, context)
            yield PlannedMessage(key, enterprise.id, contact.id, primary.channel,
                                 primary.address, body, MessageStatus.QUEUED, None,
                                 fallbacks=fallbacks)  # fmt: skip

    def _fallback(self, kind: str, route: Route, context: Mapping[str, Any]) -> dict[str, str]:
        body = self.renderer.render(kind, route.channel.value, context)
        return {"channel": route.channel.value, "address": route.address, "body": body}

    def _context(
        self, request: SendRequest, enterprise: Enterprise, contact: Contact,
        officer: Officer | None,
    ) -> dict[str, Any]:  # fmt: skip
        return {
            **request.variables,
            "hub_name": self.policy.hub_name,
            "enterprise": {
                "name": enterprise.name, "uscc": enterprise.uscc, "tier": enterprise.tier.label,
                "industry": enterprise.industry, "region": enterprise.region,
                "tags": enterprise.tag_names,
            },
            "contact": {"name": contact.name or ""},
            "officer_name": officer.name if officer else "",
            "officer_mobile": officer.mobile if officer and officer.mobile else "",
        }  # fmt: skip

    def _limit(
        self, request: SendRequest, message: PlannedMessage, history: _History,
        release_at: datetime | None,
    ) -> PlannedMessage:  # fmt: skip
        """Apply dedupe, frequency caps and quiet hours to a routed message."""
        if message.status is not MessageStatus.QUEUED or message.contact_id is None:
            return message
        if message.idempotency_key in history.keys:
            return message  # the same trigger again: the insert will ignore it
        reason = history.refusal(message, request.kind, self.policy.routing)
        if reason is not None:
            return dataclasses.replace(message, status=MessageStatus.SKIPPED, reason=reason)
        if release_at is not None:
            local = release_at.astimezone(self.policy.tz).strftime("%m-%d %H:%M")
            return dataclasses.replace(message, status=MessageStatus.HELD, release_at=release_at,
                            reason=f"免打扰时段，将于 {local} 发送")  # fmt: skip
        return message


@dataclass(slots=True)
class _History:
    """What each contact was recently sent: for caps and the same-content window."""

    day: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    week: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    bodies: set[tuple[int, str]] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)

    def refusal(
        self, message: PlannedMessage, kind: MessageKind, routing: RoutingSettings
    ) -> str | None:
        assert message.contact_id is not None
        if (message.contact_id, _digest(message.body)) in self.bodies:
            return f"{routing.dedupe_hours:g} 小时内已向该联系人发送过相同内容"
        if kind in routing.cap_exempt:
            return None
        day_cap, week_cap = routing.max_per_contact_per_day, routing.max_per_contact_per_week
        if day_cap is not None and self.day[message.contact_id] >= day_cap:
            return f"已达每日上限（每人每天 {day_cap} 条）"
        if week_cap is not None and self.week[message.contact_id] >= week_cap:
            return f"已达每周上限（每人每周 {week_cap} 条）"
        return None


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


async def _recent_history(
    session: Any, contact_ids: Collection[int], now: datetime, routing: RoutingSettings
) -> _History:
    history = _History()
    if not contact_ids:
        return history
    week_ago = now - timedelta(days=7)
    day_ago = now - timedelta(days=1)
    dedupe_since = now - timedelta(hours=routing.dedupe_hours)
    ids = list(contact_ids)
    for start in range(0, len(ids), _IN_CHUNK):
        rows = await session.execute(
            sa.select(Message.contact_id, Message.kind, Message.created_at, Message.body,
                      Message.idempotency_key)
            .where(Message.contact_id.in_(ids[start:start + _IN_CHUNK]),
                   Message.created_at >= min(week_ago, dedupe_since),
                   Message.status.in_(_COUNTED))
        )  # fmt: skip
        for contact_id, kind, created_at, body, key in rows:
            history.keys.add(key)
            if created_at >= dedupe_since:
                history.bodies.add((contact_id, _digest(body)))
            if kind in routing.cap_exempt:
                continue
            if created_at >= week_ago:
                history.week[contact_id] += 1
            if created_at >= day_ago:
                history.day[contact_id] += 1
    return history
