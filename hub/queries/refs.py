"""The short references a listed record carries to its enterprise and contact."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EnterpriseRef:
    id: int
    name: str
    uscc: str


@dataclass(frozen=True, slots=True)
class ContactRef:
    id: int
    name: str | None


def enterprise_ref(id_: int | None, name: str | None, uscc: str | None) -> EnterpriseRef | None:
    return EnterpriseRef(id_, name or "", uscc or "") if id_ is not None else None


def contact_ref(id_: int | None, name: str | None) -> ContactRef | None:
    return ContactRef(id_, name) if id_ is not None else None
