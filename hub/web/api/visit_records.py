"""What an officer records, by API (hub/visits/outcome.py, the same as ``hub visits record``):

- ``POST /api/v1/visits/{id}/outcome``: done (notes, problems found, each a ticket routed to
  its department with the visit as its source) or not done (the reason; the visit stays due);
- ``POST /api/v1/visits/{id}/schedule``: the time agreed by phone (a working day);
- ``POST /api/v1/enterprises/{uscc}/contacts``: a contact between visits.

Staff who work requests may write (admin, dispatcher, head, handler; a viewer reads only),
for enterprises within their scope (another's is a 404, as if it did not exist). A refusal is
a 4xx naming the field in Chinese: 404 for an unknown visit, enterprise, department or officer;
422 for a body the schema refuses (``done: false`` needs ``reason``, ``done: true`` takes none);
409 for what the visit's state or the calendar refuses (already done, a day off, a time past).
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Writer`, a type local to `router()`.

from collections.abc import Awaitable
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from hub.core.errors import UsageError
from hub.core.identifiers import normalize_uscc
from hub.core.vocab import ContactVia, LabelledEnum, Urgency
from hub.store.models import Enterprise, Visit
from hub.tickets.policy import load_ticket_policy
from hub.tickets.settings import TicketsConfig
from hub.tickets.staff import StaffRole
from hub.visits.outcome import (
    MAX_PROBLEMS,
    MAX_TEXT,
    ProblemFound,
    record_agreed_time,
    record_contact,
    record_done,
    record_not_done,
)
from hub.web.api.auth import Principal, allow
from hub.web.api.context import ApiContext
from hub.web.api.errors import (
    BODY_RESPONSES,
    ERROR_RESPONSES,
    ApiError,
    ApiRoute,
    ErrorBody,
    invalid,
    not_found,
    not_found_response,
)
from hub.web.api.params import (
    MAX_NAME,
    MAX_REASON,
    NOT_BLANK,
    USCC_FORMAT,
    Id,
    IsoDateTime,
    enum_param,
    local_time,
)

T = TypeVar("T")
_USCC_PATTERN = "^[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10}$"


def _vocab(enum: type[LabelledEnum]) -> Any:
    spellings = list(dict.fromkeys(s for m in enum for s in (m.value, m.label)))
    return WithJsonSchema({"type": "string", "enum": spellings})


_FORBID = ConfigDict(extra="forbid")


class ProblemIn(BaseModel):
    """A problem found on the visit; it becomes a ticket."""

    model_config = _FORBID
    text: str = Field(pattern=NOT_BLANK, max_length=MAX_TEXT, description="问题描述")
    department: str | None = Field(
        default=None, max_length=MAX_NAME, description="承办部门编码；缺省按分派规则"
    )
    urgency: Annotated[str, _vocab(Urgency)] | None = Field(
        default=None, description="紧急程度，代码或中文名；缺省一般"
    )


class DoneIn(BaseModel):
    """The visit was made: notes, and the problems found (each becomes a ticket)."""

    model_config = _FORBID
    done: Literal[True] = Field(description="走访已完成")
    at: IsoDateTime | None = Field(default=None, description="走访时间（缺省为现在）")
    notes: str | None = Field(default=None, max_length=MAX_TEXT, description="走访记录")
    problems: list[ProblemIn] = Field(
        default_factory=list, max_length=MAX_PROBLEMS, description="发现的问题"
    )


class NotDoneIn(BaseModel):
    """The visit was not made: why (the visit stays due)."""

    model_config = _FORBID
    done: Literal[False] = Field(description="走访未完成")
    reason: str = Field(pattern=NOT_BLANK, max_length=MAX_REASON, description="未完成原因")


class ScheduleIn(BaseModel):
    model_config = _FORBID
    at: IsoDateTime = Field(description="与企业约定的走访时间（须为工作日）")


class ContactIn(BaseModel):
    model_config = _FORBID
    via: Annotated[str, _vocab(ContactVia)] = Field(
        description="联系方式：phone 电话联系 / meeting 会面座谈 / online 线上沟通"
    )
    at: IsoDateTime | None = Field(default=None, description="联系时间（缺省为现在）")
    notes: str | None = Field(default=None, max_length=MAX_TEXT, description="联系内容")
    officer: str | None = Field(
        default=None, max_length=MAX_NAME, description="联络员编号（缺省为企业的联络员）"
    )


class ProblemTicketOut(BaseModel):
    text: str
    ticket: str
    department: str | None
    deadline_at: str | None
    deadline: str


class OutcomeOut(BaseModel):
    """The visit after the call; ``tickets`` what its problems became (``already``: the same
    outcome was on record and nothing new was written)."""

    visit_id: int
    enterprise: str
    status: str
    status_label: str
    proposed_for: str | None
    visited_at: str | None
    tickets: list[ProblemTicketOut]
    already: bool
    not_done: list[dict[str, Any]]


class ContactOut(BaseModel):
    id: int
    uscc: str
    enterprise: str
    officer: str | None
    via: str
    via_label: str
    at: str | None
    notes: str


UsccPath = Annotated[
    str,
    Path(max_length=MAX_NAME, description="统一社会信用代码（18 位，含校验位）"),
    WithJsonSchema({"type": "string", "format": USCC_FORMAT, "pattern": _USCC_PATTERN}),
]
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    409: {
        "model": ErrorBody,
        "description": "走访状态或时间不允许：已完成、休息日、时间已过或未到",
    },
}
_WRITERS = (StaffRole.ADMIN, StaffRole.DISPATCHER, StaffRole.HEAD, StaffRole.HANDLER)


def _problems(body: DoneIn) -> list[ProblemFound]:
    return [
        ProblemFound(
            p.text, p.department,
            urgency=enum_param(Urgency, f"problems.{i}.urgency", p.urgency),
        )
        for i, p in enumerate(body.problems)
    ]  # fmt: skip


async def conflicts(call: Awaitable[T]) -> T:
    """A record the visit's state or the calendar refuses (already done, a day off, a time
    past or to come) is a 409 naming the field; a body the schema refuses stays a 422."""
    try:
        return await call
    except UsageError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


def router(ctx: ApiContext, settings: TicketsConfig) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["visits 走访"], responses=_RESPONSES)
    Writer = Annotated[Principal, Depends(allow(ctx.authenticate, *_WRITERS))]
    visit_responses = {**BODY_RESPONSES, **not_found_response("走访")}

    def visible(caller: Principal, query: Any, column: Any) -> Any:
        clause = caller.visibility.enterprise_filter(column)
        return query.where(clause) if clause is not None else query

    async def check_visit(session: Any, caller: Principal, visit_id: int) -> None:
        query = visible(
            caller, sa.select(Visit.id).where(Visit.id == visit_id), Visit.enterprise_id
        )
        if await session.scalar(query) is None:
            raise not_found(f"没有编号为 {visit_id} 的走访（或不在您的范围内）")

    @api.post("/visits/{visit_id}/outcome", response_model=OutcomeOut, responses=visit_responses)
    async def outcome(
        caller: Writer, visit_id: Id, body: Annotated[DoneIn | NotDoneIn, Body()]
    ) -> dict[str, Any]:
        """记录走访结果：完成（记录、发现的问题转为工单，分派至承办部门）或未完成（原因）。"""
        problems = _problems(body) if isinstance(body, DoneIn) else []
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            await check_visit(session, caller, visit_id)
            if isinstance(body, NotDoneIn):
                result = await conflicts(record_not_done(
                    session, visit_id, reason=body.reason, by=caller.username, now=now
                ))  # fmt: skip
            else:
                result = await conflicts(record_done(
                    session, visit_id, at=local_time(body.at, ctx.tz), notes=body.notes,
                    problems=problems, by=caller.username, now=now,
                    policy=await load_ticket_policy(session, settings),
                ))  # fmt: skip
        return result.as_dict(ctx.tz)

    @api.post("/visits/{visit_id}/schedule", response_model=OutcomeOut, responses=visit_responses)
    async def schedule(caller: Writer, visit_id: Id, body: ScheduleIn) -> dict[str, Any]:
        """记录电话约定的走访时间（须为工作日），走访即为已确认。"""
        at = local_time(body.at, ctx.tz)
        assert at is not None
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            await check_visit(session, caller, visit_id)
            policy = await load_ticket_policy(session, settings)
            result = await conflicts(record_agreed_time(
                session, visit_id, at=at, by=caller.username, now=now, calendar=policy.calendar,
                tz=ctx.tz,
            ))  # fmt: skip
        return result.as_dict(ctx.tz)

    @api.post(
        "/enterprises/{uscc}/contacts",
        response_model=ContactOut,
        responses={**BODY_RESPONSES, **not_found_response("企业")},
    )
    async def contact(caller: Writer, uscc: UsccPath, body: ContactIn) -> dict[str, Any]:
        """记录联络员与企业的一次联系（电话、会面、线上），计入重点企业月度联系。"""
        try:
            code = normalize_uscc(uscc)
        except ValueError as exc:
            raise invalid(f"uscc: 统一社会信用代码“{uscc}”{exc}") from None
        via = enum_param(ContactVia, "via", body.via)
        if via is None:
            raise invalid(f"via: 须填写联系方式，可选：{ContactVia.choices()}")
        now = ctx.clock.now()
        async with ctx.db.write() as session:
            query = visible(caller, sa.select(Enterprise.id).where(Enterprise.uscc == code),
                            Enterprise.id)  # fmt: skip
            enterprise_id = await session.scalar(query)
            if enterprise_id is None:
                raise not_found(f"没有统一社会信用代码为 {code} 的企业（或不在您的范围内）")
            result = await conflicts(record_contact(
                session, enterprise_id, via=via, at=local_time(body.at, ctx.tz),
                notes=body.notes, officer=body.officer, source=f"api:{caller.username}", now=now,
            ))  # fmt: skip
        return result.as_dict(ctx.tz)

    return api
