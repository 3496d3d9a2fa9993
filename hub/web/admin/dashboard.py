"""The dashboard (``/admin/dashboard``, 仪表盘): the hub's figures as cards, ECharts charts and
tables, for every role within its scope.

The figures are :func:`hub.queries.dashboard.read_dashboard`'s, read at each request for the
signed-in staff member's ticket scope (a handler or head: their department). The charts are
drawn by ``static/dashboard.js`` from the figures embedded in the page as JSON (no extra
fetch); every figure is also in a table under its chart, so the page reads without JavaScript.
With htmx the figures refresh every 30 s (``/admin/dashboard/figures``, the same fragment).

Visit compliance by tier (this quarter, :func:`hub.reports.visits.visit_compliance`) is shown to
readers who see every enterprise (it is counted city-wide). It reads every enterprise, seconds
at city size, so it is kept for :data:`COMPLIANCE_MAX_AGE` and recounted in the background when
older: a page never waits for it; before the first count it says it is being counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import State

from hub.core.clock import local_iso
from hub.core.vocab import MessageStatus
from hub.core.workdays import WorkdayCalendar
from hub.queries.dashboard import Dashboard, read_dashboard
from hub.queries.tickets import TicketScope
from hub.reports.visits import STATES, VisitCompliance, visit_compliance
from hub.tickets.desk import scope_of_staff
from hub.tickets.staff import staff_by_id
from hub.visits.periods import Period, period_of
from hub.visits.settings import default_tiers
from hub.web.admin.auth import ADMIN_PREFIX, AdminPageError, SignedIn, current_staff
from hub.web.admin.context import AdminContext
from hub.web.admin.shell import ENV, render

log = structlog.get_logger(__name__)

DASHBOARD_PATH: Final = f"{ADMIN_PREFIX}/dashboard"
FIGURES_PATH: Final = f"{DASHBOARD_PATH}/figures"
#: Seconds a visit-compliance count is shown before it is recounted (in the background).
COMPLIANCE_MAX_AGE: Final = 300.0
#: The compliance states as the table and the chart name them, in the report's order.
STATE_LABELS: Final = {"on_time": "按时完成", "late": "逾期完成", "missed": "未完成",
                       "in_progress": "进行中", "not_yet_due": "未到期"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CountedCompliance:
    """A visit-compliance count and when it was made (UTC)."""

    compliance: VisitCompliance
    counted_at: datetime


class ComplianceCache:
    """This quarter's visit compliance, recounted in the background once older than max_age.

    One per app (``app.state``). ``current()`` never waits for a count: it returns the last one
    (None before the first) and starts a recount when there is none, it is older than
    ``max_age`` or it is of another quarter or day.
    """

    def __init__(
        self, ctx: AdminContext, *, max_age: float = COMPLIANCE_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.ctx, self.max_age, self.monotonic = ctx, max_age, monotonic
        self.counted: CountedCompliance | None = None
        self._counted_at_monotonic = 0.0
        self._task: asyncio.Task[None] | None = None

    def _today(self) -> date:
        return self.ctx.clock.now().astimezone(self.ctx.tz).date()

    def current(self) -> CountedCompliance | None:
        """The last count of today's quarter, starting a recount when it is due."""
        today = self._today()
        counted = self.counted
        fresh = (
            counted is not None
            and counted.compliance.today == today
            and self.monotonic() - self._counted_at_monotonic < self.max_age
        )
        if not fresh and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._count_logged(today))
        if counted is None or counted.compliance.period != period_of(today, 3):
            return None
        return counted

    async def settled(self) -> None:
        """Wait for a running recount (tests; a page never waits)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def refresh(self) -> CountedCompliance:
        """Count now and keep the count."""
        await self._count(self._today())
        assert self.counted is not None
        return self.counted

    async def _count_logged(self, today: date) -> None:
        try:
            await self._count(today)
        except Exception as exc:  # a background count must not die unseen; the page says so
            log.warning("visit compliance count failed", error=str(exc))

    async def _count(self, today: date) -> None:
        programs = self.ctx.programs
        tiers = programs.settings.tiers if programs is not None else default_tiers()
        calendar = programs.settings.calendar if programs is not None else WorkdayCalendar()
        quarter: Period = period_of(today, 3)
        async with self.ctx.db.read() as session:
            found = await visit_compliance(session, quarter, tiers=tiers, calendar=calendar,
                                           today=today, tz=self.ctx.tz)  # fmt: skip
        self.counted = CountedCompliance(found, self.ctx.clock.now())
        self._counted_at_monotonic = self.monotonic()


def compliance_cache(state: State, ctx: AdminContext) -> ComplianceCache:
    """The app's :class:`ComplianceCache` (made on first use)."""
    cache: ComplianceCache | None = getattr(state, "dashboard_compliance", None)
    if cache is None:
        cache = ComplianceCache(ctx)
        state.dashboard_compliance = cache
    return cache


