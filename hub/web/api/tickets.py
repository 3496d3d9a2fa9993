"""``/api/v1/tickets``: list, show and every step of a ticket, by role and department.

The same desk as ``hub tickets`` (:mod:`hub.tickets.desk`): a handler sees and works only the
tickets of their department, dispatchers and admins all of them, a viewer reads only. A
ticket outside the caller's department, or a step the role may not take, answers 403; an
illegal step for the ticket's state 409, with the state named in Chinese.
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Caller`, a type local to `router()`.

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from hub.core.errors import AccessDeniedError, TransitionError
from hub.core.vocab import DepartmentRole, TicketCategory, TicketState
from hub.queries.tickets import TicketFilter, TicketScope
from hub.store.models import Department
from hub.tickets.desk import TicketDesk, scope_of_staff
from hub.web.api.auth import Principal
from hub.web.api.context import ApiContext
from hub.web.api.errors import BODY_RESPONSES, ERROR_RESPONSES, ApiError, ApiRoute, ErrorBody
from hub.web.api.params import (
    MAX_ANSWER,
    MAX_NAME,
    MAX_REASON,
    NOT_BLANK,
    Before,
    Id,
    JsonInt,
    Limit,
    enum_param,
    vocab_query,
)


class NamedOut(BaseModel):
    code: str
    name: str


class EnterpriseRefOut(BaseModel):
    name: str
    uscc: str


class StaffRefOut(BaseModel):
    username: str
    name: str


class TicketSummaryOut(BaseModel):
    """A ticket in a list; times ISO 8601 +08:00, ``due_date`` the last working day.

    The deadline as people read it is ``deadline`` (its last day, ``2026-12-11（周五）24时前``);
    the instant is ``due_at`` (00:00 of the next day, +08:00; ``deadline_at`` is the same).
    """

    number: str
    state: str
    state_label: str
    category: str
    category_label: str
    urgency: str
    urgency_label: str
    channel: str | None
    subject: str
    enterprise: EnterpriseRefOut | None
    department: NamedOut | None
    handler: StaffRefOut | None
    received_at: str
    deadline: str = Field(description="办理时限（最后一天）：2026-12-11（周五）24时前")
    due_at: str = Field(description="办理时限的时刻（次日 00:00，+08:00），同 deadline_at")
    deadline_at: str
    due_date: str
    deadline_provisional: bool
    overdue: bool
    resolved_at: str | None
    closed_at: str | None
    close_reason: str | None
    reopen_count: int
    escalation_level: int


class ContactRefOut(BaseModel):
    name: str | None
    mobile: str | None


class EventOut(BaseModel):
    type: str
    type_label: str
    actor: str
    at: str
    reason: str | None
    data: dict[str, Any]


class RatingOut(BaseModel):
    id: int
    score: int
    label: str
    comment: str | None
    at: str
    source: str | None
    malicious: bool
    malicious_reason: str | None
    flagged_by: str | None


class SuggestionOut(BaseModel):
    """An entry the assistant found for the ticket's question (智能答复的参考答案)."""

    entry_id: str = Field(description="FAQ 编号，或政策段落 policy:<政策编号>#<段号>")
    version: int | None = Field(description="建议时条目的版本")
    title: str
    score: float = Field(description="检索得分（0–1 左右，越高越接近）")


class TicketOut(TicketSummaryOut):
    """A ticket with its text, every event and every rating, and the assistant's suggestions
    (best first, at most three; empty when it found none)."""

    body: str
    contact: ContactRefOut | None
    deadline_workdays: int | None
    deadline_extensions: list[int]
    callback_due_at: str | None
    rectify_due_at: str | None
    events: list[EventOut]
    ratings: list[RatingOut]
    suggestions: list[SuggestionOut]


class AssignIn(BaseModel):
    handler: str = Field(pattern=NOT_BLANK, max_length=MAX_NAME, description="承办人用户名")


class ReasonIn(BaseModel):
    reason: str = Field(
        pattern=NOT_BLANK, max_length=MAX_REASON, description="原因（记入工单事件）"
    )


class TransferIn(ReasonIn):
    department: str = Field(pattern=NOT_BLANK, max_length=MAX_NAME, description="转办至的部门编码")


class ResolveIn(BaseModel):
    answer: str = Field(pattern=NOT_BLANK, max_length=MAX_ANSWER, description="答复企业的办理结果")


class ExtendIn(ReasonIn):
    days: JsonInt = Field(ge=1, le=365, description="延长的工作日数")


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    403: {"model": ErrorBody, "description": "无权访问（角色不允许，或工单不在调用者的部门）"},
    404: {"model": ErrorBody, "description": "没有该工单（或该评价）"},
    409: {"model": ErrorBody, "description": "工单（或评价）当前状态不允许该操作"},
}
Number = Annotated[str, Path(max_length=MAX_NAME, description="工单编号，如 GD202611230001")]


