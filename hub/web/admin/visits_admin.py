"""The liaison visits (走访): ``/admin/visits`` and ``/admin/visits/{id}``.

The list is ``hub visits due``'s and ``GET /api/v1/visits``' listing
(:func:`hub.visits.status.list_visits`), filtered by period, officer and state and scoped to
the reader's enterprises. A visit's page shows its offered slots, the agreed time, the
answers and records kept in its details, the tickets its problems became, and forms to record
it done (notes, problems each with an optional department: a ticket each), not done (the
reason; it stays due) or the time agreed by phone. The forms call the functions the API calls
(:mod:`hub.visits.outcome`), with the API's roles: admin, dispatcher, head and handler write;
the others read. A refusal is shown in Chinese on the page, never a 5xx.

An officer's account (role ``officer``) is linked to his ``Officer`` row (``Staff.officer_id``,
set by ``hub staff add --officer CODE`` or ``hub staff set-officer``, or on the staff page): he
sees his own visits only, of his own enterprises (the scope every page and the API apply); an
officer account not linked sees no visit (closed by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, tzinfo
from typing import Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from hub.app.config import Settings
from hub.core.errors import HubError, NotFoundError, UsageError
from hub.queries.ticket_workbench import departments
from hub.tickets.policy import load_ticket_policy
from hub.tickets.settings import TicketsConfig
from hub.tickets.staff import StaffRole
from hub.visits.outcome import (
    MAX_PROBLEMS,
    MAX_TEXT,
    ProblemFound,
    VisitOutcome,
    find_visit,
    local_phrase,
    parse_local_time,
    record_agreed_time,
    record_done,
    record_not_done,
)
from hub.visits.periods import parse_period
from hub.visits.status import VisitRow, VisitState, list_visits
from hub.web.admin import audit
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    AdminPageError,
    SignedIn,
    admin_context,
    current_staff,
    flash,
    form_data,
)
from hub.web.admin.shell import render
from hub.web.admin.visit_records import RECORD_LABELS, local_time, record_lines

VISITS_PATH = f"{ADMIN_PREFIX}/visits"
#: Who records outcomes: the API's writers (hub/web/api/visit_records.py); the others read.
WRITERS = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.HEAD, StaffRole.HANDLER})
LIST_LIMIT = 500
#: Problem rows on the done form (the API takes up to MAX_PROBLEMS).
PROBLEM_ROWS = min(3, MAX_PROBLEMS)
MAX_FIELD = 64
MAX_ID_DIGITS = 18  # a BIGINT's; a longer number is no visit's
_STEPS = {"done": "已记录为完成", "not-done": "已记录为未完成", "schedule": "已记录约定时间"}
_UNLINKED = "您的账号未关联联络员，看不到任何走访：请管理员在“工作人员”页为您关联联络员编码"
_READ_ONLY = "您的角色只能查看走访，不能记录结果"


def own_officer_code(signed_in: SignedIn) -> str | None:
    """The officer code an officer's account is limited to (its link; "" when it has none);
    None for the other roles."""
    if signed_in.role is not StaffRole.OFFICER:
        return None
    return signed_in.principal.officer_code or ""


def _list_link(**params: str) -> str:
    kept = {k: v for k, v in params.items() if v}
    return VISITS_PATH + (f"?{urlencode(kept)}" if kept else "")


def _tickets_config(request: Request) -> TicketsConfig:
    ctx = admin_context(request)
    # As /api/v1 does: the deployment's ticket settings, else the defaults.
    return ctx.ticket_desk.settings if ctx.ticket_desk is not None else Settings()


def _today(request: Request) -> date:
    ctx = admin_context(request)
    return ctx.clock.now().astimezone(ctx.tz).date()


def _time(at: datetime | None, request: Request) -> str:
    return local_phrase(at, admin_context(request).tz) if at is not None else ""


def _number(text: str) -> int:
    """A visit's number from the path: anything else is the page's 404, not a 422 body."""
    if not text.isascii() or not text.isdigit() or len(text) > MAX_ID_DIGITS:
        raise AdminPageError(404, f"没有编号为 {text[:MAX_FIELD]} 的走访")
    return int(text)


def _slot(text: str, request: Request) -> str:
    try:
        return _time(datetime.fromisoformat(text), request)
    except ValueError:  # written by hub/visits/proposals.py as ISO 8601; shown as stored if not
        return text


def _row(row: VisitRow, request: Request) -> dict[str, Any]:
    officer = f"{row.officer_name or ''}（{row.officer_code}）" if row.officer_code else "—"
    return {
        "id": row.visit_id, "enterprise": row.enterprise_name, "uscc": row.uscc,
        "tier": row.tier.label, "region": row.region, "officer": officer, "period": row.period,
        "due_on": row.due_on.isoformat() if row.due_on else "—", "state": row.state.value,
        "state_label": row.state.label, "proposed_for": _time(row.proposed_for, request),
        "visited_at": _time(row.visited_at, request),
        "slots": [_slot(text, request) for text in row.slots],
    }  # fmt: skip


async def _visible_row(
    session: AsyncSession, request: Request, signed_in: SignedIn, visit_id: int
) -> VisitRow:
    """The visit as the listing shows it, if within the reader's scope (else not found)."""
    missing = NotFoundError(f"没有编号为 {visit_id} 的走访（或不在您的范围内）")
    try:
        visit = await find_visit(session, visit_id)
    except NotFoundError:
        raise missing from None
    rows = await list_visits(
        session, period=None, officer_code=None, state=None, today=_today(request),
        visibility=signed_in.visibility, enterprise_id=visit.enterprise_id,
    )  # fmt: skip
    found = next((r for r in rows if r.visit_id == visit_id), None)
    own = own_officer_code(signed_in)
    if found is None or (own is not None and (found.officer_code or "").upper() != own):
        raise missing
    return found


