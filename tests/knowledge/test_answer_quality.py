"""Smart answers are right when they answer, answer most in-scope questions, and leave
out-of-scope ones to a person: the figures issue 16 holds the hub to, computed here from the
evaluation set (tests/knowledge/eval/questions.csv) against the demo library (the FAQ CSV and
the demo policies, turned into entries by the corpus code that reads the database) with the
thresholds config.yaml ships; and the same figures out of sample (thresholds chosen on a random
half of the set by the calibration's chooser, measured on the other half, 10 splits), which the
in-set figures alone would overstate."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hub.app.config import load_settings
from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.evaluation import EvalReport, HoldoutReport, cross_validate, evaluate
from tests.knowledge.demo_library import demo_entries, eval_cases

TODAY = date(2026, 12, 7)
SHIPPED_CONFIG = Path(__file__).parents[2] / "config.yaml"


@pytest.fixture(scope="module")
def report() -> EvalReport:
    settings = load_settings(SHIPPED_CONFIG, env={}).answers
    index = KnowledgeIndex.build(demo_entries(TODAY), settings)
    return evaluate(index, eval_cases(), today=TODAY)


@pytest.fixture(scope="module")
def held_out() -> HoldoutReport:
    return cross_validate(demo_entries(TODAY), eval_cases(), today=TODAY, splits=10, seed=0)


def _wrong(report: EvalReport) -> str:
    return "\n".join(
        f"{o.case.question} -> {o.verdict.best.entry.entry_id if o.verdict.best else None}"
        f" (expected {o.case.expected}, score {o.verdict.score:.2f}, margin "
        f"{o.verdict.margin:.2f})"
        for o in report.wrong
    )


def test_the_set_is_large_enough_to_mean_something(report: EvalReport) -> None:
    assert len(report.in_scope) >= 300
    assert len(report.out_of_scope) >= 100


def test_automatic_answers_are_right_at_least_95_percent_of_the_time(report: EvalReport) -> None:
    assert report.precision >= 0.95, _wrong(report)


def test_at_least_60_percent_of_in_scope_questions_are_answered(report: EvalReport) -> None:
    assert report.coverage >= 0.60


def test_out_of_scope_questions_get_an_automatic_answer_at_most_3_percent_of_the_time(
    report: EvalReport,
) -> None:
    assert report.false_answer_rate <= 0.03, _wrong(report)


def test_held_out_the_figures_still_meet_the_targets(held_out: HoldoutReport) -> None:
    figures = held_out.as_dict()
    assert held_out.mean("precision") >= 0.95, figures
    assert held_out.mean("coverage") >= 0.60, figures
    assert held_out.mean("false_answer_rate") <= 0.03, figures
