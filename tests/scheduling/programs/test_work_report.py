"""work_report: one work report in January (the last year's H2) and one in July (this year's
H1), on the configured working day, each delivered once to the business office with a link
that downloads the document; nothing in any other month.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from docx import Document
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI
from hub.core.vocab import MessageKind
from hub.core.workdays import WorkdayCalendar
from hub.reports.settings import ReportsSettings
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs import work_report as program
from hub.scheduling.programs.base import ProgramContext, ProgramFire, ProgramSettings
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.store.models import Message
from hub.web.app import create_app
from tests.pipeline import Hub
from tests.scheduling.programs.year_scenario import CALENDAR_2027
from tests.ticket_factory import make_org

SECRET = "test-link-secret-0123456789abcdefghijklmnop"
BASE_URL = "https://hub.example.cn"
CALENDAR = WorkdayCalendar.from_years(CALENDAR_2027.years)
_LINK = re.compile(re.escape(BASE_URL) + r"(/reports/files/[A-Za-z0-9_-]+)")


async def fire(hub: Hub, day: date, reports: Path, rules: ReportsSettings) -> None:
    at = datetime.combine(day, time(10, 30), tzinfo=SHANGHAI)
    hub.clock.set(at)
    settings = ProgramSettings(calendar=CALENDAR, public_base_url=BASE_URL, reports_dir=reports,
                               reports=rules)  # fmt: skip
    ctx = ProgramContext(hub.db, hub.outbox, hub.clock, settings)
    await program.run(ctx, ProgramFire(schedule="work_report", fire_time=at))


async def deliveries(hub: Hub) -> list[tuple[date, str]]:
    async with hub.db.read() as s:
        rows = (
            await s.execute(
                sa.select(Message.created_at, Message.body)
                .where(Message.kind == MessageKind.REPORT_DELIVERY)
                .order_by(Message.id)
            )
        ).all()
    return [(c.astimezone(SHANGHAI).date(), b) for c, b in rows]


@pytest.mark.parametrize(
    ("workday", "january", "july"),
    [(3, date(2027, 1, 6), date(2027, 7, 5)), (1, date(2027, 1, 4), date(2027, 7, 1))],
)
async def test_a_year_of_working_days_gives_one_report_in_january_and_one_in_july(
    hub: Hub, redis_client: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    workday: int, january: date, july: date,
) -> None:  # fmt: skip
    monkeypatch.setenv(SECRET_ENV, SECRET)
    await make_org(hub.db, datetime(2026, 12, 1, tzinfo=SHANGHAI))
    reports = tmp_path / "reports"
    rules = ReportsSettings(work_report_workday=workday)
    day = date(2027, 1, 1)
    while day.year == 2027:
        if CALENDAR.is_workday(day):
            await fire(hub, day, reports, rules)
        day += timedelta(days=1)

    sent = await deliveries(hub)
    assert [d for d, _ in sent] == [january, july]
    assert sorted(p.name for p in reports.iterdir()) == [
        "work-report-2026H2.docx",
        "work-report-2027H1.docx",
    ]
    assert "2026年下半年工作报告已生成" in sent[0][1]
    assert "2027年上半年工作报告已生成" in sent[1][1]
    doc = Document(str(reports / "work-report-2027H1.docx"))
    assert "工作情况报告（2027年上半年）" in doc.paragraphs[0].text

    hub.clock.set(datetime.combine(july, time(11), tzinfo=SHANGHAI))  # the link's 30 days
    found = _LINK.search(sent[1][1])
    assert found is not None, sent[1][1]
    app = create_app(hub.db, redis_client, metrics=CollectorRegistry(), clock=hub.clock,
                     reports_dir=reports)  # fmt: skip
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
        got = await http.get(found.group(1))
    assert got.status_code == 200
    assert got.content == (reports / "work-report-2027H1.docx").read_bytes()
    assert got.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessingml"
    )


def test_the_program_is_in_the_table() -> None:
    assert PROGRAMS["work_report"] is program.PROGRAM