async def _visit_page(
    request: Request, signed_in: SignedIn, visit_id: int, *, status: int = 200,
    error: str = "", form: Mapping[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    ctx = admin_context(request)
    async with ctx.db.read() as session:
        try:
            row = await _visible_row(session, request, signed_in, visit_id)
        except NotFoundError as exc:
            raise AdminPageError(404, str(exc)) from None
        visit = await find_visit(session, visit_id)
        choices = await departments(session)
    details = dict(visit.details or {})
    return await render(
        request, "visit.html", status=status, title=f"走访 {visit_id}", error=error,
        form=dict(form or {}), v=_row(row, request), notes=visit.notes or "",
        problems=details.get("problems") or [], not_done=details.get("not_done") or [],
        history=_history(details, ctx.tz), departments=choices, problem_rows=range(PROBLEM_ROWS),
        can_write=signed_in.role in WRITERS, read_only=_READ_ONLY,
        open_step=row.state.value not in ("done", "cancelled"),
        local_time=lambda text: local_time(str(text or ""), ctx.tz) or text,
    )  # fmt: skip


def _history(details: Mapping[str, Any], tz: tzinfo) -> list[tuple[str, list[str]]]:
    """The details' other entries (answers, agreed time, done …): (Chinese label, lines)."""
    shown = ("problems", "not_done")
    return [
        (RECORD_LABELS.get(key, key), record_lines(value, tz))
        for key, value in details.items()
        if key not in shown
    ]


def _problems(form: Mapping[str, str]) -> list[ProblemFound]:
    found: list[ProblemFound] = []
    for i in range(PROBLEM_ROWS):
        text = form.get(f"problem_{i}", "").strip()[:MAX_TEXT]
        department = form.get(f"department_{i}", "").strip()[:MAX_FIELD]
        if text:
            found.append(ProblemFound(text, department or None))
        elif department:
            raise UsageError(f"第 {i + 1} 个问题选了承办部门，但没有填写问题描述")
    return found


async def _record(
    request: Request, signed_in: SignedIn, visit_id: int, step: str, form: Mapping[str, str]
) -> VisitOutcome:
    """One record through hub/visits/outcome.py, with its audit entry, in one transaction."""
    ctx = admin_context(request)
    now = ctx.clock.now()
    async with ctx.db.write() as session:
        await _visible_row(session, request, signed_in, visit_id)
        if step == "done":
            at_text = form.get("at", "").strip()
            result = await record_done(
                session, visit_id, at=parse_local_time(at_text, ctx.tz) if at_text else None,
                notes=form.get("notes", "")[:MAX_TEXT], problems=_problems(form),
                by=signed_in.username, now=now,
                policy=await load_ticket_policy(session, _tickets_config(request)),
            )  # fmt: skip
        elif step == "not-done":
            result = await record_not_done(
                session, visit_id, reason=form.get("reason", "")[:MAX_TEXT],
                by=signed_in.username, now=now,
            )  # fmt: skip
        else:
            at_text = form.get("at", "").strip()
            if not at_text:
                raise UsageError("请填写约定时间 (at)")
            policy = await load_ticket_policy(session, _tickets_config(request))
            result = await record_agreed_time(
                session, visit_id, at=parse_local_time(at_text, ctx.tz), by=signed_in.username,
                now=now, calendar=policy.calendar, tz=ctx.tz,
            )  # fmt: skip
        detail: dict[str, Any] = {k: v for k, v in form.items() if k != "csrf_token" and v}
        detail["tickets"] = [t.number for t in result.tickets]
        audit.record(session, signed_in, now, f"visit.{step}", "visit", str(visit_id), detail)
    return result


def router() -> APIRouter:
    """The visits' routes: the list, one visit, and one POST per record."""
    routes = APIRouter()
    Reader = Depends(current_staff)

    @routes.get(VISITS_PATH)
    async def visits_page(
        request: Request, period: str = "", officer: str = "", state: str = "",
        signed_in: SignedIn = Reader,
    ) -> HTMLResponse:  # fmt: skip
        """走访列表：按期间、联络员、状态筛选，只含本人范围内的企业。"""
        ctx = admin_context(request)
        period, officer, state = (x.strip()[:MAX_FIELD] for x in (period, officer, state))
        own = own_officer_code(signed_in)
        officer = own if own is not None else officer
        rows: list[dict[str, Any]] = []
        try:
            if own == "":  # an officer account not linked: no visit at all, and why
                raise UsageError(_UNLINKED)
            wanted_state = cast("VisitState", VisitState.parse(state)) if state else None
            async with ctx.db.read() as session:
                found = await list_visits(
                    session, period=parse_period(period) if period else None,
                    officer_code=officer or None, state=wanted_state, today=_today(request),
                    visibility=signed_in.visibility, limit=LIST_LIMIT,
                )  # fmt: skip
            rows, error = [_row(r, request) for r in found], ""
        except (HubError, ValueError) as exc:
            error = str(exc)
        return await render(
            request, "visits.html", status=422 if error else 200, title="走访", error=error,
            rows=rows, period=period, officer=officer, state=state, limit=LIST_LIMIT,
            states=[(s.value, s.label) for s in VisitState], own_officer=own is not None,
            clear_link=_list_link(),
        )  # fmt: skip

    @routes.get(VISITS_PATH + "/{visit_id}")
    async def visit_page(request: Request, visit_id: str, signed_in: SignedIn = Reader) -> Response:
        """一次走访：企业、联络员、计划日期、可选时段、约定时间、记录与问题工单，以及登记表单。"""
        return await _visit_page(request, signed_in, _number(visit_id))

    @routes.post(VISITS_PATH + "/{path_id}/{step}")
    async def visit_step(
        request: Request, path_id: str, step: str, signed_in: SignedIn = Reader
    ) -> Response:
        """A record from its form; a refusal re-shows the page with it (in Chinese)."""
        visit_id = _number(path_id)
        if step not in _STEPS:
            raise AdminPageError(404, "没有这个走访操作")
        if signed_in.role not in WRITERS:
            raise AdminPageError(403, _READ_ONLY)
        form = await form_data(request)
        try:
            result = await _record(request, signed_in, visit_id, step, form)
        except NotFoundError as exc:
            return await _visit_page(request, signed_in, visit_id, status=404, error=str(exc),
                                     form=form)  # fmt: skip
        except UsageError as exc:
            return await _visit_page(request, signed_in, visit_id, status=409, error=str(exc),
                                     form=form)  # fmt: skip
        tickets = "，".join(t.number for t in result.tickets)
        note = f"，问题已转为工单 {tickets}" if tickets else ""
        await flash(request, f"走访 {visit_id}（{result.enterprise}）：{_STEPS[step]}{note}")
        return RedirectResponse(f"{VISITS_PATH}/{visit_id}", status_code=303)

    return routes
