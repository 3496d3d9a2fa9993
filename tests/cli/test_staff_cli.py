"""``hub staff add|token|revoke|list`` in-process, and the tokens it issues against the API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import AuditLog, Staff
from hub.tickets.staff import hash_token, staff_for_token
from tests.importing.factories import write_csv_file
from tests.web.api_support import DEPARTMENTS, api_client

T = TypeVar("T")


@pytest.fixture
def config(write_config: Callable[..., Path], tmp_path: Path) -> Path:
    """A config whose database holds the departments GXJ, SWJ and YSB and the officer LL001."""
    path = write_config()
    departments = write_csv_file(tmp_path / "departments.csv", DEPARTMENTS)
    assert hub(path, "import", "departments", departments) == 0
    officers = write_csv_file(tmp_path / "officers.csv", [["code", "name"], ["LL001", "李明"]])
    assert hub(path, "import", "officers", officers) == 0
    return path


def on_database(config: Path, act: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``act`` on the config's database (the CLI runs its own event loop: tests are sync)."""

    async def run() -> T:
        db = Database.open(load_settings(config).database_url)
        try:
            return await act(db)
        finally:
            await db.aclose()

    return asyncio.run(run())


def hub(config: Path, *args: str | Path) -> int:
    return main(["--config", str(config), *(str(arg) for arg in args)])


def issued_token(config: Path, username: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert hub(config, "staff", "token", username) == 0
    captured = capsys.readouterr()
    assert "只显示这一次" in captured.err
    return captured.out.strip()


def test_add_then_list_shows_the_account_without_a_token(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "add", "wangwei", "--name", "王伟", "--role", "handler",
               "--department", "SWJ", "--district", "建华区") == 0  # fmt: skip
    assert "已新增工作人员 wangwei" in capsys.readouterr().out

    assert hub(config, "staff", "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == [
        {"id": 1, "username": "wangwei", "name": "王伟", "role": "handler",
         "role_label": "承办人", "department": "SWJ", "district": "建华区", "officer": None,
         "absent": False, "has_token": False}
    ]  # fmt: skip


def test_a_role_may_be_given_by_its_chinese_name(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "add", "li", "--name", "李娜", "--role", "管理员", "--json") == 0

    assert json.loads(capsys.readouterr().out)["role"] == "admin"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "boss"], "未知的角色“boss”"),
        (["--role", "handler"], "必须指定部门 (--department)"),
        (["--role", "viewer", "--department", "NOPE"], "没有编码为 NOPE 的部门"),
        (["--role", "viewer", "--mobile", "12345"], "手机“12345”"),
    ],
    ids=["unknown-role", "handler-without-department", "unknown-department", "bad-mobile"],
)
def test_a_bad_account_is_a_usage_error(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert hub(config, "staff", "add", "someone", "--name", "某人", *args) == 2

    assert message in capsys.readouterr().err


def test_a_username_is_taken_once(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(config, "staff", "add", "zhao", "--name", "赵", "--role", "viewer") == 0
    assert hub(config, "staff", "add", "zhao", "--name", "赵二", "--role", "viewer") == 2

    assert "用户名 zhao 已存在" in capsys.readouterr().err


def test_token_prints_the_token_once_and_stores_only_its_hash(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "add", "chen", "--name", "陈", "--role", "dispatcher") == 0

    token = issued_token(config, "chen", capsys)

    async def read(db: Database) -> tuple[Any, list[str]]:
        async with db.read() as session:
            stored = await session.scalar(
                sa.select(Staff.token_hash).where(Staff.username == "chen")
            )
            actions = await session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id))
            return stored, list(actions)

    stored, actions = on_database(config, read)
    assert token.startswith("hub_")
    assert stored == hash_token(token) != token
    assert actions == ["staff.added", "staff.token_issued"]
    assert hub(config, "staff", "list", "--json") == 0
    listing = capsys.readouterr().out
    assert json.loads(listing)[0]["has_token"] is True
    assert token not in listing


def test_a_new_token_revokes_the_old_one_at_the_api(
    config: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "add", "sun", "--name", "孙", "--role", "viewer",
               "--department", "GXJ") == 0  # fmt: skip
    old = issued_token(config, "sun", capsys)
    new = issued_token(config, "sun", capsys)

    async def call(db: Database) -> tuple[httpx.Response, httpx.Response]:
        async with api_client(db, clock) as client:
            return (
                await client.get("/api/v1/me", headers={"Authorization": f"Bearer {old}"}),
                await client.get("/api/v1/me", headers={"Authorization": f"Bearer {new}"}),
            )

    refused, accepted = on_database(config, call)
    assert old != new
    assert on_database(config, lambda db: staff_for_token(db, old)) is None
    assert refused.status_code == 401
    assert accepted.status_code == 200
    assert accepted.json()["username"] == "sun"
    assert accepted.json()["department"]["code"] == "GXJ"


def test_revoke_leaves_the_account_without_a_working_token(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "add", "zhou", "--name", "周", "--role", "viewer") == 0
    token = issued_token(config, "zhou", capsys)

    assert hub(config, "staff", "revoke", "zhou") == 0
    assert "已撤销 zhou 的令牌" in capsys.readouterr().out

    assert on_database(config, lambda db: staff_for_token(db, token)) is None
    assert hub(config, "staff", "revoke", "zhou") == 0
    assert "zhou 没有有效的令牌" in capsys.readouterr().out


def test_token_for_an_unknown_username_exits_1(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "token", "nobody") == 1

    captured = capsys.readouterr()
    assert "没有用户名为 nobody 的工作人员" in captured.err
    assert captured.out == ""
