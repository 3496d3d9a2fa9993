"""An evaluation of smart answers: questions with the entry that should answer them (or none),
asked of an index, and the three figures the hub is held to.

The file is CSV (UTF-8, a BOM allowed) with the headers ``question`` and ``expected``: an FAQ's
``faq_id``, ``policy:<policy_id>`` (any passage of that policy is right) or a passage's own id,
several of them joined by ``|`` when the library holds the same answer twice (any is right),
or empty for a question the library does not answer (out of scope).

- precision: automatic answers to in-scope questions that are right ÷ automatic answers to
  in-scope questions;
- coverage: in-scope questions answered automatically ÷ in-scope questions;
- false-answer rate: out-of-scope questions answered automatically ÷ out-of-scope questions.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hub.core.errors import InputError
from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.verdict import Verdict

__all__ = [
    "TARGETS",
    "EvalCase",
    "EvalReport",
    "Outcome",
    "evaluate",
    "is_right",
    "read_cases",
]

#: What issue 16 holds the hub to: precision ≥ 95 %, coverage ≥ 60 %, false answers ≤ 3 %.
TARGETS = {"precision": 0.95, "coverage": 0.60, "false_answer_rate": 0.03}


@dataclass(frozen=True, slots=True)
class EvalCase:
    """One question of the set and the entry expected to answer it (None: out of scope)."""

    question: str
    expected: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What the index did with one case."""

    case: EvalCase
    verdict: Verdict

    @property
    def answered(self) -> bool:
        """Answered automatically."""
        return self.verdict.confident

    @property
    def right(self) -> bool:
        """The best entry is the expected one (for an out-of-scope question: never)."""
        best = self.verdict.best
        return (
            self.case.expected is not None
            and best is not None
            and is_right(self.case.expected, best.entry.entry_id)
        )


def is_right(expected: str, entry_id: str) -> bool:
    """``entry_id`` answers a question expecting ``expected``: the same id, or a passage of
    the expected policy. ``expected`` may name several entries joined by ``|`` where the
    library says the same thing twice (a FAQ entry and a policy): any of them is right."""
    return any(_is_expected(one.strip(), entry_id) for one in expected.split("|"))


def _is_expected(expected: str, entry_id: str) -> bool:
    if entry_id == expected:
        return True
    return (
        expected.startswith("policy:")
        and "#" not in expected
        and (entry_id.startswith(expected + "#"))
    )


@dataclass(frozen=True, slots=True)
class EvalReport:
    """The outcomes of a set and the figures computed from them."""

    outcomes: tuple[Outcome, ...]

    @property
    def in_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected is not None]

    @property
    def out_of_scope(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.case.expected is None]

    @property
    def precision(self) -> float:
        answered = [o for o in self.in_scope if o.answered]
        return sum(o.right for o in answered) / len(answered) if answered else 1.0

    @property
    def coverage(self) -> float:
        in_scope = self.in_scope
        return sum(o.answered for o in in_scope) / len(in_scope) if in_scope else 0.0

    @property
    def false_answer_rate(self) -> float:
        outside = self.out_of_scope
        return sum(o.answered for o in outside) / len(outside) if outside else 0.0

    @property
    def wrong(self) -> list[Outcome]:
        """Automatic answers that were wrong: to an in-scope question by another entry, or to
        an out-of-scope question at all."""
        return [o for o in self.outcomes if o.answered and not o.right]

    def figures(self) -> dict[str, float]:
        """precision, coverage and false-answer rate."""
        return {
            "precision": self.precision,
            "coverage": self.coverage,
            "false_answer_rate": self.false_answer_rate,
        }

    def meets_targets(self) -> bool:
        """Precision and coverage at least, false answers at most, what :data:`TARGETS` says."""
        return (
            self.precision >= TARGETS["precision"]
            and self.coverage >= TARGETS["coverage"]
            and self.false_answer_rate <= TARGETS["false_answer_rate"]
        )

    def as_dict(self) -> dict[str, Any]:
        """The figures, the counts, and each wrong automatic answer."""
        in_scope = self.in_scope
        return {
            **{name: round(value, 4) for name, value in self.figures().items()},
            "targets": TARGETS,
            "meets_targets": self.meets_targets(),
            "questions": len(self.outcomes),
            "in_scope": len(in_scope),
            "in_scope_answered": sum(o.answered for o in in_scope),
            "in_scope_answered_right": sum(o.answered and o.right for o in in_scope),
            "out_of_scope": len(self.out_of_scope),
            "out_of_scope_answered": sum(o.answered for o in self.out_of_scope),
            "wrong": [
                {
                    "question": o.case.question,
                    "expected": o.case.expected,
                    "answered_with": o.verdict.best.entry.entry_id if o.verdict.best else None,
                    "score": round(o.verdict.score, 4),
                    "margin": round(o.verdict.margin, 4),
                }
                for o in self.wrong
            ],
        }


def read_cases(path: Path) -> list[EvalCase]:
    """The cases of an evaluation file; a file without the two headers is refused."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:
            reader = csv.DictReader(file)
            if not {"question", "expected"} <= set(reader.fieldnames or ()):
                raise InputError("评测文件须有 question 和 expected 两列", file=str(path))
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"无法读取评测文件：{exc}", file=str(path)) from exc
    return [
        EvalCase(question=row["question"].strip(), expected=(row["expected"] or "").strip() or None)
        for row in rows
        if (row.get("question") or "").strip()
    ]


def evaluate(index: KnowledgeIndex, cases: Sequence[EvalCase], *, today: date) -> EvalReport:
    """Ask every question of the set on ``today``."""
    return EvalReport(tuple(Outcome(c, index.ask(c.question, today=today)) for c in cases))
