"""The rating page behind the short link of a rating request: ``/r/{token}``.

``GET`` shows the ticket (number, department, when it was resolved, the answer) and a form
with the five levels; it never rates — link scanners and chat previews open links. ``POST``
with an explicit choice (``score`` 1–5, an optional ``comment``: its first 500 characters,
without NUL and other control characters) rates the ticket once,
through :func:`hub.tickets.lifecycle.apply_rating` (source ``web``), and marks the link used, in one
write transaction (the link row is locked, so two submits cannot both count). An unknown,
expired or used token, or a ticket no longer awaiting a rating, is refused with a Chinese
message and rates nothing. The token (12 URL-safe characters, see hub/tickets/feedback.py) is the
only credential: the page shows no personal data beyond the ticket's own.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from hub.app.config import Settings
from hub.core.clock import Clock
from hub.core.safe_text import storable_text
from hub.core.vocab import RATING_LABELS, TicketEventType, TicketState
from hub.infra.queue import Queue
from hub.outbound.notify import NotifyResult, enqueue_notified
from hub.store.db import Database
from hub.store.models import Department, RatingLink, Ticket, TicketEvent
from hub.tickets.policy import load_ticket_policy
from hub.tickets.ratings import RatingNotifier, apply_rating
from hub.web.page_shell import HEAD, PAGE_ENV, page_response

log = structlog.get_logger(__name__)

PATH: Final = "/r/{token}"
MAX_BODY: Final = 8 * 1024
MAX_COMMENT: Final = 500
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,64}")

UNKNOWN: Final = "评价链接无效，请核对短信或消息中的链接。"
EXPIRED: Final = (
    "评价链接已过期。如需评价，请直接回复消息中的数字："
    "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意。"
)
USED: Final = "该评价链接已经提交过评价，每个链接只能提交一次。感谢您的反馈！"
CHOOSE: Final = "请先选择一项评价，再点“提交评价”。"

_PAGE = PAGE_ENV.from_string(
    HEAD
    + """\
