"""``hub answers eval``'s work: an evaluation file asked of the index, its figures printed.

Apart from :mod:`hub.cli.answers` so that numpy and the engine are loaded only by this command.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

from hub.cli.answers import thresholds_line
from hub.cli.common import out, print_json, print_table
from hub.knowledge.engine import KnowledgeIndex
from hub.knowledge.evaluation import (
    TARGETS,
    EvalCase,
    EvalReport,
    HoldoutReport,
    cross_validate,
    evaluate,
    read_cases,
)

__all__ = ["run_eval"]

_FIGURE_LABELS = {
    "precision": "自动答复准确率",
    "coverage": "范围内自动答复率",
    "false_answer_rate": "范围外误答率",
}


def run_eval(
    index: KnowledgeIndex, file: Path, *, today: date, as_json: bool, holdout: bool
) -> None:
    """Evaluate ``file`` against ``index`` (or out of sample with ``holdout``); exit 1 when a
    figure misses its target."""
    cases = read_cases(file)
    if holdout:
        _holdout(index, cases, today=today, as_json=as_json)
        return
    report = evaluate(index, cases, today=today)
    if as_json:
        print_json(report.as_dict())
    else:
        _print_report(report, index)
    if not report.meets_targets():
        raise typer.Exit(1)


def _holdout(index: KnowledgeIndex, cases: list[EvalCase], *, today: date, as_json: bool) -> None:
    held_out = cross_validate(index.entries, cases, today=today)
    if as_json:
        print_json(held_out.as_dict())
    else:
        _print_holdout(held_out)
    if not all(_meets(name, held_out.mean(name)) for name in TARGETS):
        raise typer.Exit(1)


def _print_holdout(held_out: HoldoutReport) -> None:
    out.print(f"留出评测：{len(held_out.splits)} 次随机对半划分，一半选阈值、另一半计指标")
    rows = [
        (
            label,
            f"{held_out.mean(name):.1%}",
            f"{held_out.worst(name):.1%}",
            ("≥ " if name != "false_answer_rate" else "≤ ") + f"{TARGETS[name]:.0%}",
            "达标" if _meets(name, held_out.mean(name)) else "未达标",
        )
        for name, label in _FIGURE_LABELS.items()
    ]
    print_table("留出评测结果", ("指标", "平均", "最差", "目标", ""), rows)


def _print_report(report: EvalReport, index: KnowledgeIndex) -> None:
    data = report.as_dict()
    out.print(
        f"{data['questions']} 个问题：范围内 {data['in_scope']}，范围外 {data['out_of_scope']}；"
        f"{thresholds_line(index)}"
    )
    rows = [
        (
            _FIGURE_LABELS[name],
            f"{value:.1%}",
            ("≥ " if name != "false_answer_rate" else "≤ ") + f"{TARGETS[name]:.0%}",
            "达标" if _meets(name, value) else "未达标",
        )
        for name, value in report.figures().items()
    ]
    print_table("评测结果", ("指标", "数值", "目标", ""), rows)
    if data["wrong"]:
        wrong = [
            (w["question"], w["expected"] or "（范围外）", w["answered_with"], w["score"])
            for w in data["wrong"]
        ]
        print_table("错误的自动答复", ("问题", "应答条目", "实际答复", "得分"), wrong)


def _meets(name: str, value: float) -> bool:
    if name == "false_answer_rate":
        return value <= TARGETS[name]
    return value >= TARGETS[name]
