"""``hub templates check|preview|sync``: validate the template files, preview a message, import.

``check`` also holds the schedules (schedules/*.yaml) to the templates: a template needing a
variable that neither the schedule's program nor its ``variables:`` supplies is a problem; and it
reads the program data kept beside the templates (credit_warning/guidance.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
import typer
from sqlalchemy.orm import selectinload

from hub.app.config import Settings
from hub.app.runtime import open_database, templates_folder
from hub.cli.common import out, parse_set_options, print_json, print_table, run_async, settings_from
from hub.core.clock import SystemClock
from hub.core.errors import ConfigError, HubError, NotFoundError, UsageError
from hub.core.vocab import ChannelName, MessageKind
from hub.rendering.check import DEFAULT_MAX_SMS_SEGMENTS, StoredSms, check_templates, sign_name
from hub.rendering.render import TemplateRenderer
from hub.rendering.sms_text import measure_sms, sms_text
from hub.rendering.template_store import load_catalog, stored_sms_texts, sync_templates
from hub.rendering.templates import Problem, example_context, load_folder, standard_context
from hub.rendering.variable_values import typed_variables
from hub.scheduling.programs import check_program_data, credit_warning
from hub.scheduling.schedules import load_schedules, schedules_folder, template_needs
from hub.store.models import Enterprise, Officer

FOLDER_HELP = "templates folder (default: templates/ beside config.yaml, else the shipped one)"


def register(app: typer.Typer) -> None:
    templates_app = typer.Typer(help="消息模板 (templates)", no_args_is_help=True)
    app.add_typer(templates_app, name="templates")
    templates_app.command("check")(check)
    templates_app.command("preview")(preview)
    templates_app.command("sync")(sync)


def check(
    ctx: typer.Context,
    folder: Path | None = typer.Option(None, "--folder", help=FOLDER_HELP),
    max_segments: int = typer.Option(
        DEFAULT_MAX_SMS_SEGMENTS, "--max-segments", min=1, help="most SMS segments allowed"
    ),
    use_db: bool = typer.Option(
        True, "--db/--no-db", help="compare SMS wording with the versions in the database"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """检查模板：语法、未声明变量、示例渲染、短信长度（含签名）、微信字段、Telegram 长度。"""
    settings = settings_from(ctx)
    folder = folder or templates_folder(settings)
    stored, db_note = _stored_sms(settings) if use_db else (None, "未比对数据库")
    problems = check_templates(folder, settings, stored_sms=stored, max_sms_segments=max_segments)
    problems += _program_data_problems(folder) + _schedule_problems(settings, folder)
    lengths = _sms_lengths(folder, settings)
    if as_json:
        print_json(
            {
                "ok": not problems,
                "problems": [p.as_dict() for p in problems],
                "sms": lengths,
                "compared_with_database": stored is not None,
            }
        )
    else:
        for problem in problems:
            out.print(str(problem), markup=False)
        if lengths:
            print_table(
                f"短信长度（含签名【{sign_name(settings)}】，示例数据）",
                ["类型", "字数", "条数"],
                [(i["kind"], i["chars"], i["segments"]) for i in lengths],
            )
        if db_note:
            out.print(db_note, markup=False)
        out.print(f"发现 {len(problems)} 个问题" if problems else "模板检查通过")
    if problems:
        raise typer.Exit(1)


def _as_problems(exc: ConfigError) -> list[Problem]:
    return [
        Problem(e.file, e.line, f"{e.key}: {e.reason}" if e.key else e.reason)
        for e in (exc, *exc.others)
    ]


def _schedule_problems(settings: Settings, folder: Path) -> list[Problem]:
    """What is wrong with the schedule files, the templates' variables included."""
    try:
        load_schedules(
            schedules_folder(settings), needs=template_needs(load_folder(folder).catalog)
        )
    except ConfigError as exc:
        return _as_problems(exc)
    return []


