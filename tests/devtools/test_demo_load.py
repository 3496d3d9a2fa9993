"""``hub demo``: registry and staff loaded twice without change; requests get a handler."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.app.runtime import open_database
from hub.cli import main
from hub.core.clock import SystemClock
from hub.devtools.demo_data import DEMO_DEPARTMENT, demo_departments, demo_staff
from hub.store.models import Enterprise, Staff
from hub.tickets.lifecycle import open_ticket
from hub.tickets.staff import StaffRole, StaffView, list_staff, staff_for_token


async def staff_of(config: Path) -> list[StaffView]:
    async with open_database(load_settings(config)) as db:
        return await list_staff(db)


def demo(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["--config", str(config), "demo", "--enterprises", "60", "--json"]) == 0
    report: dict[str, object] = json.loads(capsys.readouterr().out)
    return report


def test_demo_staff_has_every_role_and_a_handler_in_every_department_with_industries() -> None:
    staff = demo_staff()
    named = {row["username"]: row for row in staff}
    assert {row["role"] for row in staff} == {role.value for role in StaffRole}
    for role in ("admin", "dispatcher", "handler", "head", "viewer"):
        assert named[f"demo-{role}"]["role"] == role
    assert named["demo-handler"]["department"] == named["demo-head"]["department"] == "GXJ"
    handled = {row["department"] for row in staff if row["role"] == "handler"}
    assert handled == {d["code"] for d in demo_departments() if d["industries"]}
    mobiles = [row["mobile"] for row in staff if row["username"] != "demo-head"]
    heads = {d["head_mobile"] for d in demo_departments()}
    assert len(set(mobiles)) == len(mobiles)
    assert not heads & set(mobiles)
    assert named["demo-head"]["mobile"] in heads  # the head on the department row


def test_demo_twice_adds_the_staff_once(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    first, second = demo(config, capsys), demo(config, capsys)
    usernames = [row["username"] for row in demo_staff()]
    assert first["staff"] == {"created": usernames, "existing": []}
    assert second["staff"] == {"created": [], "existing": usernames}
    assert second["enterprises"]["created"] == 0  # type: ignore[index]
    staff = asyncio.run(staff_of(config))
    assert sorted(s.username for s in staff) == sorted(usernames)
    head = next(s for s in staff if s.username == "demo-head")
    assert (head.role, head.department_code) == ("head", DEMO_DEPARTMENT)


def test_demo_prints_how_to_get_a_token(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    assert main(["--config", str(config), "demo", "--enterprises", "5"]) == 0
    printed = capsys.readouterr().out
    assert "hub staff token demo-admin" in printed
    assert "hub staff token demo-handler" in printed
    capsys.readouterr()
    assert main(["--config", str(config), "staff", "token", "demo-viewer"]) == 0
    token = capsys.readouterr().out.strip()
    view = asyncio.run(holder_of(config, token))
    assert view is not None
    assert (view.username, view.role, view.district) == ("demo-viewer", "viewer", "龙沙区")


async def holder_of(config: Path, token: str) -> StaffView | None:
    async with open_database(load_settings(config)) as db:
        return await staff_for_token(db, token)


def test_a_request_opened_after_demo_gets_a_handler(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config()
    demo(config, capsys)
    handlers = asyncio.run(open_one_ticket_per_industry(config))
    assert len(handlers) > 5
    assert handlers["制造业"] == "demo-handler"


async def open_one_ticket_per_industry(config: Path) -> dict[str, str]:
    """Open a request for the first enterprise of each industry; its handler's username."""
    settings = load_settings(config)
    clock = SystemClock()
    async with open_database(settings) as db, db.write() as session:
        # One enterprise of each industry in the demo registry.
        firsts = (
            await session.execute(
                sa.select(Enterprise.industry, sa.func.min(Enterprise.id)).group_by(
                    Enterprise.industry
                )
            )
        ).all()
        handlers = {}
        for industry, enterprise_id in firsts:
            ticket = await open_ticket(
                session, now=clock.now(), settings=settings, body="办理许可证需要哪些材料",
                enterprise_id=enterprise_id,
            )  # fmt: skip
            assert ticket.handler_id is not None, industry
            handler = await session.get(Staff, ticket.handler_id)
            assert handler is not None
            assert handler.department_id == ticket.department_id
            handlers[industry] = handler.username
    return handlers
