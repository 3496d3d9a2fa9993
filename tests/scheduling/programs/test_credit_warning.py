"""credit_warning: one warning (and officer notice) per active event, one closing notice per
repaired or removed event, whatever the number of imports; by file, by API, by the daily sweep.

The sample registry (tests.seed): 甲机械 (officer 李明 LL001, one contact), 乙商贸 (no officer,
two contacts), 丙软件 (officer 张丽娟 LL002, one contact). Real Redis, SQLite, a FixedClock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import yaml
from fastapi import FastAPI

from hub.cli import main
from hub.core.credit import CreditEventType
from hub.core.errors import ConfigError
from hub.core.vocab import MessageKind
from hub.importing.service import import_file
from hub.outbound.audience import parse_audience
from hub.outbound.notify import enterprise_context
from hub.outbound.planning import SendRequest
from hub.rendering.sms_text import PLACEHOLDER
from hub.scheduling.programs import PROGRAMS
from hub.scheduling.programs import credit_warning as program
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramItem,
    ProgramOutcome,
    ProgramSettings,
    officer_notice_key,
)
from hub.scheduling.schedules import parse_spec
from hub.store.db import Database
from hub.store.models import Enterprise, Message, Officer
from hub.tickets.staff import NewStaff, StaffRole, add_staff, issue_token
from hub.web.api import router
from tests.importing.factories import make_uscc, write_csv_file
from tests.pipeline import Hub
from tests.seed import seed_registry

JIA, YI, BING = make_uscc(1), make_uscc(2), make_uscc(3)
APPROVED_SMS = (
    (Path(__file__).resolve().parents[3] / "templates" / "credit_warning" / "sms.j2")
    .read_text(encoding="utf-8")
    .strip()
)
HEADER = [
    "事件编号",
    "统一社会信用代码",
    "类型",
    "认定机关",
    "认定日期",
    "事由",
    "状态",
    "修复日期",
]
EVENTS = [
    [
        "XY-001",
        JIA,
        "行政处罚",
        "龙沙区市场监督管理局",
        "2026-11-02",
        "未按规定标明价格",
        "有效",
        "",
    ],
    [
        "XY-002",
        YI,
        "经营异常名录",
        "建华区市场监督管理局",
        "2026-10-15",
        "未按期公示年报",
        "有效",
        "",
    ],
    ["XY-003", BING, "严重违法失信名单", "市市场监督管理局", "2026-08-31", "", "有效", ""],
]


def context(hub: Hub) -> ProgramContext:
    return ProgramContext(hub.db, hub.outbox, hub.clock)


async def imported(hub: Hub, tmp_path: Path, rows: Sequence[Sequence[str]]) -> ProgramOutcome:
    """``hub import credit`` as the CLI runs it: save the file, then the program on the changes."""
    path = write_csv_file(tmp_path / "credit.csv", [HEADER, *rows])
    report = await import_file(hub.db, "credit", path, hub.clock)
    assert report.rejected == 0
    assert report.changes is not None
    return await program.run_on_changes(context(hub), report.changes)


async def bodies(hub: Hub) -> list[tuple[int | None, int | None, str]]:
    """(enterprise, staff, body) of every message, in creation order."""
    async with hub.db.read() as session:
        rows = await session.execute(
            sa.select(Message.enterprise_id, Message.staff_id, Message.body).order_by(Message.id)
        )
        return [(e, s, b) for e, s, b in rows.all()]


async def test_an_import_warns_each_event_once_with_its_facts_and_tells_the_officer(
    hub: Hub, tmp_path: Path
) -> None:
    outcome = await imported(hub, tmp_path, EVENTS)
    # 3 warnings (甲 1 contact, 乙 2, 丙 1) + officer notices for 甲 (李明) and 丙 (张丽娟).
    assert (outcome.created, outcome.duplicates, outcome.skipped) == (6, 0, 0)
    assert outcome.not_sent == {program.NO_OFFICER: 1}  # 乙商贸 has no liaison officer
    messages = await bodies(hub)
    to_enterprises = [b for _, _, b in messages if "贵企业" in b]
    assert len(to_enterprises) == 4
    jia = next(b for b in to_enterprises if "甲机械" in b)
    for fact in (
        "行政处罚：未按规定标明价格", "龙沙区市场监督管理局", "2026年11月2日",
        "信用中国", "2027年2月2日",  # the earliest repair: three months' minimum publicity
        "最短公示期为三个月",
    ):  # fmt: skip
        assert fact in jia, fact
    yi = next(b for b in to_enterprises if "乙商贸" in b)
    assert "经营异常名录：未按期公示年报" in yi
    assert "申请移出经营异常名录" in yi
    assert "最早可于" not in yi  # the rules set no minimum period for this type
    bing = next(b for b in to_enterprises if "丙软件" in b)
    assert "严重违法失信名单" in bing
    assert "2027年8月31日" in bing  # one year listed before an early removal
    to_officers = [b for _, _, b in messages if "您联络的企业" in b]
    assert len(to_officers) == 2
    assert any("李明" in b and "甲机械" in b and "行政处罚" in b for b in to_officers)
    assert any("张丽娟" in b and "丙软件" in b and "严重违法失信名单" in b for b in to_officers)

    # The same file again changes nothing and sends nothing; the program run again on the
    # same events (a retried import) finds every message on record.
    again = await imported(hub, tmp_path, EVENTS)
    assert (again.created, again.items) == (0, 0)
    rerun = await program._act(context(hub), await program._events(context(hub), sa.true()))
    assert (rerun.created, rerun.duplicates) == (0, 6)
    assert len(await bodies(hub)) == 6


async def test_a_repaired_event_gets_one_closing_notice(hub: Hub, tmp_path: Path) -> None:
    await imported(hub, tmp_path, EVENTS)
    before = len(await bodies(hub))
    repaired = [["XY-001", JIA, "行政处罚", "龙沙区市场监督管理局", "2026-11-02",
                 "未按规定标明价格", "已修复", "2026-11-20"]]  # fmt: skip
    closing = await imported(hub, tmp_path, repaired)
    assert (closing.items, closing.created) == (1, 1)
    messages = await bodies(hub)
    assert len(messages) == before + 1
    body = messages[-1][2]
    assert "甲机械" in body
    assert "行政处罚：未按规定标明价格" in body
    assert "已修复（2026年11月20日），相应信用警示解除" in body
    # Again: nothing new, whether the file changes nothing or the program runs again.
    assert (await imported(hub, tmp_path, repaired)).created == 0
    sweep = await program.run(context(hub), ProgramFire("credit_warning", hub.clock.now()))
    assert sweep.created == 0
    assert len(await bodies(hub)) == before + 1


async def test_an_event_imported_already_closed_gets_nothing(hub: Hub, tmp_path: Path) -> None:
    removed = [["XY-009", JIA, "失信被执行人", "龙沙区人民法院", "2025-03-02", "", "已移出",
                "2025-06-01"]]  # fmt: skip
    outcome = await imported(hub, tmp_path, removed)
    assert outcome.created == 0
    assert outcome.not_sent == {program.NEVER_WARNED: 1}
    assert await bodies(hub) == []


async def test_the_daily_sweep_sends_what_the_real_time_path_missed(
    hub: Hub, tmp_path: Path
) -> None:
    # Saved without the program (a crash between saving and sending, say).
    path = write_csv_file(tmp_path / "credit.csv", [HEADER, *EVENTS])
    assert (await import_file(hub.db, "credit", path, hub.clock)).created == 3
    assert await bodies(hub) == []
    only_key = ProgramFire("credit_warning", hub.clock.now(), parse_audience("tier=key"))
    assert (await program.run(context(hub), only_key)).created == 2  # 甲机械 and its officer
    everyone = ProgramFire("credit_warning", hub.clock.now())
    assert (await program.run(context(hub), everyone)).created == 4
    assert (await program.run(context(hub), everyone)).created == 0


# --- the API path ------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def api(hub: Hub) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    await add_staff(hub.db, hub.clock, NewStaff("admin", "管理员", StaffRole.ADMIN, None, None),
                    actor="test")  # fmt: skip
    token = await issue_token(hub.db, hub.clock, "admin", actor="test")
    app = FastAPI()
    app.include_router(router(hub.db, hub.clock, programs=context(hub)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub") as client:
        yield client, {"Authorization": f"Bearer {token}"}


def event_body(row: Sequence[str]) -> dict[str, Any]:
    names = ["event_id", "uscc", "type", "authority", "decided_on", "summary", "status"]
    body: dict[str, Any] = dict(zip(names, row, strict=False))
    if row[7]:
        body["repaired_on"] = row[7]
    return body


async def test_the_api_warns_once_and_closes_once(hub: Hub) -> None:
    async with api(hub) as (client, auth):
        for row in EVENTS:
            response = await client.post("/api/v1/credit-events", json=event_body(row),
                                         headers=auth)  # fmt: skip
            assert response.status_code == 200, response.text
        assert len(await bodies(hub)) == 6
        for row in EVENTS:  # posted again: unchanged, nothing sent
            await client.post("/api/v1/credit-events", json=event_body(row), headers=auth)
        assert len(await bodies(hub)) == 6
        removed = [*EVENTS[1][:6], "已移出", "2026-11-21"]
        for _ in range(2):
            response = await client.post("/api/v1/credit-events", json=event_body(removed),
                                         headers=auth)  # fmt: skip
            assert response.status_code == 200, response.text
    messages = await bodies(hub)
    assert len(messages) == 8  # 乙商贸's two contacts, once
    assert all("已移出" in b and "乙商贸" in b for _, _, b in messages[6:])


# --- the guidance file ---------------------------------------------------------------------


def test_the_shipped_guidance_covers_every_type() -> None:
    guidance = program.load_guidance(program.guidance_path(ProgramSettings()))
    assert set(guidance) == set(CreditEventType)
    penalty = guidance[CreditEventType.ADMIN_PENALTY]
    assert penalty.earliest(date(2026, 11, 30)) == date(2027, 2, 28)  # month end clamps
    assert guidance[CreditEventType.DISHONEST_DEBTOR].earliest(date(2026, 1, 1)) is None


def test_a_broken_guidance_file_is_refused_naming_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "guidance.yaml"
    shipped = program.guidance_path(ProgramSettings()).read_text(encoding="utf-8")
    path.write_text(shipped.replace("earliest_after_months: 3", "earliest_after_months: 三"),
                    encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        program.load_guidance(path)
    assert caught.value.key == "admin_penalty.earliest_after_months"
    assert caught.value.line is not None
    assert "整数" in str(caught.value)
    path.write_text("admin_penalty: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="缺少失信被执行人"):
        program.load_guidance(path)


async def test_a_broken_guidance_file_sends_nothing(hub: Hub, tmp_path: Path) -> None:
    folder = tmp_path / "templates" / "credit_warning"
    folder.mkdir(parents=True)
    (folder / "guidance.yaml").write_text("dishonest_debtor: 1\n", encoding="utf-8")
    ctx = ProgramContext(hub.db, hub.outbox, hub.clock,
                         ProgramSettings(templates_folder=tmp_path / "templates"))  # fmt: skip
    path = write_csv_file(tmp_path / "credit.csv", [HEADER, *EVENTS])
    report = await import_file(hub.db, "credit", path, hub.clock)
    assert report.changes is not None
    with pytest.raises(ConfigError):
        await program.run_on_changes(ctx, report.changes)
    assert await bodies(hub) == []


def test_the_program_is_in_the_table_with_its_kind() -> None:
    assert PROGRAMS["credit_warning"].kinds == (MessageKind.CREDIT_WARNING,)
    spec = parse_spec({"cron": "30 8 * * *", "program": "credit_warning"}, default_name="c",
                      file="f")  # fmt: skip
    assert spec.workdays_only


# --- the CLI path ------------------------------------------------------------------------------


def test_hub_import_credit_sends_the_warnings_once(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["storage"]["url"]

    async def on_file(work: Callable[[Database], Awaitable[Any]]) -> Any:
        db = Database.open(url)
        try:
            return await work(db)
        finally:
            await db.aclose()

    async def count(db: Database) -> int:
        async with db.read() as session:
            return int(await session.scalar(sa.select(sa.func.count()).select_from(Message)) or 0)

    asyncio.run(on_file(seed_registry))
    path = write_csv_file(tmp_path / "credit.csv", [HEADER, *EVENTS])
    command = ["--config", str(config), "import", "credit", str(path)]
    capsys.readouterr()
    assert main(command) == 0
    assert "推送：事项 5 项，新建 6 条" in capsys.readouterr().out
    assert main(command) == 0  # unchanged: nothing to send
    assert "推送" not in capsys.readouterr().out
    assert asyncio.run(on_file(count)) == 6


async def test_officer_notices_are_found_by_the_key_notify_stores(hub: Hub, tmp_path: Path) -> None:
    """The re-run skips notices by officer_notice_key: it must be the stored message's key."""
    await imported(hub, tmp_path, EVENTS)
    async with hub.db.read() as session:
        stored = set(
            await session.scalars(
                sa.select(Message.idempotency_key).where(Message.enterprise_id.is_(None))
            )
        )
        officers = dict((await session.execute(sa.select(Officer.code, Officer.id))).all())
    expected = {
        officer_notice_key(ProgramItem("credit_warning", MessageKind.CREDIT_WARNING,
                                       program.warning_key(event_id)), officers[code])
        for event_id, code in (("XY-001", "LL001"), ("XY-003", "LL002"))
    }  # fmt: skip
    assert stored == expected