def _program_data_problems(folder: Path) -> list[Problem]:
    """The admin-edited data the programs read from the templates folder: a broken
    guidance.yaml would stop every credit warning."""
    if not (folder / credit_warning.NAME).is_dir():
        return []
    try:
        check_program_data(folder)
    except ConfigError as exc:
        return _as_problems(exc)
    return []


def _sms_lengths(folder: Path, settings: Settings) -> list[dict[str, Any]]:
    """Length and segments of every approved SMS filled with its examples."""
    catalog = load_folder(folder).catalog
    renderer = TemplateRenderer(catalog)
    sign = sign_name(settings)
    result = []
    for spec in catalog:
        if not spec.approved_sms:
            continue
        try:
            body = renderer.render_spec(spec, example_context(spec), fit=False).body
        except HubError:
            continue  # already a problem in the check
        length = measure_sms(body, sign)
        result.append({"kind": spec.kind, "chars": length.chars, "segments": length.segments})
    return result


def _stored_sms(
    settings: Settings,
) -> tuple[dict[tuple[str, str], StoredSms] | None, str | None]:
    """The SMS texts on record, or why the check could not compare with them."""
    url = settings.database_url
    prefix = "sqlite+aiosqlite:///"
    # A check must not create an empty SQLite file where none was.
    if url.startswith(prefix) and not Path(url[len(prefix) :]).is_file():
        return None, "未比对数据库（数据库文件不存在）"

    async def read() -> dict[tuple[str, str], StoredSms]:
        async with open_database(settings) as db:
            return await stored_sms_texts(db)

    try:
        return run_async(read()), None
    except HubError as exc:
        return None, f"未比对数据库：{exc}"


def preview(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="message kind, e.g. credit_warning"),
    channel: str = typer.Option("sms", "--channel", help="sms, wechat, wecom, telegram, sandbox"),
    enterprise: str = typer.Option(..., "--enterprise", help="统一社会信用代码 (USCC)"),
    set_vars: list[str] = typer.Option([], "--set", help="template variable name=value"),
    from_files: bool = typer.Option(
        False, "--files", help="render the files even when the database has a version"
    ),
    folder: Path | None = typer.Option(None, "--folder", help=FOLDER_HELP),
    as_json: bool = typer.Option(False, "--json", help="print the preview as JSON"),
) -> None:
    """用真实企业、联系人和联络员预览一条消息；短信显示签名后的字数和条数。"""
    try:
        message_kind = MessageKind.parse(kind).value
        channel_name = ChannelName.parse(channel).value
    except ValueError as exc:
        raise UsageError(
            f"未知的消息类型或渠道：{exc}（消息类型：{MessageKind.choices()}；"
            f"渠道：{ChannelName.choices()}）"
        ) from exc
    settings = settings_from(ctx)
    result = run_async(
        _preview(
            settings,
            message_kind,
            channel_name,
            enterprise.strip().upper(),
            parse_set_options(set_vars),
            folder=folder or templates_folder(settings),
            from_files=from_files,
        )
    )
    if as_json:
        print_json(result)
    else:
        _print_preview(result)


