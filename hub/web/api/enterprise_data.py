"""``POST /api/v1/credit-events`` and ``POST /api/v1/policies``: the credit feed and the policy
library, one record per call, for admins and dispatchers; ``GET`` lists them for any staff
member (credit events only of the enterprises in the caller's scope).

A body is validated by the same rules as a row of ``hub import credit|policies`` (the English
column names are the JSON fields, and a reason names the field), saved by natural key (a
repeat changes nothing), audit-logged under the caller's username, and answered with whether
the record was created, updated (with the fields that changed) or unchanged. A credit event
recomputes its enterprise's credit status. A credit event for an enterprise the caller cannot
see, or that does not exist, is a 404, as is one whose event id is on record for such an
enterprise.
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Writer`, a type local to `router()`.

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel, BeforeValidator, Field, StrictBool, WithJsonSchema

from hub.core.clock import local_iso
from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.safe_text import storable_text
from hub.core.vocab import CreditStatus, LabelledEnum, Stage, Tier
from hub.importing.data_columns import CREDIT_COLUMNS, POLICY_COLUMNS, api_names
from hub.importing.data_rows import (
    FIRST_YEAR,
    LAST_YEAR,
    URL_PATTERN,
    validate_credit_row,
    validate_policy_row,
)
from hub.importing.data_save import save_rows
from hub.importing.tabular import Reject
from hub.queries.enterprise_data import (
    CreditEventFilter,
    CreditEventRow,
    list_credit_events,
    list_policies,
)
from hub.scheduling.programs import credit_warning, policy_match
from hub.scheduling.programs.after_save import react_after_save
from hub.store.models import CreditEvent, Enterprise, Policy
from hub.store.record_changes import RecordChanges
from hub.tickets.staff import StaffRole
from hub.web.api.auth import Principal, allow
from hub.web.api.context import ApiContext
from hub.web.api.errors import (
    BODY_RESPONSES,
    ERROR_RESPONSES,
    ApiRoute,
    invalid,
    not_found,
    not_found_response,
)
from hub.web.api.params import Before, Limit, enum_param, uscc_param, vocab_query
from hub.web.api.params import Uscc as UsccQuery
from hub.web.api.schemas import EnterpriseOut

# A text that says something once control characters are dropped (storable_text): at least
# one character that is neither a space nor a control character.
_PRINTABLE = (
    "[^\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
    "\\u205f\\u3000\\x00-\\x08\\x0e-\\x1b]"
)
_USCC_SCHEMA = {"type": "string", "format": "uscc", "pattern": "^[0-9]{8}[0-9A-HJ-NP-RTUW-Y]{10}$"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YEARS = f"({FIRST_YEAR // 100}|{LAST_YEAR // 100})"  # 19|20: FIRST_YEAR..LAST_YEAR
_DATE_SCHEMA = {
    "type": "string",
    "format": "date",
    "pattern": f"^{_YEARS}[0-9]{{2}}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$",
}
MAX_SUMMARY = 10_000
MAX_TEXT = 200_000  # a policy's full text; the app refuses bodies over 1 MiB anyway
MAX_ITEMS = 200


def _date_text_only(value: object) -> object:
    """Refuse a number where a date is due: pydantic would read ``0`` as 1970-01-01."""
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("应为日期，如 2026-11-23")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text_only), WithJsonSchema(_DATE_SCHEMA)]
Uscc = Annotated[str, WithJsonSchema(_USCC_SCHEMA), Field(description="统一社会信用代码")]


def _key(max_length: int, description: str) -> Any:
    return Field(pattern=_PRINTABLE, max_length=max_length, description=description)


def _vocab(enum: type[LabelledEnum]) -> Any:
    spellings = list(dict.fromkeys(s for m in enum for s in (m.value, m.label)))
    return WithJsonSchema({"type": "string", "enum": spellings})


Item = Annotated[str, Field(max_length=64)]


class CreditEventIn(BaseModel):
    """A credit event (信用事件), as a row of ``hub import credit``."""

    event_id: str = _key(64, "事件编号（唯一；再次提交同一编号即更新）")
    uscc: Uscc
    type: Annotated[str, _vocab(CreditEventType)] = Field(description="类型，代码或中文名")
    authority: str = _key(128, "认定机关")
    decided_on: IsoDate = Field(description="认定日期")
    summary: str | None = Field(default=None, max_length=MAX_SUMMARY, description="事由")
    status: Annotated[str, _vocab(CreditEventStatus)] | None = Field(
        default=None, description="状态，代码或中文名；缺省为 active（有效）"
    )
    repaired_on: IsoDate | None = Field(default=None, description="修复日期")


class PolicyIn(BaseModel):
    """A policy (惠企政策), as a row of ``hub import policies``; an empty list means any."""

    policy_id: str = _key(64, "政策编号（唯一；再次提交同一编号即更新）")
    title: str = _key(256, "政策名称")
    summary: str | None = Field(default=None, max_length=MAX_SUMMARY, description="摘要")
    department: str | None = Field(default=None, max_length=128, description="发布部门")
    apply_by: IsoDate | None = Field(default=None, description="申报截止")
    free_apply: StrictBool = Field(default=False, description="免申即享")
    url: str | None = Field(default=None, max_length=512, pattern=URL_PATTERN, description="链接")
    industries: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="行业")
    tiers: list[Annotated[str, _vocab(Tier)]] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="联络类别"
    )
    regions: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="区域")
    stages: list[Annotated[str, _vocab(Stage)]] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="阶段"
    )
    tags: list[Item] = Field(default_factory=list, max_length=MAX_ITEMS, description="标签")
    text: str | None = Field(default=None, max_length=MAX_TEXT, description="正文")


Result = Literal["created", "updated", "unchanged"]


class SavedOut(BaseModel):
    """What a call did: ``created``, ``updated`` (``changed`` names the fields) or
    ``unchanged``."""

    result: Result
    changed: list[str]
    note: str | None = Field(
        default=None,
        description="已保存但消息未发出时的说明（如信用修复指引文件有误）；每日的计划运行会补发",
    )


class CreditEventOut(SavedOut):
    event_id: str
    uscc: str
    credit: str = Field(description="该企业的信用状态（good/warning/dishonest）")
    credit_label: str


class PolicyOut(SavedOut):
    policy_id: str


class CreditEventItemOut(BaseModel):
    """A credit event as listed; dates ISO 8601."""

    id: int
    event_id: str
    enterprise: EnterpriseOut
    type: str
    type_label: str
    authority: str
    decided_on: str
    summary: str
    status: str
    status_label: str
    repaired_on: str | None
    updated_at: str


class PolicyItemOut(BaseModel):
    """A policy as listed (without its full text); an empty list means any."""

    id: int
    policy_id: str
    title: str
    summary: str
    department: str | None
    apply_by: str | None
    free_apply: bool
    url: str | None
    industries: list[str]
    tiers: list[str]
    regions: list[str]
    stages: list[str]
    tags: list[str]
    updated_at: str


def _items(joined: str) -> list[str]:
    return joined.split(";") if joined else []


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _event_out(row: CreditEventRow, tz: ZoneInfo) -> CreditEventItemOut:
    event = row.event
    return CreditEventItemOut(
        id=event.id, event_id=event.event_id,
        enterprise=EnterpriseOut(id=event.enterprise_id, name=row.enterprise_name, uscc=row.uscc),
        type=event.type.value, type_label=event.type.label, authority=event.authority,
        decided_on=event.decided_on.isoformat(), summary=event.summary,
        status=event.status.value, status_label=event.status.label,
        repaired_on=_iso(event.repaired_on), updated_at=local_iso(event.updated_at, tz) or "",
    )  # fmt: skip


def _policy_out(policy: Policy, tz: ZoneInfo) -> PolicyItemOut:
    return PolicyItemOut(
        id=policy.id, policy_id=policy.policy_id, title=policy.title, summary=policy.summary,
        department=policy.department, apply_by=_iso(policy.apply_by),
        free_apply=policy.free_apply, url=policy.url, industries=_items(policy.industries),
        tiers=_items(policy.tiers), regions=_items(policy.regions),
        stages=_items(policy.stages), tags=_items(policy.tags),
        updated_at=local_iso(policy.updated_at, tz) or "",
    )  # fmt: skip


def body_cells(body: BaseModel) -> dict[str, str]:
    """A body as the cells of a file's row (texts without control characters, stripped), for
    validating it as the import validates a row (``hub.web.api.faq`` too)."""
    raw: dict[str, str] = {}
    for name, value in body.model_dump().items():
        if value is None:
            text = ""
        elif isinstance(value, bool):
            text = "是" if value else "否"
        elif isinstance(value, list):
            text = ";".join(value)
        elif isinstance(value, date):
            text = value.isoformat()
        else:
            text = str(value)
        raw[name] = storable_text(text).strip()
    return raw


def _checked(row: Any) -> Any:
    if isinstance(row, Reject):
        raise invalid("参数无效：" + "；".join(row.reasons))
    return row


def _saved(changes: RecordChanges) -> dict[str, Any]:
    if changes.created:
        return {"result": "created", "changed": []}
    if changes.updated:
        return {"result": "updated", "changed": sorted(changes.updated[0].changes)}
    return {"result": "unchanged", "changed": []}


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["data 企业数据"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]
    Writer = Annotated[
        Principal, Depends(allow(ctx.authenticate, StaffRole.ADMIN, StaffRole.DISPATCHER))
    ]

    @api.post(
        "/credit-events",
        response_model=CreditEventOut,
        response_model_exclude_none=True,  # ``note`` only when the warning was not sent
        responses={**BODY_RESPONSES, **not_found_response("企业")},
    )
    async def post_credit_event(caller: Writer, body: CreditEventIn) -> dict[str, Any]:
        """录入或更新一条信用事件（管理员、调度员）；企业信用状态随其有效事件重新计算。"""
        row = _checked(validate_credit_row(0, body_cells(body), api_names(CREDIT_COLUMNS)))
        enterprise = sa.select(Enterprise.id, Enterprise.credit_status).where(
            Enterprise.uscc == row.uscc
        )
        # The event on record, if its enterprise is out of the caller's scope: a scoped
        # dispatcher may not rewrite (or move away) another district's event.
        hidden = sa.select(CreditEvent.id).where(CreditEvent.event_id == row.event_id)
        if (clause := caller.visibility.enterprise_filter(Enterprise.id)) is not None:
            enterprise = enterprise.where(clause)
            outside = caller.visibility.enterprise_filter(CreditEvent.enterprise_id)
            hidden = hidden.where(sa.not_(outside)) if outside is not None else hidden
        async with ctx.db.write() as session:
            found = (await session.execute(enterprise)).first()
            if found is None:
                raise not_found(f"没有统一社会信用代码为 {row.uscc} 的企业（或不在您的范围内）")
            if clause is not None and await session.scalar(hidden) is not None:
                raise not_found(f"事件编号 {row.event_id} 已属于您范围以外的企业")
            changes = await save_rows(
                session, "credit", [row], {row.uscc: found.id}, now=ctx.clock.now(),
                actor=caller.username, source="api",
            )  # fmt: skip
        note = None
        if ctx.programs is not None:  # a new active event is warned of, a closed one closed
            reaction = await react_after_save(
                credit_warning.run_on_changes, ctx.programs, changes, what="信用警示"
            )
            note = reaction.note
        credit = _credit_after(changes, found.credit_status)
        return {**_saved(changes), "event_id": row.event_id, "uscc": row.uscc,
                "credit": credit.value, "credit_label": credit.label, "note": note}  # fmt: skip

    @api.get("/credit-events", response_model=list[CreditEventItemOut])
    async def credit_events(
        caller: Caller,
        enterprise: UsccQuery = None,
        status: Annotated[str | None, vocab_query(CreditEventStatus, "状态")] = None,
        before: Before = None,
        limit: Limit = 50,
    ) -> list[CreditEventItemOut]:
        """信用事件，最新录入在前；只含调用者范围内的企业。"""
        wanted = CreditEventFilter(
            enterprise_uscc=uscc_param(enterprise),
            status=enum_param(CreditEventStatus, "status", status),
            before=before,
            limit=limit,
        )
        rows = await list_credit_events(ctx.db, wanted, caller.visibility)
        return [_event_out(row, ctx.tz) for row in rows]

    @api.get("/policies", response_model=list[PolicyItemOut])
    async def policies(
        caller: Caller, before: Before = None, limit: Limit = 50
    ) -> list[PolicyItemOut]:
        """政策（不含正文），最新录入在前。"""
        found = await list_policies(ctx.db, before=before, limit=limit)
        return [_policy_out(policy, ctx.tz) for policy in found]

    @api.post(
        "/policies",
        response_model=PolicyOut,
        response_model_exclude_none=True,  # ``note`` only when the policy was not sent
        responses=BODY_RESPONSES,
    )
    async def post_policy(caller: Writer, body: PolicyIn) -> dict[str, Any]:
        """录入或更新一项政策（管理员、调度员）：名称、截止日期、免申即享、适用范围与正文。"""
        row = _checked(validate_policy_row(0, body_cells(body), api_names(POLICY_COLUMNS)))
        async with ctx.db.write() as session:
            changes = await save_rows(
                session, "policies", [row], {}, now=ctx.clock.now(), actor=caller.username,
                source="api",
            )  # fmt: skip
        note = None
        if ctx.programs is not None:  # a new or changed policy goes to whom it is for
            reaction = await react_after_save(
                policy_match.run_on_changes, ctx.programs, changes, what="政策推送"
            )
            note = reaction.note
        return {**_saved(changes), "policy_id": row.policy_id, "note": note}

    return api


def _credit_after(changes: RecordChanges, before: CreditStatus) -> CreditStatus:
    """The credit status of the event's enterprise after the call."""
    statuses: Mapping[int, CreditStatus] = {c.enterprise_id: c.after for c in changes.credit_status}
    for change in changes.changed:
        return statuses.get(change.values["enterprise_id"], before)
    return before