async def test_the_officers_sms_names_the_enterprise_and_its_contact_not_himself(hub: Hub) -> None:
    """The officer's notice carries the enterprise's contact to call: its SMS (the params
    filled into the approved text) names the enterprise and that contact, never the officer
    himself, and does not ask him to repair the event."""
    async with hub.db.read() as session:
        jia = await session.scalar(sa.select(Enterprise).where(Enterprise.uscc == JIA))
        li_ming = await session.scalar(sa.select(Officer).where(Officer.name == "李明"))
        assert jia is not None
        assert li_ming is not None
        enterprise = await enterprise_context(session, jia.id)
    variables = {"risk_item": "行政处罚：未按规定标明价格", "found_on": "2026年11月2日",
                 "for_officer": True}  # fmt: skip
    item = ProgramItem(program.NAME, program.KIND, program.warning_key("XY-001"), variables)
    [(notice, officer, enterprise_id)] = await program._with_contacts(
        context(hub), [(item, li_ming, jia.id)]
    )
    assert (notice.key, officer, enterprise_id) == (item.key, li_ming, jia.id)
    assert notice.variables["enterprise_contact_name"] == "甲机械联系人1"
    mobile = notice.variables["enterprise_contact_mobile"].replace("+86", "")
    rendered = hub.outbox.planner.renderer.render_message(
        "credit_warning", "sms",
        {**enterprise, **notice.variables, "hub_name": "主动服务", "contact": {"name": "李明"}},
    )  # fmt: skip
    params = rendered.template_param()
    text = PLACEHOLDER.sub(lambda m: params[m.group(1)], APPROVED_SMS)
    assert text.startswith("甲机械信用提示：行政处罚：未按规定标明价格")
    assert text.endswith(f"。企业联系人甲机械联系人1，电话{mobile}。")
    assert "李明" not in text
    assert "请尽快整改" not in text


async def test_a_contact_at_its_frequency_cap_still_gets_its_credit_warning(
    hub: Hub, tmp_path: Path
) -> None:
    """The caps hold back marketing volume, not a message about the enterprise's own record: a
    warning skipped at the cap would keep its idempotency key and never be sent at all."""
    for n in range(3):  # 甲机械's one contact reaches routing.max_per_contact_per_day (3)
        sent = await hub.outbox.submit(
            SendRequest(kind=MessageKind.NOTICE, audience=parse_audience(f"uscc={JIA}"),
                        trigger="test", trigger_key=f"notice-{n}",
                        variables={"text": f"第{n + 1}条通知：请核对企业登记信息"})
        )  # fmt: skip
        assert sent.created == 1
    outcome = await imported(hub, tmp_path, EVENTS[:1])
    assert outcome.skipped == 0
    warnings = [b for _, _, b in await bodies(hub) if "贵企业" in b and "甲机械" in b]
    assert len(warnings) == 1
