"""Another city's or province's policy is not the library's to answer: the gazetteer, the
hub's own places taken from the library, and where a place counts."""

from __future__ import annotations

from datetime import date

from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.places import GAZETTEER, PlaceFilter
from hub.knowledge.settings import AnswerSettings
from hub.knowledge.text import question_text
from hub.knowledge.tokenize import Segmenter
from tests.knowledge.entries import faq

TODAY = date(2026, 12, 7)
LIBRARY_TEXTS = ["齐齐哈尔市人力资源和社会保障局", "富拉尔基区工业企业技术改造补助"]


def _foreign(places: PlaceFilter, question: str) -> list[str]:
    folded = question_text(question)
    return places.foreign(folded, Segmenter().words(folded))


def test_the_gazetteer_holds_every_province_and_its_prefecture_cities() -> None:
    assert len(GAZETTEER) == 34
    assert sum(map(len, GAZETTEER.values())) >= 330
    assert "齐齐哈尔市" in GAZETTEER["黑龙江省"]
    assert "延边朝鲜族自治州" in GAZETTEER["吉林省"]


def test_the_hubs_own_city_and_its_province_never_count() -> None:
    places = PlaceFilter(LIBRARY_TEXTS)
    assert places.own == {"齐齐哈尔市", "黑龙江省"}
    assert _foreign(places, "齐齐哈尔的个体户房租补贴怎么申请") == []
    assert _foreign(places, "黑龙江省的专精特新奖励有多少") == []
    assert _foreign(places, "富拉尔基区的技改补助怎么申请") == []  # a district: not listed


def test_another_city_or_province_counts_by_full_or_short_name() -> None:
    places = PlaceFilter(LIBRARY_TEXTS)
    assert _foreign(places, "深圳的个体户房租补贴怎么申请") == ["深圳"]
    assert _foreign(places, "哈尔滨市的首贷户贷款贴息是多少") == ["哈尔滨市"]
    assert _foreign(places, "我想问问海南自贸港的企业所得税优惠") == ["海南"]
    assert _foreign(places, "延边的补贴标准") == ["延边"]


def test_where_the_enterprise_goes_is_not_whose_policy_it_asks() -> None:
    places = PlaceFilter(LIBRARY_TEXTS)
    assert _foreign(places, "我们公司去吉林接了个工程，税务上需要报告啥") == []
    assert _foreign(places, "我们想在哈尔滨开个分公司，分公司执照怎么办") == []


def test_common_words_are_not_places() -> None:
    places = PlaceFilter(LIBRARY_TEXTS)
    assert _foreign(places, "新能源是朝阳产业，有什么扶持") == []
    assert _foreign(places, "祝你们平安顺利，想问下社保怎么交") == []
    assert _foreign(places, "开封市的政策") == ["开封市"]  # the full name still counts


def test_a_question_about_another_city_is_handed_over() -> None:
    entry = faq(
        "FAQ-1",
        "个体工商户房租补贴怎么申请",
        answer="齐齐哈尔市中心城区的个体工商户可申请房租补贴，每户每年最高6000元。",
        department="齐齐哈尔市商务局",
    )
    index = KnowledgeIndex.build([entry], AnswerSettings(min_score=0.3, min_margin=0.0))
    assert index.ask("个体户房租补贴怎么申请", today=TODAY).confident
    other = index.ask("深圳的个体户房租补贴怎么申请", today=TODAY)
    assert not other.confident
    assert other.best is not None  # still suggested to the handler