async def _preview(
    settings: Settings,
    kind: str,
    channel: str,
    uscc: str,
    variables: dict[str, str],
    *,
    folder: Path,
    from_files: bool,
) -> dict[str, Any]:
    async with open_database(settings) as db:
        async with db.read() as session:
            found = await session.scalar(
                sa.select(Enterprise)
                .where(Enterprise.uscc == uscc)
                .options(selectinload(Enterprise.contacts))
            )
            if found is None:
                raise NotFoundError(f"没有统一社会信用代码为 {uscc} 的企业")
            officer = await session.get(Officer, found.officer_id) if found.officer_id else None
        catalog = None if from_files else await load_catalog(db)
    if catalog is not None and catalog.get(kind, channel) is not None:
        renderer = TemplateRenderer(catalog)
    else:
        renderer = TemplateRenderer(folder)
    spec = renderer.spec(kind, channel)
    contact = found.contacts[0] if found.contacts else None
    context = standard_context(found, contact, officer)
    examples = example_context(spec)
    from_examples = [n for n in spec.variables if n not in variables]
    # Typed as hub send types them: --set free_apply=false previews the false branch.
    context.update({n: examples[n] for n in from_examples},
                   **typed_variables(variables, spec.variables.values()))  # fmt: skip
    rendered = renderer.render_spec(spec, context)
    result: dict[str, Any] = {
        "kind": kind,
        "channel": channel,
        "template": f"{kind}/{spec.source}",
        "source": f"数据库第 {spec.version} 版" if spec.version else f"文件 {folder}",
        "enterprise": {"uscc": found.uscc, "name": found.name},
        "contact": contact.name if contact else None,
        "officer": officer.name if officer else None,
        "variables_from_examples": from_examples,
        "body": rendered.body,
    }
    if spec.approved_sms and spec.sms is not None:
        sign = sign_name(settings)
        length = measure_sms(rendered.body, sign)
        result["sms"] = {
            "text": sms_text(rendered.body, sign),
            "chars": length.chars,
            "segments": length.segments,
            "params": [{"name": n, "value": v} for n, v in rendered.template_param().items()],
            "template_ids": dict(rendered.provider_template_ids),
            "tencent_template": spec.sms.tencent_text(spec.body),
            "aliyun_template": spec.body,
        }
    if rendered.fields:
        result["wechat"] = {
            "template_id": rendered.provider_template_ids.get("wechat"),
            "fields": dict(rendered.fields),
        }
    return result


def _print_preview(result: dict[str, Any]) -> None:
    enterprise = result["enterprise"]
    out.print(
        f"{result['template']}（{result['source']}） → {enterprise['name']} {enterprise['uscc']}，"
        f"联系人 {result['contact'] or '无'}，联络员 {result['officer'] or '无'}",
        markup=False,
    )
    if result["variables_from_examples"]:
        names = "、".join(result["variables_from_examples"])
        out.print(f"未用 --set 给出、取了示例值的变量：{names}", markup=False)
    sms = result.get("sms")
    if sms:
        out.print(sms["text"], markup=False)
        out.print(f"共 {sms['chars']} 字（含签名），计 {sms['segments']} 条", markup=False)
        for i, param in enumerate(sms["params"], start=1):
            out.print(f"  {{{i}}} {param['name']} = {param['value']}", markup=False)
        ids = "，".join(f"{k}: {v}" for k, v in sms["template_ids"].items())
        out.print(f"模板 ID（示例 ID 须换成控制台审核通过的）：{ids}", markup=False)
    else:
        out.print(result["body"], markup=False)
    wechat = result.get("wechat")
    if wechat:
        out.print(f"微信模板 {wechat['template_id']}：", markup=False)
        for name, value in wechat["fields"].items():
            out.print(f"  {name}: {value}", markup=False)


def sync(
    ctx: typer.Context,
    folder: Path | None = typer.Option(None, "--folder", help=FOLDER_HELP),
    only_new: bool = typer.Option(
        False, "--only-new", help="add templates missing from the database; keep the others"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """把模板文件导入数据库：新模板为第 1 版，内容有变才生成新版本（可重复执行）。"""
    settings = settings_from(ctx)
    folder = folder or templates_folder(settings)

    async def run() -> Any:
        async with open_database(settings) as db:
            return await sync_templates(
                db, folder, SystemClock(), "cli", settings=settings, only_new=only_new
            )

    report = run_async(run())
    if as_json:
        print_json(report.as_dict())
    else:
        for line in report.created:
            out.print(f"新建 {line}", markup=False)
        for line in report.updated:
            out.print(f"新版本 {line}", markup=False)
        for problem in report.rejected:
            out.print(f"未导入 {problem}", markup=False)
        out.print(
            f"新建 {len(report.created)}，新版本 {len(report.updated)}，"
            f"未变 {report.unchanged}，问题 {len(report.rejected)}",
            markup=False,
        )
    if report.rejected:
        raise typer.Exit(1)