<style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em;line-height:1.6}
label{display:block;margin:.4em 0}.error{color:#b00}.answer{white-space:pre-wrap;background:#f5f5f5;
padding:.6em}button{font-size:1.1em;padding:.4em 1.4em;margin-top:.8em}</style></head><body>
<h1>{{ title }}</h1>
{% if message %}<p class="{{ 'error' if error else 'done' }}">{{ message }}</p>{% endif %}
{% if ticket %}
<p>诉求编号：{{ ticket.number }}<br>办理部门：{{ ticket.department }}<br>
办结时间：{{ ticket.resolved }}</p>
{% if ticket.subject %}<p>诉求内容：{{ ticket.subject }}</p>{% endif %}
{% if ticket.answer %}<p>办理答复：</p><div class="answer">{{ ticket.answer }}</div>{% endif %}
{% endif %}
{% if form %}
<form method="post">
<p>请对办理情况进行评价：</p>
{% for score, label in levels %}<label><input type="radio" name="score" value="{{ score }}"
{% if score == chosen %}checked{% endif %}> {{ score }} {{ label }}</label>{% endfor %}
<label>意见建议（可不填）：<br><textarea name="comment" rows="3" cols="30"
maxlength="{{ max_comment }}">{{ comment }}</textarea></label>
<button type="submit">提交评价</button>
</form>
{% endif %}
</body></html>
"""
)


def router(
    db: Database, clock: Clock, settings: Settings, *, queue: Queue | None = None,
    notifier: RatingNotifier | None = None,
) -> APIRouter:  # fmt: skip
    """The page's two routes. ``notifier`` writes a bad rating's alert to the department head;
    ``queue`` enqueues it after the commit (without one, the outbox reconciler does)."""
    api = APIRouter(tags=["rating"], include_in_schema=False)
    tz = settings.hub.tz

    @api.get(PATH, response_class=HTMLResponse)
    async def show(token: str) -> HTMLResponse:
        async with db.read() as session:
            refusal, view = await _check(session, token, clock.now(), tz)
        if refusal is not None:
            return refusal
        return _render(200, "诉求办理满意度评价", ticket=view, form=True)

    @api.post(PATH, response_class=HTMLResponse)
    async def submit(token: str, request: Request) -> HTMLResponse:
        body = await request.body()
        fields = parse_qs(body[:MAX_BODY].decode("utf-8", "replace"))
        score_text = (fields.get("score") or [""])[0].strip()
        # Typed by anyone with the link: without NUL (PostgreSQL refuses it) and other controls.
        comment = storable_text((fields.get("comment") or [""])[0]).strip()[:MAX_COMMENT] or None
        score = int(score_text) if score_text in {"1", "2", "3", "4", "5"} else None
        notified: list[NotifyResult] = []
        async with db.write() as session:
            now = clock.now()
            refusal, view = await _check(session, token, now, tz, lock=True)
            if refusal is not None:
                return refusal
            if score is None:
                return _render(400, "诉求办理满意度评价", ticket=view, form=True, error=True,
                               message=CHOOSE, comment=comment or "")  # fmt: skip
            link = await session.get(RatingLink, token)
            ticket = await session.get(Ticket, link.ticket_id) if link is not None else None
            assert link is not None  # _check found both
            assert ticket is not None
            outcome = await apply_rating(
                session, ticket, policy=await load_ticket_policy(session, settings),
                score=score, contact_id=link.contact_id, now=now, comment=comment,
                actor="rating_page", source="web", notifier=notifier,
            )  # fmt: skip
            link.used_at = now
            link.rating_id = outcome.rating.id
            notified = list(outcome.notified)
        if queue is not None and notified:
            await enqueue_notified(queue, notified)
        log.info("rated on the rating page", ticket=ticket.number, score=score)
        thanks = f"已收到您的评价：{score} {RATING_LABELS[score]}。"
        thanks += "感谢您的反馈！" if score >= 3 else "我们将重新办理，并尽快与您联系。"
        return _render(200, "评价已提交", ticket=view, message=thanks)

    return api


async def _check(
    session: Any, token: str, now: datetime, tz: ZoneInfo, *, lock: bool = False
) -> tuple[HTMLResponse | None, dict[str, Any] | None]:
    """The refusal page for a token that cannot rate, else the ticket as the page shows it."""
    if not _TOKEN.fullmatch(token):
        return _render(404, "评价链接无效", message=UNKNOWN, error=True), None
    link = await session.get(RatingLink, token, with_for_update=lock)
    if link is None:
        return _render(404, "评价链接无效", message=UNKNOWN, error=True), None
    if link.used_at is not None:
        return _render(410, "评价已提交", message=USED), None
    if link.expires_at <= now:
        return _render(410, "评价链接已过期", message=EXPIRED, error=True), None
    ticket = await session.get(Ticket, link.ticket_id, with_for_update=lock)
    if ticket is None:
        return _render(404, "评价链接无效", message=UNKNOWN, error=True), None
    view = await _view(session, ticket, tz)
    if ticket.state is not TicketState.RESOLVED:
        message = f"诉求 {ticket.number} 当前{ticket.state.label}，不在待评价状态，无需再评价。"
        return _render(409, "无需评价", ticket=view, message=message, error=True), None
    return None, view


async def _view(session: Any, ticket: Ticket, tz: ZoneInfo) -> dict[str, Any]:
    department = (
        await session.get(Department, ticket.department_id) if ticket.department_id else None
    )
    event = (
        await session.scalars(
            sa.select(TicketEvent)
            .where(TicketEvent.ticket_id == ticket.id, TicketEvent.type == TicketEventType.RESOLVED)
            .order_by(TicketEvent.at.desc(), TicketEvent.id.desc())
            .limit(1)
        )
    ).first()
    answer = ""
    if event is not None:
        answer = str((event.data or {}).get("answer") or event.reason or "")
    resolved = ticket.resolved_at.astimezone(tz).strftime("%Y年%m月%d日 %H:%M") if (
        ticket.resolved_at) else "—"  # fmt: skip
    return {
        "number": ticket.number, "department": department.name if department else "承办部门",
        "resolved": resolved, "subject": ticket.subject, "answer": answer,
    }  # fmt: skip


def _render(status: int, title: str, **values: Any) -> HTMLResponse:
    page = _PAGE.render(
        title=title, message=values.get("message"), error=values.get("error", False),
        ticket=values.get("ticket"), form=values.get("form", False),
        levels=sorted(RATING_LABELS.items(), reverse=True), chosen=values.get("chosen"),
        comment=values.get("comment", ""), max_comment=MAX_COMMENT,
    )  # fmt: skip
    return page_response(page, status)
