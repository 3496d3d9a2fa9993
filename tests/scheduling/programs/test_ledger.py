"""ledger: last month's ledger written under data_dir/reports and delivered to the business
office on the working day before the 25th (holidays moving it earlier), once a month, with a
download link that opens the workbook (and nothing else) until it expires.

The clock walks the working days of 2027 with the 2027 calendar entered, firing at 10:00 as the
scheduler would; the link is fetched from the production app (``create_app``) over httpx.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from pathlib import Path

import httpx
import openpyxl
import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI
from hub.core.errors import ConfigError
from hub.core.settings import YearCalendar
from hub.core.vocab import MessageKind, TicketState
from hub.core.workdays import WorkdayCalendar
from hub.rendering.render import TemplateRenderer
from hub.rendering.sms_text import PLACEHOLDER
from hub.rendering.templates import load_folder
from hub.reports.ledger import delivery_day, ledger_month
from hub.reports.monthly_xlsx import LEDGER_SHEET
from hub.reports.settings import ReportsSettings
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs import ledger as program
from hub.scheduling.programs.base import ProgramContext, ProgramFire, ProgramSettings
from hub.scheduling.programs.file_links import FileLinks, FileTicket
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.store.models import Message
from hub.web.app import create_app
from tests.pipeline import Hub
from tests.scheduling.programs.year_scenario import CALENDAR_2027
from tests.ticket_factory import Org, make_org, make_ticket

SECRET = "test-link-secret-0123456789abcdefghijklmnop"
BASE_URL = "https://hub.example.cn"
CALENDAR = WorkdayCalendar.from_years(CALENDAR_2027.years)
_LINK = re.compile(re.escape(BASE_URL) + r"(/reports/files/[A-Za-z0-9_-]+)")


def ten(day: date) -> datetime:
    return datetime.combine(day, time(10, 0), tzinfo=SHANGHAI)


# --- the day, without a database ------------------------------------------------------------


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (1, date(2027, 1, 22)),  # 25th a Monday: the Friday before
        (2, date(2027, 2, 24)),  # Thursday 25th: Wednesday
        (4, date(2027, 4, 23)),  # 25th a Sunday make-up workday; Saturday 24th off: Friday
        (7, date(2027, 7, 23)),  # 25th a Sunday: Friday 23rd (Saturday 24th off)
        (9, date(2027, 9, 24)),  # 25th a Saturday: Friday 24th
        (10, date(2027, 10, 22)),  # Monday 25th after the National Day week: Friday 22nd
    ],
)
def test_the_delivery_day_is_the_working_day_before_the_25th(month: int, expected: date) -> None:
    assert delivery_day(2027, month, CALENDAR, ReportsSettings()) == expected


def test_holidays_before_the_25th_move_the_delivery_day_earlier() -> None:
    # A made-up local holiday Tuesday 23 – Thursday 25 March 2027.
    days = tuple(date(2027, 3, d) for d in (23, 24, 25))
    calendar = CALENDAR.with_year(2027, YearCalendar(holidays=days))
    assert delivery_day(2027, 3, calendar, ReportsSettings()) == date(2027, 3, 22)
    on_the_day = ReportsSettings(ledger_workdays_before=0)
    assert delivery_day(2027, 3, calendar, on_the_day) == date(2027, 3, 22)
    # 0 working days before: the 25th itself when it is a working day (a Sunday make-up day).
    assert delivery_day(2027, 4, CALENDAR, on_the_day) == date(2027, 4, 25)
    assert delivery_day(2027, 9, CALENDAR, on_the_day) == date(2027, 9, 24)
    assert delivery_day(2027, 6, CALENDAR, ReportsSettings(ledger_workdays_before=3)) == date(
        2027, 6, 22
    )


def test_the_ledger_handed_in_during_a_month_is_the_month_before() -> None:
    assert ledger_month(date(2027, 1, 22)) == "2026-12"
    assert ledger_month(date(2027, 2, 24)) == "2027-01"


# --- a year of runs ---------------------------------------------------------------------------


@pytest.fixture
def linked(monkeypatch: pytest.MonkeyPatch) -> FileLinks:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return FileLinks(SECRET, BASE_URL)


def settings(reports_dir: Path) -> ProgramSettings:
    return ProgramSettings(calendar=CALENDAR, public_base_url=BASE_URL, reports_dir=reports_dir)


async def fire(hub: Hub, day: date, reports_dir: Path) -> None:
    hub.clock.set(ten(day))
    ctx = ProgramContext(hub.db, hub.outbox, hub.clock, settings(reports_dir))
    await program.run(ctx, ProgramFire(schedule="ledger", fire_time=ten(day)))


async def january_tickets(hub: Hub) -> Org:
    """Three tickets received in January 2027 (one resolved on time), one in February."""
    org = await make_org(hub.db, datetime(2026, 12, 1, tzinfo=SHANGHAI))
    jan = [datetime(2027, 1, d, 10, tzinfo=SHANGHAI) for d in (5, 6, 7)]
    await make_ticket(hub.db, org, number="GD202701050001", received_at=jan[0],
                      deadline_at=jan[0] + timedelta(days=7), state=TicketState.RESOLVED,
                      resolutions=[jan[0] + timedelta(days=2)])  # fmt: skip
    for received in jan[1:]:
        await make_ticket(hub.db, org, number=f"GD{received:%Y%m%d}0001", received_at=received,
                          deadline_at=received + timedelta(days=30))  # fmt: skip
    feb = datetime(2027, 2, 3, 10, tzinfo=SHANGHAI)
    await make_ticket(hub.db, org, number="GD202702030001", received_at=feb,
                      deadline_at=feb + timedelta(days=7))  # fmt: skip
    return org


async def deliveries(hub: Hub) -> list[tuple[str, date, str]]:
    """(address, local day, body) of every report_delivery notice."""
    async with hub.db.read() as s:
        rows = (
            await s.execute(
                sa.select(Message.address, Message.created_at, Message.body)
                .where(Message.kind == MessageKind.REPORT_DELIVERY)
                .order_by(Message.id)
            )
        ).all()
    return [(a, c.astimezone(SHANGHAI).date(), b) for a, c, b in rows]


async def test_a_year_of_working_days_delivers_twelve_ledgers_each_once_before_the_25th(
    hub: Hub, tmp_path: Path, linked: FileLinks
) -> None:
    await january_tickets(hub)
    reports = tmp_path / "reports"
    day = date(2027, 1, 1)
    while day.year == 2027:
        if CALENDAR.is_workday(day):
            await fire(hub, day, reports)
        day += timedelta(days=1)

    sent = await deliveries(hub)
    # 钱主任, the office's head, gets one notice a month, on its delivery day.
    assert [(a, d) for a, d, _ in sent] == [
        ("+8613800000004", delivery_day(2027, m, CALENDAR, ReportsSettings())) for m in range(1, 13)
    ]
    assert all(d.day <= 25 for _, d, _ in sent)
    assert sorted(p.name for p in reports.iterdir()) == [
        f"ledger-{m}.xlsx" for m in ("2026-12", *(f"2027-{n:02d}" for n in range(1, 12)))
    ]
    january = sent[1][2]
    assert "2027年1月台账（月度报表）已生成" in january
    assert "受理诉求3件，办结1件（按时1件）" in january
    assert "ledger-2027-01.xlsx" in january
    book = openpyxl.load_workbook(reports / "ledger-2027-01.xlsx")
    numbers = [row[0] for row in book[LEDGER_SHEET].iter_rows(min_row=2, values_only=True)]
    assert numbers == ["GD202701050001", "GD202701060001", "GD202701070001"]


async def test_a_second_run_sends_nothing_and_a_missed_day_is_caught_up(
    hub: Hub, tmp_path: Path, linked: FileLinks
) -> None:
    await january_tickets(hub)
    reports = tmp_path / "reports"
    await fire(hub, date(2027, 2, 23), reports)  # the day before the delivery day: nothing
    assert await deliveries(hub) == []
    assert not reports.exists()
    # The scheduler was down on Wednesday 24 February: Thursday's run (the 25th) delivers.
    await fire(hub, date(2027, 2, 25), reports)
    written = (reports / "ledger-2027-01.xlsx").stat().st_mtime_ns
    await fire(hub, date(2027, 2, 25), reports)
    await fire(hub, date(2027, 2, 26), reports)
    assert [d for _, d, _ in await deliveries(hub)] == [date(2027, 2, 25)]
    assert (reports / "ledger-2027-01.xlsx").stat().st_mtime_ns == written  # not rewritten


def test_the_program_is_in_the_table() -> None:
    assert PROGRAMS["ledger"] is program.PROGRAM
    assert program.PROGRAM.kinds == (MessageKind.REPORT_DELIVERY,)


# --- the link -------------------------------------------------------------------------------


def client(hub: Hub, redis: Redis, reports: Path) -> httpx.AsyncClient:
    app = create_app(hub.db, redis, metrics=CollectorRegistry(), clock=hub.clock,
                     reports_dir=reports)  # fmt: skip
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub")


async def test_the_link_downloads_the_workbook_until_it_expires(
    hub: Hub, redis_client: Redis, tmp_path: Path, linked: FileLinks
) -> None:
    await january_tickets(hub)
    reports = tmp_path / "reports"
    await fire(hub, date(2027, 2, 24), reports)
    [(_, _, body)] = await deliveries(hub)
    assert "链接有效期至2027年3月26日" in body
    found = _LINK.search(body)
    assert found is not None, body
    path = found.group(1)
    (tmp_path / "secret.txt").write_text("not a report")
    async with client(hub, redis_client, reports) as http:
        ok = await http.get(path)
        assert ok.status_code == 200
        assert ok.content == (reports / "ledger-2027-01.xlsx").read_bytes()
        assert ok.headers["content-type"].startswith("application/vnd.openxmlformats")
        assert "ledger-2027-01.xlsx" in ok.headers["content-disposition"]
        tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
        assert (await http.get(tampered)).status_code == 404
        assert (await http.get("/reports/files/..%2Fsecret.txt")).status_code == 404
        # A genuine token for a name outside the folder cannot be made; one for a file
        # that is not there is a 404.
        with pytest.raises(ValueError, match="bare"):
            linked.token(FileTicket("../secret.txt", hub.clock.now() + timedelta(days=1)))
        missing = linked.token(FileTicket("ledger-2026-01.xlsx", hub.clock.now() + timedelta(1)))
        assert (await http.get(f"/reports/files/{missing}")).status_code == 404
        hub.clock.advance(timedelta(days=30, seconds=1))
        expired = await http.get(path)
        assert expired.status_code == 403
        assert "下载链接已过期" in expired.text


async def test_without_the_secret_every_link_is_unknown(
    hub: Hub, redis_client: Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    token = FileLinks(SECRET, BASE_URL).token(
        FileTicket("ledger-2027-01.xlsx", hub.clock.now() + timedelta(days=1))
    )
    async with client(hub, redis_client, tmp_path) as http:
        assert (await http.get(f"/reports/files/{token}")).status_code == 404


async def test_without_the_secret_the_run_fails_before_writing_anything(
    hub: Hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    with pytest.raises(ConfigError, match=SECRET_ENV):
        await fire(hub, date(2027, 2, 24), tmp_path / "reports")
    assert not (tmp_path / "reports").exists()
    assert await deliveries(hub) == []


def test_the_sms_carries_the_whole_link() -> None:
    """An office head with only a mobile gets the SMS: its url parameter (at most 100
    characters) must hold the link whole, or the head gets a cut, dead link."""
    templates = Path(__file__).resolve().parents[3] / "templates"
    approved = (templates / "report_delivery" / "sms.j2").read_text(encoding="utf-8").strip()
    expires = datetime(2027, 3, 26, 10, tzinfo=SHANGHAI)
    context = {"hub_name": "主动服务", "contact": {"name": "钱主任"}, "summary": ""}
    for name, title in (("ledger-2027-01.xlsx", "2027年1月台账（月度报表）"),
                        ("work-report-2027H1.docx", "2027年上半年工作报告")):  # fmt: skip
        url = FileLinks(SECRET, "https://zdfw.example.gov.cn").url(FileTicket(name, expires))
        variables = {"report_title": title, "period": "", "file_name": name,
                     "download_url": url, "valid_until": "2027年3月26日"}  # fmt: skip
        rendered = TemplateRenderer(load_folder(templates).catalog).render_message(
            "report_delivery", "sms", {**context, **variables}
        )
        params = rendered.template_param()
        text = PLACEHOLDER.sub(lambda m, p=params: p[m.group(1)], approved)
        assert text == f"{title}已生成，请下载查阅：{url} 链接有效期至2027年3月26日。"
