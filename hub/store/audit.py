"""An audit entry that commits with the change it records.

A caller that asks a feature function for a change (the web admin's pages) hands it an
:class:`AuditNote`; the function adds it in the change's own transaction, so the change and its
entry commit together or not at all: a refused or failed change leaves no entry, a crash after
the commit cannot lose it. The note is written only when something changed (a save identical to
the current version, a fire that had already run: no entry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from hub.store.tickets import AuditLog


@dataclass(frozen=True, slots=True)
class AuditNote:
    """Who asks for which change on which record; the change completes it (:meth:`add`)."""

    actor: str
    action: str
    target_type: str
    target_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def add(
        self, session: AsyncSession, at: datetime, *, target_id: str | None = None,
        **detail: Any,
    ) -> None:  # fmt: skip
        """Add the entry to the change's transaction; ``target_id`` and ``detail`` add what only
        the change knows (a ticket's number, the version written, a run's id)."""
        session.add(AuditLog(
            at=at, actor=self.actor, action=self.action, target_type=self.target_type,
            target_id=target_id if target_id is not None else self.target_id,
            detail={**self.detail, **detail},
        ))  # fmt: skip
