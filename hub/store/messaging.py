"""Outbound and inbound messaging: templates, schedules, campaigns, the outbox, replies."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.vocab import ChannelName, MessageKind, MessageStatus, ReplyClass
from hub.store.base import Base, Timestamps
from hub.store.types import BigId, enum_column


class Template(Timestamps, Base):
    """A message template for one kind on one channel; its text lives in versions."""

    __tablename__ = "template"
    __table_args__ = (sa.UniqueConstraint("kind", "channel"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    channel: Mapped[ChannelName] = mapped_column(enum_column(ChannelName))
    current_version: Mapped[int] = mapped_column(default=1)


class TemplateVersion(Base):
    """An immutable version of a template: body plus meta (variables, provider template id)."""

    __tablename__ = "template_version"
    __table_args__ = (sa.UniqueConstraint("template_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("template.id"), index=True)
    version: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(sa.Text)
    meta: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(sa.String(64))


class Schedule(Timestamps, Base):
    """A named schedule; what it does lives in versions so edits are kept."""

    __tablename__ = "schedule"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    current_version: Mapped[int] = mapped_column(default=1)


class ScheduleVersion(Base):
    """An immutable version of a schedule: cron, timezone, program, audience, kind, channels."""

    __tablename__ = "schedule_version"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedule.id"), index=True)
    version: Mapped[int] = mapped_column()
    spec: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column()
    created_by: Mapped[str] = mapped_column(sa.String(64))


class ScheduleRun(Base):
    """One fire of a schedule; unique on (schedule, fire time) so a fire runs once."""

    __tablename__ = "schedule_run"
    __table_args__ = (sa.UniqueConstraint("schedule_id", "fire_time"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(sa.ForeignKey("schedule.id"))
    schedule_version: Mapped[int] = mapped_column()
    fire_time: Mapped[datetime] = mapped_column()
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(sa.String(16))  # running | done | failed
    detail: Mapped[str | None] = mapped_column(sa.Text)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id"))


class Campaign(Timestamps, Base):
    """One trigger's worth of messages (a schedule fire, an API call, a CLI send)."""

    __tablename__ = "campaign"
    __table_args__ = (sa.UniqueConstraint("trigger", "trigger_key", "kind"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    trigger: Mapped[str] = mapped_column(sa.String(64))  # cli | api | schedule:<name> | event:<x>
    trigger_key: Mapped[str] = mapped_column(sa.String(128))  # fire time or caller's key
    audience: Mapped[str] = mapped_column(sa.Text)
    channel: Mapped[ChannelName | None] = mapped_column(enum_column(ChannelName))
    status: Mapped[str] = mapped_column(sa.String(16))  # active | paused | cancelled | done
    created_by: Mapped[str] = mapped_column(sa.String(64))


class Message(Timestamps, Base):
    """The outbox: one row per message the hub accepted; the truth about its fate."""

    __tablename__ = "message"
    __table_args__ = (
        # created_at: the dashboard's counts by channel and status over a window (0009)
        sa.Index("ix_message_status_channel_created", "status", "channel", "created_at"),
        sa.Index("ix_message_next_attempt", "status", "next_attempt_at"),
        # status: a campaign's messages counted by status, from the index alone (0010)
        sa.Index("ix_message_campaign_status", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaign.id"))
    kind: Mapped[MessageKind] = mapped_column(enum_column(MessageKind))
    enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officer.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    channel: Mapped[ChannelName] = mapped_column(enum_column(ChannelName))
    address: Mapped[str] = mapped_column(sa.String(128))
    status: Mapped[MessageStatus] = mapped_column(enum_column(MessageStatus))
    status_reason: Mapped[str | None] = mapped_column(sa.Text)
    body: Mapped[str] = mapped_column(sa.Text)
    params: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    template_version_id: Mapped[int | None] = mapped_column(sa.ForeignKey("template_version.id"))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128), index=True)
    sent_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()


class DeliveryAttempt(Base):
    """One try to send a message on one channel (a fallback is another attempt)."""

    __tablename__ = "delivery_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("message.id"), index=True)
    attempt_no: Mapped[int] = mapped_column()
    channel: Mapped[ChannelName] = mapped_column(enum_column(ChannelName))
    provider: Mapped[str] = mapped_column(sa.String(32))
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime] = mapped_column()
    outcome: Mapped[str] = mapped_column(sa.String(16))  # sent | retry | failed
    error_code: Mapped[str | None] = mapped_column(sa.String(64))
    error_detail: Mapped[str | None] = mapped_column(sa.Text)
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(128))


class InboundReply(Base):
    """A reply or event from a provider, stored raw before anything else; deduped by provider id."""

    __tablename__ = "inbound_reply"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_msg_id"),
        # 0004: the replies not yet classified, which the reconciler looks for every pass
        # (hub.inbound.accept.requeue_unclassified): a partial index holds only those few rows.
        sa.Index(
            "ix_inbound_reply_unclassified",
            "id",
            sqlite_where=sa.text("classified_at IS NULL"),
            postgresql_where=sa.text("classified_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[ChannelName] = mapped_column(enum_column(ChannelName))
    provider: Mapped[str] = mapped_column(sa.String(32))
    provider_msg_id: Mapped[str] = mapped_column(sa.String(128))
    sender: Mapped[str] = mapped_column(sa.String(128), index=True)
    text: Mapped[str] = mapped_column(sa.Text)
    raw: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    received_at: Mapped[datetime] = mapped_column()
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"), index=True)
    enterprise_id: Mapped[int | None] = mapped_column(sa.ForeignKey("enterprise.id"))
    in_reply_to: Mapped[int | None] = mapped_column(sa.ForeignKey("message.id"))
    classification: Mapped[ReplyClass | None] = mapped_column(enum_column(ReplyClass))
    processed_at: Mapped[datetime | None] = mapped_column()
    # 0002: what the classifier found ({"class": ..., "detail": {...}}) and the ticket it went
    # to. use_alter: ticket.source_reply_id points back here, a cycle the DDL order must break.
    classification_detail: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    classified_at: Mapped[datetime | None] = mapped_column()
    ticket_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("ticket.id", use_alter=True), index=True
    )
