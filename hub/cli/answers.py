"""``hub answers``: what smart answers would do, without sending anything.

- ``ask "TEXT" [--json]``: the library in the database asked one question on today's date:
  the best entry (id, version, title), its score and margin, answered automatically or handed
  to a person, and the top three candidates;
- ``eval FILE [--json]``: an evaluation file (``question``, ``expected``) asked of the same
  index: precision, coverage and the out-of-scope false-answer rate (:mod:`hub.knowledge
  .evaluation`), and the wrong automatic answers. Exits 1 when a figure misses its target.
  ``--holdout``: the same figures out of sample instead (thresholds chosen on a random half of
  the file, measured on the other, 10 splits; their means and worst values).

``stats`` is :mod:`hub.cli.answer_stats`'s, registered on this group.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from hub.cli import answer_stats
from hub.cli.common import clock_from, out, print_json, print_table, settings_from, with_database
from hub.knowledge.library import Library
from hub.knowledge.verdict import Verdict
from hub.store.db import Database

if TYPE_CHECKING:
    from hub.knowledge.engine import KnowledgeIndex

__all__ = ["register", "thresholds_line"]


def register(app: typer.Typer) -> None:
    answers_app = typer.Typer(help="智能答复 (smart answers)", no_args_is_help=True)
    app.add_typer(answers_app, name="answers")
    answers_app.command("ask")(ask)
    answers_app.command("eval")(eval_file)
    answer_stats.register(answers_app)


def ask(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="企业的问题"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """试答一个问题（不发送）：最佳条目、得分、领先幅度、自动答复或转人工、前三候选。"""
    index, today = _index(ctx)
    verdict = index.ask(text, today=today)
    if as_json:
        print_json(_verdict_dict(verdict))
        return
    best = verdict.best
    decision = "自动答复" if verdict.confident else "转人工"
    out.print(f"问题：{text}")
    if best is None:
        out.print(f"转人工：{verdict.handover_reason}")
        return
    entry = best.entry
    out.print(f"{decision}：{entry.entry_id} v{entry.version} {entry.title}")
    out.print(f"得分 {verdict.score:.3f}，领先 {verdict.margin:.3f}（{thresholds_line(index)}）")
    if verdict.handover_reason is not None:
        out.print(f"转人工原因：{verdict.handover_reason}")
    if verdict.confident:
        out.print(f"答复：{entry.answer}")
        if entry.source:
            out.print(f"依据：{entry.source}")
    rows = [
        (c.entry.entry_id, c.entry.version, c.entry.title, f"{c.score:.3f}")
        for c in verdict.candidates
    ]
    print_table("候选条目", ("条目", "版本", "标题", "得分"), rows)


def eval_file(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="评测文件 CSV：question, expected（空 = 范围外）"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
    holdout: bool = typer.Option(
        False, "--holdout", help="held-out figures: thresholds chosen on half, measured on half"
    ),
) -> None:
    """评测：自动答复准确率、范围内自动答复率、范围外误答率（未达标时退出码 1）。"""
    # The evaluation (numpy, the engine) is loaded only by this command: every other `hub`
    # command starts without it.
    from hub.cli.answer_eval import run_eval

    index, today = _index(ctx)
    run_eval(index, file, today=today, as_json=as_json, holdout=holdout)


def _index(ctx: typer.Context) -> tuple[KnowledgeIndex, date]:
    settings = settings_from(ctx)
    now = clock_from(ctx).now()

    async def load(db: Database) -> KnowledgeIndex:
        async with db.read() as session:
            return await Library(settings.answers).current(session, now=now)

    return with_database(ctx, load), now.astimezone(settings.hub.tz).date()


def thresholds_line(index: KnowledgeIndex) -> str:
    settings = index.settings
    return f"阈值：得分 ≥ {settings.min_score}，领先 ≥ {settings.min_margin}"


def _verdict_dict(verdict: Verdict) -> dict[str, Any]:
    best = verdict.best
    return {
        "question": verdict.question,
        "answered": verdict.confident,
        "handover_reason": verdict.handover_reason,
        "entry_id": best.entry.entry_id if best else None,
        "version": best.entry.version if best else None,
        "title": best.entry.title if best else None,
        "answer": best.entry.answer if best and verdict.confident else None,
        "source": best.entry.source if best and verdict.confident else None,
        "score": round(verdict.score, 4),
        "margin": round(verdict.margin, 4),
        "candidates": verdict.suggestions,
    }
