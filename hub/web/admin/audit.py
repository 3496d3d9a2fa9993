"""The audit log page (``/admin/audit``, admins only), and how an admin page audits a change:
always in the change's own transaction, so a change and its entry commit together or not at all.

- a page that changes rows itself calls :func:`record` in that transaction;
- a page that asks a feature function for the change hands it the :func:`note`
  (:class:`~hub.store.audit.AuditNote`), which the function adds in its transaction (the ticket
  desk, template and schedule versions, a schedule's run, a sandbox reply);
- feature functions that audit already (``actor=...``: campaigns, dead letters, staff) are
  given the staff member's username as the actor.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from hub.queries.audit import AuditEntry, AuditFilter, audit_actions, list_audit
from hub.store.audit import AuditNote
from hub.tickets.staff import StaffRole
from hub.web.admin.audit_labels import action_label, target_label
from hub.web.admin.auth import ADMIN_PREFIX, SignedIn, admin_context, require_role
from hub.web.admin.shell import render

AUDIT_PATH = f"{ADMIN_PREFIX}/audit"
PAGE_SIZE = 50
_DETAIL_CHARS = 300


def note(
    signed_in: SignedIn, action: str, target_type: str, target_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> AuditNote:  # fmt: skip
    """The audit entry of a change the signed-in staff member asks a feature function for (it
    adds the entry in the change's transaction)."""
    return AuditNote(signed_in.username, action, target_type, target_id, dict(detail or {}))


def record(
    session: AsyncSession, signed_in: SignedIn, at: datetime, action: str, target_type: str,
    target_id: str | None, detail: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Add the audit entry of a change the signed-in staff member made (commit with it)."""
    note(signed_in, action, target_type, target_id, detail).add(session, at)


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _row(entry: AuditEntry, request: Request) -> dict[str, str]:
    tz = admin_context(request).tz
    detail = json.dumps(entry.detail, ensure_ascii=False, default=str) if entry.detail else ""
    if len(detail) > _DETAIL_CHARS:
        detail = detail[:_DETAIL_CHARS] + "…"
    return {"at": entry.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), "actor": entry.actor,
            "action": entry.action, "action_label": action_label(entry.action),
            "target": target_label(entry.target_type, entry.target_id),
            "detail": detail}  # fmt: skip


def router() -> APIRouter:
    """``GET /admin/audit``: filter by staff, action and dates (Beijing time), newest first."""
    routes = APIRouter()

    @routes.get(AUDIT_PATH)
    async def audit_page(
        request: Request,
        actor: str = "",
        action: str = "",
        date_from: str = "",
        date_to: str = "",
        before: int | None = None,
        signed_in: SignedIn = Depends(require_role(StaffRole.ADMIN)),  # noqa: B008
    ) -> HTMLResponse:
        ctx = admin_context(request)
        first, last = _day(date_from), _day(date_to)
        error = ""
        if (date_from and first is None) or (date_to and last is None):
            error = "日期格式应为 年-月-日，例如 2026-12-01"
        since = datetime.combine(first, time(0), ctx.tz) if first else None
        until = datetime.combine(last + timedelta(days=1), time(0), ctx.tz) if last else None
        query = AuditFilter(actor=actor.strip() or None, action=action.strip() or None,
                            since=since, until=until, before=before,
                            limit=PAGE_SIZE + 1)  # fmt: skip
        entries = await list_audit(ctx.db, query)
        filters = {"actor": actor, "action": action, "date_from": date_from, "date_to": date_to}
        kept = {k: v for k, v in filters.items() if v}
        next_link = ""
        if len(entries) > PAGE_SIZE:
            entries = entries[:PAGE_SIZE]
            next_link = f"{AUDIT_PATH}?{urlencode({**kept, 'before': entries[-1].id})}"
        first_link = f"{AUDIT_PATH}?{urlencode(kept)}" if before is not None else ""
        return await render(
            request, "audit.html", title="审计日志", rows=[_row(e, request) for e in entries],
            filters=filters, actions=await audit_actions(ctx.db), error=error,
            next_link=next_link, first_link=first_link, action_label=action_label,
        )  # fmt: skip

    return routes
