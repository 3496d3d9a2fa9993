"""``GET /api/v1/replies`` and ``GET /api/v1/replies/{id}``: replies received, scoped and masked."""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Caller`, a type local to `router()`.

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub.core.clock import local_iso
from hub.core.vocab import ChannelName, ReplyClass
from hub.queries.replies import ReplyFilter, ReplyRow, get_reply, list_replies
from hub.queries.scope import Visibility
from hub.web.api.auth import Principal
from hub.web.api.context import ApiContext
from hub.web.api.errors import ERROR_RESPONSES, ApiRoute, not_found, not_found_response
from hub.web.api.params import (
    Before,
    Id,
    IsoDateTime,
    Limit,
    Uscc,
    enum_param,
    label,
    local_time,
    uscc_param,
    vocab_query,
)
from hub.web.api.schemas import ContactOut, EnterpriseOut, ReplyOut


def reply_out(row: ReplyRow, visibility: Visibility, ctx: ApiContext) -> ReplyOut:
    reply = row.reply
    return ReplyOut(
        id=reply.id,
        channel=reply.channel.value,
        channel_label=reply.channel.label,
        provider=reply.provider,
        sender=visibility.address(reply.channel, reply.sender),
        text=reply.text,
        received_at=local_iso(reply.received_at, ctx.tz) or "",
        enterprise=EnterpriseOut.of(row.enterprise),
        contact=ContactOut.of(row.contact),
        in_reply_to=reply.in_reply_to,
        classification=reply.classification.value if reply.classification else None,
        classification_label=label(reply.classification),
        processed_at=local_iso(reply.processed_at, ctx.tz),
    )


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["replies 回复"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]

    @api.get("/replies", response_model=list[ReplyOut])
    async def replies(
        caller: Caller,
        channel: Annotated[str | None, vocab_query(ChannelName, "渠道")] = None,
        classification: Annotated[str | None, vocab_query(ReplyClass, "回复类别")] = None,
        since: Annotated[
            IsoDateTime | None,
            Query(description="收到时间不早于，ISO 8601（无时区按 +08:00）"),
        ] = None,
        enterprise: Uscc = None,
        before: Before = None,
        limit: Limit = 50,
    ) -> list[ReplyOut]:
        """收到的回复，最新在前；只含调用者范围内的企业，号码按角色脱敏。"""
        wanted = ReplyFilter(
            channel=enum_param(ChannelName, "channel", channel),
            classification=enum_param(ReplyClass, "classification", classification),
            since=local_time(since, ctx.tz),
            enterprise_uscc=uscc_param(enterprise),
            before=before,
            limit=limit,
        )
        rows = await list_replies(ctx.db, wanted, caller.visibility)
        return [reply_out(row, caller.visibility, ctx) for row in rows]

    @api.get("/replies/{reply_id}", response_model=ReplyOut, responses=not_found_response("回复"))
    async def reply(caller: Caller, reply_id: Id) -> ReplyOut:
        """一条回复（不存在或不在调用者范围内时 404）。"""
        row = await get_reply(ctx.db, reply_id, caller.visibility)
        if row is None:
            raise not_found(f"没有编号为 {reply_id} 的回复")
        return reply_out(row, caller.visibility, ctx)

    return api
