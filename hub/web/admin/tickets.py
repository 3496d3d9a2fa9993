"""The tickets workbench (工单工作台): ``/admin/tickets`` and ``/admin/tickets/{number}``.

The list by state (tabs), with deadline colours, a search by number or enterprise and pages of
:data:`PAGE_SIZE`; one ticket with every event of its closed loop, its enterprise and contact
(the mobile masked by role, as the API masks it), its ratings, callback surveys and source,
the assistant's suggestions (参考答案: each entry's answer as it is now), and a form for each
step the API offers. Everything goes through the same
:class:`~hub.tickets.desk.TicketDesk` as ``/api/v1/tickets`` and ``hub tickets``: the same
scope (a handler or head sees their department only; another department's ticket is a 403
page), the same role table, the same refusals, shown in Chinese on the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from hub.app.config import Settings
from hub.core.clock import local_iso
from hub.core.errors import AccessDeniedError, HubError, NotFoundError, TransitionError, UsageError
from hub.core.vocab import TicketEventType, TicketState
from hub.queries.answer_views import suggestion_views
from hub.queries.ticket_workbench import (
    TicketOrigin,
    assignable_handlers,
    departments,
    load_references,
    staff_names,
    state_counts,
    ticket_origin,
)
from hub.queries.tickets import TicketFilter, TicketScope, TicketViews, list_tickets
from hub.tickets.desk import STEP_LABELS, STEP_ROLES, TicketDesk
from hub.tickets.lifecycle import CLOSE_REASONS
from hub.tickets.lookup import OPEN_STATES
from hub.tickets.ratings import RATING_SOURCES
from hub.tickets.staff import StaffRole
from hub.web.admin import audit
from hub.web.admin.actors import actor_label
from hub.web.admin.auth import (
    ADMIN_PREFIX,
    AdminPageError,
    SignedIn,
    admin_context,
    flash,
    form_data,
    require_role,
)
from hub.web.admin.shell import render

TICKETS_PATH = f"{ADMIN_PREFIX}/tickets"
#: Who opens the workbench: every role that works or reads tickets (an officer works visits).
READERS = (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.HEAD, StaffRole.HANDLER,
           StaffRole.VIEWER)  # fmt: skip

PAGE_SIZE = 50
MAX_SEARCH = 64
MAX_TEXT = 2000  # a reason or an answer (the API's MAX_ANSWER is larger; a form field is not)


@dataclass(frozen=True, slots=True)
class Tab:
    """One state tab of the list; ``state`` None is every ticket."""

    key: str
    label: str
    state: TicketState | None


TABS = (
    Tab("all", "全部", None),
    Tab(TicketState.NEW.value, "新", TicketState.NEW),
    Tab(TicketState.ASSIGNED.value, "已分派", TicketState.ASSIGNED),
    Tab(TicketState.IN_PROGRESS.value, "办理中", TicketState.IN_PROGRESS),
    Tab(TicketState.RESOLVED.value, "已办结", TicketState.RESOLVED),
    Tab(TicketState.CLOSED.value, "已关闭", TicketState.CLOSED),
    Tab(TicketState.REOPENED.value, "重新办理", TicketState.REOPENED),
)
_TABS = {tab.key: tab for tab in TABS}

# The states in which lifecycle allows each step (a form shows only where it can succeed;
# a forged post is refused by the lifecycle all the same).
_OPEN = frozenset(OPEN_STATES)
_WORKING = frozenset({TicketState.ASSIGNED, TicketState.IN_PROGRESS, TicketState.REOPENED})
STEP_STATES: dict[str, frozenset[TicketState]] = {
    "assign": _OPEN,
    "start": frozenset({TicketState.ASSIGNED, TicketState.REOPENED}),
    "transfer": _OPEN,
    "return": _WORKING,
    "resolve": _WORKING,
    "extend": _OPEN,
    "reopen": frozenset({TicketState.RESOLVED, TicketState.CLOSED}),
}
STEP_DONE = {
    "assign": "已分派", "start": "已开始办理", "transfer": "已转办", "return": "已退单",
    "resolve": "已办结", "extend": "已批准延期", "reopen": "已重新办理",
    "flag_rating": "已标记为恶意差评",
}  # fmt: skip


def deadline_tone(summary: Mapping[str, Any], today: date) -> str:
    """The deadline's colour class: ``overdue`` (red) for an open ticket past its deadline,
    ``due-today`` (amber) for one whose last day is today, else ``""``."""
    if TicketState(summary["state"]) not in OPEN_STATES:
        return ""
    if summary["overdue"]:
        return "overdue"
    return "due-today" if summary["due_date"] == today.isoformat() else ""


def short_time(iso: str | None) -> str:
    """``2026-11-23T10:00:00+08:00`` as ``2026-11-23 10:00`` (already in the hub's zone)."""
    return iso[:16].replace("T", " ") if iso else ""


def _event_detail(event: Mapping[str, Any], who: Callable[[str | None], str]) -> str:
    """What an event's data adds to its type and reason, in a few words (``who`` names a
    staff member for the page)."""
    data = event.get("data") or {}
    kind = event["type"]
    if kind == TicketEventType.ASSIGNED.value and data.get("handler"):
        how = "，轮派" if data.get("how") == "round_robin" else ""
        return f"承办人：{who(data['handler'])}{how}"
    if kind == TicketEventType.TRANSFERRED.value and data.get("to_department"):
        return f"转至：{data['to_department']}"
    if kind == TicketEventType.EXTENDED.value and data.get("working_days"):
        return f"延长 {data['working_days']} 个工作日，新时限 {data.get('due_date', '')}"
    if kind == TicketEventType.RESOLVED.value and data.get("answer"):
        on_time = "（按期）" if data.get("on_time") else "（超期）"
        return f"答复：{data['answer']}{on_time}"
    if kind == TicketEventType.RATED.value and data.get("score") is not None:
        return f"评分：{data['score']}"
    return ""


def _actors(detail: Mapping[str, Any], origin: TicketOrigin | None) -> set[str]:
    """Everyone the ticket's page names: events' actors and handlers assigned, who flagged a
    rating, who recorded a callback."""
    found = {e["actor"] for e in detail["events"]}
    found |= {(e.get("data") or {}).get("handler") or "" for e in detail["events"]}
    found |= {r.get("flagged_by") or "" for r in detail["ratings"]}
    if origin is not None:
        found |= {s.recorded_by or "" for s in origin.surveys}
    return found - {""}


def parse_state_tab(key: str | None) -> Tab:
    """The tab named by ``?state=``; an unknown key is a :class:`UsageError` in Chinese."""
    if not key:
        return TABS[0]
    tab = _TABS.get(key.strip())
    if tab is None:
        raise UsageError(f"没有“{key}”这一状态")
    return tab


def parse_before(text: str | None) -> int | None:
    """The next page's cursor (a ticket id); anything but a positive number is refused."""
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise UsageError("页码参数无效")
    return int(text)


class TicketsWorkbench:
    """What the pages show and do, from the desk; the routes only read forms and render."""

    def __init__(self, desk: TicketDesk) -> None:
        self.desk = desk

    def today(self) -> date:
        return self.desk.clock.now().astimezone(self.desk.tz).date()

    async def listing(
        self, scope: TicketScope, *, tab: Tab, search: str, overdue: bool, before: int | None
    ) -> dict[str, Any]:
        """The list page's data: the tabs with counts, one page of tickets, the next cursor."""
        now = self.desk.clock.now()
        wanted = TicketFilter(
            state=tab.state, search=search or None, overdue_at=now if overdue else None,
            before=before, limit=PAGE_SIZE + 1,
        )  # fmt: skip
        async with self.desk.db.read() as session:
            found = await list_tickets(session, wanted, scope)
            loaded = await load_references(session, found[:PAGE_SIZE])
            views = TicketViews(session, scope, self.desk.tz)
            rows = [await views.summary(t, now) for t in found[:PAGE_SIZE]]
            del loaded  # held until the views are built (the identity map holds rows weakly)
            counts = await state_counts(session, scope, search or None)
        today = now.astimezone(self.desk.tz).date()
        for row in rows:
            row["tone"] = deadline_tone(row, today)
            row["received"] = short_time(row["received_at"])
        tabs = [
            {"key": t.key, "label": t.label, "active": t.key == tab.key,
             "count": counts[t.state] if t.state else sum(counts.values())}
            for t in TABS
        ]  # fmt: skip
        return {
            "tabs": tabs,
            "tab": tab.key,
            "tickets": rows,
            "search": search,
            "overdue": overdue,
            "next_before": found[PAGE_SIZE - 1].id if len(found) > PAGE_SIZE else None,
            "first_page": before is None,
        }

    async def ticket(self, scope: TicketScope, number: str) -> dict[str, Any]:
        """One ticket's page data (the desk refuses a ticket outside the reader's scope)."""
        detail = await self.desk.show(scope, number)
        state = TicketState(detail["state"])
        async with self.desk.db.read() as session:
            origin = await ticket_origin(session, detail["number"])
            steps = self.steps_for(scope, state)
            handlers = await assignable_handlers(session, scope) if "assign" in steps else []
            targets = await departments(session) if "transfer" in steps else []
            # The assistant's suggestions as their entries are now, for the answer to write.
            suggestions = await suggestion_views(session, detail["suggestions"], self.today())
            names = await staff_names(session, _actors(detail, origin))
        detail["tone"] = deadline_tone(detail, self.today())

        def who(actor: str | None) -> str:
            return actor_label(actor, names)

        for event in detail["events"]:
            event["when"] = short_time(event["at"])
            event["actor_label"] = who(event["actor"])
            event["detail"] = _event_detail(event, who)
        for rating in detail["ratings"]:
            rating["when"] = short_time(rating["at"])
        current = detail["department"]["code"] if detail["department"] else None
        return {
            "ticket": detail,
            "origin": origin,
            "suggestions": suggestions,
            "steps": steps,
            "step_labels": STEP_LABELS,
            "handlers": handlers,
            "departments": [c for c in targets if c.value != current],
            "may_flag": _may(scope, "flag_rating"),
            "short_time": short_time,
            "when": lambda at: short_time(local_iso(at, self.desk.tz)),
            "who": who,
            "rating_sources": RATING_SOURCES,
            "close_reasons": CLOSE_REASONS,
        }

    @staticmethod
    def steps_for(scope: TicketScope, state: TicketState) -> list[str]:
        """The steps whose form the reader sees on a ticket in ``state``."""
        return [s for s, states in STEP_STATES.items() if state in states and _may(scope, s)]

    async def take_step(
        self, scope: TicketScope, number: str, step: str, form: Mapping[str, str]
    ) -> dict[str, Any]:
        """Take ``step`` through the desk with the form's fields; the ticket as the desk shows
        it after the step (a flagged rating's own ticket, whatever the URL named).

        The desk's refusals (:class:`~hub.core.errors.HubError`: not found, not allowed, not
        in this state, a reason missing) propagate for the page to show.
        """
        act = self._acts().get(step)
        if act is None:
            raise UsageError(f"不支持的操作：{step}")
        shown: dict[str, Any] = await act(scope, number, form)
        return shown

    def _acts(
        self,
    ) -> dict[str, Callable[[TicketScope, str, Mapping[str, str]], Awaitable[Any]]]:
        desk = self.desk
        return {
            "assign": lambda s, n, f: desk.assign(s, n, _field(f, "handler", "承办人")),
            "start": lambda s, n, f: desk.start(s, n),
            "transfer": lambda s, n, f: desk.transfer(
                s, n, _field(f, "department", "转办部门"), reason=_field(f, "reason", "转办原因")
            ),
            "return": lambda s, n, f: desk.return_(s, n, reason=_field(f, "reason", "退单原因")),
            "resolve": lambda s, n, f: desk.resolve(s, n, answer=_field(f, "answer", "答复内容")),
            "extend": lambda s, n, f: desk.extend(
                s, n, days=_days(f), reason=_field(f, "reason", "延期原因")
            ),
            "reopen": lambda s, n, f: desk.reopen(s, n, reason=_field(f, "reason", "重办原因")),
            "flag_rating": lambda s, n, f: desk.flag_rating(
                s, _rating_id(f), reason=_field(f, "reason", "标记原因")
            ),
        }


def _may(scope: TicketScope, step: str) -> bool:
    return scope.role is None or scope.role in STEP_ROLES[step]


def _field(form: Mapping[str, str], name: str, label: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise UsageError(f"请填写{label}")
    if len(value) > MAX_TEXT:
        raise UsageError(f"{label}不能超过 {MAX_TEXT} 字")
    return value


def _days(form: Mapping[str, str]) -> int:
    text = (form.get("days") or "").strip()
    if not text.isdigit() or not 1 <= int(text) <= 365:
        raise UsageError("延长的工作日数应为 1 到 365 之间的整数")
    return int(text)


def _rating_id(form: Mapping[str, str]) -> int:
    text = (form.get("rating_id") or "").strip()
    if not text.isdigit():
        raise UsageError("评价编号无效")
    return int(text)


def _status(exc: HubError) -> int:
    """The HTTP status of a refusal, as the API answers it (never a 5xx)."""
    if isinstance(exc, AccessDeniedError):
        return 403
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, TransitionError):
        return 409
    return 422


def _desk(request: Request) -> TicketDesk:
    ctx = admin_context(request)
    # As /api/v1 does: without the deployment's desk, the default settings and no messages.
    return ctx.ticket_desk or TicketDesk(ctx.db, Settings(), ctx.clock)


def _list_link(**params: object) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "", False, "all")}
    return TICKETS_PATH + (f"?{urlencode(kept)}" if kept else "")


