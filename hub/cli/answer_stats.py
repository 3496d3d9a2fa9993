"""``hub answers stats [--since DATE] [--json]``: what the assistant did with the questions it
saw (:mod:`hub.queries.answers`).

Prints how many questions were answered automatically and handed over, the entries that answer
most, the questions handed to a person most (by their text and by the best entry found: the
candidates for new or better entries), the ratings of automatic answers with 好评率, and the
handovers by reason. ``--since`` is a day in the hub's zone (from its 00:00).
"""

from __future__ import annotations

from datetime import date, datetime

import typer

from hub.cli.common import out, print_json, print_table, settings_from, with_database
from hub.core.errors import UsageError
from hub.core.vocab import RATING_LABELS
from hub.queries.answers import AnswerStats, answer_stats
from hub.store.db import Database

__all__ = ["HANDOVER_LABELS", "register", "stats"]

HANDOVER_LABELS = {"human": "回复人工", "bad_rating": "差评", "follow_up": "追问"}


def register(answers_app: typer.Typer) -> None:
    """Add ``stats`` to the ``hub answers`` group."""
    answers_app.command("stats")(stats)


def stats(
    ctx: typer.Context,
    since: str | None = typer.Option(None, "--since", help="起始日期 YYYY-MM-DD（含当天）"),
    top: int = typer.Option(20, "--top", min=1, max=1000, help="每张表最多列出的行数"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """智能答复统计：答复最多的条目、转人工最多的问题、自动答复的评价、转人工原因。"""
    start = _start(since, ctx)

    async def read(db: Database) -> AnswerStats:
        async with db.read() as session:
            return await answer_stats(session, since=start, top=top)

    figures: AnswerStats = with_database(ctx, read)
    if as_json:
        print_json(figures.as_dict())
        return
    _print(figures, since)


def _start(since: str | None, ctx: typer.Context) -> datetime | None:
    if since is None:
        return None
    try:
        day = date.fromisoformat(since.strip())
    except ValueError:
        raise UsageError(f"--since 日期格式应为 YYYY-MM-DD：{since}") from None
    return datetime(day.year, day.month, day.day, tzinfo=settings_from(ctx).hub.tz)


def _print(figures: AnswerStats, since: str | None) -> None:
    period = f"{since} 起" if since else "全部"
    out.print(f"智能答复统计（{period}）：问题 {figures.asked} 个，自动答复 {figures.answered} 个，"
              f"转人工 {figures.handed_over} 个")  # fmt: skip
    print_table(
        "答复最多的条目",
        ["条目", "标题", "答复次数", "最新版本"],
        [[e.entry_id, e.title, e.answers, e.latest_version or ""] for e in figures.top_entries],
    )
    print_table(
        "转人工最多的问题（可补充为新条目）",
        ["问题", "次数", "最接近的条目"],
        [[q.question, q.count, "、".join(q.entry_ids) or "无"]
         for q in figures.handed_over_questions],
    )  # fmt: skip
    print_table(
        "转人工问题按最接近的条目",
        ["条目", "标题", "次数", "问题示例"],
        [[e.entry_id or "无匹配", e.title, e.count, e.sample]
         for e in figures.handed_over_entries],
    )  # fmt: skip
    ratings = figures.ratings
    rate = "—" if ratings.good_rate is None else f"{ratings.good_rate:.1%}"
    out.print(f"自动答复的评价：有效评价 {ratings.rated} 个，好评率 {rate}，"
              f"恶意差评 {ratings.malicious} 个（不计入好评率）")  # fmt: skip
    print_table(
        "自动答复的评价",
        ["评价", "个数"],
        [[f"{score} {RATING_LABELS[score]}", count] for score, count in ratings.levels.items()],
    )
    print_table(
        "转人工原因",
        ["原因", "次数"],
        [[HANDOVER_LABELS.get(reason, reason), count]
         for reason, count in figures.handovers.items()],
    )  # fmt: skip
