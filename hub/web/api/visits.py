"""``GET /api/v1/visits``: the liaison visits, with where each stands today (the listing of
``hub visits due``, hub/visits/status.py), scoped to the caller's enterprises."""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Caller`, a type local to `router()`.

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from hub.core.clock import local_iso
from hub.visits.periods import parse_period
from hub.visits.status import VisitRow, VisitState, list_visits
from hub.web.api.auth import Principal
from hub.web.api.context import ApiContext
from hub.web.api.errors import ERROR_RESPONSES, ApiRoute, not_found_response
from hub.web.api.params import MAX_NAME, Limit, enum_param, vocab_query
from hub.web.api.schemas import EnterpriseOut

# The periods parse_period reads: a year (1900–2999), its halves, thirds, quarters, two-month
# blocks or months (hub/visits/periods.py); anything else is a 422 before the route runs.
PERIOD_PATTERN = (
    r"^((19|2[0-9])[0-9]{2}([Hh][12]|[Tt][1-3]|[Qq][1-4]|[Bb][1-6]|-(0[1-9]|1[0-2]))?)?$"
)


class OfficerOut(BaseModel):
    code: str
    name: str


class VisitOut(BaseModel):
    """A visit: its enterprise, officer, period, planned day and state (``state_label`` in
    Chinese); times ISO 8601 in the hub's zone."""

    id: int
    enterprise: EnterpriseOut
    tier: str
    tier_label: str
    region: str
    officer: OfficerOut | None
    period: str
    due_on: str | None
    state: str
    state_label: str
    proposed_for: str | None
    visited_at: str | None


def visit_out(row: VisitRow, ctx: ApiContext) -> VisitOut:
    officer = None
    if row.officer_code is not None:
        officer = OfficerOut(code=row.officer_code, name=row.officer_name or "")
    return VisitOut(
        id=row.visit_id,
        enterprise=EnterpriseOut(id=row.enterprise_id, name=row.enterprise_name, uscc=row.uscc),
        tier=row.tier.value,
        tier_label=row.tier.label,
        region=row.region,
        officer=officer,
        period=row.period,
        due_on=row.due_on.isoformat() if row.due_on else None,
        state=row.state.value,
        state_label=row.state.label,
        proposed_for=local_iso(row.proposed_for, ctx.tz),
        visited_at=local_iso(row.visited_at, ctx.tz),
    )


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["visits 走访"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]

    @api.get("/visits", response_model=list[VisitOut], responses=not_found_response("联络员"))
    async def visits(
        caller: Caller,
        period: Annotated[
            str | None,
            Query(
                max_length=16,
                pattern=PERIOD_PATTERN,
                description="期间，如 2027、2027H1、2027Q1、2027-03；空值表示不筛选",
            ),
        ] = None,
        officer: Annotated[
            str | None, Query(max_length=MAX_NAME, description="联络员编码，如 LL001")
        ] = None,
        state: Annotated[str | None, vocab_query(VisitState, "走访状态")] = None,
        limit: Limit = 500,
    ) -> list[VisitOut]:
        """走访（按计划日期排序），含当前状态：待走访、已预约待确认、已确认、已走访、未按期走访；
        只含调用者范围内的企业。"""
        # the pattern refuses a period no calendar has (422); an unknown officer is a 404
        wanted_period = parse_period(period) if period and period.strip() else None
        today = ctx.clock.now().astimezone(ctx.tz).date()
        async with ctx.db.read() as session:
            rows = await list_visits(
                session,
                period=wanted_period,
                officer_code=officer if officer and officer.strip() else None,
                state=enum_param(VisitState, "state", state),
                today=today,
                visibility=caller.visibility,
                limit=limit,
            )
        return [visit_out(row, ctx) for row in rows]

    return api
