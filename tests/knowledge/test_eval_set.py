"""The evaluation set of smart answers (tests/knowledge/eval/questions.csv) is honest.

The set measures retrieval on questions the library does not hold word for word, so it may
not copy a library question; its expected ids must name entries the demo loads (a FAQ entry's
``faq_id`` or ``policy:<policy_id>`` for a demo policy; several joined by ``|`` where a FAQ
entry and a policy give the same answer, so either is right), and it must be large enough for
the precision, coverage and false-answer figures to mean something.
"""

from __future__ import annotations

import csv
import unicodedata
from collections import Counter
from datetime import date

from hub.knowledge.evaluation import is_right
from tests.knowledge.demo_library import EVAL_FILE, demo_faq_rows, demo_policy_rows

POLICY_PREFIX = "policy:"
WRITTEN_ON = date(2026, 12, 6)
"""The day the set was written: the library's entries in force then are the ones asked about."""


def _bare(text: str) -> str:
    """The text as a comparison sees it: NFKC (full-width folded), lower case, without
    punctuation or white space."""
    folded = unicodedata.normalize("NFKC", text).lower()
    return "".join(
        ch for ch in folded if not unicodedata.category(ch).startswith(("P", "Z")) and ch.strip()
    )


def _eval_rows() -> list[tuple[str, str]]:
    with EVAL_FILE.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["question", "expected"]
        return [(row["question"], row["expected"].strip()) for row in reader]


def _expected_ids() -> list[str]:
    """Every id the set expects, each alternative on its own."""
    return [one for _, expected in _eval_rows() if expected for one in expected.split("|")]


def _library_ids() -> set[str]:
    faq_ids = {row.faq_id for row in demo_faq_rows()}
    policy_ids = {POLICY_PREFIX + policy.policy_id for policy in demo_policy_rows(WRITTEN_ON)}
    return faq_ids | policy_ids


def _library_questions() -> set[str]:
    """Every text the library matches a question against word for word: FAQ questions and
    their alternates, and the demo policies' titles."""
    texts = [policy.title for policy in demo_policy_rows(WRITTEN_ON)]
    for row in demo_faq_rows():
        texts.append(row.question)
        texts.extend(row.alternates.split(";"))
    return {_bare(text) for text in texts if _bare(text)}


def test_the_set_has_enough_in_scope_and_out_of_scope_questions() -> None:
    rows = _eval_rows()
    in_scope = [question for question, expected in rows if expected]
    out_of_scope = [question for question, expected in rows if not expected]
    assert len(in_scope) >= 300
    assert len(out_of_scope) >= 100


def test_every_question_is_written_once_and_not_blank() -> None:
    questions = [unicodedata.normalize("NFKC", question).strip() for question, _ in _eval_rows()]
    assert all(questions)
    repeated = [question for question, count in Counter(questions).items() if count > 1]
    assert repeated == []


def test_every_expected_id_is_a_demo_faq_entry_or_demo_policy() -> None:
    known = _library_ids()
    unknown = sorted(set(_expected_ids()) - known)
    assert unknown == []


def test_no_question_is_a_library_question_word_for_word() -> None:
    library = _library_questions()
    copied = [question for question, _ in _eval_rows() if _bare(question) in library]
    assert copied == []


def test_every_demo_policy_is_asked_about_several_times() -> None:
    asked = Counter(_expected_ids())
    policies = [POLICY_PREFIX + p.policy_id for p in demo_policy_rows(WRITTEN_ON)]
    assert {policy: asked[policy] for policy in policies if asked[policy] < 2} == {}


def test_every_demo_faq_entry_in_force_is_asked_about() -> None:
    """An entry expired before the set was written never answers, so no question expects it
    (FAQ-SUB-017, the spring 2026 campaign, is there to show that)."""
    asked = set(_expected_ids())
    in_force = [
        row.faq_id
        for row in demo_faq_rows()
        if row.valid_until is None or row.valid_until >= WRITTEN_ON
    ]
    assert [faq_id for faq_id in in_force if faq_id not in asked] == []


def test_an_expected_naming_two_entries_is_right_for_either() -> None:
    expected = "FAQ-FIN-002|policy:DEMO-ZC-006"
    assert is_right(expected, "FAQ-FIN-002")
    assert is_right(expected, "policy:DEMO-ZC-006#4")
    assert not is_right(expected, "FAQ-SUB-010")
    assert not is_right(expected, "policy:DEMO-ZC-005#1")
