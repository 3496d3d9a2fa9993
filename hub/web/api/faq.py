"""``POST /api/v1/faq``: entries of the FAQ library (常见问题库), many per call, for admins;
``GET /api/v1/faq`` lists them and ``GET /api/v1/faq/{faq_id}`` shows one with its versions, for
any staff member.

Each item is validated by the same rules as a row of ``hub import faq`` (the English column
names are the JSON fields) and saved by ``save_faq_entries``: a new id is version 1, a changed
entry the next version, an equal one unchanged; audit-logged under the caller's username. An
item that cannot be saved does not stop the others: the answer lists its errors in Chinese with
its index (from 0) and field. A body that is not a list of entries is a 422.
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Admin`, a type local to `router()`.

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BaseModel, Field, StrictBool

from hub.core.safe_text import storable_text
from hub.importing.data_columns import api_names
from hub.importing.faq_rows import FAQ_COLUMNS, validate_faq_row
from hub.importing.tabular import Reject
from hub.knowledge.faq import FaqRow, FaqSaved, save_faq_entries
from hub.queries.faq import FaqFilter, entry_dict, faq_entry, list_faq_entries, version_dict
from hub.tickets.staff import StaffRole
from hub.web.api.auth import Principal, allow
from hub.web.api.context import ApiContext
from hub.web.api.enterprise_data import IsoDate, body_cells
from hub.web.api.errors import (
    BODY_RESPONSES,
    ERROR_RESPONSES,
    ApiRoute,
    not_found,
    not_found_response,
)
from hub.web.api.params import MAX_LIMIT, NOT_BLANK

MAX_ENTRIES = 1000
MAX_QUESTION = 1000
MAX_ANSWER = 10_000
MAX_ALTERNATES = 50
_FIELDS = tuple(column.field for column in FAQ_COLUMNS.columns)
FaqId = Annotated[str, Path(max_length=64, pattern=NOT_BLANK, description="条目编号")]


class FaqIn(BaseModel):
    """An FAQ entry, as a row of ``hub import faq``. ``retired`` true with neither question nor
    answer retires a stored entry; left out, the stored flag stays (a new entry is in force)."""

    faq_id: str = Field(
        max_length=64, pattern=NOT_BLANK, description="编号（唯一；再次提交即更新）"
    )
    question: str | None = Field(default=None, max_length=MAX_QUESTION, description="问题")
    answer: str | None = Field(default=None, max_length=MAX_ANSWER, description="答案")
    alternates: list[Annotated[str, Field(max_length=MAX_QUESTION)]] = Field(
        default_factory=list, max_length=MAX_ALTERNATES, description="相似问法"
    )
    department: str | None = Field(default=None, max_length=128, description="部门")
    valid_until: IsoDate | None = Field(default=None, description="有效期至（含当日）")
    source: str | None = Field(default=None, max_length=512, description="依据")
    retired: StrictBool | None = Field(default=None, description="停用")


class FaqErrorOut(BaseModel):
    """Why one item was not saved."""

    index: int = Field(description="该条在提交列表中的位置（从 0 起）")
    faq_id: str | None
    field: str | None = Field(description="出错的字段（英文名）")
    error: str


class FaqSavedOut(BaseModel):
    """What a call did: counts, the ids created and changed, and the items refused."""

    valid: int
    created: int
    updated: int
    unchanged: int
    rejected: int
    new: list[str]
    changed: list[str]
    errors: list[FaqErrorOut]


class FaqContentOut(BaseModel):
    """What an entry says: as in force, or as one of its versions was."""

    question: str
    alternates: list[str]
    answer: str
    department: str | None
    valid_until: str | None
    source: str | None
    retired: bool


class FaqItemOut(FaqContentOut):
    """An FAQ entry as in force; ``in_force``: it may answer today."""

    faq_id: str
    version: int
    in_force: bool
    updated_at: str


class FaqVersionOut(FaqContentOut):
    """One saved version of an entry, as it was."""

    version: int
    created_at: str
    created_by: str


class FaqDetailOut(FaqItemOut):
    versions: list[FaqVersionOut]


Entries = Annotated[list[FaqIn], Body(min_length=1, max_length=MAX_ENTRIES)]


def _validated(
    body: Sequence[FaqIn],
) -> tuple[list[FaqRow], list[FaqErrorOut]]:
    names = api_names(FAQ_COLUMNS)
    rows: list[FaqRow] = []
    errors: list[FaqErrorOut] = []
    for index, item in enumerate(body):
        row = validate_faq_row(index, body_cells(item), names)
        if isinstance(row, Reject):
            errors += [FaqErrorOut(index=index, faq_id=item.faq_id, field=_field_of(reason),
                                   error=reason) for reason in row.reasons]  # fmt: skip
        else:
            rows.append(row)
    return rows, errors


def _field_of(reason: str) -> str | None:
    """The field a reason names first (the API names fields by their English name)."""
    return next((name for name in _FIELDS if reason.startswith(name)), None)


def _saved_out(saved: FaqSaved, refused: list[FaqErrorOut], items: int) -> FaqSavedOut:
    errors = refused + [
        FaqErrorOut(index=e.row_number, faq_id=e.faq_id, field=e.field, error=e.reason)
        for e in saved.errors
    ]
    errors.sort(key=lambda error: error.index)
    rejected = len({error.index for error in errors})
    return FaqSavedOut(
        valid=items - rejected, created=saved.created, updated=saved.updated,
        unchanged=saved.unchanged, rejected=rejected,
        new=[change.key for change in saved.changes.created],
        changed=[change.key for change in saved.changes.updated], errors=errors,
    )  # fmt: skip


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["faq 常见问题库"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]
    Admin = Annotated[Principal, Depends(allow(ctx.authenticate, StaffRole.ADMIN))]

    def today() -> date:
        return ctx.clock.now().astimezone(ctx.tz).date()

    @api.post("/faq", response_model=FaqSavedOut, responses=BODY_RESPONSES)
    async def post_faq(caller: Admin, body: Entries) -> FaqSavedOut:
        """录入或更新常见问题（管理员），可一次多条：新编号为第 1 版，内容有变化的升一版，
        相同的不变；有误的条目列在 errors 中（位置、字段、原因），其余照常保存。"""
        rows, refused = _validated(body)
        async with ctx.db.write() as session:
            saved = await save_faq_entries(
                session, rows, actor=caller.username, now=ctx.clock.now(), source="api"
            )
        return _saved_out(saved, refused, len(body))

    @api.get("/faq", response_model=list[FaqItemOut])
    async def faq_list(
        caller: Caller,
        q: Annotated[
            str | None, Query(max_length=100, description="编号、问题、相似问法或答案中包含")
        ] = None,
        department: Annotated[str | None, Query(max_length=128, description="部门")] = None,
        valid: Annotated[
            bool | None, Query(description="true：只列今天有效的；false：只列已停用或已过期的")
        ] = None,
        after: Annotated[
            str | None, Query(max_length=64, description="只列编号排在它之后的（翻页）")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="最多列出几条")] = 50,
    ) -> list[dict[str, Any]]:
        """常见问题，按编号排序（含停用和过期的，除非以 valid 筛选）。"""
        day = today()
        wanted = FaqFilter(
            today=day, text=_searched(q), department=_searched(department), valid=valid,
            after=storable_text(after) if after is not None else None, limit=limit,
        )  # fmt: skip
        return [entry_dict(entry, day, ctx.tz) for entry in await list_faq_entries(ctx.db, wanted)]

    @api.get("/faq/{faq_id}", response_model=FaqDetailOut, responses=not_found_response("条目"))
    async def faq_show(caller: Caller, faq_id: FaqId) -> dict[str, Any]:
        """一条常见问题及其全部版本（最早的在前）。"""
        detail = await faq_entry(ctx.db, storable_text(faq_id).strip())
        if detail is None:
            raise not_found(f"没有编号为 {faq_id} 的常见问题")
        return {**entry_dict(detail.entry, today(), ctx.tz),
                "versions": [version_dict(v, ctx.tz) for v in detail.versions]}  # fmt: skip

    return api


def _searched(text: str | None) -> str | None:
    """A query's text as stored texts are (no control characters), None when blank."""
    cleaned = storable_text(text).strip() if text is not None else ""
    return cleaned or None
