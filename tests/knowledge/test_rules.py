"""Question-type rules beyond the match: favours for the enterprise's own case, messages that
ask nothing, and the kind of business a permit question is about."""

from __future__ import annotations

import pytest

from hub.knowledge.rules import asks_nothing, asks_own_case, opened_business
from hub.knowledge.text import question_text


@pytest.mark.parametrize(
    "question",
    [
        "能不能帮忙催一下？食品经营许可申请受理十多天了",
        "银行要抽贷，能不能帮我们协调一下续贷",
        "商标被驳回了，能不能帮我们找人说说情",
        "能把我们加到重点企业名单里吗",
        "首贷户贴息政策能不能延长一年",
        "创业担保贷款到期了还不上，能不能延期",
    ],
)
def test_a_favour_for_the_enterprises_own_case_is_its_own_case(question: str) -> None:
    assert asks_own_case(question_text(question))


@pytest.mark.parametrize(
    "question",
    ["增值税能不能延期申报", "稳岗返还能不能申请", "食品经营许可证到期了怎么延续"],
)
def test_how_a_procedure_works_is_not_a_favour(question: str) -> None:
    assert not asks_own_case(question_text(question))


@pytest.mark.parametrize(
    "message",
    [
        "好的收到",
        "哈哈哈",
        "好的，稳岗返还的钱已经收到了，谢谢",
        "厂区外面的路灯坏了一个多月了也没人修",
        "我们车间的自来水管爆了，请尽快派人过来看看",
        "暂时没有问题了，谢谢你们",
    ],
)
def test_a_message_that_asks_nothing_is_told_apart(message: str) -> None:
    assert asks_nothing(question_text(message))


@pytest.mark.parametrize(
    "question",
    [
        "营业执照丢了怎么补办",
        "促消费活动的奖品到底发不发",  # A不A asks
        "年报漏了，这会儿补上还来得及不",  # a final 不 asks
        "稳岗返还没有",
        "外贸企业出口信保保费补贴比例",  # a keyword query: no statement, no thanks
        "高新技术企业认定需要什么条件？",
        "我们想申请高新技术企业认定",  # wants the procedure
        "请介绍一下稳岗返还政策",
    ],
)
def test_a_question_or_a_keyword_query_asks_something(question: str) -> None:
    assert not asks_nothing(question_text(question))


def test_the_business_a_permit_question_opens_is_its_object() -> None:
    assert opened_business(question_text("开网吧需要什么手续")) == "网吧"
    assert opened_business(question_text("开宠物医院要办什么许可")) == "宠物医院"
    assert opened_business(question_text("想开个零售药店，要办什么证")) == "零售药店"
    assert opened_business(question_text("开民办培训学校要找哪个部门批")) == "民办培训学校"
    # Not a question about what opening a business takes.
    assert opened_business(question_text("开美容院需要办卫生许可证吗")) is None
    assert opened_business(question_text("去外地施工还用开外经证吗")) is None
    assert opened_business(question_text("数电发票怎么开")) is None
