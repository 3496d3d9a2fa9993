"""``hub import policies`` sends a new policy to whom it is for (once: a re-import sends
nothing), and ``hub policies reach POLICY_ID`` counts matched, sent, delivered, replied and
opted out from that policy's messages (Chinese labels, ``--json``).

The registry is tests/seed.py's five enterprises; the CLI runs on a fixed clock.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.app.config import load_settings
from hub.cli import main
from hub.core.clock import SHANGHAI, FixedClock
from hub.core.vocab import ChannelName, MessageStatus, ReplyClass
from hub.store.db import Database
from hub.store.models import Enterprise, InboundReply, Message
from tests.importing.factories import write_csv_file
from tests.seed import seed_registry

NOW = FixedClock(datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI))
HEADER = ["政策编号", "政策名称", "申报截止", "免申即享", "链接", "标签"]
ROW = ["ZC-01", "2027年度专精特新奖补", "2027-03-31", "否", "https://zwfw.example.gov.cn/zc/1",
       "专精特新"]  # fmt: skip


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Path:
    path = write_config()
    asyncio.run(_with_db(path, seed_registry))
    return path


async def _with_db(config: Path, act: Callable[[Database], object]) -> object:
    db = Database.open(load_settings(config).database_url)
    try:
        return await act(db)  # type: ignore[misc]
    finally:
        await db.aclose()


def hub(config: Path, capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--config", str(config), *(str(a) for a in args)], clock=NOW)
    return code, capsys.readouterr().out


async def _answer(db: Database) -> None:
    """甲机械's message delivered and answered 退订; 丙软件's sent and answered with a request."""
    async with db.write() as session:
        rows = (
            await session.execute(
                sa.select(Message.id, Enterprise.name)
                .join(Enterprise, Enterprise.id == Message.enterprise_id)
                .order_by(Message.id)
            )
        ).all()
        ids = {name: message_id for message_id, name in rows}
        at = NOW.now()
        await session.execute(
            sa.update(Message)
            .where(Message.id == ids["甲机械"])
            .values(status=MessageStatus.DELIVERED, sent_at=at, delivered_at=at)
        )
        await session.execute(
            sa.update(Message)
            .where(Message.id == ids["丙软件"])
            .values(status=MessageStatus.SENT, sent_at=at)
        )
        for n, (name, kind) in enumerate(
            (("甲机械", ReplyClass.UNSUBSCRIBE), ("丙软件", ReplyClass.REQUEST))
        ):
            session.add(InboundReply(
                channel=ChannelName.SMS, provider="tencent", provider_msg_id=f"r{n}",
                sender=f"+86139000000{n}", text="TD" if n == 0 else "想咨询申报材料", raw={},
                received_at=at, in_reply_to=ids[name], classification=kind,
            ))  # fmt: skip


def test_an_import_sends_each_eligible_enterprise_once_and_reach_counts_it(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = write_csv_file(tmp_path / "policies.csv", [HEADER, ROW])
    code, said = hub(config, capsys, "import", "policies", policies, "--json")
    assert code == 0
    report = json.loads(said)
    assert report["new"] == ["ZC-01"]
    assert report["sent"] == {"created": 2, "duplicates": 0, "skipped": 0, "not_sent": {}}

    code, said = hub(config, capsys, "import", "policies", policies, "--json")
    assert code == 0
    assert "sent" not in json.loads(said)  # nothing changed: nothing to send
    code, said = hub(config, capsys, "policies", "reach", "ZC-01", "--json")
    assert code == 0
    assert json.loads(said) == {
        "policy_id": "ZC-01", "title": "2027年度专精特新奖补", "matched": 2, "sent": 0,
        "delivered": 0, "replied": 0, "opted_out": 0,
    }  # fmt: skip

    asyncio.run(_with_db(config, _answer))
    code, said = hub(config, capsys, "policies", "reach", "ZC-01", "--json")
    assert code == 0
    counts = json.loads(said)
    assert [counts[k] for k in ("matched", "sent", "delivered", "replied", "opted_out")] == [
        2, 2, 1, 2, 1,
    ]  # fmt: skip
    code, said = hub(config, capsys, "policies", "reach", "ZC-01")
    assert code == 0
    assert "2027年度专精特新奖补" in said
    for label in ("匹配企业", "已发送", "已送达", "已回复", "已退订"):
        assert label in said


def test_an_import_text_report_says_what_it_sent(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies = write_csv_file(tmp_path / "policies.csv", [HEADER, ROW])
    code, said = hub(config, capsys, "import", "policies", policies)
    assert code == 0
    assert "推送：事项 1 项，新建 2 条" in said


def test_reach_of_an_unknown_policy_exits_1_naming_it(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["--config", str(config), "policies", "reach", "ZC-404"], clock=NOW) == 1
    assert "没有政策编号为 ZC-404 的政策" in capsys.readouterr().err
