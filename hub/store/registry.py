"""The enterprise registry (一企一档) and the people around it: departments, officers, staff."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.core.vocab import (
    ChannelName,
    ContactVia,
    CreditStatus,
    DepartmentRole,
    Stage,
    Tier,
    VisitStatus,
)
from hub.store.base import Base, Timestamps
from hub.store.types import BigId, enum_column


class Department(Timestamps, Base):
    """A city department that handles requests (行业部门) or the business-environment office."""

    __tablename__ = "department"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(128))
    role: Mapped[DepartmentRole] = mapped_column(enum_column(DepartmentRole))
    # Industries whose requests route here, ';'-joined and sorted (small, read whole).
    industries: Mapped[str] = mapped_column(sa.Text, default="")
    head_name: Mapped[str | None] = mapped_column(sa.String(64))
    head_mobile: Mapped[str | None] = mapped_column(sa.String(20))
    head_wecom_userid: Mapped[str | None] = mapped_column(sa.String(64))


class Officer(Timestamps, Base):
    """A liaison officer (联络员) who visits enterprises and gets visit reminders."""

    __tablename__ = "officer"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    mobile: Mapped[str | None] = mapped_column(sa.String(20))
    wecom_userid: Mapped[str | None] = mapped_column(sa.String(64))
    telegram_chat_id: Mapped[str | None] = mapped_column(sa.String(32))
    region: Mapped[str | None] = mapped_column(sa.String(64))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"))


class Staff(Timestamps, Base):
    """A department staff member or admin who signs in and works tickets."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    # admin | dispatcher | handler | head | officer | viewer
    role: Mapped[str] = mapped_column(sa.String(24))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"))
    district: Mapped[str | None] = mapped_column(sa.String(64))
    # An ``officer`` account's liaison officer: it sees only that officer's enterprises
    # (hub/queries/scope.py); an officer account without one sees none.
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officer.id"), index=True)
    mobile: Mapped[str | None] = mapped_column(sa.String(20))
    wecom_userid: Mapped[str | None] = mapped_column(sa.String(64))
    telegram_chat_id: Mapped[str | None] = mapped_column(sa.String(32))
    absent: Mapped[bool] = mapped_column(default=False)
    token_hash: Mapped[str | None] = mapped_column(sa.String(128), unique=True)
    # The web admin's sign-in (hub/tickets/staff_passwords.py): an argon2 hash (None: no
    # password, no sign-in), wrong passwords in a row, and the end of a lockout.
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column()


class Enterprise(Timestamps, Base):
    """A market entity, keyed by its 统一社会信用代码 (USCC)."""

    __tablename__ = "enterprise"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    uscc: Mapped[str] = mapped_column(sa.String(18), unique=True)
    name: Mapped[str] = mapped_column(sa.String(256))
    tier: Mapped[Tier] = mapped_column(enum_column(Tier), index=True)
    industry: Mapped[str] = mapped_column(sa.String(64), index=True, default="")
    region: Mapped[str] = mapped_column(sa.String(64), index=True, default="")
    stage: Mapped[Stage] = mapped_column(enum_column(Stage), default=Stage.OPERATING)
    credit_status: Mapped[CreditStatus] = mapped_column(
        enum_column(CreditStatus), default=CreditStatus.GOOD, index=True
    )
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officer.id"), index=True)

    tags: Mapped[list[EnterpriseTag]] = relationship(
        cascade="all, delete-orphan", order_by="EnterpriseTag.tag", lazy="selectin"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="enterprise", order_by="Contact.id", lazy="selectin"
    )

    @property
    def tag_names(self) -> tuple[str, ...]:
        return tuple(t.tag for t in self.tags)


