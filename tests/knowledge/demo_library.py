"""The demo library as retrieval sees it, built without a database: the FAQ entries of
hub/devtools/demo_faq.csv and the demo policies, turned into entries by the same corpus code
that reads the database (faq_entry, policy_entries), and the evaluation set's cases."""

from __future__ import annotations

import csv
from datetime import date
from importlib.resources import files
from pathlib import Path

from hub.devtools.demo_records import demo_policies
from hub.knowledge.corpus import faq_entry, policy_entries
from hub.knowledge.evaluation import EvalCase, read_cases
from hub.knowledge.verdict import Entry
from hub.store.enterprise_data import Policy
from hub.store.knowledge import FaqEntry

EVAL_FILE = Path(__file__).parent / "eval" / "questions.csv"

# The demo library's columns may carry the import's English or Chinese headers.
_HEADERS = {
    "faq_id": ("faq_id", "编号"),
    "question": ("question", "问题"),
    "answer": ("answer", "答案"),
    "alternates": ("alternates", "相似问法"),
    "department": ("department", "部门"),
    "valid_until": ("valid_until", "有效期至"),
    "source": ("source", "依据"),
}


def _value(row: dict[str, str], field: str) -> str:
    for name in _HEADERS[field]:
        if name in row:
            return (row[name] or "").strip()
    return ""


def demo_faq_rows() -> list[FaqEntry]:
    """The demo FAQ library as unsaved rows."""
    text = (files("hub.devtools") / "demo_faq.csv").read_text(encoding="utf-8-sig")
    rows = []
    for row in csv.DictReader(text.splitlines()):
        valid_until = _value(row, "valid_until")
        rows.append(
            FaqEntry(
                faq_id=_value(row, "faq_id"),
                version=1,
                question=_value(row, "question"),
                alternates=_value(row, "alternates"),
                answer=_value(row, "answer"),
                department=_value(row, "department") or None,
                valid_until=date.fromisoformat(valid_until) if valid_until else None,
                source=_value(row, "source") or None,
            )
        )
    return rows


def demo_policy_rows(today: date) -> list[Policy]:
    """The demo policies (deadlines counted from ``today``) as unsaved rows."""
    return [
        Policy(
            policy_id=row["policy_id"],
            title=row["title"],
            summary=row["summary"],
            department=row["department"],
            apply_by=date.fromisoformat(row["apply_by"]) if row["apply_by"] else None,
            url=row["url"],
            text=row["text"],
        )
        for row in demo_policies(today)
    ]


def demo_entries(today: date) -> list[Entry]:
    """Every entry of the demo library on ``today``."""
    entries = [faq_entry(row) for row in demo_faq_rows()]
    for policy in demo_policy_rows(today):
        entries.extend(policy_entries(policy))
    return entries


def eval_cases() -> list[EvalCase]:
    """The evaluation set."""
    return read_cases(EVAL_FILE)
