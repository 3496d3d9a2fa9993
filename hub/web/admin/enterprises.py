"""The enterprises (一企一档): ``/admin/enterprises``, ``/admin/enterprises/{uscc}`` and
``/admin/enterprises/{uscc}/messages``; the registry import under ``/admin/enterprises/import``
(:mod:`hub.web.admin.enterprise_import`, mounted first so its paths win over ``{uscc}``).

The list is searched by the audience language's fields and a free expression
(:mod:`hub.web.admin.enterprise_views`): a bad expression is the parser's Chinese message on
the page (400), never an error page. Every role may search and open dossiers within its scope
(the API's :class:`~hub.queries.scope.Visibility`; an officer's: his own enterprises only): an
enterprise outside it is a 404 page, as if it did not exist; addresses are masked unless the
role sees them in full.
"""

from __future__ import annotations

from typing import Annotated, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from hub.core.identifiers import normalize_uscc
from hub.core.vocab import ChannelName, MessageKind, MessageStatus, TicketState
from hub.queries.messages import MessageFilter, list_messages
from hub.tickets.staff import StaffRole
from hub.web.admin import enterprise_import
from hub.web.admin.auth import AdminPageError, SignedIn, admin_context, current_staff
from hub.web.admin.enterprise_views import (
    CHOICE_FIELDS,
    RECENT,
    TEXT_FIELDS,
    EnterpriseSearch,
    dossier_page,
    search_enterprises,
    when_in,
)
from hub.web.admin.shell import render

__all__ = ["router"]

#: Messages per page of an enterprise's message list.
MESSAGES_PAGE: Final = 50
#: The longest free expression or search text a form may send.
MAX_TEXT: Final = 500
#: Roles that may import the registry (the API's import rights).
IMPORTERS: Final = frozenset({StaffRole.ADMIN, StaffRole.DISPATCHER})
_PAGING: Final = ("before", "start")

Staff = Annotated[SignedIn, Depends(current_staff)]


def router() -> APIRouter:
    """The enterprise pages; the import's routes first (``/import`` is no USCC)."""
    pages = APIRouter()
    pages.include_router(enterprise_import.router())
    pages.add_api_route("/admin/enterprises", enterprise_list, methods=["GET"],
                        response_class=HTMLResponse)  # fmt: skip
    pages.add_api_route("/admin/enterprises/{uscc}", enterprise_dossier, methods=["GET"],
                        response_class=HTMLResponse)  # fmt: skip
    pages.add_api_route("/admin/enterprises/{uscc}/messages", enterprise_messages,
                        methods=["GET"], response_class=HTMLResponse)  # fmt: skip
    return pages


def _search_of(request: Request) -> EnterpriseSearch:
    params = request.query_params
    before = params.get("before", "")
    start = params.get("start", "")
    return EnterpriseSearch(
        choices={name: params.getlist(name) for name in CHOICE_FIELDS},
        texts={name: params.get(name, "")[:MAX_TEXT] for name in TEXT_FIELDS},
        expression=params.get("q", "")[:MAX_TEXT],
        name=params.get("name", "")[:MAX_TEXT],
        before=int(before) if before.isdigit() else None,
        start=int(start) if start.isdigit() else 0,
    )


def _query_without_paging(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k not in _PAGING and v]


async def enterprise_list(request: Request, staff: Staff) -> HTMLResponse:
    """企业列表：按受众字段筛选、表达式、名称搜索，分页，显示总数。"""
    ctx = admin_context(request)
    search = _search_of(request)
    result = await search_enterprises(ctx.db, search, staff.visibility, tz=ctx.tz)
    kept = _query_without_paging(request)
    next_link = None
    if result.next_before is not None:
        paging = [("before", str(result.next_before)),
                  ("start", str(result.start + len(result.rows)))]  # fmt: skip
        next_link = "/admin/enterprises?" + urlencode([*kept, *paging])
    first_link = ("/admin/enterprises?" + urlencode(kept)) if search.before else None
    return await render(
        request, "enterprises.html", status=400 if result.error else 200, title="企业",
        search=search, result=result, next_link=next_link, first_link=first_link,
        choice_fields=[(name, enum.__members__.values()) for name, enum in CHOICE_FIELDS.items()],
        field_labels=_FIELD_LABELS, text_fields=TEXT_FIELDS,
        can_import=staff.role in IMPORTERS,
    )  # fmt: skip


_FIELD_LABELS: Final = {"tier": "联络类别", "stage": "阶段", "credit": "信用状况"}


def _missing(code: str) -> str:
    return f"没有统一社会信用代码为 {code} 的企业（或不在您的范围内）"


def _uscc_or_404(uscc: str) -> str:
    try:
        return normalize_uscc(uscc)
    except ValueError:
        raise AdminPageError(404, f"没有统一社会信用代码为 {uscc[:32]} 的企业") from None


async def enterprise_dossier(request: Request, uscc: str, staff: Staff) -> HTMLResponse:
    """一企一档：联系人及渠道、退订、消息、回复、工单、信用、政策、证照、年报、走访。"""
    ctx = admin_context(request)
    code = _uscc_or_404(uscc)
    page = await dossier_page(ctx.db, code, staff.visibility, ctx.clock.now(), tz=ctx.tz)
    if page is None:  # unknown, or another's (a district, a department, an officer's)
        raise AdminPageError(404, _missing(code))
    return await render(
        request, "enterprise.html", title=str(page.registry["name"]), page=page,
        d=page.registry, recent=RECENT, when=when_in(ctx.tz), opt_out=_opt_out_label,
        message_status=_status_label, ticket_state=_state_label,
    )  # fmt: skip


async def enterprise_messages(
    request: Request, uscc: str, staff: Staff,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> HTMLResponse:  # fmt: skip
    """一家企业的全部消息（最新在前，分页）。"""
    ctx = admin_context(request)
    code = _uscc_or_404(uscc)
    wanted = MessageFilter(enterprise_uscc=code, before=before, limit=MESSAGES_PAGE)
    rows = await list_messages(ctx.db, wanted, staff.visibility)
    # No message at all: still the enterprise's page, if the reader may see it.
    if not rows and before is None and await dossier_page(
        ctx.db, code, staff.visibility, ctx.clock.now(), tz=ctx.tz, recent=1
    ) is None:  # fmt: skip
        raise AdminPageError(404, _missing(code))
    next_link = None
    if len(rows) == MESSAGES_PAGE:
        next_link = f"/admin/enterprises/{code}/messages?before={rows[-1].message.id}"
    name = rows[0].enterprise.name if rows and rows[0].enterprise else code
    return await render(
        request, "enterprise_messages.html", title=f"{name} · 消息", uscc=code, name=name,
        rows=rows, next_link=next_link, first=before is not None, when=when_in(ctx.tz),
        address=lambda channel, value: staff.visibility.address(channel, value) if value else "",
    )  # fmt: skip


def _opt_out_label(item: str) -> str:
    """``wechat:*`` -> ``微信（全部消息）``; ``sms:policy_push`` -> ``短信（政策推送）``."""
    channel, _, kind = item.partition(":")
    try:
        channel_label = ChannelName(channel).label
    except ValueError:
        channel_label = channel
    if kind in ("", "*"):
        return f"{channel_label}（全部消息）"
    try:
        return f"{channel_label}（{MessageKind(kind).label}）"
    except ValueError:
        return f"{channel_label}（{kind}）"


def _status_label(value: str) -> str:
    try:
        return MessageStatus(value).label
    except ValueError:
        return value


def _state_label(value: str) -> str:
    try:
        return TicketState(value).label
    except ValueError:
        return value
