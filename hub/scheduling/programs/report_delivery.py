"""Delivering a produced report file to the business-environment office (营商办).

The ledger and the work report programs write their file under the reports folder
(``data_dir/reports``) and call :func:`deliver_report`: one ``report_delivery`` notice to each
of the office's heads (:func:`hub.tickets.recipients.business_office_heads`: the staff with role
``head`` of the office, else the head entered on its department row), WeCom first, with a
signed, expiring download link (:mod:`.file_links`). Each notice goes once per report and
recipient: its key is the report's (``ledger:2027-01``), so a repeat run, a restart or a
catch-up sends nothing twice, and a head added later still gets it on the next run.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from hub.core.vocab import MessageKind
from hub.outbound.notify import Notice, enqueue_notified, notify_many
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramOutcome,
    notice_outcome,
    program_trigger,
)
from hub.scheduling.programs.file_links import FileLinks, FileTicket
from hub.tickets.recipients import business_office_heads

KIND: Final = MessageKind.REPORT_DELIVERY
#: The variables a report_delivery notice gets from :func:`deliver_report`.
VARIABLES: Final = frozenset(
    {"report_title", "period", "summary", "file_name", "download_url", "valid_until"}
)
NO_OFFICE: Final = "营商办无负责人联系方式"


@dataclass(frozen=True, slots=True)
class ProducedReport:
    """A report file written under the reports folder, as its notice describes it."""

    program: str
    key: str  # the report's name in idempotency keys: ledger:2027-01, work_report:2027H1
    file_name: str
    title: str  # 2027年1月台账（月度报表）
    period: str  # 2027年1月
    summary: str = ""


def cn_day(moment: datetime, ctx: ProgramContext) -> str:
    """A local date as the notices write it: 2027年3月25日."""
    day = moment.astimezone(ctx.settings.tz).date()
    return f"{day.year}年{day.month}月{day.day}日"


def file_links(ctx: ProgramContext) -> FileLinks:
    """The links the notices carry; ConfigError naming ``HUB_LINK_SECRET`` when it is not set.
    Programs ask before they write a file, so a missing secret fails the run with nothing done."""
    return FileLinks.from_env(os.environ, ctx.settings.public_base_url)


async def deliver_report(
    ctx: ProgramContext, report: ProducedReport, links: FileLinks
) -> ProgramOutcome:
    """Notify the business office's heads of ``report`` with its download link (once each)."""
    now = ctx.clock.now()
    expires = now + timedelta(days=ctx.settings.reports.link_valid_days)
    variables = {
        "report_title": report.title,
        "period": report.period,
        "summary": report.summary,
        "file_name": report.file_name,
        "download_url": links.url(FileTicket(report.file_name, expires)),
        "valid_until": cn_day(expires, ctx),
    }
    outcome = ProgramOutcome()
    planner = ctx.outbox.planner
    async with ctx.db.write() as session:
        heads = await business_office_heads(session, ctx.settings.business_office)
        notices = [
            Notice(KIND, head, variables, program_trigger(report.program), report.key)
            for head in heads
        ]
        results = await notify_many(
            session, notices, now=now, renderer=planner.renderer, policy=planner.policy,
            hold=ctx.hold,
        )  # fmt: skip
    await enqueue_notified(ctx.outbox.queue, results)
    if not heads:
        outcome.held_back(NO_OFFICE)
    for result in results:
        outcome.add(notice_outcome(result))
    return outcome
