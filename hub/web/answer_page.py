"""The answer page behind an automatic answer's link: ``/a/{token}``.

An SMS answer is an approved template with this link (:func:`hub.knowledge.answer_links.
answer_link`); the page shows the enterprise's question, the answer exactly as sent, its source
(依据), the ticket number, "回复 人工 转人工服务", and how to rate the answer: the ticket's
rating page when it has a live link, else by replying with a number. ``GET`` only, no login:
the token (``auto_answer.token``) is the credential, and the page shows nothing personal beyond
the enterprise's own question. An unknown token is a Chinese 404 page, never an error of the
server.
"""

from __future__ import annotations

from typing import Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from hub.core.clock import Clock
from hub.core.vocab import RATING_LABELS
from hub.knowledge.answer_links import ANSWER_PATH_PREFIX, TOKEN_PATTERN
from hub.queries.answer_views import AnswerPage, answer_page
from hub.store.db import Database
from hub.tickets.feedback import rating_url
from hub.web.page_shell import HEAD, PAGE_ENV, page_response

__all__ = ["PATH", "router"]

PATH: Final = ANSWER_PATH_PREFIX + "{token}"
UNKNOWN: Final = "答复链接无效，请核对短信或消息中的链接。如有问题，请直接回复短信咨询。"
HANDOVER: Final = "回复 人工 转人工服务"
RATE_BY_REPLY: Final = "如需评价本次答复，请直接回复数字：" + " ".join(
    f"{score} {label}" for score, label in sorted(RATING_LABELS.items(), reverse=True)
)

_PAGE = PAGE_ENV.from_string(
    HEAD
    + """\
<style>body{font-family:sans-serif;max-width:36em;margin:1em auto;padding:0 1em;line-height:1.6}
.error{color:#b00}.answer{white-space:pre-wrap;background:#f5f5f5;padding:.6em}
.note{color:#555}</style></head><body>
<h1>{{ title }}</h1>
{% if message %}<p class="error">{{ message }}</p>{% endif %}
{% if page %}
<p>您的问题：{{ page.question }}</p>
<p>答复：</p><div class="answer">{{ page.answer }}</div>
{% if page.source %}<p>依据：{{ page.source }}</p>{% endif %}
<p class="note">答复时间：{{ answered_at }}{% if page.ticket_number %}<br>
诉求编号：{{ page.ticket_number }}{% endif %}</p>
{% if page.handed_over %}<p>该问题已转人工办理，承办部门将尽快答复您。</p>
{% else %}<p>本答复由系统根据政策和常见问题自动生成。如未解决您的问题，请{{ handover }}。</p>
{% if rating_link %}<p><a href="{{ rating_link }}">评价本次答复</a></p>
{% else %}<p>{{ rate_by_reply }}</p>{% endif %}
{% endif %}
{% endif %}
</body></html>
"""
)


def router(db: Database, clock: Clock, *, tz: ZoneInfo) -> APIRouter:
    """The page's one route."""
    api = APIRouter(tags=["answer"], include_in_schema=False)

    @api.get(PATH, response_class=HTMLResponse)
    async def show(token: str) -> HTMLResponse:
        if not TOKEN_PATTERN.fullmatch(token):
            return _render(404, "答复链接无效", message=UNKNOWN)
        async with db.read() as session:
            page = await answer_page(session, token, clock.now())
        if page is None:
            return _render(404, "答复链接无效", message=UNKNOWN)
        return _render(200, "智能答复", page=page, tz=tz)

    return api


def _render(status: int, title: str, **values: Any) -> HTMLResponse:
    page: AnswerPage | None = values.get("page")
    tz: ZoneInfo | None = values.get("tz")
    html = _PAGE.render(
        title=title, message=values.get("message"), page=page, handover=HANDOVER,
        rate_by_reply=RATE_BY_REPLY,
        # The rating page is served by this app: a path, whatever host the link was opened on.
        rating_link=rating_url("", page.rating_token) if page and page.rating_token else None,
        answered_at=page.answered_at.astimezone(tz).strftime("%Y年%m月%d日 %H:%M")
        if page and tz else "",
    )  # fmt: skip
    return page_response(html, status)
