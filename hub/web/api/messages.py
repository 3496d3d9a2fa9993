"""``GET /api/v1/messages`` and ``GET /api/v1/messages/{id}``: the outbox, scoped and masked."""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at
# runtime, and they name `Caller`, a type local to `router()`.

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from hub.core.clock import local_iso
from hub.core.vocab import ChannelName, MessageKind, MessageStatus
from hub.queries.messages import MessageFilter, MessageRow, get_message, list_messages
from hub.queries.scope import Visibility
from hub.web.api.auth import Principal
from hub.web.api.context import ApiContext
from hub.web.api.errors import ERROR_RESPONSES, ApiRoute, not_found, not_found_response
from hub.web.api.params import MAX_ID, Before, Id, Limit, Uscc, enum_param, uscc_param, vocab_query
from hub.web.api.schemas import ContactOut, EnterpriseOut, MessageOut


def message_out(row: MessageRow, visibility: Visibility, ctx: ApiContext) -> MessageOut:
    m = row.message
    return MessageOut(
        id=m.id,
        campaign_id=m.campaign_id,
        kind=m.kind.value,
        kind_label=m.kind.label,
        channel=m.channel.value,
        channel_label=m.channel.label,
        address=visibility.address(m.channel, m.address),
        status=m.status.value,
        status_label=m.status.label,
        reason=m.status_reason,
        enterprise=EnterpriseOut.of(row.enterprise),
        contact=ContactOut.of(row.contact),
        body=m.body,
        attempts=m.attempts,
        provider_message_id=m.provider_message_id,
        created_at=local_iso(m.created_at, ctx.tz) or "",
        sent_at=local_iso(m.sent_at, ctx.tz),
        delivered_at=local_iso(m.delivered_at, ctx.tz),
    )


def router(ctx: ApiContext) -> APIRouter:
    api = APIRouter(route_class=ApiRoute, tags=["messages 消息"], responses=ERROR_RESPONSES)
    Caller = Annotated[Principal, Depends(ctx.authenticate)]

    @api.get("/messages", response_model=list[MessageOut])
    async def messages(
        caller: Caller,
        status: Annotated[str | None, vocab_query(MessageStatus, "状态")] = None,
        channel: Annotated[str | None, vocab_query(ChannelName, "渠道")] = None,
        kind: Annotated[str | None, vocab_query(MessageKind, "消息类型")] = None,
        campaign: Annotated[int | None, Query(ge=1, le=MAX_ID, description="批次编号")] = None,
        enterprise: Uscc = None,
        before: Before = None,
        limit: Limit = 50,
    ) -> list[MessageOut]:
        """消息（发件箱），最新在前；只含调用者范围内的企业，地址按角色脱敏。"""
        wanted = MessageFilter(
            status=enum_param(MessageStatus, "status", status),
            channel=enum_param(ChannelName, "channel", channel),
            kind=enum_param(MessageKind, "kind", kind),
            campaign=campaign,
            enterprise_uscc=uscc_param(enterprise),
            before=before,
            limit=limit,
        )
        rows = await list_messages(ctx.db, wanted, caller.visibility)
        return [message_out(row, caller.visibility, ctx) for row in rows]

    @api.get(
        "/messages/{message_id}", response_model=MessageOut, responses=not_found_response("消息")
    )
    async def message(caller: Caller, message_id: Id) -> MessageOut:
        """一条消息（不存在或不在调用者范围内时 404）。"""
        row = await get_message(ctx.db, message_id, caller.visibility)
        if row is None:
            raise not_found(f"没有编号为 {message_id} 的消息")
        return message_out(row, caller.visibility, ctx)

    return api
