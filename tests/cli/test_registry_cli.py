"""``hub enterprises list|show``, ``hub officers list``, ``hub departments list`` on the demo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hub.app.config import load_settings
from hub.app.runtime import open_database
from hub.cli import main
from hub.core.clock import SystemClock
from hub.tickets.lifecycle import open_ticket
from tests.importing.factories import make_uscc
from tests.wall_clock import NEVER_QUIET


class Hub:
    """The CLI on a config loaded with the demo (60 enterprises)."""

    def __init__(self, config: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config, self.capsys = config, capsys

    def run(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config", str(self.config), *args])
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    def json(self, *args: str) -> Any:
        code, out, err = self.run(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def hub(write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]) -> Hub:
    config = write_config(quiet_hours=NEVER_QUIET)
    the_hub = Hub(config, capsys)
    assert the_hub.run("demo", "--enterprises", "60")[0] == 0
    return the_hub


def test_enterprises_list_filters_and_prints_json(hub: Hub) -> None:
    everyone = hub.json("enterprises", "list", "--limit", "1000")
    assert len(everyone) == 60
    assert [e["id"] for e in everyone] == sorted((e["id"] for e in everyone), reverse=True)
    assert all(e["created_at"].endswith("+08:00") for e in everyone)
    key = hub.json("enterprises", "list", "--tier", "重点", "--limit", "1000")
    assert key
    assert {e["tier"]["value"] for e in key} == {"key"}
    assert len(key) == sum(e["tier"]["value"] == "key" for e in everyone)
    made = hub.json("enterprises", "list", "--industry", "制造业", "--region", "龙沙区")
    assert {(e["industry"], e["region"]) for e in made} <= {("制造业", "龙沙区")}
    assert all(e["department"]["code"] == "GXJ" for e in made)
    officer = next(e["officer"]["code"] for e in everyone if e["officer"])
    served = hub.json("enterprises", "list", "--officer", officer.lower())
    assert served
    assert {e["officer"]["code"] for e in served} == {officer}
    tagged = hub.json("enterprises", "list", "--audience", "tier=key|general,tags~规上企业")
    assert tagged
    assert all(e["tier"]["value"] != "ordinary" and "规上企业" in e["tags"] for e in tagged)
    assert len(hub.json("enterprises", "list", "--limit", "7")) == 7
    page = hub.json("enterprises", "list", "--before", str(everyone[9]["id"]), "--limit", "5")
    assert [e["id"] for e in page] == [e["id"] for e in everyone[10:15]]


def test_enterprises_list_refuses_a_bad_tier_or_audience(hub: Hub) -> None:
    code, _, err = hub.run("enterprises", "list", "--tier", "vip")
    assert code == 2
    assert "vip" in err
    code, _, err = hub.run("enterprises", "list", "--audience", "colour=red")
    assert code == 2
    assert "colour" in err
    code, out, _ = hub.run("enterprises", "list", "--limit", "3")
    assert code == 0
    assert "统一社会信用代码" in out


def test_show_prints_the_dossier_with_numbers_masked(hub: Hub) -> None:
    target = next(e for e in hub.json("enterprises", "list", "--limit", "1000") if e["officer"])
    uscc = target["uscc"]
    sent = hub.json("send", "notice", "--audience", f"uscc={uscc}", "--set", "text=年报公示")
    assert sent["created"] >= 1
    number = asyncio.run(_open_ticket(hub.config, target["id"]))

    dossier = hub.json("enterprises", "show", uscc.lower())
    assert isinstance(dossier, dict)
    assert (dossier["uscc"], dossier["name"]) == (uscc, target["name"])
    assert dossier["officer"]["code"] == target["officer"]["code"]
    assert "****" in dossier["officer"]["mobile"]
    assert dossier["department"] == target["department"]
    contact = dossier["contacts"][0]
    assert contact["mobile"].startswith("+86")
    assert "****" in contact["mobile"]
    assert dossier["messages"]["total"] == sent["created"]
    assert sum(dossier["messages"]["by_status"].values()) == sent["created"]
    assert dossier["messages"]["recent"][0]["kind"] == "notice"
    assert dossier["tickets"]["total"] == dossier["tickets"]["open"] == 1
    assert dossier["tickets"]["recent"][0]["number"] == number
    assert dossier["tickets"]["recent"][0]["received_at"].endswith("+08:00")

    code, out, _ = hub.run("enterprises", "show", uscc)
    assert code == 0
    assert target["name"] in out
    assert number in out
    assert "****" in out
    assert target["officer"]["name"] in out


async def _open_ticket(config: Path, enterprise_id: int) -> str:
    settings = load_settings(config)
    async with open_database(settings) as db, db.write() as session:
        ticket = await open_ticket(
            session, now=SystemClock().now(), settings=settings, body="咨询一下年报怎么填",
            enterprise_id=enterprise_id,
        )  # fmt: skip
        return ticket.number


def test_show_of_an_unknown_uscc_exits_1_naming_it(hub: Hub) -> None:
    unknown = make_uscc(424242)
    code, out, err = hub.run("enterprises", "show", unknown)
    assert code == 1
    assert unknown in err
    assert out == ""
    code, _, err = hub.run("enterprises", "show", "91230202ABC")
    assert code == 2
    assert "91230202ABC" in err


def test_officers_and_departments_lists(hub: Hub) -> None:
    officers = hub.json("officers", "list")
    assert len(officers) == 20
    assert [o["code"] for o in officers] == sorted(o["code"] for o in officers)
    assert all("****" in o["mobile"] for o in officers)
    assert sum(o["enterprises"] for o in officers) == sum(
        1 for e in hub.json("enterprises", "list", "--limit", "1000") if e["officer"]
    )
    gxj = hub.json("officers", "list", "--department", "gxj")
    assert gxj
    assert {o["department"]["code"] for o in gxj} == {"GXJ"}
    assert {o["region"] for o in hub.json("officers", "list", "--region", "龙江县")} == {"龙江县"}

    departments = {d["code"]: d for d in hub.json("departments", "list")}
    assert len(departments) == 18  # 12 by industry + 6 that answer tax, insurance, permits
    assert departments["SHUIWU"]["industries"] == []
    assert departments["YSJ"]["role"]["value"] == "business_office"
    assert departments["GXJ"]["industries"] == ["制造业"]
    assert departments["GXJ"]["handlers_present"] == 1
    assert departments["GXJ"]["staff"] == 2  # demo-handler and demo-head
    assert sum(d["enterprises"] for d in departments.values()) == 60
    code, out, _ = hub.run("departments", "list")
    assert code == 0
    assert "营商办" in out
