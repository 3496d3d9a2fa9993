"""The five rating levels: one definition, and what is drawn from it."""

from __future__ import annotations

from hub.core.vocab import RATING_LABELS, RATING_LEVELS, RATING_PROMPT, VisitAnswer


def test_the_five_levels_best_first_and_the_prompt_every_request_prints() -> None:
    assert [level for level, _ in RATING_LEVELS] == [5, 4, 3, 2, 1]
    assert dict(RATING_LEVELS) == RATING_LABELS
    assert list(RATING_LABELS) == [5, 4, 3, 2, 1]
    assert RATING_PROMPT == "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意"


def test_a_visit_proposal_is_confirmed_or_rescheduled() -> None:
    assert [(a.value, a.label) for a in VisitAnswer] == [
        ("confirm", "确认走访"),
        ("reschedule", "申请改期"),
    ]
    assert VisitAnswer.parse("申请改期") is VisitAnswer.RESCHEDULE
