"""policy_match: who a policy is for (each eligibility field, empty = any), each eligible
enterprise once across an import, the daily schedule and a re-import, nothing to the
ineligible, nothing once the deadline passed, 免申即享 said only when the policy says so.

The registry is tests/seed.py's five enterprises (丁餐饮 has no contact, 乙商贸 two); policies
are saved as ``hub import policies`` saves them and the program runs on the changes the save
returned, or as the schedule's fire runs it. The clock is fixed (2027-01-04, a Monday, 10:00).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import SHANGHAI, FixedClock
from hub.core.keys import RedisKeys
from hub.core.vocab import MessageStatus, Stage, Tier
from hub.importing.data_rows import PolicyRow
from hub.importing.data_save import save_rows
from hub.outbound.settings import RoutingSettings
from hub.scheduling.programs import policy_match as program
from hub.scheduling.programs.base import ProgramContext, ProgramFire, ProgramOutcome
from hub.store.db import Database
from hub.store.enterprise_data import Policy
from hub.store.models import Campaign, Enterprise, EnterpriseTag, Message
from tests.pipeline import Hub, build
from tests.seed import seed_registry

NOW = datetime(2027, 1, 4, 10, 0, tzinfo=SHANGHAI)
NAMES = frozenset({"甲机械", "乙商贸", "丙软件", "丁餐饮", "戊建筑"})


def policy_row(policy_id: str = "ZC-01", **fields: object) -> PolicyRow:
    row = PolicyRow(
        row_number=1, policy_id=policy_id, title="2027年度专精特新中小企业奖补",
        summary="对新认定的专精特新企业给予一次性奖励", department="市工业和信息化局",
        apply_by=date(2027, 3, 31), free_apply=False, url="https://zwfw.example.gov.cn/zc/1",
        industries=(), tiers=(), regions=(), stages=(), tags=(), text="",
    )  # fmt: skip
    return replace(row, **fields)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _now(clock: FixedClock) -> None:
    """The ``hub`` fixture (tests/scheduling/conftest.py) runs on this clock."""
    clock.set(NOW)


def context(hub: Hub) -> ProgramContext:
    return ProgramContext(hub.db, hub.outbox, hub.clock)


async def import_policies(hub: Hub, *rows: PolicyRow) -> ProgramOutcome:
    """Save ``rows`` as the import does and run the program on what changed."""
    async with hub.db.write() as session:
        changes = await save_rows(
            session, "policies", list(rows), {}, now=hub.clock.now(), actor="test", source="test"
        )
    return await program.run_on_changes(context(hub), changes)


async def scheduled(hub: Hub) -> ProgramOutcome:
    fire = ProgramFire(schedule="policy_push", fire_time=hub.clock.now())
    return await program.run(context(hub), fire)


async def received(hub: Hub, policy_id: str = "ZC-01") -> dict[str, int]:
    """Enterprise name -> messages of the policy not skipped."""
    stmt = (
        sa.select(Enterprise.name, sa.func.count())
        .join(Message, Message.enterprise_id == Enterprise.id)
        .join(Campaign, Campaign.id == Message.campaign_id)
        .where(
            Campaign.trigger == "program:policy_match",
            Campaign.trigger_key == f"policy:{policy_id}",
            Message.status != MessageStatus.SKIPPED,
        )
        .group_by(Enterprise.name)
    )
    async with hub.db.read() as session:
        return {name: int(n) for name, n in (await session.execute(stmt)).all()}


async def bodies(hub: Hub) -> list[str]:
    async with hub.db.read() as session:
        return list(await session.scalars(sa.select(Message.body).order_by(Message.id)))


async def eligible(db: Database, **fields: str) -> set[str]:
    policy = Policy(policy_id="P", **fields)
    for column in ("industries", "tiers", "regions", "stages", "tags"):
        setattr(policy, column, fields.get(column, ""))
    async with db.read() as session:
        names = await session.scalars(
            sa.select(Enterprise.name).where(program.eligibility(policy).where())
        )
        return set(names)


# --- eligibility ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, NAMES),
        ({"industries": "制造业"}, {"甲机械"}),
        ({"industries": "制造业;建筑业"}, {"甲机械", "戊建筑"}),
        ({"tiers": "general"}, {"乙商贸", "丙软件"}),
        ({"tiers": "key;ordinary"}, {"甲机械", "丁餐饮", "戊建筑"}),
        ({"regions": "龙沙区"}, {"甲机械", "丙软件", "戊建筑"}),
        ({"stages": "startup"}, {"丙软件"}),
        ({"tags": "专精特新"}, {"甲机械", "丙软件"}),
        ({"tags": "小微企业;个体工商户"}, {"乙商贸", "丁餐饮"}),
        ({"regions": "龙沙区", "tags": "专精特新", "tiers": "general"}, {"丙软件"}),
        ({"industries": "农业"}, set()),
    ],
    ids=[
        "empty-is-any", "industry", "industries-or", "tier", "tiers-or", "region", "stage",
        "tag", "tags-any-of", "fields-and", "nobody",
    ],
)  # fmt: skip
async def test_eligibility_by_each_field_and_empty_means_any(
    any_db: Database, fields: dict[str, str], expected: set[str]
) -> None:
    await seed_registry(any_db)
    assert await eligible(any_db, **fields) == expected


# --- once per enterprise -------------------------------------------------------------------


async def test_each_eligible_enterprise_once_across_import_schedule_and_reimport(hub: Hub) -> None:
    row = policy_row(tags=("专精特新",))
    first = await import_policies(hub, row)
    assert (first.items, first.created) == (1, 2)  # 甲机械 and 丙软件, one contact each
    assert await received(hub) == {"甲机械": 1, "丙软件": 1}

    assert (await scheduled(hub)).created == 0
    again = await import_policies(hub, row)  # the same file again: nothing changed
    assert (again.items, again.created) == (0, 0)
    moved = await import_policies(hub, replace(row, apply_by=date(2027, 4, 30)))
    assert (moved.items, moved.created) == (1, 0)  # a changed policy is not re-sent

    # 乙商贸 (two contacts) is tagged since: the next scheduled run reaches it, and only it.
    async with hub.db.write() as session:
        session.add(EnterpriseTag(enterprise_id=await _id(hub, "乙商贸"), tag="专精特新"))
    assert (await scheduled(hub)).created == 2
    assert (await scheduled(hub)).created == 0
    assert await received(hub) == {"甲机械": 1, "丙软件": 1, "乙商贸": 2}


async def test_a_change_that_widens_eligibility_reaches_only_the_newly_eligible(hub: Hub) -> None:
    await import_policies(hub, policy_row(industries=("制造业",)))
    widened = await import_policies(hub, policy_row(industries=("制造业", "建筑业")))
    assert widened.created == 1
    assert await received(hub) == {"甲机械": 1, "戊建筑": 1}
    assert "2027年3月31日" in (await bodies(hub))[-1]


async def test_the_ineligible_get_nothing(hub: Hub) -> None:
    await import_policies(hub, policy_row(tiers=(Tier.KEY,), stages=(Stage.OPERATING,)))
    await scheduled(hub)
    assert await received(hub) == {"甲机械": 1}
    async with hub.db.read() as session:
        total = await session.scalar(sa.select(sa.func.count()).select_from(Message))
    assert total == 1


async def test_a_contact_at_its_cap_gets_the_rest_on_later_runs_never_skipped(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock
) -> None:
    """Three policies for 甲机械 on one day, two a day allowed: two today, the third the day
    after (not recorded as skipped, which would hold its key for good)."""
    await seed_registry(db)
    routing = RoutingSettings(chains={"default": ("sandbox",)}, max_per_contact_per_day=2)
    hub = build(db, redis_client, redis_keys, clock, routing=routing)
    rows = [policy_row(f"ZC-{n}", industries=("制造业",), title=f"政策{n}") for n in range(3)]
    today = await import_policies(hub, *rows)
    assert (today.created, today.skipped) == (2, 0)
    assert today.not_sent == {program.DEFERRED: 1}
    assert (await scheduled(hub)).created == 0  # the same day: still at the cap

    clock.advance(timedelta(days=1, minutes=1))
    tomorrow = await scheduled(hub)
    assert (tomorrow.created, tomorrow.skipped, tomorrow.not_sent) == (1, 0, {})
    for n in range(3):
        assert await received(hub, f"ZC-{n}") == {"甲机械": 1}
    async with db.read() as session:
        statuses = set(await session.scalars(sa.select(Message.status)))
    assert MessageStatus.SKIPPED not in statuses


# --- expired -------------------------------------------------------------------------------


async def test_a_policy_whose_deadline_passed_is_not_sent(hub: Hub) -> None:
    closed = policy_row("ZC-OLD", apply_by=date(2027, 1, 3))  # yesterday
    outcome = await import_policies(hub, closed, policy_row("ZC-TODAY", apply_by=date(2027, 1, 4)))
    assert outcome.not_sent == {program.EXPIRED: 1}
    assert await received(hub, "ZC-OLD") == {}
    assert len(await received(hub, "ZC-TODAY")) == 4  # the last day still counts

    later = policy_row("ZC-LATER", apply_by=date(2027, 2, 1), tags=("绿色工厂",))
    assert (await import_policies(hub, later)).created == 0  # nobody has the tag yet
    hub.clock.set(datetime(2027, 2, 2, 9, 0, tzinfo=SHANGHAI))
    async with hub.db.write() as session:  # eligible now, but the deadline has passed
        session.add(EnterpriseTag(enterprise_id=await _id(hub, "甲机械"), tag="绿色工厂"))
    scheduled_run = await scheduled(hub)
    assert scheduled_run.not_sent == {program.EXPIRED: 3}
    assert (scheduled_run.items, scheduled_run.created) == (0, 0)
    assert await received(hub, "ZC-LATER") == {}


# --- what the message says ----------------------------------------------------------------


async def test_free_apply_is_said_only_when_the_policy_says_so(hub: Hub) -> None:
    await import_policies(hub, policy_row("ZC-APPLY", industries=("制造业",)))
    [apply] = await bodies(hub)
    assert "2027年度专精特新中小企业奖补" in apply
    assert "申报截止：2027年3月31日" in apply
    assert "https://zwfw.example.gov.cn/zc/1" in apply
    assert "免申即享" not in apply
    assert "无需" not in apply

    await import_policies(hub, policy_row("ZC-FREE", industries=("制造业",), free_apply=True,
                                          title="2027年度稳岗返还"))  # fmt: skip
    free = (await bodies(hub))[-1]
    assert "2027年度稳岗返还" in free
    assert "免申即享" in free
    assert "无需提交申请" in free
    assert "截止日期：2027年3月31日" in free  # no application: not an application deadline
    assert "申报" not in free
    assert "https://zwfw.example.gov.cn/zc/1" in free


def test_variables_come_from_the_policy_row() -> None:
    policy = Policy(
        policy_id="ZC-9", title="技改补贴", summary="x" * 300, department=None,
        apply_by=None, free_apply=False, url=None,
    )  # fmt: skip
    variables = program.policy_variables(policy)
    assert (variables["deadline"], variables["url"]) == ("", "")
    assert variables["free_apply"] is False
    assert len(variables["summary"]) == 120
    assert variables["summary"].endswith("…")


async def _id(hub: Hub, name: str) -> int:
    async with hub.db.read() as session:
        found = await session.scalar(sa.select(Enterprise.id).where(Enterprise.name == name))
    assert found is not None
    return int(found)
