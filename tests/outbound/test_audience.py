"""Audience expressions: the grammar of docs/design.md, errors naming the term, SQL selection."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hub.core.errors import AudienceError
from hub.outbound.audience import parse_audience
from hub.store.db import Database
from hub.store.models import Enterprise
from tests.importing.factories import make_uscc
from tests.seed import seed_registry


@pytest.fixture
def db(any_db: Database) -> Database:
    """These tests run on SQLite and on PostgreSQL (dialect-specific upserts and RETURNING)."""
    return any_db


async def select(db: Database, expression: str) -> set[str]:
    audience = parse_audience(expression)
    async with db.read() as session:
        return set(
            (await session.scalars(sa.select(Enterprise.name).where(audience.where()))).all()
        )


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("all", {"甲机械", "乙商贸", "丙软件", "丁餐饮", "戊建筑"}),
        ("", {"甲机械", "乙商贸", "丙软件", "丁餐饮", "戊建筑"}),
        ("tier=key", {"甲机械"}),
        ("tier=重点|一般", {"甲机械", "乙商贸", "丙软件"}),
        ("tier!=ordinary", {"甲机械", "乙商贸", "丙软件"}),
        ("region=龙沙区,tier=general", {"丙软件"}),
        ("industry=制造业|建筑业", {"甲机械", "戊建筑"}),
        ("tags~专精特新", {"甲机械", "丙软件"}),
        ("tags~专精特新|个体工商户", {"甲机械", "丙软件", "丁餐饮"}),
        ("tags!~专精特新,region=龙沙区", {"戊建筑"}),
        ("stage=开办", {"丙软件"}),
        ("stage!=operating", {"丙软件", "戊建筑"}),
        ("credit=warning|dishonest", {"丙软件", "丁餐饮"}),
        ("credit=失信", {"丁餐饮"}),
        ("officer=LL001", {"甲机械", "戊建筑"}),
        ("officer!=LL001", {"乙商贸", "丙软件", "丁餐饮"}),
        (f"uscc={make_uscc(2)}", {"乙商贸"}),
        ("tier = key , tags ~ 高新技术企业", {"甲机械"}),
        ("tier=key，region=龙沙区", {"甲机械"}),
    ],
)
async def test_expression_selects(db: Database, expression: str, names: set[str]) -> None:
    await seed_registry(db)
    assert await select(db, expression) == names


@pytest.mark.parametrize(
    ("expression", "term", "reason"),
    [
        ("tier=vip", "tier=vip", "vip"),
        ("colour=red", "colour=red", "未知字段"),
        ("tier=key,,region=x", "", "空条件"),
        ("industry~制造", "industry~制造", "只能用于 tags"),
        ("tier", "tier", "应写成"),
        ("region=a|", "region=a|", "值为空"),
        ("stage=growing", "stage=growing", "growing"),
        ("uscc=911100001234", "uscc=911100001234", ""),
    ],
)
def test_bad_expression_names_the_term(expression: str, term: str, reason: str) -> None:
    with pytest.raises(AudienceError) as info:
        parse_audience(expression)
    assert info.value.term.strip() == term
    assert reason in info.value.reason
    assert term in str(info.value)
