"""``hub tickets …`` in-process: list, show, every step, --as scope, messages it queues."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.core.clock import FixedClock
from hub.core.vocab import ChannelName, MessageKind
from hub.store.db import Database
from hub.store.models import Message, Ticket
from tests.cli.cli_support import on_database
from tests.queries.answer_rows import add_auto_answer
from tests.ticket_support import TicketWorld, new_ticket, seed_ticket_world, sh

CREATED = sh(2026, 11, 30, 9)  # before the real clock the CLI uses


def hub(config: Path, *args: str | Path) -> int:
    return main(["--config", str(config), *(str(arg) for arg in args)])


def json_out(capsys: pytest.CaptureFixture[str], config: Path, *args: str) -> Any:
    capsys.readouterr()
    assert hub(config, *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    return write_config()


@pytest.fixture
def world(config: Path) -> TicketWorld:
    return on_database(config, seed_ticket_world)


def open_one(config: Path, world: TicketWorld, **kwargs: Any) -> str:
    async def act(db: Database) -> str:
        return (await new_ticket(db, world, at=CREATED, **kwargs)).number

    return on_database(config, act)


def test_list_and_show_as_json(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    first = open_one(config, world)
    second = open_one(config, world, enterprise="乙商贸", body="想了解补贴政策")
    rows = json_out(capsys, config, "tickets", "list")
    assert [r["number"] for r in rows] == [second, first]
    assert rows[0]["department"]["code"] == "SWJ"
    assert rows[1]["received_at"] == "2026-11-30T09:00:00+08:00"
    only_gxj = json_out(capsys, config, "tickets", "list", "--department", "gxj")
    assert [r["number"] for r in only_gxj] == [first]
    shown = json_out(capsys, config, "tickets", "show", first)
    assert shown["number"] == first
    assert [e["type"] for e in shown["events"]] == ["created", "assigned"]
    assert shown["contact"]["mobile"] == "+8613900000001"  # the operator sees it in full
    capsys.readouterr()
    assert hub(config, "tickets", "show", "GD209901010001") == 1
    assert "没有编号为 GD209901010001 的工单" in capsys.readouterr().err


def test_steps_and_their_events(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    number = open_one(config, world)
    assert hub(config, "tickets", "start", number, "--as", "gxj_a") == 0
    moved = json_out(
        capsys, config, "tickets", "transfer", number, "SWJ", "--reason", "属商务局职责"
    )
    assert moved["department"]["code"] == "SWJ"
    assert moved["handler"]["username"] == "swj_a"
    back = json_out(capsys, config, "tickets", "return", number, "--reason", "需派单员重新研判",
                    "--as", "swj_a")  # fmt: skip
    assert (back["state"], back["department"]) == ("new", None)
    assert hub(config, "tickets", "assign", number, "gxj_c", "--as", "dispatcher") == 0
    capsys.readouterr()
    # an illegal step: exit 2 with the state named in Chinese
    assert hub(config, "tickets", "reopen", number, "--reason", "x") == 2
    assert "当前状态为“已分派”，不能重办" in capsys.readouterr().err
    shown = json_out(capsys, config, "tickets", "show", number)
    events = [(e["type"], e["actor"]) for e in shown["events"]]
    assert events == [
        ("created", "system"), ("assigned", "system"), ("in_progress", "gxj_a"),
        ("transferred", "cli"), ("assigned", "cli"), ("returned", "swj_a"),
        ("assigned", "dispatcher"),
    ]  # fmt: skip
    assert shown["events"][3]["reason"] == "属商务局职责"


def test_as_a_handler_of_another_department_is_refused(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    number = open_one(config, world)  # GXJ
    capsys.readouterr()
    assert hub(config, "tickets", "start", number, "--as", "swj_a") == 2
    assert "不在您的部门范围内" in capsys.readouterr().err
    assert hub(config, "tickets", "extend", number, "--days", "3", "--reason", "r",
               "--as", "gxj_a") == 2  # fmt: skip
    assert "承办人无权批准延期" in capsys.readouterr().err
    assert hub(config, "tickets", "start", number, "--as", "viewer") == 2
    assert json_out(capsys, config, "tickets", "list", "--as", "swj_a") == []
    assert json_out(capsys, config, "tickets", "show", number, "--as", "viewer")["number"] == number


def test_extend_and_resolve_queue_messages_to_the_enterprise(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    # the request came in on the sandbox, the one channel the test config enables
    number = open_one(config, world, channel=ChannelName.SANDBOX)
    extended = json_out(capsys, config, "tickets", "extend", number, "--days", "5",
                        "--reason", "需现场核查", "--as", "gxj_head")  # fmt: skip
    # Mon 30 Nov + 5 wd = Mon 7 Dec; + 5 = Mon 14 Dec (24:00 = 00:00 on the 15th)
    assert extended["due_at"] == extended["deadline_at"] == "2026-12-15T00:00:00+08:00"
    assert extended["due_date"] == "2026-12-14"
    assert extended["deadline"] == "2026-12-14（周一）24时前"
    assert extended["deadline_extensions"] == [5]
    assert extended["events"][-1]["reason"] == "需现场核查"
    resolved = json_out(capsys, config, "tickets", "resolve", number, "--answer", "已协调办理",
                        "--as", "gxj_a")  # fmt: skip
    assert resolved["state"] == "resolved"

    async def kinds(db: Database) -> list[tuple[MessageKind, str]]:
        async with db.read() as session:
            ticket = (await session.scalars(sa.select(Ticket))).one()
            rows = await session.execute(
                sa.select(Message.kind, Message.body, Message.status_reason)
                .where(Message.contact_id == ticket.contact_id)
                .order_by(Message.id)
            )
            return [(r.kind, r.body or f"skipped: {r.status_reason}") for r in rows]

    messages = on_database(config, kinds)
    assert [k for k, _ in messages] == [MessageKind.EXTENSION_NOTICE, MessageKind.TICKET_FEEDBACK]
    assert "需现场核查" in messages[0][1]
    assert "12月14日（周一）24时前" in messages[0][1]
    assert number in messages[1][1]


def test_flag_rating_from_the_cli(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from hub.tickets.lifecycle import resolve
    from hub.tickets.ratings import apply_rating
    from tests.ticket_support import policy

    number = open_one(config, world)

    async def rate(db: Database) -> int:
        async with db.write() as session:
            ticket = (await session.scalars(sa.select(Ticket))).one()
            await resolve(session, ticket, answer="已办", actor="t", now=CREATED)
            outcome = await apply_rating(session, ticket, policy=policy(), score=1,
                                         contact_id=ticket.contact_id, now=CREATED)  # fmt: skip
            return outcome.rating_id

    rating_id = on_database(config, rate)
    capsys.readouterr()
    assert hub(config, "tickets", "flag-rating", str(rating_id), "--reason", "") == 2
    shown = json_out(capsys, config, "tickets", "flag-rating", str(rating_id), "--reason",
                     "与诉求无关的辱骂", "--as", "gxj_head")  # fmt: skip
    assert shown["number"] == number
    assert shown["ratings"][0]["malicious"] is True
    assert shown["ratings"][0]["flagged_by"] == "gxj_head"
    assert shown["events"][-1]["type"] == "rating_flagged"


def test_rules_and_classes_are_edited_as_versions(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert json_out(capsys, config, "tickets", "rules", "show")["source"] == "config"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {keywords: [停电], department: FGW}\ndefault_department: SWJ\n",
        encoding="utf-8",
    )
    saved = json_out(capsys, config, "tickets", "rules", "set", str(rules))
    assert (saved["version"], saved["source"]) == (2, "database")
    assert saved["rules"] == [{"department": "FGW", "keywords": ["停电"]}]
    assert saved["default_department"] == "SWJ"
    classes = json_out(capsys, config, "tickets", "classes", "set", "紧急=1", "hard=20")
    assert classes["classes"]["urgent"] == 1
    assert classes["classes"]["hard"] == 20
    assert json_out(capsys, config, "tickets", "classes", "show")["version"] == 2
    capsys.readouterr()
    assert hub(config, "tickets", "classes", "set", "slow=3") == 2
    assert "未知的办理时限类别" in capsys.readouterr().err
    rules.write_text("rules:\n  - {department: FGW}\n", encoding="utf-8")
    assert hub(config, "tickets", "rules", "set", str(rules)) == 2
    assert "rules[0]" in capsys.readouterr().err


def test_staff_marked_absent_is_skipped_until_back(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "absent", "gxj_c") == 0
    handlers = [json_out(capsys, config, "tickets", "show", open_one(config, world))["handler"]
                for _ in range(2)]  # fmt: skip
    assert [h["username"] for h in handlers] == ["gxj_a", "gxj_a"]  # gxj_b and gxj_c away
    assert hub(config, "staff", "absent", "gxj_c", "--back") == 0
    back = json_out(capsys, config, "tickets", "show", open_one(config, world))
    assert back["handler"]["username"] == "gxj_c"


def test_list_and_show_give_the_deadlines_last_day_and_whole_numbers_off_a_terminal(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = [open_one(config, world, body="企业用地手续办理遇到困难，需要协调" * 4)
               for _ in range(2)]  # fmt: skip
    capsys.readouterr()
    assert hub(config, "tickets", "list") == 0
    listed = capsys.readouterr().out
    # Mon 30 Nov 09:00, general (5 wd): due 24:00 on Mon 7 Dec, stored as 00:00 on the 8th
    assert listed.count("2026-12-07（周一）24时前") == 2
    assert "2026-12-08" not in listed
    rows = json_out(capsys, config, "tickets", "list")
    assert {r["number"] for r in rows} == set(numbers)
    for row in rows:  # pytest's stdout is no terminal: one whole line per ticket
        [line] = [line for line in listed.splitlines() if row["number"] in line]
        assert len(row["subject"]) > 30
        assert row["subject"] in line
    assert hub(config, "tickets", "show", numbers[0]) == 0
    shown = capsys.readouterr().out
    assert "办理时限：2026-12-07（周一）24时前" in shown
    assert "2026-12-08T00:00:00+08:00" not in shown


@pytest.mark.parametrize(
    ("hour", "said"),
    [
        (22, "已办结，答复与评价邀请已暂缓：免打扰时段（21:00–08:00），将于 12-01 08:00 发送"),
        (10, "已办结，答复与评价邀请已排队发送"),
    ],
)
def test_resolve_says_whether_the_answer_went_or_waits_for_the_morning(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str], hour: int, said: str
) -> None:
    number = open_one(config, world, channel=ChannelName.SANDBOX)
    capsys.readouterr()
    at = FixedClock(sh(2026, 11, 30, hour))
    assert main(["--config", str(config), "tickets", "resolve", number, "--answer", "已协调办理"],
                clock=at) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert said in out
    assert "已发送" not in out
    if hour == 22:  # show lists it too, in the event of the rating request
        assert "办理结果与评价邀请暂缓发送：免打扰时段（21:00–08:00），将于 12-01 08:00 发送" in out


@pytest.mark.parametrize(
    ("hour", "said"),
    [
        (22, "延期告知已暂缓：免打扰时段（21:00–08:00），将于 12-01 08:00 发送"),
        (10, "延期告知已排队发送"),
    ],
)
def test_extend_says_whether_the_notice_went_or_waits_for_the_morning(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str], hour: int, said: str
) -> None:
    number = open_one(config, world, channel=ChannelName.SANDBOX)
    capsys.readouterr()
    at = FixedClock(sh(2026, 11, 30, hour))
    assert main(["--config", str(config), "tickets", "extend", number, "--days", "5",
                 "--reason", "需现场核查"], clock=at) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert f"已延期 5 个工作日，新的办理时限 2026-12-14（周一）24时前；{said}" in out
    # the event keeps it, so the JSON and hub tickets show can tell it later
    shown = json_out(capsys, config, "tickets", "show", number)
    [extended] = [e for e in shown["events"] if e["type"] == "extended"]
    assert extended["data"]["notice"]["status"] == ("held" if hour == 22 else "queued")


def test_extend_says_why_no_notice_went_to_a_ticket_without_contact(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    number = open_one(config, world, channel=ChannelName.SANDBOX)

    async def forget_contact(db: Database) -> None:
        async with db.write() as session:
            await session.execute(
                sa.update(Ticket).where(Ticket.number == number).values(contact_id=None)
            )

    on_database(config, forget_contact)
    capsys.readouterr()
    at = FixedClock(sh(2026, 11, 30, 10))
    assert main(["--config", str(config), "tickets", "extend", number, "--days", "5",
                 "--reason", "需现场核查"], clock=at) == 0  # fmt: skip
    assert "延期告知未发送：工单没有联系人" in capsys.readouterr().out


def test_show_prints_the_assistants_suggestions(
    config: Path, world: TicketWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    number = open_one(config, world, body="高企认定需要什么条件")
    plain = open_one(config, world)
    suggestions = [
        {"entry_id": "FAQ-GX-001", "version": 2, "title": "高新技术企业认定条件", "score": 0.4812},
        {"entry_id": "policy:ZC-7#1", "version": 1, "title": "高企认定奖励", "score": 0.3},
    ]

    async def asked(db: Database) -> None:
        ticket_id = await db_ticket_id(db, number)
        await add_auto_answer(db, "高企认定需要什么条件", at=CREATED, ticket_id=ticket_id,
                              entry_id="FAQ-GX-001", suggestions=suggestions)  # fmt: skip

    on_database(config, asked)
    shown = json_out(capsys, config, "tickets", "show", number)
    assert shown["suggestions"] == [
        {"entry_id": "FAQ-GX-001", "version": 2, "title": "高新技术企业认定条件", "score": 0.4812},
        {"entry_id": "policy:ZC-7#1", "version": 1, "title": "高企认定奖励", "score": 0.3},
    ]
    capsys.readouterr()
    assert hub(config, "tickets", "show", number) == 0
    text = capsys.readouterr().out
    assert "智能答复参考" in text
    assert "FAQ-GX-001" in text
    assert "高新技术企业认定条件" in text
    assert "0.48" in text
    assert json_out(capsys, config, "tickets", "show", plain)["suggestions"] == []
    assert hub(config, "tickets", "show", plain) == 0
    assert "智能答复参考" not in capsys.readouterr().out


async def db_ticket_id(db: Database, number: str) -> int:
    async with db.read() as session:
        found = await session.scalar(sa.select(Ticket.id).where(Ticket.number == number))
    assert found is not None
    return found
