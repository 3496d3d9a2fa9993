"""A registry with credit records for the credit report tests (program and page).

Three key enterprises and one general one. 甲机械 (officer LL001) has a 2026 H2 penalty since
repaired, a 2026 H2 abnormal-operation listing still active and a 2025 dishonesty listing since
removed: status 预警. 己科技 (LL001) has no credit data at all: status 良好. 庚制药 (LL002) was
listed as a dishonest debtor in March 2027: status 失信. 乙商贸 is general, outside the audience.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from redis.asyncio import Redis

from hub.core.clock import FixedClock
from hub.core.credit import CreditEventStatus, CreditEventType
from hub.core.keys import RedisKeys
from hub.core.vocab import CreditStatus, MessageKind, Tier
from hub.outbound.audience import parse_audience
from hub.scheduling.programs import credit_report
from hub.scheduling.programs.base import (
    ProgramContext,
    ProgramFire,
    ProgramOutcome,
    ProgramSettings,
)
from hub.scheduling.programs.report_links import SECRET_ENV
from hub.store.db import Database
from hub.store.enterprise_data import CreditEvent
from hub.store.models import Message
from tests.pipeline import Hub, build, setup
from tests.seed import T0, SeedEnterprise, seed_registry

SHANGHAI = ZoneInfo("Asia/Shanghai")
SECRET = "test-link-secret-0123456789abcdefghijklmnop"
BASE_URL = "https://hub.example.cn"
JANUARY = datetime(2027, 1, 4, 9, 0, tzinfo=SHANGHAI)  # reports 2026 H2
JULY = datetime(2027, 7, 1, 9, 0, tzinfo=SHANGHAI)  # reports 2027 H1

REGISTRY = (
    SeedEnterprise("甲机械", Tier.KEY, "制造业", "龙沙区", officer="LL001",
                   credit=CreditStatus.WARNING, mobiles=("+8613900000001",)),
    SeedEnterprise("己科技", Tier.KEY, "信息技术", "建华区", officer="LL001",
                   mobiles=("+8613900000006",)),
    SeedEnterprise("庚制药", Tier.KEY, "医药制造业", "铁锋区", officer="LL002",
                   credit=CreditStatus.DISHONEST, mobiles=("+8613900000007",)),
    SeedEnterprise("乙商贸", Tier.GENERAL, "批发和零售业", "建华区", mobiles=("+8613900000002",)),
)  # fmt: skip

# (event id, enterprise, type, authority, decided, summary, status, repaired)
EVENTS = (
    ("CF-2026-0912", "甲机械", CreditEventType.ADMIN_PENALTY, "市市场监督管理局",
     date(2026, 9, 12), "未按规定公示即时信息", CreditEventStatus.REPAIRED, date(2026, 11, 20)),
    ("CF-2026-0803", "甲机械", CreditEventType.ABNORMAL_OPERATION, "龙沙区市场监督管理局",
     date(2026, 8, 3), "通过登记的住所无法联系", CreditEventStatus.ACTIVE, None),
    ("CF-2025-0501", "甲机械", CreditEventType.DISHONEST_DEBTOR, "龙沙区人民法院",
     date(2025, 5, 1), "未履行生效判决", CreditEventStatus.REMOVED, date(2025, 10, 1)),
    ("CF-2027-0310", "庚制药", CreditEventType.DISHONEST_DEBTOR, "铁锋区人民法院",
     date(2027, 3, 10), "未履行给付义务", CreditEventStatus.ACTIVE, None),
)  # fmt: skip


async def seed_credit(db: Database) -> dict[str, int]:
    """The registry above with its credit events; enterprise ids by name."""
    ids = await seed_registry(db, REGISTRY)
    async with db.write() as session:
        for event_id, name, kind, authority, decided, summary, status, repaired in EVENTS:
            session.add(
                CreditEvent(event_id=event_id, enterprise_id=ids[name], type=kind,
                            authority=authority, decided_on=decided, summary=summary,
                            status=status, repaired_on=repaired, created_at=T0, updated_at=T0)
            )  # fmt: skip
    return ids


@pytest.fixture(name="hub")
async def credit_hub(
    db: Database, redis_client: Redis, redis_keys: RedisKeys, clock: FixedClock,
    monkeypatch: pytest.MonkeyPatch,
) -> Hub:  # fmt: skip
    """Fixture ``hub``: the sandbox pipeline over the seeded credit registry, with the link
    secret set (the test modules import it)."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    await seed_credit(db)
    hub = build(db, redis_client, redis_keys, clock)
    await setup(hub)
    return hub


def context(hub: Hub) -> ProgramContext:
    return ProgramContext(hub.db, hub.outbox, hub.clock, ProgramSettings(public_base_url=BASE_URL))


async def fire(hub: Hub, at: datetime, audience: str = "tier=key") -> ProgramOutcome:
    """Run the program as the schedule's fire at ``at`` would (the clock set to ``at``)."""
    hub.clock.set(at)
    the_fire = ProgramFire("credit_report", at, parse_audience(audience))
    return await credit_report.run(context(hub), the_fire)


async def reports(db: Database, kind: MessageKind = MessageKind.CREDIT_REPORT) -> list[Message]:
    async with db.read() as session:
        found = await session.scalars(
            sa.select(Message).where(Message.kind == kind).order_by(Message.id)
        )
        return list(found.all())
