"""``hub visits``: the liaison visits (对口联络走访).

- ``due [--officer CODE] [--period 2027Q1] [--state due|proposed|confirmed|done|missed|cancelled]
  [--limit N] [--json]``: the visits of a period (default: every period), by due day, with
  where each stands today (hub/visits/status.py).

``visits_app`` is the group: hub/cli/visit_records.py adds ``record``, ``schedule`` and
``contact`` to it.
"""

from __future__ import annotations

from typing import Any

import typer

from hub.app.config import Settings
from hub.cli import visit_records
from hub.cli.common import clock_from, out, print_json, print_table, settings_from, with_database
from hub.core.clock import local_iso
from hub.core.errors import UsageError
from hub.store.db import Database
from hub.visits.periods import parse_period
from hub.visits.status import VisitRow, VisitState, list_visits

visits_app = typer.Typer(help="对口联络走访 (liaison visits)", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add the ``hub visits`` group (with ``due``) to the ``hub`` command."""
    app.add_typer(visits_app, name="visits")
    visit_records.register(visits_app)


@visits_app.command("due")
def visits_due(
    ctx: typer.Context,
    officer: str | None = typer.Option(None, "--officer", help="联络员编码，如 LL001"),
    period: str | None = typer.Option(None, "--period", help="期间，如 2027、2027H1、2027Q1"),
    state: str | None = typer.Option(
        None, "--state", help="due, proposed, confirmed, done, missed, cancelled 或中文名"
    ),
    limit: int = typer.Option(500, "--limit", min=1, max=100_000),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """列出走访：待走访、已预约待确认、已确认、已走访、未按期走访（按计划日期排序）。"""
    wanted_period = parse_period(period) if period is not None else None
    wanted_state = _state(state)
    settings = settings_from(ctx)
    today = clock_from(ctx).now().astimezone(settings.hub.tz).date()

    async def listing(db: Database) -> list[VisitRow]:
        async with db.read() as session:
            return await list_visits(
                session, period=wanted_period, officer_code=officer, state=wanted_state,
                today=today, limit=limit,
            )  # fmt: skip

    rows = with_database(ctx, listing)
    if as_json:
        print_json([visit_json(row, settings) for row in rows])
        return
    title = f"走访（{wanted_period.label + '，' if wanted_period else ''}{len(rows)} 条）"
    print_table(
        title,
        ["编号", "企业", "统一社会信用代码", "类别", "区域", "联络员", "期间", "计划日期",
         "状态", "预约时间", "走访时间"],
        [
            [
                r.visit_id, r.enterprise_name, r.uscc, r.tier.label, r.region,
                r.officer_name or "未分配", r.period,
                r.due_on.isoformat() if r.due_on else "", r.state.label,
                _local(r.proposed_for, settings), _local(r.visited_at, settings),
            ]
            for r in rows
        ],
    )  # fmt: skip
    if not rows:
        out.print("没有符合条件的走访")


def _state(text: str | None) -> VisitState | None:
    if text is None:
        return None
    try:
        member = VisitState.parse(text)
    except ValueError:
        raise UsageError(f"未知的走访状态“{text}”，可选：{VisitState.choices()}") from None
    assert isinstance(member, VisitState)
    return member


def _local(at: Any, settings: Settings) -> str:
    return (local_iso(at, settings.hub.tz) or "")[:16].replace("T", " ")


def visit_json(row: VisitRow, settings: Settings) -> dict[str, Any]:
    """One listed visit as ``--json`` prints it (times ISO 8601 in the hub's zone)."""
    return {
        "id": row.visit_id,
        "enterprise": {"id": row.enterprise_id, "name": row.enterprise_name, "uscc": row.uscc},
        "tier": row.tier.value,
        "region": row.region,
        "officer": {"code": row.officer_code, "name": row.officer_name}
        if row.officer_code
        else None,
        "period": row.period,
        "due_on": row.due_on.isoformat() if row.due_on else None,
        "state": row.state.value,
        "state_label": row.state.label,
        "proposed_for": local_iso(row.proposed_for, settings.hub.tz),
        "visited_at": local_iso(row.visited_at, settings.hub.tz),
    }
