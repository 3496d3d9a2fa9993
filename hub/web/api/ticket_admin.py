"""What admins edit while the hub runs: calendars, routing rules, deadline classes.

``GET`` for every staff member; ``PUT`` for admins only (403 otherwise). Each edit is a new
version or an audited replacement (:mod:`hub.tickets.policy_store`,
:mod:`hub.tickets.deadlines.admin_calendar`); entering a year recomputes the provisional deadlines
that count it.
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Caller`, a type local to `router()`.

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from hub.core.clock import local_iso
from hub.core.vocab import TicketCategory, Urgency
from hub.tickets.deadlines.admin_calendar import enter_year_and_recompute, year_report
from hub.tickets.deadlines.settings import MAX_DEADLINE_DAYS
from hub.tickets.desk import TicketDesk
from hub.tickets.policy import load_calendar
from hub.tickets.policy_store import (
    CLASSES,
    RULES,
    classes_in_force,
    current,
    parse_rules,
    rules_body,
    rules_in_force,
    save_classes,
    save_rules,
)
from hub.tickets.staff import StaffRole
from hub.web.api.auth import Principal, allow
from hub.web.api.context import ApiContext
from hub.web.api.errors import BODY_RESPONSES, ERROR_RESPONSES, ApiRoute
from hub.web.api.params import MAX_NAME, MAX_REASON, NOT_BLANK, JsonInt

YearParam = Annotated[int, Path(ge=1900, le=9998, description="年份，如 2027")]
Note = Annotated[str | None, Field(max_length=MAX_REASON, description="备注（记入版本）")]
MAX_RULES = 500


def _spellings(enum: type[TicketCategory] | type[Urgency]) -> list[str]:
    return list(dict.fromkeys(s for m in enum for s in (m.value, m.label)))


class YearIn(BaseModel):
    """The year's days; each must be in the year of the path (422 otherwise)."""

    holidays: list[date] = Field(default_factory=list, max_length=366, description="放假日")
    workdays: list[date] = Field(
        default_factory=list, max_length=366, description="调休上班日（周末上班）"
    )


class YearOut(BaseModel):
    year: int
    source: str
    days_off: list[str]
    weekend_workdays: list[str]


class MovedOut(BaseModel):
    number: str
    old_deadline_at: str
    new_deadline_at: str
    provisional: bool


class YearSavedOut(YearOut):
    recomputed: list[MovedOut]


