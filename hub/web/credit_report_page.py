"""The credit report page behind a half-yearly report's link: ``/reports/credit/{token}``.

``GET`` only, no login: the token (:mod:`hub.scheduling.programs.report_links`, signed with the
secret in ``HUB_LINK_SECRET``) is the credential and names one enterprise's report of one
half-year. The page shows the enterprise's whole credit record as it is when opened (every
event, its authority, dates and repair state; the report's half-year marked), laid out to print
on A4. A token that does not verify, or whose enterprise is gone, is a 404 page; an expired one a
410 page; both in Chinese, never an error of the server. Without the secret configured every
token is unknown (nothing could have been signed with it).
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from hub.core.clock import Clock
from hub.core.credit import CreditEventStatus
from hub.core.errors import ConfigError
from hub.scheduling.programs.credit_report import (
    LINK_LIFETIME,
    CreditRecord,
    HalfYear,
    cn_date,
    load_records,
)
from hub.scheduling.programs.report_links import PATH_PREFIX, ReportLinks
from hub.store.db import Database
from hub.web.page_shell import HEAD, PAGE_ENV, page_response

__all__ = ["PATH", "router"]

PATH: Final = PATH_PREFIX + "{token}"
UNKNOWN: Final = "报告链接无效，请核对短信或消息中的链接。"
EXPIRED: Final = (
    f"报告链接已过期（链接自发送起{LINK_LIFETIME.days}天内有效）。如需查看信用记录，请直接回复收到的报告消息，"
    "或联系您的联络员。"
)

_PAGE = PAGE_ENV.from_string(
    HEAD
    + """\
<style>body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;line-height:1.5}
table{border-collapse:collapse;width:100%;font-size:.95em}th,td{border:1px solid #999;
padding:.3em .5em;text-align:left;vertical-align:top}th{background:#eee}.error{color:#b00}
tr.period td{background:#fff8e0}.status{font-size:1.2em;font-weight:bold}.note{color:#555}
@media print{body{max-width:none;margin:0;font-size:10.5pt}.noprint{display:none}
tr.period td{background:none;font-weight:bold}@page{size:A4;margin:15mm}}</style></head><body>
<h1>{{ title }}</h1>
{% if message %}<p class="error">{{ message }}</p>{% endif %}
{% if report %}
<p>企业名称：{{ report.name }}<br>统一社会信用代码：{{ report.uscc }}<br>
报告期：{{ report.period }}（{{ report.first_day }}至{{ report.last_day }}）<br>
数据截至：{{ report.as_of }}</p>
<p class="status">信用状况：{{ report.status }}</p>
<p>本期信用事件 {{ report.in_period }} 条；信用记录共 {{ report.events | length }} 条，
其中仍有效 {{ report.active }} 条。</p>
{% if report.events %}
<table><thead><tr><th>事件编号</th><th>类型</th><th>认定机关</th><th>认定日期</th><th>事由</th>
<th>状态</th><th>修复日期</th></tr></thead><tbody>
{% for e in report.events %}<tr{% if e.in_period %} class="period"{% endif %}>
{%- for cell in e.cells %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<p class="note">底色标出的为本报告期内认定、修复或移出的事件。</p>
{% else %}
<p>信用记录中没有信用事件（失信被执行人、经营异常名录、行政处罚、严重违法失信名单均无记录）。</p>
{% endif %}
<p class="note">信用状况由有效的信用事件确定：有失信被执行人或严重违法失信名单记录为“失信”，
有经营异常名录或行政处罚记录为“预警”，均无为“良好”。对信用信息有异议或需要信用修复指导的，
请直接回复收到的报告消息，我们将转有关部门核实。</p>
<p class="noprint"><button onclick="window.print()">打印本报告</button></p>
{% endif %}
</body></html>
"""
)


def router(db: Database, clock: Clock, *, tz: ZoneInfo) -> APIRouter:
    """The page's route; the link secret is read from the environment once, here."""
    api = APIRouter(tags=["credit report"], include_in_schema=False)
    try:
        links: ReportLinks | None = ReportLinks.from_env(os.environ, "")
    except ConfigError:
        links = None  # no secret: no link can be genuine

    @api.get(PATH, response_class=HTMLResponse)
    async def show(token: str) -> HTMLResponse:
        ticket = links.verify(token) if links is not None else None
        if ticket is None:
            return _render(404, "报告链接无效", message=UNKNOWN)
        now = clock.now()
        if ticket.expired(now):
            return _render(410, "报告链接已过期", message=EXPIRED)
        records = await load_records(db, enterprise_id=ticket.enterprise_id)
        if not records:
            return _render(404, "报告链接无效", message=UNKNOWN)
        period = HalfYear(ticket.year, ticket.half)
        return _render(200, f"企业信用报告（{period.label}）",
                       report=_view(records[0], period, now, tz))  # fmt: skip

    return api


def _view(record: CreditRecord, period: HalfYear, now: datetime, tz: ZoneInfo) -> dict[str, Any]:
    events = [
        {
            # the columns' order: 事件编号 类型 认定机关 认定日期 事由 状态 修复日期
            "cells": (e.event_id, e.type_label, e.authority, cn_date(e.decided_on),
                      e.summary or "—", e.status.label,
                      cn_date(e.repaired_on) if e.repaired_on else "—"),
            "in_period": e.in_period(period),
        }
        for e in record.events
    ]  # fmt: skip
    return {
        "name": record.name, "uscc": record.uscc, "period": period.label,
        "first_day": cn_date(period.first_day), "last_day": cn_date(period.last_day),
        "as_of": now.astimezone(tz).strftime("%Y年%m月%d日 %H:%M"),
        "status": record.credit_status.label, "events": events,
        "in_period": sum(e["in_period"] for e in events),
        "active": sum(e.status is CreditEventStatus.ACTIVE for e in record.events),
    }  # fmt: skip


def _render(status: int, title: str, **values: Any) -> HTMLResponse:
    page = _PAGE.render(title=title, message=values.get("message"), report=values.get("report"))
    return page_response(page, status)
