"""Admin alerts: something every message of a kind would hit (a refused template or signature,
bad credentials) is raised once, on record in the audit log and as an error log line, so an
admin fixes it instead of the hub failing messages one by one in silence.

``hub alerts list`` shows them; an alert with the same source and code within
:data:`REPEAT_WINDOW` is not raised again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from hub.core.clock import Clock
from hub.store.db import Database
from hub.store.models import AuditLog

log = structlog.get_logger(__name__)

ALERT_ACTION = "alert"
REPEAT_WINDOW = timedelta(hours=1)


async def raise_alert(
    session: AsyncSession, clock: Clock, *, source: str, code: str, detail: str
) -> bool:
    """Record an alert in the caller's transaction unless the same one is recent; True if new."""
    now = clock.now()
    recent = await session.scalar(
        sa.select(AuditLog.id)
        .where(
            AuditLog.action == ALERT_ACTION,
            AuditLog.target_type == "provider",
            AuditLog.target_id == source,
            AuditLog.at >= now - REPEAT_WINDOW,
            sa.cast(AuditLog.detail["code"].as_string(), sa.String) == code,
        )
        .limit(1)
    )
    if recent is not None:
        return False
    session.add(
        AuditLog(
            at=now,
            actor="system",
            action=ALERT_ACTION,
            target_type="provider",
            target_id=source,
            detail={"code": code, "detail": detail},
        )
    )
    log.error("provider_alert", source=source, code=code, detail=detail)
    return True


async def list_alerts(db: Database, *, limit: int = 50) -> list[dict[str, Any]]:
    """Newest first: when, source, code and detail."""
    async with db.read() as session:
        rows = (
            await session.scalars(
                sa.select(AuditLog)
                .where(AuditLog.action == ALERT_ACTION)
                .order_by(AuditLog.at.desc(), AuditLog.id.desc())
                .limit(limit)
            )
        ).all()
    return [
        {
            "at": row.at,
            "source": row.target_id,
            "code": row.detail.get("code", ""),
            "detail": row.detail.get("detail", ""),
        }
        for row in rows
    ]
