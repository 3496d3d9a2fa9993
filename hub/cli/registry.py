"""``hub import enterprises|officers|departments|credit|policies|licences|annual-reports|faq
FILE`` (CSV in UTF-8 or GBK, or XLSX)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.app.config import Settings
from hub.app.runtime import open_components, open_database, program_context
from hub.cli.common import clock_from, err, out, print_json, run_async, settings_from
from hub.core.clock import Clock
from hub.importing.service import ImportKind, ImportReport, import_file
from hub.scheduling.programs import credit_warning, policy_match
from hub.scheduling.programs.after_save import AfterSave, react_after_save
from hub.scheduling.programs.base import ProgramContext, ProgramOutcome
from hub.store.record_changes import RecordChanges

# Files smaller than this import too fast for a progress bar to help.
PROGRESS_MIN_BYTES = 512 * 1024


def register(app: typer.Typer) -> None:
    import_app = typer.Typer(
        help="导入名录与企业数据 (registry and enterprise-data import): CSV (UTF-8/GBK) 或 XLSX",
        no_args_is_help=True,
    )
    app.add_typer(import_app, name="import")
    for kind, doc in (
        ("enterprises", "导入企业名录（一企一档），按统一社会信用代码更新。"),
        ("officers", "导入联络员名单，按工号更新。"),
        ("departments", "导入部门名单，按部门编码更新。"),
        ("credit", "导入信用事件，按事件编号更新；企业信用状态随有效事件而定。"),
        ("policies", "导入惠企政策，按政策编号更新。"),
        ("licences", "导入企业证照，按企业、证照类型和编号更新。"),
        ("annual-reports", "导入年报公示记录，按企业和年度更新。"),
        ("faq", "导入常见问题库（智能答复的知识库），按编号更新；每次修改留存一个版本。"),
    ):
        import_app.command(kind, help=doc)(_command(kind))  # type: ignore[arg-type]


def _command(kind: ImportKind):  # type: ignore[no-untyped-def]
    def command(
        ctx: typer.Context,
        file: Path = typer.Argument(..., help="CSV or XLSX file"),
        as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    ) -> None:
        settings = settings_from(ctx)
        show_progress = (
            not as_json
            and file.is_file()
            and file.stat().st_size >= PROGRESS_MIN_BYTES
            and err.is_terminal
        )
        clock = clock_from(ctx)
        report = run_async(_import(settings, kind, file, show_progress, clock))
        reaction = run_async(_react(settings, clock, report.changes)) if report.changes else None
        sent = reaction.outcome if reaction else None
        note = reaction.note if reaction else None
        if as_json:
            print_json({**report.as_dict(), **({"sent": _sent(sent)} if sent else {}),
                        **({"not_sent": note} if note else {})})  # fmt: skip
        else:
            out.print(report.summary_line(), markup=False)  # a file name is not markup
            if sent is not None:
                out.print(f"推送：{sent.detail()}")
        if note:  # the rows are saved; what needs fixing is the program's data, and exit 1 says so
            err.print(note, markup=False)
        if report.rejected or note:
            raise typer.Exit(1)

    return command


# The program an import sets going, by the kind of record it saved: it sends on the new and
# changed rows (a policy to the enterprises it is for).
_ON_CHANGES: dict[str, Callable[[ProgramContext, RecordChanges], Awaitable[ProgramOutcome]]] = {
    policy_match.POLICY_RECORDS: policy_match.run_on_changes,
    credit_warning.CREDIT_RECORDS: credit_warning.run_on_changes,
}


_WHAT: dict[str, str] = {policy_match.POLICY_RECORDS: "政策推送",
                         credit_warning.CREDIT_RECORDS: "信用警示"}  # fmt: skip


async def _react(settings: Settings, clock: Clock, changes: RecordChanges) -> AfterSave | None:
    react = _ON_CHANGES.get(changes.kind)
    if react is None or not changes.changed:
        return None
    async with open_components(settings, clock=clock) as hub:
        return await react_after_save(
            react, program_context(hub), changes, what=_WHAT[changes.kind]
        )


def _sent(outcome: ProgramOutcome) -> dict[str, Any]:
    return {"created": outcome.created, "duplicates": outcome.duplicates,
            "skipped": outcome.skipped, "not_sent": dict(outcome.not_sent)}  # fmt: skip


async def _import(
    settings: Settings, kind: ImportKind, file: Path, show_progress: bool, clock: Clock
) -> ImportReport:
    async with open_database(settings) as db:
        if not show_progress:
            return await import_file(db, kind, file, clock)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("读取并校验 (parsing)…", total=None)

            def parsed(total: int) -> None:
                bar.update(task, description="写入数据库 (saving)…", total=total, completed=0)

            return await import_file(
                db,
                kind,
                file,
                clock,
                on_parsed=parsed,
                progress=lambda n: bar.advance(task, n),
            )
