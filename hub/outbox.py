"""The outbox: a trigger becomes message rows committed in SQL, then their ids go to Redis.

The row is the truth. Each message has an idempotency key over (trigger, fire time or caller
key, enterprise, contact, kind), inserted with ON CONFLICT DO NOTHING, so firing the same
trigger twice (or from two processes at once) creates nothing new. Only rows inserted by this
call are enqueued; a row committed but never enqueued (crash in between) is found by
:func:`requeue_stale` and enqueued again — the dispatcher's claim is idempotent, so an id on the
stream twice is still sent once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import selectinload

from hub.audience import Audience
from hub.clock import Clock
from hub.queue import Queue
from hub.render import TemplateRenderer
from hub.routing import NoRoute, route_contact
from hub.store.db import Database
from hub.store.models import Campaign, Contact, Enterprise, Message, Officer
from hub.vocab import ChannelName, MessageKind, MessageStatus

INSERT_CHUNK = 500


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
    """A message before it is stored: rendered, routed or skipped with a reason."""

    idempotency_key: str
    enterprise_id: int
    contact_id: int | None
    channel: ChannelName
    address: str
    body: str
    status: MessageStatus
    reason: str | None


@dataclass(slots=True)
class SendOutcome:
    """What a send did; ``queued_ids`` are the rows this call created and enqueued."""

    campaign_id: int | None
    recipients: int = 0
    created: int = 0
    duplicates: int = 0
    skipped: int = 0
    by_channel: Counter[str] = field(default_factory=Counter)
    queued_ids: list[int] = field(default_factory=list)
    samples: list[PlannedMessage] = field(default_factory=list)


def idempotency_key(
    trigger: str, trigger_key: str, enterprise_id: int, contact_id: int | None, kind: str
) -> str:
    """DESIGN.md's key, hashed to a fixed width."""
    raw = f"{trigger}\x1f{trigger_key}\x1f{enterprise_id}\x1f{contact_id or '-'}\x1f{kind}"
    return hashlib.sha256(raw.encode()).hexdigest()


