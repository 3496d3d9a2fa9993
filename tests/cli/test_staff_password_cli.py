"""``hub staff set-password``: the password from standard input (never an argument), hashed
with argon2, the lockout lifted, the change audited; a short one refused."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.store.db import Database
from hub.store.models import AuditLog, Staff
from hub.tickets.staff_passwords import LockoutPolicy, SignInOutcome, sign_in
from tests.cli.test_staff_cli import config, hub, on_database

__all__ = ["config"]  # the fixture, shared with the staff CLI tests


def test_set_password_reads_stdin_and_the_password_then_signs_in(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    clock: FixedClock,
) -> None:  # fmt: skip
    assert hub(config, "staff", "add", "li", "--name", "李娜", "--role", "officer",
               "--officer", "LL001") == 0  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("long-enough-secret\n"))
    capsys.readouterr()

    assert hub(config, "staff", "set-password", "li") == 0

    assert "已设置 li 的管理后台密码" in capsys.readouterr().out
    policy = LockoutPolicy()
    right = on_database(config, lambda db: sign_in(db, clock, "li", "long-enough-secret", policy))
    wrong = on_database(config, lambda db: sign_in(db, clock, "li", "long-enough-secreT", policy))
    assert right.outcome is SignInOutcome.OK
    assert wrong.outcome is SignInOutcome.WRONG

    async def stored(db: Database) -> tuple[str, list[str]]:
        async with db.read() as session:
            hashed = await session.scalar(sa.select(Staff.password_hash))
            assert hashed is not None
            actions = list(await session.scalars(sa.select(AuditLog.action)))
        return hashed, actions

    hashed, actions = on_database(config, stored)
    assert hashed.startswith("$argon2id$")
    assert "long-enough-secret" not in hashed
    assert "staff.password_set" in actions


def test_a_short_password_is_refused(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hub(config, "staff", "add", "li", "--name", "李娜", "--role", "viewer") == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    capsys.readouterr()

    assert hub(config, "staff", "set-password", "li") != 0

    assert "密码至少 10 个字符" in capsys.readouterr().err
