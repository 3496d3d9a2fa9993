"""The JSON the API answers with (also its OpenAPI schema). Times are ISO 8601 with +08:00."""

from __future__ import annotations

from pydantic import BaseModel

from hub.queries.refs import ContactRef, EnterpriseRef


class EnterpriseOut(BaseModel):
    id: int
    name: str
    uscc: str

    @classmethod
    def of(cls, ref: EnterpriseRef | None) -> EnterpriseOut | None:
        return cls(id=ref.id, name=ref.name, uscc=ref.uscc) if ref is not None else None


class ContactOut(BaseModel):
    id: int
    name: str | None

    @classmethod
    def of(cls, ref: ContactRef | None) -> ContactOut | None:
        return cls(id=ref.id, name=ref.name) if ref is not None else None


class ReplyOut(BaseModel):
    """A reply received; ``sender`` is masked unless the caller may see addresses in full."""

    id: int
    channel: str
    channel_label: str
    provider: str
    sender: str
    text: str
    received_at: str
    enterprise: EnterpriseOut | None
    contact: ContactOut | None
    in_reply_to: int | None
    classification: str | None
    classification_label: str | None
    processed_at: str | None


class MessageOut(BaseModel):
    """An outbox message; ``address`` is masked unless the caller may see addresses in full."""

    id: int
    campaign_id: int | None
    kind: str
    kind_label: str
    channel: str
    channel_label: str
    address: str
    status: str
    status_label: str
    reason: str | None
    enterprise: EnterpriseOut | None
    contact: ContactOut | None
    body: str
    attempts: int
    provider_message_id: str | None
    created_at: str
    sent_at: str | None
    delivered_at: str | None


class DepartmentOut(BaseModel):
    id: int
    code: str | None


class ScopeOut(BaseModel):
    """What the caller sees: ``industries``/``region`` null means no limit; ``officer``: an
    officer's account sees only the enterprises of that liaison officer (its code)."""

    industries: list[str] | None
    region: str | None
    full_addresses: bool
    officer: str | None = None


class MeOut(BaseModel):
    staff_id: int
    username: str
    name: str
    role: str
    role_label: str
    department: DepartmentOut | None
    district: str | None
    scope: ScopeOut


class StaffOut(BaseModel):
    id: int
    username: str
    name: str
    role: str
    role_label: str
    department: str | None
    district: str | None
    absent: bool
    has_token: bool
