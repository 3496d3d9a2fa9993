"""``hub visits record|schedule|contact`` in-process: round trips with --json, and bad input
refused with a Chinese message naming the option (exit 2; an unknown record exit 1)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import Enterprise, LiaisonContact, Ticket, Visit
from tests.cli.cli_support import on_database
from tests.visits.record_support import HOLIDAYS_2027, NOW, VisitWorld, seed_visit_world


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    holidays = [d.isoformat() for d in HOLIDAYS_2027.holidays]
    workdays = [d.isoformat() for d in HOLIDAYS_2027.workdays]
    return write_config(
        calendar={"years": {2027: {"holidays": holidays, "workdays": workdays}}},
        tickets={"rules": [{"keywords": ["停电"], "department": "FGW"}]},
    )


@pytest.fixture
def world(config: Path) -> VisitWorld:
    return on_database(config, seed_visit_world)


def hub(config: Path, *args: str | int, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *(str(a) for a in args)], clock=FixedClock(NOW))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_record_done_with_problems_and_departments_opens_routed_tickets(
    config: Path, world: VisitWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    visit_id = world.visits["甲机械"]
    args = ("visits", "record", visit_id, "--done", "--at", "2027-03-01 09:40",
            "--notes", "座谈顺利", "--problem", "厂区道路破损需维修", "--department", "fgw",
            "--problem", "用地手续办理慢", "--department", "-", "--json")  # fmt: skip
    code, text = hub(config, *args, capsys=capsys)
    assert code == 0, text
    data = json.loads(text)
    assert data["status"] == "done"
    assert data["visited_at"] == "2027-03-01T09:40:00+08:00"
    assert [t["department"] for t in data["tickets"]] == ["FGW", "GXJ"]
    code, again = hub(config, *args, capsys=capsys)
    assert code == 0
    assert json.loads(again)["already"] is True

    async def rows(db: Database) -> list[Any]:
        async with db.read() as session:
            return list((await session.scalars(sa.select(Ticket.source_visit_id))).all())

    assert on_database(config, rows) == [visit_id, visit_id]
    code, text = hub(config, "visits", "record", visit_id, "--done", capsys=capsys)
    assert (code, "已记录为完成" in text) == (2, True)


def test_not_done_then_schedule_then_contact(
    config: Path, world: VisitWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    visit_id = world.visits["丙软件"]
    code, text = hub(config, "visits", "record", visit_id, "--not-done", "--reason",
                     "企业负责人出差", capsys=capsys)  # fmt: skip
    assert code == 0, text
    assert "待预约" in text
    code, text = hub(config, "visits", "schedule", visit_id, "--at", "3月2日上午", "--json",
                     capsys=capsys)  # fmt: skip
    assert code == 0, text
    assert json.loads(text)["proposed_for"] == "2027-03-02T09:00:00+08:00"

    async def uscc_and_visit(db: Database) -> tuple[str, Visit]:
        async with db.read() as session:
            enterprise = await session.get(Enterprise, world.tickets.enterprises["丙软件"])
            visit = await session.get(Visit, visit_id)
            assert enterprise is not None
            assert visit is not None
            return enterprise.uscc, visit

    uscc, visit = on_database(config, uscc_and_visit)
    assert visit.details["not_done"][0]["reason"] == "企业负责人出差"
    code, text = hub(config, "visits", "contact", uscc, "--via", "phone", "--notes",
                     "已电话了解用工需求", "--json", capsys=capsys)  # fmt: skip
    assert code == 0, text
    assert json.loads(text)["officer"] == "LL002"

    async def contacts(db: Database) -> list[str]:
        async with db.read() as session:
            return list((await session.scalars(sa.select(LiaisonContact.notes))).all())

    assert on_database(config, contacts) == ["已电话了解用工需求"]


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("record", "{v}"), 2, "--done 或 --not-done"),
        (("record", "{v}", "--not-done"), 2, "--reason"),
        (
            ("record", "{v}", "--done", "--problem", "a", "--problem", "b", "--department", "FGW"),
            2,
            "--department 须与 --problem 一一对应",
        ),
        (("record", "{v}", "--done", "--at", "下下下周"), 2, "时间“下下下周”无法识别"),
        (("record", "9999", "--done"), 1, "没有编号为 9999 的走访"),
        (("schedule", "{v}", "--at", "2027-04-05 09:30"), 2, "是休息日"),
        (("contact", "123", "--via", "phone"), 1, "没有统一社会信用代码为 123 的企业"),
        (("contact", "123", "--via", "fax"), 2, "--via 应为"),
    ],
)
def test_bad_input_is_refused_naming_what_is_wrong(
    config: Path, world: VisitWorld, capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...], code: int, says: str,
) -> None:  # fmt: skip
    filled = [a.format(v=world.visits["甲机械"]) for a in args]
    got, text = hub(config, "visits", *filled, capsys=capsys)
    assert got == code, text
    assert says in text