async def ticket_scope(ctx: AdminContext, signed_in: SignedIn) -> TicketScope:
    """The signed-in staff member's ticket scope, as the API's ticket routes make it."""
    view = await staff_by_id(ctx.db, signed_in.principal.staff_id)
    if view is None:
        raise AdminPageError(403, "账号已不存在，请重新登录")
    return scope_of_staff(
        role=signed_in.role, username=signed_in.username, department_id=view.department_id,
        department_role=view.department_role, visibility=signed_in.visibility,
    )  # fmt: skip


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def compliance_data(counted: CountedCompliance | None, ctx: AdminContext) -> dict[str, Any] | None:
    """The compliance by tier as the chart and the table read it."""
    if counted is None:
        return None
    found = counted.compliance
    return {
        "period": found.period.label,
        "counted_at": local_iso(counted.counted_at, ctx.tz),
        "states": [STATE_LABELS[s] for s in STATES],
        "tiers": [
            {"name": f.name, "due": f.due, "done_rate": f.done_rate,
             "on_time_rate": f.on_time_rate, **{STATE_LABELS[s]: getattr(f, s) for s in STATES}}
            for f in [*found.by_tier, found.total]
        ],
    }  # fmt: skip


async def figures_context(request: Request, signed_in: SignedIn) -> dict[str, Any]:
    """What ``dashboard_figures.html`` shows for this reader now."""
    ctx: AdminContext = request.app.state.admin
    scope = await ticket_scope(ctx, signed_in)
    now = ctx.clock.now()
    board: Dashboard = await read_dashboard(ctx.db, scope, now, ctx.tz)
    city_wide = scope.sees_all_departments and not scope.visibility.restricted
    compliance = None
    if city_wide:
        compliance = compliance_data(compliance_cache(request.app.state, ctx).current(), ctx)
    data = board.as_dict()
    data["compliance"] = compliance
    return {
        "board": board, "data": data, "city_wide": city_wide, "compliance": compliance,
        "statuses": list(MessageStatus), "pct": _percent, "now_text": _local(now, ctx),
        "figures_path": FIGURES_PATH,
    }  # fmt: skip


def _local(at: datetime, ctx: AdminContext) -> str:
    return at.astimezone(ctx.tz).strftime("%Y-%m-%d %H:%M")


def router() -> APIRouter:
    """``GET /admin/dashboard`` (the page) and ``GET /admin/dashboard/figures`` (htmx)."""
    routes = APIRouter()

    @routes.get(DASHBOARD_PATH)
    async def dashboard_page(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> HTMLResponse:
        context = await figures_context(request, signed_in)
        return await render(request, "dashboard.html", title="仪表盘", **context)

    @routes.get(FIGURES_PATH)
    async def dashboard_figures(
        request: Request,
        signed_in: SignedIn = Depends(current_staff),  # noqa: B008
    ) -> HTMLResponse:
        context = await figures_context(request, signed_in)
        html = ENV.get_template("dashboard_figures.html").render(**context)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    return routes