def _ticket_link(number: str) -> str:
    return f"{TICKETS_PATH}/{quote(number)}"


async def _ticket_page(
    request: Request, workbench: TicketsWorkbench, scope: TicketScope, number: str, *,
    status: int = 200, error: str = "", form: Mapping[str, str] | None = None, use: str = "",
) -> HTMLResponse:  # fmt: skip
    try:
        page = await workbench.ticket(scope, number)
    except HubError as exc:
        raise AdminPageError(_status(exc), str(exc)) from None
    chosen = next((s for s in page["suggestions"] if s.usable and s.entry_id == use), None)
    if chosen is not None and form is None:
        # 用此答复: the resolve form starts from the suggestion, for the handler to adapt.
        form = {"answer": f"{chosen.answer}（依据：{chosen.source}）" if chosen.source
                else chosen.answer}  # fmt: skip
    return await render(
        request, "tickets_ticket.html", status=status, title=f"工单 {page['ticket']['number']}",
        error=error, form=dict(form or {}), ticket_link=_ticket_link, **page,
    )  # fmt: skip


def router() -> APIRouter:
    """The workbench's routes: the list, one ticket, and one POST per step."""
    routes = APIRouter()
    Reader = Depends(require_role(*READERS))

    @routes.get(TICKETS_PATH)
    async def tickets_page(
        request: Request, state: str = "", q: str = "", overdue: str = "", before: str = "",
        signed_in: SignedIn = Reader,
    ) -> HTMLResponse:  # fmt: skip
        """工单列表：按状态分页签，办理时限着色（今日到期、已超期），按编号或企业搜索。"""
        workbench = TicketsWorkbench(_desk(request))
        scope = await workbench.desk.scope_as(signed_in.username)
        search = q.strip()[:MAX_SEARCH]
        error = ""
        try:
            tab, cursor = parse_state_tab(state), parse_before(before)
        except UsageError as exc:
            error, tab, cursor = str(exc), TABS[0], None
        page = await workbench.listing(
            scope, tab=tab, search=search, overdue=bool(overdue), before=cursor
        )
        links = {t["key"]: _list_link(state=t["key"], q=search, overdue=overdue)
                 for t in page["tabs"]}  # fmt: skip
        here = {"state": tab.key, "q": search, "overdue": overdue}
        next_before = page["next_before"]
        return await render(
            request, "tickets.html", status=422 if error else 200, title="工单", error=error,
            tab_links=links, ticket_link=_ticket_link, clear_link=_list_link(state=tab.key),
            first_link="" if page["first_page"] else _list_link(**here),
            next_link=_list_link(**here, before=next_before) if next_before else "",
            **page,
        )  # fmt: skip

    @routes.get(TICKETS_PATH + "/{number}")
    async def ticket_page(
        request: Request, number: str, use: str = "", signed_in: SignedIn = Reader
    ) -> Response:
        """一张工单：全部办理环节、企业与联系人、评价与回访、来源，以及可办理的操作
        （``use``：以该参考答案预填办结答复）。"""
        workbench = TicketsWorkbench(_desk(request))
        scope = await workbench.desk.scope_as(signed_in.username)
        return await _ticket_page(request, workbench, scope, number[:MAX_SEARCH],
                                  use=use[:MAX_SEARCH])  # fmt: skip

    @routes.post(TICKETS_PATH + "/{number}/{step}")
    async def ticket_step(
        request: Request, number: str, step: str, signed_in: SignedIn = Reader
    ) -> Response:
        """One step of the closed loop from its form; a refusal re-shows the page with it."""
        form = await form_data(request)
        # The desk writes the entry (with the ticket's number and new state) in the step's
        # transaction: a refused step leaves none.
        detail = {k: v for k, v in form.items() if k != "csrf_token"}
        desk = _desk(request).audited(audit.note(signed_in, f"ticket.{step}", "ticket",
                                                 detail=detail))  # fmt: skip
        workbench = TicketsWorkbench(desk)
        scope = await workbench.desk.scope_as(signed_in.username)
        number = number[:MAX_SEARCH].strip().upper()
        try:
            shown = await workbench.take_step(scope, number, step, form)
        except HubError as exc:
            return await _ticket_page(request, workbench, scope, number, status=_status(exc),
                                      error=str(exc), form=form)  # fmt: skip
        number = shown["number"]
        await flash(request, f"工单 {number}：{STEP_DONE[step]}")
        if step in ("transfer", "return") and not scope.sees_all_departments:
            # The ticket has left the department: its page is no longer the reader's to see.
            return RedirectResponse(TICKETS_PATH, status_code=303)
        return RedirectResponse(_ticket_link(number), status_code=303)

    return routes