def _criterion(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


class RuleIn(BaseModel):
    """One routing rule (:class:`hub.tickets.settings.TicketRule`): every criterion given must
    match, and a rule needs at least one (keywords, industry, region or category)."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                _criterion("keywords", {"type": "array", "minItems": 1}),
                _criterion("industry", {"type": "string", "minLength": 1}),
                _criterion("region", {"type": "string", "minLength": 1}),
                _criterion("category", {"type": "string"}),
            ]
        }
    )

    department: str = Field(pattern=NOT_BLANK, max_length=MAX_NAME, description="部门编码")
    keywords: list[Annotated[str, Field(pattern=NOT_BLANK, max_length=MAX_NAME)]] = Field(
        default_factory=list, max_length=100, description="任一出现在诉求中即匹配"
    )
    industry: str | None = Field(default=None, max_length=MAX_NAME, description="企业行业")
    region: str | None = Field(default=None, max_length=MAX_NAME, description="企业所在区")
    category: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="诉求类别，代码或中文名",
        json_schema_extra={"enum": [*_spellings(TicketCategory), None]},
    )


class RulesIn(BaseModel):
    rules: list[RuleIn] = Field(max_length=MAX_RULES)
    default_department: str | None = Field(default=None, pattern=NOT_BLANK, max_length=MAX_NAME)
    note: Note = None


class VersionOut(BaseModel):
    version: int | None = Field(description="在用的版本；null 表示仍按 config.yaml")
    source: str
    created_at: str | None
    created_by: str | None


class RulesOut(VersionOut):
    rules: list[dict[str, Any]]
    default_department: str | None


_DAYS = {"type": "integer", "minimum": 0, "maximum": MAX_DEADLINE_DAYS}
# Each class by code or label, spelled out (a generator reads propertyNames + a value schema
# less reliably than named properties).
Classes = Annotated[
    dict[str, Annotated[JsonInt, Field(ge=0, le=MAX_DEADLINE_DAYS)]],
    WithJsonSchema({
        "type": "object",
        "properties": {spelling: _DAYS for spelling in _spellings(Urgency)},
        "additionalProperties": False,
    }),
]  # fmt: skip


class ClassesIn(BaseModel):
    classes: Classes = Field(description="类别（urgent 或 紧急）→ 工作日数；未列出的不变")
    note: Note = None


class ClassesOut(VersionOut):
    classes: dict[str, int]


def _version(row: Any) -> dict[str, Any]:
    if row is None:
        return {"version": None, "source": "config", "created_at": None, "created_by": None}
    return {"version": row.version, "source": "database",
            "created_at": local_iso(row.created_at), "created_by": row.created_by}  # fmt: skip


def router(ctx: ApiContext, desk: TicketDesk) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["admin 管理"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]
    Admin = Annotated[Principal, Depends(allow(ctx.authenticate, StaffRole.ADMIN))]
    settings = desk.settings

    @api.get("/calendar/{year}", response_model=YearOut)
    async def calendar_year(caller: Caller, year: YearParam) -> dict[str, Any]:
        """一年的日历：来源（admin、chinese_calendar、fallback）、休息日、调休上班日。"""
        async with ctx.db.read() as session:
            return year_report(await load_calendar(session, settings), year)

    @api.put("/calendar/{year}", response_model=YearSavedOut, responses=BODY_RESPONSES)
    async def set_calendar_year(caller: Admin, year: YearParam, body: YearIn) -> dict[str, Any]:
        """录入（替换）一年的节假日与调休上班日；重新计算该年的临时办理时限。"""
        async with ctx.db.write() as session:
            _, moved = await enter_year_and_recompute(
                session, settings, year, holidays=body.holidays, workdays=body.workdays,
                actor=caller.username, now=ctx.clock.now(),
            )  # fmt: skip
            report = year_report(await load_calendar(session, settings), year)
        return {**report, "recomputed": [m.as_dict() for m in moved]}

    async def rules_view() -> dict[str, Any]:
        async with ctx.db.read() as session:
            rules, default = await rules_in_force(session, settings)
            return {**_version(await current(session, RULES)), **rules_body(rules, default)}

    @api.get("/ticket-rules", response_model=RulesOut)
    async def ticket_rules(caller: Caller) -> dict[str, Any]:
        """在用的路由规则（按顺序，第一条匹配的生效）。"""
        return await rules_view()

    @api.put("/ticket-rules", response_model=RulesOut, responses=BODY_RESPONSES)
    async def set_ticket_rules(caller: Admin, body: RulesIn) -> dict[str, Any]:
        """保存新一版路由规则。"""
        rules, default = parse_rules(
            {"rules": [r.model_dump(mode="json") for r in body.rules],
             "default_department": body.default_department}
        )  # fmt: skip
        async with ctx.db.write() as session:
            await save_rules(session, settings, rules, default, actor=caller.username,
                             now=ctx.clock.now(), note=body.note)  # fmt: skip
        return await rules_view()

    async def classes_view() -> dict[str, Any]:
        async with ctx.db.read() as session:
            classes = await classes_in_force(session, settings)
            return {**_version(await current(session, CLASSES)), "classes": classes}

    @api.get("/deadline-classes", response_model=ClassesOut)
    async def deadline_classes(caller: Caller) -> dict[str, Any]:
        """在用的办理时限类别（工作日数）。"""
        return await classes_view()

    @api.put("/deadline-classes", response_model=ClassesOut, responses=BODY_RESPONSES)
    async def set_deadline_classes(caller: Admin, body: ClassesIn) -> dict[str, Any]:
        """修改办理时限类别；新受理的工单按新值计算，已有工单的时限不变。"""
        async with ctx.db.write() as session:
            await save_classes(session, settings, body.classes, actor=caller.username,
                               now=ctx.clock.now(), note=body.note)  # fmt: skip
        return await classes_view()

    return api