class Outbox:
    """Plans, stores and enqueues the messages of a trigger."""

    def __init__(
        self,
        db: Database,
        queue: Queue,
        renderer: TemplateRenderer,
        clock: Clock,
        *,
        default_channel: ChannelName,
        enabled_channels: Sequence[str],
        hub_name: str = "主动服务",
    ) -> None:
        self.db = db
        self.queue = queue
        self.renderer = renderer
        self.clock = clock
        self.default_channel = default_channel
        self.enabled = frozenset(enabled_channels)
        self.hub_name = hub_name

    async def plan(self, request: SendRequest) -> list[PlannedMessage]:
        """Select the audience, route each contact and render its message (no writes)."""
        stmt = (
            sa.select(Enterprise, Officer)
            .outerjoin(Officer, Enterprise.officer_id == Officer.id)
            .where(request.audience.where())
            .options(selectinload(Enterprise.contacts).selectinload(Contact.opt_outs))
            .order_by(Enterprise.id)
        )
        planned: list[PlannedMessage] = []
        async with self.db.read() as session:
            rows = (await session.execute(stmt)).all()
            for enterprise, officer in rows:
                planned.extend(self._plan_enterprise(request, enterprise, officer))
        return planned

    def _plan_enterprise(
        self, request: SendRequest, enterprise: Enterprise, officer: Officer | None
    ) -> list[PlannedMessage]:
        kind = request.kind.value
        if not enterprise.contacts:
            key = idempotency_key(request.trigger, request.trigger_key, enterprise.id, None, kind)
            channel = request.channel or self.default_channel
            return [
                PlannedMessage(
                    key,
                    enterprise.id,
                    None,
                    channel,
                    "",
                    "",
                    MessageStatus.SKIPPED,
                    "企业没有联系人",
                )
            ]
        result = []
        for contact in enterprise.contacts:
            key = idempotency_key(
                request.trigger, request.trigger_key, enterprise.id, contact.id, kind
            )
            route = route_contact(
                contact,
                kind,
                requested=request.channel,
                default=self.default_channel,
                enabled=self.enabled,
            )
            if isinstance(route, NoRoute):
                result.append(
                    PlannedMessage(
                        key,
                        enterprise.id,
                        contact.id,
                        route.channel,
                        "",
                        "",
                        MessageStatus.SKIPPED,
                        route.reason,
                    )
                )
                continue
            context = {
                **request.variables,
                "hub_name": self.hub_name,
                "enterprise": {
                    "name": enterprise.name,
                    "uscc": enterprise.uscc,
                    "tier": enterprise.tier.label,
                    "industry": enterprise.industry,
                    "region": enterprise.region,
                    "tags": enterprise.tag_names,
                },
                "contact": {"name": contact.name or ""},
                "officer_name": officer.name if officer else "",
                "officer_mobile": officer.mobile if officer and officer.mobile else "",
            }
            body = self.renderer.render(kind, route.channel.value, context)
            result.append(
                PlannedMessage(
                    key,
                    enterprise.id,
                    contact.id,
                    route.channel,
                    route.address,
                    body,
                    MessageStatus.QUEUED,
                    None,
                )
            )
        return result

    async def submit(self, request: SendRequest, *, dry_run: bool = False) -> SendOutcome:
        """Plan, then (unless dry run) commit the campaign and messages and enqueue new ones."""
        planned = await self.plan(request)
        outcome = SendOutcome(campaign_id=None)
        outcome.recipients = len({p.enterprise_id for p in planned})
        for p in planned:
            if p.status is MessageStatus.SKIPPED:
                outcome.skipped += 1
            else:
                outcome.by_channel[p.channel.value] += 1
        outcome.samples = [p for p in planned if p.status is MessageStatus.QUEUED][:3]
        if dry_run:
            return outcome
        now = self.clock.now()
        async with self.db.write() as session:
            campaign_id = await self._campaign_id(session, request, now)
            outcome.campaign_id = campaign_id
            inserted: list[tuple[int, MessageStatus, ChannelName]] = []
            for start in range(0, len(planned), INSERT_CHUNK):
                chunk = planned[start : start + INSERT_CHUNK]
                rows = [self._row(p, request, campaign_id, now) for p in chunk]
                stmt = _insert_ignore(self.db.dialect, rows).returning(
                    Message.id, Message.status, Message.channel
                )
                inserted.extend(tuple(r) for r in (await session.execute(stmt)).all())
        outcome.created = len(inserted)
        outcome.duplicates = len(planned) - len(inserted)
        by_channel: dict[str, list[int]] = {}
        for message_id, status, channel in inserted:
            if status == MessageStatus.QUEUED:
                by_channel.setdefault(channel.value, []).append(message_id)
        for channel_name, ids in by_channel.items():
            await self.queue.enqueue(channel_name, ids)
            outcome.queued_ids.extend(ids)
        return outcome

    async def _campaign_id(self, session: Any, request: SendRequest, now: datetime) -> int:
        values = {
            "kind": request.kind,
            "trigger": request.trigger,
            "trigger_key": request.trigger_key,
            "audience": request.audience.expression,
            "channel": request.channel,
            "status": "active",
            "created_by": request.created_by,
            "created_at": now,
            "updated_at": now,
        }
        stmt = _insert_ignore(self.db.dialect, [values], table=Campaign)
        await session.execute(stmt)
        found = await session.scalar(
            sa.select(Campaign.id).where(
                Campaign.trigger == request.trigger,
                Campaign.trigger_key == request.trigger_key,
                Campaign.kind == request.kind,
            )
        )
        assert found is not None
        return int(found)

    @staticmethod
    def _row(
        p: PlannedMessage, request: SendRequest, campaign_id: int, now: datetime
    ) -> dict[str, Any]:
        return {
            "idempotency_key": p.idempotency_key,
            "campaign_id": campaign_id,
            "kind": request.kind,
            "enterprise_id": p.enterprise_id,
            "contact_id": p.contact_id,
            "channel": p.channel,
            "address": p.address,
            "status": p.status,
            "status_reason": p.reason,
            "body": p.body,
            "params": {},
            "attempts": 0,
            "created_at": now,
            "updated_at": now,
        }


def _insert_ignore(dialect: str, rows: list[dict[str, Any]], table: Any = Message) -> Any:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).values(rows).on_conflict_do_nothing()


async def requeue_stale(db: Database, queue: Queue, clock: Clock, *, older_than: timedelta) -> int:
    """Enqueue again queued rows untouched for a while (Redis lost them, or a crash)."""
    cutoff = clock.now() - older_than
    async with db.read() as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Message.channel).where(
                    Message.status == MessageStatus.QUEUED,
                    Message.updated_at < cutoff,
                    sa.or_(Message.next_attempt_at.is_(None), Message.next_attempt_at < cutoff),
                )
            )
        ).all()
    by_channel: dict[str, list[int]] = {}
    for message_id, channel in rows:
        by_channel.setdefault(channel.value, []).append(message_id)
    for channel_name, ids in by_channel.items():
        await queue.enqueue(channel_name, ids)
    return len(rows)
