"""``hub visits record|schedule|contact``: what an officer records (hub/visits/outcome.py).

- ``record VISIT_ID --done [--at] [--notes] [--problem TEXT [--department CODE]]...``: the
  visit was made; each problem becomes a ticket (routed to the department given, else by the
  routing rules) with the visit as its source. ``--department`` pairs with ``--problem`` in
  order: give it once per problem (``-`` lets the rules route that one) or not at all.
- ``record VISIT_ID --not-done --reason TEXT``: not made; the visit stays due.
- ``schedule VISIT_ID --at "2027-03-02 09:30"``: the time agreed by phone (a working day).
- ``contact USCC --via phone|meeting|online [--at] [--notes] [--officer CODE]``: a contact
  between visits (counts for the monthly contact of key enterprises).

Registered onto the ``hub visits`` group (hub/cli/visits.py) by :func:`register`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from hub.app.config import Settings
from hub.app.runtime import open_database
from hub.cli.common import clock_from, out, print_json, run_async, settings_from
from hub.core.errors import UsageError
from hub.core.vocab import ContactVia
from hub.inbound.classify.times import find_time
from hub.tickets.policy import load_ticket_policy
from hub.visits.outcome import (
    ProblemFound,
    parse_local_time,
    record_agreed_time,
    record_contact,
    record_done,
    record_not_done,
)

ACTOR = "cli"
JSON_OPTION = typer.Option(False, "--json", help="print JSON")
AT_HELP = "时间，如 2027-03-02 09:30（也可写 3月2日上午）"


def register(visits_app: typer.Typer) -> None:
    """Add ``record``, ``schedule`` and ``contact`` to the ``hub visits`` group."""
    visits_app.command("record")(record)
    visits_app.command("schedule")(schedule)
    visits_app.command("contact")(contact)


def _time(text: str | None, settings: Settings, now: datetime) -> datetime | None:
    """``--at``: ISO (``2027-03-02 09:30``) or what a reply may say (``3月2日上午``)."""
    if text is None:
        return None
    try:
        return parse_local_time(text, settings.hub.tz)
    except UsageError:
        mention = find_time(text, now)
        if mention is None or mention.at is None:
            raise
        return mention.at


def _write(
    ctx: typer.Context, act: Callable[[AsyncSession, Settings, datetime], Awaitable[Any]]
) -> Any:
    settings = settings_from(ctx)
    now = clock_from(ctx).now()

    async def run() -> Any:
        async with open_database(settings) as db, db.write() as session:
            return await act(session, settings, now)

    return run_async(run())


def _show(result: Any, as_json: bool, settings: Settings) -> None:
    if as_json:
        print_json(result.as_dict(settings.hub.tz))
    else:
        out.print(result.summary(settings.hub.tz))


def _problems(texts: list[str], departments: list[str]) -> list[ProblemFound]:
    if departments and len(departments) != len(texts):
        raise UsageError(
            f"--department 须与 --problem 一一对应（收到 {len(texts)} 个问题、"
            f"{len(departments)} 个部门；不指定部门的问题用 - 占位）"
        )
    named = departments or ["-"] * len(texts)
    return [
        ProblemFound(text, None if code.strip() in ("", "-") else code)
        for text, code in zip(texts, named, strict=True)
    ]


def record(
    ctx: typer.Context,
    visit_id: int = typer.Argument(..., help="走访编号"),
    done: bool = typer.Option(False, "--done", help="走访已完成"),
    not_done: bool = typer.Option(False, "--not-done", help="走访未完成（需 --reason）"),
    at: str | None = typer.Option(None, "--at", help=f"走访时间（默认现在）；{AT_HELP}"),
    notes: str | None = typer.Option(None, "--notes", help="走访记录"),
    problem: list[str] = typer.Option([], "--problem", help="发现的问题（可多次）"),
    department: list[str] = typer.Option(
        [], "--department", help="问题的承办部门编码，与 --problem 依次对应（- 为按规则分派）"
    ),
    reason: str | None = typer.Option(None, "--reason", help="未完成原因"),
    as_json: bool = JSON_OPTION,
) -> None:
    """记录走访结果：完成（记录、发现的问题转为工单）或未完成（原因）。"""
    if done == not_done:
        raise UsageError("请指定 --done 或 --not-done 之一")
    if not_done and (problem or department or notes or at):
        raise UsageError("--not-done 只需 --reason，不能带 --problem、--department、--notes、--at")
    if done and reason:
        raise UsageError("--reason 用于 --not-done；已完成的走访请用 --notes")
    problems = _problems(problem, department) if done else []

    async def act(session: AsyncSession, settings: Settings, now: datetime) -> Any:
        if not_done:
            if not (reason or "").strip():
                raise UsageError("--not-done 需要 --reason（未完成原因）")
            return await record_not_done(session, visit_id, reason=reason or "", by=ACTOR,
                                         now=now)  # fmt: skip
        return await record_done(
            session, visit_id, at=_time(at, settings, now), notes=notes, problems=problems,
            by=ACTOR, now=now, policy=await load_ticket_policy(session, settings),
        )  # fmt: skip

    _show(_write(ctx, act), as_json, settings_from(ctx))


def schedule(
    ctx: typer.Context,
    visit_id: int = typer.Argument(..., help="走访编号"),
    at: str = typer.Option(..., "--at", help=f"与企业约定的走访时间；{AT_HELP}"),
    as_json: bool = JSON_OPTION,
) -> None:
    """记录电话约定的走访时间（须为工作日），走访即为已确认。"""

    async def act(session: AsyncSession, settings: Settings, now: datetime) -> Any:
        when = _time(at, settings, now)
        assert when is not None  # --at is required
        policy = await load_ticket_policy(session, settings)
        return await record_agreed_time(session, visit_id, at=when, by=ACTOR, now=now,
                                        calendar=policy.calendar, tz=settings.hub.tz)  # fmt: skip

    _show(_write(ctx, act), as_json, settings_from(ctx))


def contact(
    ctx: typer.Context,
    uscc: str = typer.Argument(..., help="企业统一社会信用代码"),
    via: str = typer.Option(..., "--via", help="phone 电话 / meeting 会面 / online 线上"),
    at: str | None = typer.Option(None, "--at", help=f"联系时间（默认现在）；{AT_HELP}"),
    notes: str | None = typer.Option(None, "--notes", help="联系内容"),
    officer: str | None = typer.Option(None, "--officer", help="联络员编号（默认企业的联络员）"),
    as_json: bool = JSON_OPTION,
) -> None:
    """记录联络员与企业的一次联系（电话、会面、线上），计入重点企业月度联系。"""
    try:
        how = ContactVia(ContactVia.parse(via))
    except ValueError:
        raise UsageError(f"--via 应为 {ContactVia.choices()}，收到“{via}”") from None

    async def act(session: AsyncSession, settings: Settings, now: datetime) -> Any:
        return await record_contact(
            session, uscc, via=how, at=_time(at, settings, now), notes=notes, officer=officer,
            source=ACTOR, now=now,
        )  # fmt: skip

    _show(_write(ctx, act), as_json, settings_from(ctx))
