"""The enterprise pages' data: the filter form as an audience expression and the enterprises it
gives (tests.seed's five), a bad expression as the parser's Chinese message, the dossier's
sections from the rows created (those two on SQLite and PostgreSQL), addresses masked by the
reader's role."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from hub.queries.scope import Visibility
from hub.store.db import Database
from hub.web.admin.enterprise_views import (
    EnterpriseSearch,
    dossier_page,
    form_expression,
    search_enterprises,
)
from tests.importing.factories import make_uscc
from tests.seed import seed_registry
from tests.visits.dossier_rows import utc
from tests.web.admin.enterprise_rows import full_record_of_jia

TZ = ZoneInfo("Asia/Shanghai")
NOW = utc(2027, 3, 5, 7)
EVERYTHING = Visibility.everything()


@pytest.mark.parametrize(
    ("search", "expression", "names"),
    [
        (EnterpriseSearch(), "", {"甲机械", "乙商贸", "丙软件", "丁餐饮", "戊建筑"}),
        (EnterpriseSearch(choices={"tier": ["key", "general"]}), "tier=key|general",
         {"甲机械", "乙商贸", "丙软件"}),
        (EnterpriseSearch(choices={"stage": ["startup"]}), "stage=startup", {"丙软件"}),
        (EnterpriseSearch(choices={"credit": ["warning", "dishonest"]}),
         "credit=warning|dishonest", {"丙软件", "丁餐饮"}),
        (EnterpriseSearch(texts={"industry": "制造业"}), "industry=制造业", {"甲机械"}),
        (EnterpriseSearch(texts={"region": "龙沙区"}), "region=龙沙区",
         {"甲机械", "丙软件", "戊建筑"}),
        (EnterpriseSearch(texts={"tags": "专精特新"}), "tags~专精特新", {"甲机械", "丙软件"}),
        (EnterpriseSearch(texts={"officer": "ll001"}), "officer=LL001", {"甲机械", "戊建筑"}),
        (EnterpriseSearch(texts={"uscc": make_uscc(2)}), f"uscc={make_uscc(2)}", {"乙商贸"}),
        (EnterpriseSearch(texts={"region": "龙沙区"}, expression="tier!=key"),
         "region=龙沙区,tier!=key", {"丙软件", "戊建筑"}),
        (EnterpriseSearch(choices={"tier": ["重点", "普通"]}, texts={"region": "龙沙区"}),
         "tier=重点|普通,region=龙沙区", {"甲机械", "戊建筑"}),
        (EnterpriseSearch(name="软件"), "", {"丙软件"}),
    ],
)  # fmt: skip
async def test_each_form_field_is_an_audience_term_and_gives_its_enterprises(
    any_db: Database, search: EnterpriseSearch, expression: str, names: set[str]
) -> None:
    await seed_registry(any_db)
    assert form_expression(search) == expression
    result = await search_enterprises(any_db, search, EVERYTHING, tz=TZ)
    assert result.error is None
    assert {row["name"] for row in result.rows} == names
    assert result.total == len(names)


async def test_a_bad_expression_is_the_parser_s_chinese_message_and_no_rows(db: Database) -> None:
    await seed_registry(db)
    result = await search_enterprises(db, EnterpriseSearch(expression="tier=vip"), EVERYTHING,
                                      tz=TZ)  # fmt: skip
    assert result.rows == ()
    assert result.error is not None
    assert "受众表达式中的条件“tier=vip”无效" in result.error
    unknown = await search_enterprises(db, EnterpriseSearch(expression="size=big"), EVERYTHING,
                                       tz=TZ)  # fmt: skip
    assert unknown.error is not None
    assert "未知字段 size" in unknown.error


async def test_pages_run_newest_first_with_the_total(db: Database) -> None:
    await seed_registry(db)
    first = await search_enterprises(db, EnterpriseSearch(), EVERYTHING, tz=TZ, page_size=2)
    assert ([r["name"] for r in first.rows], first.total) == (["戊建筑", "丁餐饮"], 5)
    assert first.next_before is not None
    second = await search_enterprises(
        db, EnterpriseSearch(before=first.next_before, start=2), EVERYTHING, tz=TZ, page_size=2
    )
    assert [r["name"] for r in second.rows] == ["丙软件", "乙商贸"]
    third = await search_enterprises(
        db, EnterpriseSearch(before=second.next_before, start=4), EVERYTHING, tz=TZ, page_size=2
    )
    assert ([r["name"] for r in third.rows], third.next_before) == (["甲机械"], None)


async def test_a_scoped_reader_lists_and_counts_only_its_enterprises(db: Database) -> None:
    await seed_registry(db)
    longsha = Visibility(region="龙沙区")
    result = await search_enterprises(db, EnterpriseSearch(choices={"tier": ["general"]}),
                                      longsha, tz=TZ)  # fmt: skip
    assert ([r["name"] for r in result.rows], result.total) == (["丙软件"], 1)


async def test_the_dossier_shows_each_section_from_its_rows(any_db: Database) -> None:
    await full_record_of_jia(any_db)
    page = await dossier_page(any_db, make_uscc(1), EVERYTHING, NOW, tz=TZ)
    assert page is not None
    registry = page.registry
    assert registry["name"] == "甲机械"
    [contact] = registry["contacts"]
    assert contact["mobile"] == "+86139****0001"
    assert contact["opted_out"] == ["wechat:*"]
    assert ("failed", "号码停机") in {(m["status"], m["reason"]) for m in registry["messages"]
                                      ["recent"]}  # fmt: skip
    assert {t["number"] for t in registry["tickets"]["recent"]} == {
        "GD202702150003", "GD202703010001", "GD202701050001"}  # fmt: skip
    assert {c["event_id"] for c in registry["credit_records"]} == {"XY2027-0001", "XY2026-0009"}
    assert [lic["number"] for lic in registry["licences"]] == ["PW-2027-001"]
    assert [r["year"] for r in registry["annual_reports"]] == [2025]
    assert [(p.title, p.answered) for p in page.visit_dossier.policies] == [
        ("高新技术企业认定奖励", True), ("稳岗返还", False)]  # fmt: skip
    assert {r.reply.text for r in page.replies} == {"年报已经报了", "想申报，请联系我"}
    assert [(v.period, v.state.label) for v in page.visits] == [
        ("2026Q3", "已走访"), ("2026Q4", "已走访"), ("2027Q1", "已确认")]  # fmt: skip
    assert page.visit_dossier.last_visit is not None
    assert page.visit_dossier.last_visit.notes == "生产正常，反映用电紧张"


async def test_addresses_show_in_full_only_to_roles_that_see_them(db: Database) -> None:
    await full_record_of_jia(db)
    full = await dossier_page(db, make_uscc(1), Visibility.everything(full_addresses=True), NOW,
                              tz=TZ)  # fmt: skip
    masked = await dossier_page(db, make_uscc(1), EVERYTHING, NOW, tz=TZ)
    assert full is not None
    assert masked is not None
    assert full.registry["contacts"][0]["mobile"] == "+8613900000001"
    assert masked.registry["contacts"][0]["mobile"] == "+86139****0001"
    reply = masked.replies[0]
    assert masked.reply_sender(reply) == "+86139****0001"
    assert full.reply_sender(full.replies[0]) == "+8613900000001"


async def test_an_enterprise_outside_the_reader_s_scope_has_no_dossier(db: Database) -> None:
    await full_record_of_jia(db)
    assert await dossier_page(db, make_uscc(1), Visibility(region="建华区"), NOW, tz=TZ) is None
    assert await dossier_page(db, make_uscc(99), EVERYTHING, NOW, tz=TZ) is None
