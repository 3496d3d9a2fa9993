"""``hub staff add --officer CODE`` and ``hub staff set-officer``: an officer's account stands for
one liaison officer (it sees that officer's enterprises only); an unknown code or a missing one
is a Chinese usage error; the link is audited and listed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.store.db import Database
from hub.store.models import AuditLog
from tests.cli.test_staff_cli import config, hub, on_database

__all__ = ["config"]  # the fixture (departments GXJ, SWJ, YSB; the officer LL001 李明)


def test_an_officer_account_is_added_linked_and_listed_with_its_officer(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(config, "staff", "add", "li-ming", "--name", "李明", "--role", "officer",
               "--officer", "ll001", "--json") == 0  # fmt: skip
    assert json.loads(capsys.readouterr().out)["officer"] == "LL001"

    assert hub(config, "staff", "list") == 0
    assert "LL001" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "officer"], "必须指定联络员编码 (--officer"),
        (["--role", "officer", "--officer", "LL999"], "没有编码为 LL999 的联络员"),
        (["--role", "viewer", "--officer", "LL001"], "只有联络员（officer）账号可关联联络员"),
    ],
    ids=["officer-without-code", "unknown-code", "not-an-officer"],
)
def test_a_bad_officer_link_is_a_usage_error(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert hub(config, "staff", "add", "someone", "--name", "某人", *args) == 2

    assert message in capsys.readouterr().err


def test_set_officer_relinks_an_account_and_audits_it(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    officers = tmp_path / "more-officers.csv"
    officers.write_text("code,name\nLL002,张丽娟\n", encoding="utf-8")
    assert hub(config, "import", "officers", officers) == 0
    assert hub(config, "staff", "add", "li", "--name", "李", "--role", "officer",
               "--officer", "LL001") == 0  # fmt: skip
    capsys.readouterr()

    assert hub(config, "staff", "set-officer", "li", "--officer", "LL002") == 0
    assert "已将 li 关联到联络员 张丽娟（LL002）" in capsys.readouterr().out
    assert hub(config, "staff", "set-officer", "li", "--officer", "LL404") == 2
    assert "没有编码为 LL404 的联络员" in capsys.readouterr().err
    assert hub(config, "staff", "set-officer", "nobody", "--officer", "LL001") == 1
    assert "没有用户名为 nobody 的工作人员" in capsys.readouterr().err

    async def audit(db: Database) -> list[tuple[str, str, object]]:
        async with db.read() as session:
            rows = await session.execute(
                sa.select(AuditLog.action, AuditLog.actor, AuditLog.detail)
                .where(AuditLog.target_id == "li").order_by(AuditLog.id)
            )  # fmt: skip
            return [tuple(row) for row in rows.all()]

    assert on_database(config, audit) == [
        ("staff.added", "cli", {"officer": "LL001"}),
        ("staff.officer_linked", "cli", {"officer": "LL002", "before": "LL001"}),
    ]