class EnterpriseTag(Base):
    """One feature tag of an enterprise (专精特新, ...): a table, so ``tags~X`` is indexed."""

    __tablename__ = "enterprise_tag"

    enterprise_id: Mapped[int] = mapped_column(
        sa.ForeignKey("enterprise.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(sa.String(64), primary_key=True, index=True)


class Contact(Timestamps, Base):
    """A person at an enterprise, with an address per channel.

    ``natural_key`` identifies the contact within its enterprise across imports: the E.164
    mobile when there is one, else the first other address, else the name.
    """

    __tablename__ = "contact"
    __table_args__ = (sa.UniqueConstraint("enterprise_id", "natural_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    natural_key: Mapped[str] = mapped_column(sa.String(128))
    name: Mapped[str | None] = mapped_column(sa.String(64))
    mobile: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    wechat_openid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    wecom_userid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    telegram_chat_id: Mapped[str | None] = mapped_column(sa.String(32), index=True)
    preferred_channel: Mapped[ChannelName | None] = mapped_column(enum_column(ChannelName))
    anonymised_at: Mapped[datetime | None] = mapped_column()

    enterprise: Mapped[Enterprise] = relationship(back_populates="contacts")
    opt_outs: Mapped[list[ContactOptOut]] = relationship(lazy="selectin")

    def address(self, channel: ChannelName) -> str | None:
        """The contact's address on a channel (the sandbox uses the mobile, else the id)."""
        match channel:
            case ChannelName.SMS:
                return self.mobile
            case ChannelName.WECHAT:
                return self.wechat_openid
            case ChannelName.WECOM:
                return self.wecom_userid
            case ChannelName.TELEGRAM:
                return self.telegram_chat_id
            case ChannelName.SANDBOX:
                return self.mobile or f"contact:{self.id}"


class ContactOptOut(Base):
    """A per-channel opt-out (退订); kept with when and why, removed only by an opt-in."""

    __tablename__ = "contact_opt_out"

    contact_id: Mapped[int] = mapped_column(sa.ForeignKey("contact.id"), primary_key=True)
    channel: Mapped[ChannelName] = mapped_column(enum_column(ChannelName), primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32), primary_key=True, default="*")
    at: Mapped[datetime] = mapped_column()
    source: Mapped[str] = mapped_column(sa.String(64))


class Visit(Timestamps, Base):
    """A liaison visit (对口联络走访) due in a period, proposed, confirmed and done.

    ``due_on`` is the working day the plan spread it to; ``slots`` the times offered in the
    proposal (ISO datetimes, in order: the enterprise answers "1", "2" ...), ``proposed_at``
    when the proposal was sent; ``proposed_for`` the time proposed or agreed (status says which),
    ``visited_at`` when it was done. ``details`` keeps the answers, outcome and problems.
    """

    __tablename__ = "visit"
    __table_args__ = (
        sa.UniqueConstraint("enterprise_id", "period"),
        sa.Index("ix_visit_officer_due", "officer_id", "due_on"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"), index=True)
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officer.id"), index=True)
    period: Mapped[str] = mapped_column(sa.String(16))  # 2026Q4, 2026H2, 2026
    status: Mapped[VisitStatus] = mapped_column(enum_column(VisitStatus))
    proposed_for: Mapped[datetime | None] = mapped_column()
    visited_at: Mapped[datetime | None] = mapped_column()
    notes: Mapped[str | None] = mapped_column(sa.Text)
    details: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    # the plan and the appointment (0007)
    due_on: Mapped[date | None] = mapped_column()
    slots: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    proposed_at: Mapped[datetime | None] = mapped_column()


class LiaisonContact(Timestamps, Base):
    """A contact a liaison officer recorded with an enterprise (a phone call, a meeting ...).

    Monthly contact of key enterprises counts these, visits done and the enterprise's replies.
    """

    __tablename__ = "liaison_contact"
    __table_args__ = (sa.Index("ix_liaison_contact_enterprise_at", "enterprise_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(sa.ForeignKey("enterprise.id"))
    officer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("officer.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    via: Mapped[ContactVia] = mapped_column(enum_column(ContactVia))
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    source: Mapped[str] = mapped_column(sa.String(64))  # cli | api | wecom:<userid> | telegram:<id>
