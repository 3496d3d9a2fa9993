"""Retrieval for smart answers: folding, greetings, tokens, expiry, versions, the decision."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from hub.knowledge import tokenize
from hub.knowledge.corpus import policy_entries, split_passages
from hub.knowledge.engine import KnowledgeIndex, library_terms
from hub.knowledge.rules import asks_own_case
from hub.knowledge.settings import AnswerSettings
from hub.knowledge.text import fold, question_text
from hub.knowledge.tokenize import Segmenter, char_ngrams
from hub.store.enterprise_data import Policy
from tests.knowledge.entries import faq

TODAY = date(2026, 12, 7)
SETTINGS = AnswerSettings(min_score=0.3, min_margin=0.05)


_faq = faq


LIBRARY = [
    _faq("FAQ-001", "营业执照丢失了怎么补办", "执照丢了怎么办;营业执照遗失补领"),
    _faq("FAQ-002", "社保缴费基数每年什么时候调整", "社保基数调整时间"),
    _faq("FAQ-003", "增值税专用发票怎么申领", "专票怎么领;怎样申请增值税专票"),
    _faq("FAQ-004", "企业信用修复需要哪些材料", "行政处罚信息信用修复怎么办理"),
    *policy_entries(
        Policy(
            policy_id="ZC-9",
            title="稳岗返还",
            summary="按失业保险费的60%返还",
            text="稳岗返还\n人社局\n一、支持内容：上年度未裁员的参保企业按实际缴纳失业保险费的"
            "60%返还。\n二、办理方式：无需申请，直接返还。",
            department="人社局",
            apply_by=date(2026, 12, 31),
        )
    ),
]


def test_full_width_text_folds_to_half_width_and_lower_case() -> None:
    assert fold("ＡＢＣ１２３，请问？") == "abc123,请问?"
    assert question_text("ＨＥＬＬＯ，增值税专票怎么领？") == "增值税专票怎么领"


def test_greetings_and_sign_offs_are_stripped() -> None:
    assert question_text("您好，请问社保基数什么时候调整？谢谢！") == "社保基数什么时候调整"
    assert question_text("老师好，麻烦问一下，执照丢了怎么办？辛苦了") == "执照丢了怎么办"
    assert question_text("你好!我想咨询一下：专票怎么领，在线等，急") == "专票怎么领"
    assert question_text("谢谢") == ""
    assert question_text("您好") == ""


def test_words_leave_out_stopwords_and_keep_library_terms_whole() -> None:
    plain = Segmenter()
    assert "怎么" not in plain.words("社保基数怎么调整")
    assert "社保" in plain.words("社保基数怎么调整")
    with_term = Segmenter(["稳岗返还"])
    assert "稳岗返还" in with_term.words("稳岗返还什么时候发")


def test_documents_are_cut_in_search_mode_questions_in_precise_mode() -> None:
    segmenter = Segmenter()
    assert segmenter.words("高新技术企业认定") == ["高新技术", "企业", "认定"]
    assert {"高新", "技术", "高新技术"} <= set(segmenter.document_words("高新技术企业认定"))


def test_char_ngrams_do_not_cross_punctuation_or_stopwords() -> None:
    grams = char_ngrams("专票,怎么领")
    assert "专票" in grams
    assert "票," not in grams
    assert not any("怎" in gram for gram in grams)


def test_library_terms_come_from_titles_departments_and_quotes() -> None:
    terms = library_terms(LIBRARY)
    assert {"稳岗返还", "人社局", "办事指南"} <= terms


def test_policy_text_splits_into_passages_without_title_and_department() -> None:
    text = "稳岗返还\n人社局\n一、支持内容：返还60%。二、办理方式：无需申请。\n\n第三条 其他。"
    assert split_passages(text, skip=("稳岗返还", "人社局")) == [
        "一、支持内容：返还60%。",
        "二、办理方式：无需申请。",
        "第三条 其他。",
    ]


def test_a_paraphrase_is_answered_with_its_entry() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    verdict = index.ask("您好，我们公司营业执照弄丢了，怎么补办？", today=TODAY)
    assert verdict.best is not None
    assert verdict.best.entry.entry_id == "FAQ-001"
    assert verdict.confident
    assert 0 < verdict.score <= 1
    assert verdict.margin > 0
    assert len(verdict.candidates) <= 3
    assert verdict.handover_reason is None


def test_full_width_question_scores_as_its_half_width_twin() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    half = index.ask("增值税专用发票怎么申领?", today=TODAY)
    full = index.ask("增值税专用发票怎么申领？", today=TODAY)
    assert half.score == full.score
    assert half.best is not None
    assert half.best.entry.entry_id == "FAQ-003"


def test_out_of_scope_and_empty_questions_are_handed_over() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    assert not index.ask("明天会下雨吗", today=TODAY).confident
    empty = index.ask("您好，谢谢", today=TODAY)
    assert not empty.confident
    assert empty.candidates == ()


def test_an_expired_entry_never_answers_nor_is_suggested() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    question = "稳岗返还是按失业保险费的多少返还"
    before = index.ask(question, today=date(2026, 12, 31))
    assert before.best is not None
    assert before.best.entry.entry_id.startswith("policy:ZC-9#")
    after = index.ask(question, today=date(2027, 1, 1))
    assert all(not c.entry.entry_id.startswith("policy:ZC-9") for c in after.candidates)
    assert not after.confident


def test_passages_of_one_policy_are_one_answer_for_the_margin() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    verdict = index.ask("稳岗返还", today=TODAY)
    assert verdict.best is not None
    # Both passages match the title equally; the margin is over the FAQ entries, not them.
    assert verdict.margin == verdict.score - max(
        (c.score for c in verdict.candidates if not c.entry.entry_id.startswith("policy:")),
        default=0.0,
    )


def test_a_changed_entry_answers_with_its_new_version() -> None:
    changed = [
        replace(e, version=2, answer="新答案") if e.entry_id == "FAQ-003" else e for e in LIBRARY
    ]
    verdict = KnowledgeIndex.build(changed, SETTINGS).ask("专票怎么领", today=TODAY)
    assert verdict.best is not None
    assert (verdict.best.entry.entry_id, verdict.best.entry.version) == ("FAQ-003", 2)
    assert verdict.best.entry.answer == "新答案"


def test_disabled_answers_are_never_confident() -> None:
    index = KnowledgeIndex.build(LIBRARY, AnswerSettings(enabled=False, min_score=0, min_margin=0))
    verdict = index.ask("营业执照丢失了怎么补办", today=TODAY)
    assert verdict.best is not None
    assert not verdict.confident
    assert verdict.handover_reason == "智能答复未开启"


def test_an_empty_library_hands_everything_over() -> None:
    verdict = KnowledgeIndex.build([], SETTINGS).ask("专票怎么领", today=TODAY)
    assert verdict.candidates == ()
    assert not verdict.confident
    assert verdict.handover_reason == "知识库中没有匹配的条目"


def test_each_handover_names_its_reason() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    own_case = index.ask("麻烦帮我查一下我们的增值税专用发票申领到哪一步了", today=TODAY)
    tiny = index.ask("1", today=TODAY)
    strict = KnowledgeIndex.build(LIBRARY, AnswerSettings(min_score=0.99, min_margin=0))
    low = strict.ask("您好，营业执照不见了要怎么弄", today=TODAY)

    assert own_case.handover_reason == "询问本企业的具体办理情况"
    assert tiny.handover_reason in {"问题内容过少", "知识库中没有匹配的条目"}
    assert low.handover_reason is not None
    assert low.handover_reason.startswith("匹配得分")
    assert "低于阈值 0.99" in low.handover_reason


def _answers_and_hands_over(
    index: KnowledgeIndex, answered: str, handed_over: str, suggested: str
) -> None:
    """``answered`` is answered; ``handed_over`` is not, but its entry is still suggested to
    the handler."""
    assert index.ask(answered, today=TODAY).confident
    verdict = index.ask(handed_over, today=TODAY)
    assert not verdict.confident
    assert verdict.best is not None
    assert verdict.best.entry.entry_id == suggested


def test_a_question_about_the_enterprises_own_case_is_handed_over() -> None:
    _answers_and_hands_over(
        KnowledgeIndex.build(LIBRARY, SETTINGS),
        "增值税专用发票怎么申领",
        "麻烦帮我查一下我们的增值税专用发票申领到哪一步了",
        suggested="FAQ-003",
    )


def test_own_case_questions_are_told_from_general_ones() -> None:
    own = [
        "帮我查一下我们公司的专票申领到哪一步了",
        "首贷贴息的钱到账了没有",
        "去年报的奖补为什么到现在还没发下来",
        "我们公司是不是被列入经营异常名录了",
        "我们的高企证书什么时候能寄到",
    ]
    general = ["增值税专票在哪里查", "稳岗返还什么时候发放", "首贷贴息多久能到账"]
    assert all(asks_own_case(question_text(q)) for q in own)
    assert not any(asks_own_case(question_text(q)) for q in general)


def test_a_question_with_almost_no_content_is_handed_over() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    assert not index.ask("1", today=TODAY).confident
    assert not index.ask("？？", today=TODAY).confident


def test_a_misspelt_question_still_finds_its_entry() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    verdict = index.ask("稳刚返还是按失业保险费多少返还", today=TODAY)
    assert verdict.best is not None
    assert verdict.best.entry.entry_id.startswith("policy:ZC-9#")


def test_an_faq_is_found_by_a_detail_only_its_answer_names() -> None:
    entry = faq(
        "FAQ-010", "个税汇算怎么办", answer="每年3月1日至6月30日在个人所得税APP办理年度汇算。"
    )
    index = KnowledgeIndex.build([*LIBRARY, entry], SETTINGS)
    verdict = index.ask("个人所得税app上汇算几月开始", today=TODAY)
    assert verdict.best is not None
    assert verdict.best.entry.entry_id == "FAQ-010"


def test_remembered_document_words_are_the_words() -> None:
    segmenter = Segmenter(["稳岗返还"])
    text = "稳岗返还，申请条件"
    first = segmenter.document_words(text)
    assert segmenter.document_words(text) == first
    assert "稳岗返还" in first


def test_jieba_is_loaded_quietly_and_writes_no_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tokenize, "_dictionary", None)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    segmenter = Segmenter(["稳岗返还"])
    assert segmenter.words("稳岗返还怎么申请") == ["稳岗返还", "申请"]
    assert tokenize.dictionary_load_seconds() > 0
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []


def test_opening_a_business_the_library_never_mentions_is_handed_over() -> None:
    permits = _faq("FAQ-010", "开KTV、游艺厅这类娱乐场所要办什么许可", "开歌厅要办什么证")
    _answers_and_hands_over(
        KnowledgeIndex.build([*LIBRARY, permits], SETTINGS),
        "开歌厅要办什么许可",
        "开网吧要办什么许可",
        suggested="FAQ-010",
    )


def test_a_message_that_asks_nothing_is_handed_over() -> None:
    index = KnowledgeIndex.build(LIBRARY, SETTINGS)
    assert index.ask("社保缴费基数什么时候调整", today=TODAY).confident
    assert not index.ask("好的，社保缴费基数调整的事收到了，谢谢", today=TODAY).confident
