"""Routing rules and deadline classes edited by admins: versions in the database (both DBs)."""

from __future__ import annotations

from datetime import date

import pytest

from hub.app.config import Settings
from hub.core.errors import UsageError
from hub.core.vocab import ChannelName, Urgency
from hub.store.db import Database
from hub.tickets.deadlines.rules import end_of_day
from hub.tickets.lifecycle import open_ticket
from hub.tickets.policy import load_ticket_policy
from hub.tickets.policy_store import (
    CLASSES,
    RULES,
    history,
    parse_rules,
    save_classes,
    save_rules,
)
from hub.tickets.settings import TicketRule, TicketsSettings
from tests.ticket_support import TicketWorld, seed_ticket_world, sh

NOW = sh(2026, 11, 23, 10)
SEED = Settings(tickets=TicketsSettings(rules=(TicketRule(keywords=("停电",), department="FGW"),)))


@pytest.fixture
async def world(any_db: Database) -> TicketWorld:
    return await seed_ticket_world(any_db)


async def _open(
    db: Database, world: TicketWorld, body: str, **kw: object
) -> tuple[int | None, object]:
    async with db.write() as session:
        ticket = await open_ticket(
            session, settings=SEED, now=NOW, body=body, channel=ChannelName.SMS,
            enterprise_id=world.enterprises["戊建筑"], **kw,  # type: ignore[arg-type]
        )  # fmt: skip
        return ticket.department_id, ticket.deadline_at


async def test_saved_rules_apply_to_new_tickets_and_keep_the_seed_as_version_1(
    any_db: Database, world: TicketWorld
) -> None:
    assert (await _open(any_db, world, "停电了"))[0] == world.departments["FGW"]
    rules, default = parse_rules(
        {
            "rules": [{"keywords": ["停电", "供电"], "department": "SWJ"}],
            "default_department": "GXJ",
        }
    )
    async with any_db.write() as session:
        saved = await save_rules(session, SEED, rules, default, actor="admin", now=NOW)
        again = await save_rules(session, SEED, rules, default, actor="admin", now=NOW)
    assert saved.version == again.version == 2
    assert (await _open(any_db, world, "供电不稳"))[0] == world.departments["SWJ"]
    assert (await _open(any_db, world, "其他事项"))[0] == world.departments["GXJ"]
    async with any_db.read() as session:
        versions = await history(session, RULES)
    assert [(v.version, v.created_by) for v in versions] == [(1, "config"), (2, "admin")]
    assert versions[0].body == {"rules": [{"department": "FGW", "keywords": ["停电"]}],
                                "default_department": None}  # fmt: skip


async def test_saved_classes_apply_to_new_tickets_only(
    any_db: Database, world: TicketWorld
) -> None:
    _, before = await _open(any_db, world, "事项", urgency=Urgency.URGENT)
    assert before == end_of_day(date(2026, 11, 25))
    async with any_db.write() as session:
        row = await save_classes(session, SEED, {"紧急": 1}, actor="admin", now=NOW)
        assert row.body["classes"]["urgent"] == 1
        assert row.body["classes"]["general"] == 5
        policy = await load_ticket_policy(session, SEED)
    assert policy.deadlines.working_days("urgent") == 1
    _, after = await _open(any_db, world, "事项", urgency=Urgency.URGENT)
    assert after == end_of_day(date(2026, 11, 24))
    async with any_db.read() as session:
        assert [v.version for v in await history(session, CLASSES)] == [1, 2]


async def test_bad_edits_are_refused_in_chinese(any_db: Database, world: TicketWorld) -> None:
    with pytest.raises(UsageError, match=r"rules\[0\]"):
        parse_rules({"rules": [{"department": "FGW"}]})
    with pytest.raises(UsageError, match="未知的路由规则项"):
        parse_rules({"rule": []})
    async with any_db.write() as session:
        with pytest.raises(UsageError, match="未知的办理时限类别"):
            await save_classes(session, SEED, {"slow": 3}, actor="a", now=NOW)
        with pytest.raises(UsageError, match="非负整数"):
            await save_classes(session, SEED, {"urgent": -1}, actor="a", now=NOW)
