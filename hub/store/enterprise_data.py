"""What the hub knows of each enterprise beyond the registry (一企一档): credit events, policies,
licences and annual-report filings, each imported from a file or posted to the API.

Each row has a natural key (the event's or the policy's own id; an enterprise's licence by kind
and number; its filing by year) so that importing the same data again changes nothing. An
enterprise's ``credit_status`` follows from its active credit events
(``hub.core.credit.credit_status_of``).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.core.credit import CreditEventStatus, CreditEventType
from hub.store.base import Base, Timestamps
from hub.store.types import BigId, enum_column

__all__ = ["AnnualReport", "CreditEvent", "Licence", "Policy"]


class CreditEvent(Timestamps, Base):
    """A credit event from a credit feed (信用中国, 国家企业信用信息公示系统): a dishonesty
    listing, an abnormal-operation listing or an administrative penalty, and its repair."""

    __tablename__ = "credit_event"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    """事件编号, the feed's own id: the natural key."""
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    type: Mapped[CreditEventType] = mapped_column(enum_column(CreditEventType))
    authority: Mapped[str] = mapped_column(sa.String(128))
    """认定机关."""
    decided_on: Mapped[date] = mapped_column(sa.Date)
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    status: Mapped[CreditEventStatus] = mapped_column(enum_column(CreditEventStatus))
    repaired_on: Mapped[date | None] = mapped_column(sa.Date)


class Policy(Timestamps, Base):
    """A policy (惠企政策) and who it is for (精准匹配); ``text`` is kept to answer questions.

    Eligibility lists are ``;``-joined and sorted, an empty one meaning any: ``tiers`` and
    ``stages`` hold vocabulary values (``key``, ``startup``), the others free text as the
    registry spells it.
    """

    __tablename__ = "policy"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    policy_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    title: Mapped[str] = mapped_column(sa.String(256))
    summary: Mapped[str] = mapped_column(sa.Text, default="")
    department: Mapped[str | None] = mapped_column(sa.String(128))
    apply_by: Mapped[date | None] = mapped_column(sa.Date)
    free_apply: Mapped[bool] = mapped_column(default=False)
    """免申即享: no application needed; messages may say so only when this is true."""
    url: Mapped[str | None] = mapped_column(sa.String(512))
    industries: Mapped[str] = mapped_column(sa.Text, default="")
    tiers: Mapped[str] = mapped_column(sa.Text, default="")
    regions: Mapped[str] = mapped_column(sa.Text, default="")
    stages: Mapped[str] = mapped_column(sa.Text, default="")
    tags: Mapped[str] = mapped_column(sa.Text, default="")
    text: Mapped[str] = mapped_column(sa.Text, default="")


class Licence(Timestamps, Base):
    """A licence (证照) an enterprise holds, with its expiry; ``renewed_on`` once renewed."""

    __tablename__ = "licence"
    __table_args__ = (sa.UniqueConstraint("enterprise_id", "kind", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(64))
    number: Mapped[str] = mapped_column(sa.String(64))
    expires_on: Mapped[date] = mapped_column(sa.Date, index=True)
    authority: Mapped[str | None] = mapped_column(sa.String(128))
    renewed_on: Mapped[date | None] = mapped_column(sa.Date)


class AnnualReport(Timestamps, Base):
    """An enterprise's annual report (年报) filed for a year, as published (公示)."""

    __tablename__ = "annual_report"
    __table_args__ = (sa.UniqueConstraint("enterprise_id", "year"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    year: Mapped[int] = mapped_column()
    filed_on: Mapped[date] = mapped_column(sa.Date)
