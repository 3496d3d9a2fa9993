"""Small, explicit registries for tests that need enterprises in the database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from hub.core.vocab import ChannelName, CreditStatus, Stage, Tier
from hub.store.db import Database
from hub.store.models import Contact, ContactOptOut, Enterprise, EnterpriseTag, Officer
from tests.importing.factories import make_uscc

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SeedEnterprise:
    name: str
    tier: Tier
    industry: str
    region: str
    tags: tuple[str, ...] = ()
    stage: Stage = Stage.OPERATING
    credit: CreditStatus = CreditStatus.GOOD
    officer: str | None = None
    mobiles: tuple[str, ...] = ("+8613900000000",)


SAMPLE = (
    SeedEnterprise(
        "甲机械",
        Tier.KEY,
        "制造业",
        "龙沙区",
        ("专精特新", "高新技术企业"),
        officer="LL001",
        mobiles=("+8613900000001",),
    ),
    SeedEnterprise(
        "乙商贸",
        Tier.GENERAL,
        "批发和零售业",
        "建华区",
        ("小微企业",),
        mobiles=("+8613900000002", "+8613900000012"),
    ),
    SeedEnterprise(
        "丙软件",
        Tier.GENERAL,
        "信息传输、软件和信息技术服务业",
        "龙沙区",
        ("专精特新",),
        stage=Stage.STARTUP,
        credit=CreditStatus.WARNING,
        officer="LL002",
        mobiles=("+8613900000003",),
    ),
    SeedEnterprise(
        "丁餐饮",
        Tier.ORDINARY,
        "住宿和餐饮业",
        "铁锋区",
        ("个体工商户",),
        credit=CreditStatus.DISHONEST,
        mobiles=(),
    ),
    SeedEnterprise(
        "戊建筑",
        Tier.ORDINARY,
        "建筑业",
        "龙沙区",
        stage=Stage.EXITING,
        officer="LL001",
        mobiles=("+8613900000005",),
    ),
)


async def seed_registry(
    db: Database, enterprises: tuple[SeedEnterprise, ...] = SAMPLE
) -> dict[str, int]:
    """Insert officers LL001/LL002 and the enterprises; returns enterprise ids by name."""
    ids: dict[str, int] = {}
    async with db.write() as session:
        officers = {}
        for code, name in (("LL001", "李明"), ("LL002", "张丽娟")):
            officer = Officer(
                code=code, name=name, mobile="+8613845200001", created_at=T0, updated_at=T0
            )
            session.add(officer)
            officers[code] = officer
        await session.flush()
        for serial, seed in enumerate(enterprises, start=1):
            enterprise = Enterprise(
                uscc=make_uscc(serial),
                name=seed.name,
                tier=seed.tier,
                industry=seed.industry,
                region=seed.region,
                stage=seed.stage,
                credit_status=seed.credit,
                officer_id=officers[seed.officer].id if seed.officer else None,
                created_at=T0,
                updated_at=T0,
            )
            session.add(enterprise)
            await session.flush()
            ids[seed.name] = enterprise.id
            session.add_all(EnterpriseTag(enterprise_id=enterprise.id, tag=t) for t in seed.tags)
            for i, mobile in enumerate(seed.mobiles):
                session.add(
                    Contact(
                        enterprise_id=enterprise.id,
                        natural_key=mobile,
                        name=f"{seed.name}联系人{i + 1}",
                        mobile=mobile,
                        created_at=T0,
                        updated_at=T0,
                    )
                )
    return ids


async def opt_out(db: Database, mobile: str, channel: ChannelName) -> None:
    async with db.write() as session:
        contact = (
            await session.execute(Contact.__table__.select().where(Contact.mobile == mobile))
        ).one()
        session.add(
            ContactOptOut(contact_id=contact.id, channel=channel, kind="*", at=T0, source="test")
        )