async def _guarded(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The desk's refusals in the API's shape (the route class maps the rest)."""
    try:
        return await call
    except AccessDeniedError as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except TransitionError as exc:
        raise ApiError(409, "conflict", str(exc)) from None


def router(ctx: ApiContext, desk: TicketDesk) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["tickets 工单"], responses=_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]

    async def scope_of(caller: Principal) -> TicketScope:
        department_role = None
        if caller.department_id is not None:
            async with ctx.db.read() as session:
                department_role = await session.scalar(
                    sa.select(Department.role).where(Department.id == caller.department_id)
                )
        return scope_of_staff(
            role=caller.role, username=caller.username, department_id=caller.department_id,
            department_role=DepartmentRole(department_role) if department_role else None,
            visibility=caller.visibility,
        )  # fmt: skip

    async def step(
        caller: Principal, act: Callable[[TicketScope], Awaitable[dict[str, Any]]]
    ) -> dict[str, Any]:
        return await _guarded(act(await scope_of(caller)))

    @api.get("/tickets", response_model=list[TicketSummaryOut])
    async def tickets(
        caller: Caller,
        state: Annotated[str | None, vocab_query(TicketState, "状态")] = None,
        open_only: Annotated[bool, Query(alias="open", description="只列未办结的")] = False,
        overdue: Annotated[bool, Query(description="只列已超期未办结的")] = False,
        department: Annotated[
            str | None, Query(max_length=MAX_NAME, description="部门编码")
        ] = None,
        handler: Annotated[
            str | None, Query(max_length=MAX_NAME, description="承办人用户名")
        ] = None,
        category: Annotated[str | None, vocab_query(TicketCategory, "诉求类别")] = None,
        before: Before = None,
        limit: Limit = 50,
    ) -> list[dict[str, Any]]:
        """工单列表，最新在前；承办人、部门负责人只看到本部门的工单。"""
        wanted = TicketFilter(
            state=enum_param(TicketState, "state", state), open_only=open_only,
            department_code=department.strip().upper() if department else None,
            handler_username=handler, category=enum_param(TicketCategory, "category", category),
            overdue_at=ctx.clock.now() if overdue else None, before=before, limit=limit,
        )  # fmt: skip
        return await desk.list_tickets(await scope_of(caller), wanted)

    @api.get("/tickets/{number}", response_model=TicketOut)
    async def ticket(caller: Caller, number: Number) -> dict[str, Any]:
        """一张工单及其全部事件和评价（不在调用者部门范围内时 403）。"""
        return await step(caller, lambda scope: desk.show(scope, number))

    @api.post("/tickets/{number}/assign", response_model=TicketOut, responses=BODY_RESPONSES)
    async def assign(caller: Caller, number: Number, body: AssignIn) -> dict[str, Any]:
        """分派给承办人（派单员、管理员、部门负责人）。"""
        return await step(caller, lambda s: desk.assign(s, number, body.handler))

    @api.post("/tickets/{number}/start", response_model=TicketOut)
    async def start(caller: Caller, number: Number) -> dict[str, Any]:
        """开始办理。"""
        return await step(caller, lambda s: desk.start(s, number))

    @api.post("/tickets/{number}/transfer", response_model=TicketOut, responses=BODY_RESPONSES)
    async def transfer(caller: Caller, number: Number, body: TransferIn) -> dict[str, Any]:
        """转办到其他部门（办理时限不重新计算）。"""
        return await step(
            caller, lambda s: desk.transfer(s, number, body.department, reason=body.reason)
        )

    @api.post("/tickets/{number}/return", response_model=TicketOut, responses=BODY_RESPONSES)
    async def return_(caller: Caller, number: Number, body: ReasonIn) -> dict[str, Any]:
        """退回派单员（退单）。"""
        return await step(caller, lambda s: desk.return_(s, number, reason=body.reason))

    @api.post("/tickets/{number}/resolve", response_model=TicketOut, responses=BODY_RESPONSES)
    async def resolve(caller: Caller, number: Number, body: ResolveIn) -> dict[str, Any]:
        """办结：答复企业并请其评价。"""
        return await step(caller, lambda s: desk.resolve(s, number, answer=body.answer))

    @api.post("/tickets/{number}/extend", response_model=TicketOut, responses=BODY_RESPONSES)
    async def extend(caller: Caller, number: Number, body: ExtendIn) -> dict[str, Any]:
        """批准延期并告知企业新的办理时限。"""
        return await step(
            caller, lambda s: desk.extend(s, number, days=body.days, reason=body.reason)
        )

    @api.post("/tickets/{number}/reopen", response_model=TicketOut, responses=BODY_RESPONSES)
    async def reopen(caller: Caller, number: Number, body: ReasonIn) -> dict[str, Any]:
        """重新办理已办结或已销号的工单。"""
        return await step(caller, lambda s: desk.reopen(s, number, reason=body.reason))

    @api.post(
        "/ratings/{rating_id}/flag-malicious", response_model=TicketOut, responses=BODY_RESPONSES
    )
    async def flag_rating(caller: Caller, rating_id: Id, body: ReasonIn) -> dict[str, Any]:
        """标记恶意差评（记录原因，评价不删除）；答复该评价所属的工单。"""
        return await step(caller, lambda s: desk.flag_rating(s, rating_id, reason=body.reason))

    return api
