"""The thresholds chooser and the held-out measurement (hub/knowledge/evaluation.py)."""

from __future__ import annotations

from datetime import date

from hub.knowledge.evaluation import (
    TARGETS,
    EvalCase,
    Outcome,
    Thresholds,
    choose_thresholds,
    cross_validate,
)
from hub.knowledge.verdict import Candidate, Verdict
from tests.knowledge.entries import faq

TODAY = date(2026, 12, 7)


_entry = faq


def _outcome(expected: str | None, best: str, score: float, margin: float) -> Outcome:
    entry = _entry(best, "问题")
    verdict = Verdict(
        question="问题",
        candidates=(Candidate(entry, score),),
        score=score,
        margin=margin,
        confident=True,
    )
    return Outcome(EvalCase("问题", expected), verdict)


def test_the_chooser_answers_the_most_the_targets_allow_with_the_highest_thresholds() -> None:
    outcomes = [
        *(_outcome("A", "A", 0.8, 0.3) for _ in range(8)),
        _outcome("A", "A", 0.5, 0.2),  # right, answered below 0.6
        _outcome("B", "A", 0.55, 0.2),  # wrong
        *(_outcome(None, "A", 0.2, 0.2) for _ in range(10)),  # below every threshold tried
    ]
    # 9 of 10 right meets 85 %: every question answered, at the highest such thresholds.
    assert choose_thresholds(outcomes, targets={**TARGETS, "precision": 0.85}) == Thresholds(
        0.5, 0.2
    )
    # 95 % needs the wrong answer left out (above 0.55), which leaves out the 0.5 too: the
    # 8 answered by the highest thresholds that answer them.
    assert choose_thresholds(outcomes, targets=TARGETS) == Thresholds(0.8, 0.3)


def test_the_chooser_gives_none_when_no_thresholds_meet_the_targets() -> None:
    outcomes = [_outcome(None, "A", 0.9, 0.3), _outcome("A", "B", 0.9, 0.3)]
    assert choose_thresholds(outcomes) is None


def test_cross_validation_measures_each_split_on_the_half_that_did_not_choose() -> None:
    entries = [
        _entry("FAQ-1", "营业执照丢失了怎么补办", "执照丢了怎么办"),
        _entry("FAQ-2", "增值税专用发票怎么申领", "专票怎么领"),
        _entry("FAQ-3", "社保缴费基数每年什么时候调整", "社保基数调整时间"),
    ]
    cases = [
        EvalCase(q, e)
        for q, e in [
            ("营业执照丢了怎么补办", "FAQ-1"),
            ("执照丢失咋补办", "FAQ-1"),
            ("专票怎么申领", "FAQ-2"),
            ("增值税专票在哪领", "FAQ-2"),
            ("社保基数什么时候调整", "FAQ-3"),
            ("社保缴费基数几月调", "FAQ-3"),
            ("明天园区停电吗", None),
            ("食堂几点开饭", None),
        ]
    ]
    report = cross_validate(entries, cases, today=TODAY, splits=4, seed=1)
    assert len(report.splits) == 4
    data = report.as_dict()
    assert data["splits"] == 4
    assert set(data["mean"]) == {"precision", "coverage", "false_answer_rate"}
    assert report.mean("false_answer_rate") == 0.0
    assert report.mean("coverage") > 0.5
    assert report.worst("coverage") <= report.mean("coverage")
    same = cross_validate(entries, cases, today=TODAY, splits=4, seed=1)
    assert same.as_dict() == data  # a seed gives the same splits
