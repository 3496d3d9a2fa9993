"""The template catalog: the shipped templates pass the check, bad ones are named, versions, CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer

from hub.app.config import load_settings
from hub.cli import templates as templates_cli
from hub.core.clock import FixedClock
from hub.core.errors import NotFoundError
from hub.core.vocab import RATING_PROMPT
from hub.rendering.check import OPT_OUT_HINT, StoredSms, check_templates
from hub.rendering.render import TemplateRenderer
from hub.rendering.template_store import load_catalog, sync_templates
from hub.rendering.templates import Problem, example_context, load_folder
from hub.store.db import Database
from hub.store.messaging import TemplateVersion
from tests.importing.factories import make_uscc
from tests.seed import seed_registry

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
SHIPPED_KINDS = (
    "credit_warning",
    "credit_report",
    "credit_report_digest",
    "policy_push",
    "procedure_reminder",
    "visit_proposal",
    "visit_reminder",
    "ticket_feedback",
    "callback_survey",
    "ticket_ack",
    "rating_reminder",
    "deadline_reminder",
    "escalation",
    "extension_notice",
    "report_delivery",
    "visit_update",
    "officer_task",
    "auto_answer",
)

# ------------------------------------------------------------------ the shipped templates


def test_every_shipped_template_passes_the_check(write_config: Callable[..., Path]) -> None:
    enabled = {"enabled": True, "sign_name": "主动服务"}
    secrets = {"path_secret": "${X:-p}"}
    settings = load_settings(
        write_config(
            channels={
                "sms": {
                    "tencent": {
                        **enabled,
                        **secrets,
                        "secret_id": "${X:-i}",
                        "secret_key": "${X:-k}",
                        "sdk_app_id": "1400000000",
                    },
                    "aliyun": {
                        **enabled,
                        **secrets,
                        "access_key_id": "${X:-i}",
                        "access_key_secret": "${X:-k}",
                    },
                }
            }
        )
    )
    assert check_templates(TEMPLATES, settings) == []
    assert check_templates(TEMPLATES) == []


@pytest.mark.parametrize("kind", SHIPPED_KINDS)
def test_each_required_kind_ships_meta_sms_and_default(kind: str) -> None:
    for name in ("meta.yaml", "sms.j2", "default.j2"):
        assert (TEMPLATES / kind / name).is_file(), f"{kind}/{name}"


def test_the_shipped_sms_texts_follow_the_house_rules() -> None:
    catalog = load_folder(TEMPLATES).catalog
    renderer = TemplateRenderer(catalog)
    for kind in SHIPPED_KINDS:
        spec = catalog.get(kind, "sms")
        assert spec is not None, kind
        assert spec.sms is not None, kind
        assert set(spec.sms.template_ids) == {"tencent", "aliyun"}
        body = renderer.render_message(kind, "sms", example_context(spec)).body
        if kind in ("policy_push", "credit_report", "procedure_reminder"):
            assert body.endswith(OPT_OUT_HINT), kind
    for kind in ("ticket_feedback", "callback_survey", "auto_answer"):
        for channel in ("sms", "wechat", "sandbox"):
            spec = catalog.get(kind, channel)
            assert spec is not None
            assert RATING_PROMPT in renderer.render_spec(spec, example_context(spec)).body
    assert RATING_PROMPT == "5 非常满意 4 满意 3 基本满意 2 不满意 1 非常不满意"


def test_notice_has_no_approved_sms_and_renders_its_text_everywhere() -> None:
    renderer = TemplateRenderer(TEMPLATES)
    context = {
        **example_context(renderer.spec("notice", "sandbox")),
        "text": "请于月底前完成年报公示",
    }
    for channel in ("sms", "sandbox", "wecom"):
        rendered = renderer.render_message("notice", channel, context)
        assert rendered.body.endswith("：请于月底前完成年报公示")
        assert rendered.provider_template_ids == {}


# ------------------------------------------------------------------ bad templates, named

META = """\
variables:
  item:
    description: 事项
    example: 年报
sms:
  template_ids:
    tencent: "1000101"
    aliyun: SMS_000000101
  params:
    - name: company
      expr: enterprise.name
    - name: item
      expr: item
"""
SMS = "${company}：请办理${item}。"
DEFAULT = "【{{ hub_name }}】{{ enterprise.name }}：请办理{{ item }}。"
WECHAT_META = META + "wechat:\n  template_id: TPL\n  fields:\n    thing1: {field}\n"


def write_kind(root: Path, kind: str = "credit_warning", **files: str) -> Path:
    """A templates folder with one kind; ``files`` override meta.yaml/sms.j2/default.j2."""
    folder = root / "templates"
    (folder / kind).mkdir(parents=True, exist_ok=True)
    contents = {"meta.yaml": META, "sms.j2": SMS, "default.j2": DEFAULT, **files}
    for name, text in contents.items():
        path = folder / kind / name
        path.write_text(text, encoding="utf-8")
    return folder


BAD: list[tuple[str, str, dict[str, str], str, int | None, str]] = [
    # (case, kind, files, file, line, reason contains)
    ("syntax", "credit_warning", {"default.j2": "第一行\n{% if item %}没有结束"},
     "default.j2", 2, "语法错误"),
    ("undeclared", "credit_warning", {"default.j2": "第一行\n{{ deadline }}"},
     "default.j2", 2, "未在 meta.yaml 声明的变量 deadline"),
    ("sms too long", "credit_warning", {"sms.j2": "${company}：" + "字" * 200 + "${item}"},
     "sms.j2", 1, "超过上限 3 条"),
    ("wechat field too long", "credit_warning",
     {"meta.yaml": WECHAT_META.format(field='"{{ enterprise.name }}的一段很长的说明"')},
     "meta.yaml", 17, "超过 20 字"),
    ("wechat field newline", "credit_warning",
     {"meta.yaml": WECHAT_META.format(field='"{{ item }}\\n第二行"')},
     "meta.yaml", 17, "不能换行"),
    ("telegram too long", "credit_warning", {"telegram.j2": "{{ 'x' * 4200 }}"},
     "telegram.j2", None, "Telegram 消息 4200 字，超过 4096 字"),
    ("wecom too long", "credit_warning", {"wecom.j2": "{{ '字' * 700 }}"},
     "wecom.j2", None, "企业微信文本消息 2100 字节"),
    ("unused sms param", "credit_warning",
     {"meta.yaml": META + "    - name: extra\n      expr: item\n"},
     "meta.yaml", 14, "短信参数 extra 没有在 sms.j2 中使用"),
    ("undeclared placeholder", "credit_warning", {"sms.j2": SMS + "${other}"},
     "sms.j2", 1, "占位符 ${other} 没有在 meta.yaml 的 sms.params 中声明"),
    ("placeholder twice", "credit_warning", {"sms.j2": SMS + "${item}"},
     "sms.j2", 1, "用了多次"),
    ("tencent numbering", "credit_warning", {"sms.j2": SMS + "{1}"},
     "sms.j2", 1, "不要写 {1}"),
    ("jinja in approved text", "credit_warning", {"sms.j2": "{{ enterprise.name }}" + SMS},
     "sms.j2", 1, "不能写 Jinja"),
    ("signature brackets", "credit_warning", {"sms.j2": "【主动服务】" + SMS},
     "sms.j2", 1, "不能含【】"),
    ("undeclared in param expr", "credit_warning",
     {"meta.yaml": META.replace("expr: item", "expr: deadline")},
     "meta.yaml", 13, "未在 meta.yaml 声明的变量 deadline"),
    ("param expr syntax", "credit_warning",
     {"meta.yaml": META.replace("expr: item", "expr: item +")},
     "meta.yaml", 13, "语法错误"),
    ("param example too long", "credit_warning",
     {"meta.yaml": META.replace("expr: item", "expr: item * 20")},
     "meta.yaml", 12, "超过 35 字"),
    ("param empty without officer", "credit_warning",
     {"meta.yaml": META.replace("expr: item", "expr: officer_name")},
     "sms.j2", None, "短信参数 item 的值为空"),
    ("marketing without opt-out", "policy_push", {}, "sms.j2", 1, f"须以“{OPT_OUT_HINT}”结尾"),
    ("rating prompt missing", "ticket_feedback", {}, "default.j2", None, "评价请求须原样包含"),
    ("bad provider id", "credit_warning", {"meta.yaml": META.replace("SMS_000000101", "x1")},
     "meta.yaml", 8, "模板 ID“x1”格式不对"),
    ("yaml syntax", "credit_warning", {"meta.yaml": "variables:\n  item: [\n"},
     "meta.yaml", 3, "YAML 语法错误"),
    ("meta unknown key", "credit_warning", {"meta.yaml": META + "colour: red\n"},
     "meta.yaml", 14, "未知的键"),
    ("missing example", "credit_warning",
     {"meta.yaml": META.replace("    example: 年报\n", "")},
     "meta.yaml", 2, "缺少 example"),
    ("unknown channel file", "credit_warning", {"fax.j2": "x"}, "fax.j2", None, "未知的渠道 fax"),
    ("sms.j2 without sms section", "credit_warning",
     {"meta.yaml": META.split("sms:")[0]}, "sms.j2", None, "需要 meta.yaml 的 sms 段"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "files", "file", "line", "reason"),
    [case[1:] for case in BAD],
    ids=[case[0] for case in BAD],
)
def test_a_bad_template_is_named_with_file_line_and_reason(
    tmp_path: Path, kind: str, files: dict[str, str], file: str, line: int | None, reason: str
) -> None:
    folder = write_kind(tmp_path, kind, **files)
    problems = check_templates(folder)
    matching = [p for p in problems if reason in p.reason]
    assert matching, problems
    assert matching[0].file == f"templates/{kind}/{file}"
    assert matching[0].line == line, matching[0]


@pytest.mark.parametrize(("padding", "ok"), [(40, True), (41, False)])
def test_sms_length_is_checked_with_the_signature_counted(
    tmp_path: Path, padding: int, ok: bool
) -> None:
    # Example enterprise (17) + "：请办理" (4) + "年报" (2) + "。" (1) + padding; 【主动服务】 is 6.
    folder = write_kind(tmp_path, **{"sms.j2": SMS + "字" * padding})
    problems = check_templates(folder, max_sms_segments=1)
    assert (problems == []) is ok, problems
    if not ok:
        assert "共 71 字，计 2 条，超过上限 1 条" in problems[0].reason


def test_a_clean_one_kind_folder_passes(tmp_path: Path) -> None:
    assert check_templates(write_kind(tmp_path)) == []


def test_new_wording_under_a_stored_provider_id_needs_a_new_id(tmp_path: Path) -> None:
    folder = write_kind(tmp_path)
    stored = {("tencent", "1000101"): StoredSms("{1}：请尽快办理{2}。", "credit_warning", 1)}
    problems = check_templates(folder, stored_sms=stored)
    assert [(p.file, p.line) for p in problems] == [("templates/credit_warning/sms.j2", 1)]
    assert "腾讯云模板 ID 1000101 未变" in problems[0].reason
    same = {("tencent", "1000101"): StoredSms("{1}：请办理{2}。", "credit_warning", 1)}
    assert check_templates(folder, stored_sms=same) == []


def test_an_unknown_kind_folder_and_a_shared_provider_id_are_problems(tmp_path: Path) -> None:
    folder = write_kind(tmp_path)
    write_kind(tmp_path, "credit_report", **{"sms.j2": SMS + "回复TD退订"})
    (folder / "visit_plan").mkdir()
    reasons = [p.reason for p in check_templates(folder)]
    assert any("未知的消息类型目录 visit_plan" in r for r in reasons)
    assert any("腾讯云模板 ID 1000101 已被 credit_report 使用" in r for r in reasons), reasons


def test_problems_print_as_file_line_reason() -> None:
    problem = Problem("templates/x/sms.j2", 3, "不对")
    assert str(problem) == "templates/x/sms.j2:3: 不对"


# ------------------------------------------------------------------ versions in the database


def copy_shipped(tmp_path: Path) -> Path:
    return Path(shutil.copytree(TEMPLATES, tmp_path / "templates"))


async def version_count(db: Database) -> int:
    async with db.read() as session:
        return int(
            await session.scalar(sa.select(sa.func.count()).select_from(TemplateVersion)) or 0
        )


async def test_sync_twice_makes_one_version_each(
    any_db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    folder = copy_shipped(tmp_path)
    specs = len(load_folder(folder).catalog)
    first = await sync_templates(any_db, folder, clock, "test")
    second = await sync_templates(any_db, folder, clock, "test")
    assert (len(first.created), first.updated, first.rejected) == (specs, [], [])
    assert (second.created, second.updated, second.unchanged) == ([], [], specs)
    assert await version_count(any_db) == specs


async def test_an_edited_file_becomes_version_2_and_the_catalog_renders_it(
    any_db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    folder = copy_shipped(tmp_path)
    await sync_templates(any_db, folder, clock, "test")
    path = folder / "credit_warning" / "default.j2"
    path.write_text(path.read_text(encoding="utf-8").replace("经核查", "经信用平台核查"), "utf-8")

    report = await sync_templates(any_db, folder, clock, "admin")

    assert sorted(report.updated) == [
        "credit_warning/sandbox v2",
        "credit_warning/telegram v2",
        "credit_warning/wecom v2",
    ]
    catalog = await load_catalog(any_db)
    spec = catalog.get("credit_warning", "sandbox")
    assert spec is not None
    assert spec.version == 2
    rendered = TemplateRenderer(catalog).render_message(
        "credit_warning", "sandbox", example_context(spec)
    )
    assert "经信用平台核查" in rendered.body
    assert rendered.version == 2
    assert rendered.version_id is not None


async def test_sync_refuses_new_sms_wording_under_the_same_provider_id(
    any_db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    folder = copy_shipped(tmp_path)
    await sync_templates(any_db, folder, clock, "test")
    sms = folder / "visit_proposal" / "sms.j2"
    sms.write_text(sms.read_text(encoding="utf-8").replace("到企业走访", "上门走访"), "utf-8")

    refused = await sync_templates(any_db, folder, clock, "admin")
    assert refused.updated == []
    assert {p.file for p in refused.rejected} == {"templates/visit_proposal/sms.j2"}
    assert {p.reason.split("模板 ID")[0][-3:] for p in refused.rejected} == {"腾讯云", "阿里云"}
    assert all("须重新报备审核" in p.reason for p in refused.rejected)

    meta = folder / "visit_proposal" / "meta.yaml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(text.replace('"1000157"', '"1000257"').replace("0157", "0257"), "utf-8")
    accepted = await sync_templates(any_db, folder, clock, "admin")
    assert accepted.updated == ["visit_proposal/sms v2"], accepted
    spec = (await load_catalog(any_db)).get("visit_proposal", "sms")
    assert spec is not None
    assert spec.sms is not None
    assert spec.sms.template_ids == {"tencent": "1000257", "aliyun": "SMS_000000257"}


async def test_only_new_keeps_what_admins_changed(
    any_db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    folder = copy_shipped(tmp_path)
    await sync_templates(any_db, folder, clock, "test")
    path = folder / "notice" / "default.j2"
    path.write_text("【{{ hub_name }}】{{ text }}", "utf-8")
    report = await sync_templates(any_db, folder, clock, "startup", only_new=True)
    assert (report.created, report.updated) == ([], [])
    spec = (await load_catalog(any_db)).get("notice", "sandbox")
    assert spec is not None
    assert spec.version == 1
    assert "enterprise.name" in spec.body


async def test_a_meta_change_alone_makes_a_new_version(
    any_db: Database, clock: FixedClock, tmp_path: Path
) -> None:
    folder = copy_shipped(tmp_path)
    await sync_templates(any_db, folder, clock, "test")
    meta = folder / "notice" / "meta.yaml"
    meta.write_text(meta.read_text("utf-8").replace("通知正文", "通知正文（不超过300字）"), "utf-8")
    report = await sync_templates(any_db, folder, clock, "admin")
    assert len(report.updated) == 5
    assert all(u.startswith("notice/") for u in report.updated)


# ------------------------------------------------------------------ CLI


def hub_templates(config: Path, *args: str) -> int:
    """Run ``hub --config C templates ...`` on a local app (the lead wires it into hub.cli)."""
    app = typer.Typer()

    @app.callback()
    def root(ctx: typer.Context, config_path: Path | None = typer.Option(None, "--config")) -> None:
        ctx.ensure_object(dict)["config_path"] = config_path

    templates_cli.register(app)
    try:
        result = app(args=["--config", str(config), "templates", *args], standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    return result if isinstance(result, int) else 0


@pytest.fixture
def seeded(write_config: Callable[..., Path]) -> Path:
    """A config whose database holds the sample registry (甲机械 is make_uscc(1))."""
    config = write_config()

    async def seed() -> None:
        db = Database.open(load_settings(config).database_url)
        try:
            await seed_registry(db)
        finally:
            await db.aclose()

    asyncio.run(seed())
    return config


def test_cli_check_passes_the_shipped_templates(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub_templates(write_config(), "check", "--folder", str(TEMPLATES), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert report["problems"] == []
    assert {item["kind"] for item in report["sms"]} == set(SHIPPED_KINDS)
    assert all(item["segments"] <= 3 for item in report["sms"])


def test_cli_check_exits_1_and_prints_file_line_reason(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_kind(tmp_path, **{"default.j2": "第一行\n{{ deadline }}"})
    assert hub_templates(write_config(), "check", "--folder", str(folder), "--no-db") == 1
    out = capsys.readouterr().out
    assert "templates/credit_warning/default.j2:2: 使用了未在 meta.yaml 声明的变量 deadline" in out


def test_cli_preview_renders_the_real_enterprise_contact_and_officer(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = hub_templates(
        seeded,
        "preview",
        "credit_warning",
        "--channel",
        "sms",
        "--enterprise",
        make_uscc(1),
        "--set",
        "risk_item=被列入经营异常名录",
        "--json",
    )
    assert code == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert result["officer"] == "李明"
    assert result["contact"] == "甲机械联系人1"
    assert result["variables_from_examples"][:3] == ["found_on", "authority", "event_id"]
    sms = result["sms"]
    assert [p["value"] for p in sms["params"]] == [
        "甲机械",
        "被列入经营异常名录",
        "龙沙区市场监督管理局",
        "2026年11月20日",
        "，请尽快整改并申请信用修复",
        "如需协助请联系联络员李明，电话13845200001",
    ]
    assert sms["text"] == "【主动服务】" + result["body"]
    assert result["body"].startswith("甲机械信用提示：被列入经营异常名录（龙沙区市场监督管理局于")
    assert (sms["chars"], sms["segments"]) == (len(sms["text"]), 2)
    assert sms["tencent_template"].startswith("{1}信用提示：{2}（{3}于{4}认定）")


def test_cli_preview_shows_wechat_fields_and_plain_text(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("preview", "ticket_feedback", "--channel", "wechat", "--enterprise", make_uscc(2))
    assert hub_templates(seeded, *args) == 0
    out = capsys.readouterr().out
    assert "乙商贸：您反映的诉求" in out
    assert "thing3: 已协调供电公司完成用电增容" in out
    assert RATING_PROMPT in out


def test_cli_preview_of_an_unknown_uscc_is_a_clear_error(seeded: Path) -> None:
    with pytest.raises(NotFoundError, match="没有统一社会信用代码为 91230000MA00000000 的企业"):
        hub_templates(seeded, "preview", "policy_push", "--enterprise", "91230000MA00000000")


def test_cli_sync_imports_once_and_preview_then_reads_the_database(
    seeded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(TEMPLATES)
    assert hub_templates(seeded, "sync", "--folder", folder, "--json") == 0
    first = json.loads(capsys.readouterr().out)
    assert hub_templates(seeded, "sync", "--folder", folder, "--json") == 0
    second = json.loads(capsys.readouterr().out)
    assert second == {
        "created": [],
        "updated": [],
        "unchanged": len(first["created"]),
        "rejected": [],
    }
    args = ("preview", "policy_push", "--channel", "sms", "--enterprise", make_uscc(1), "--json")
    assert hub_templates(seeded, *args) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "数据库第 1 版"


# ------------------------------------------------------------------ sandbox holes the check names


@pytest.mark.parametrize(
    "expression",
    [
        "'x'.ljust(600000000)",
        "'x'.rjust(600000000)",
        "'x'.center(600000000)",
        "'x'.zfill(600000000)",
        "('x\\t' * 10).expandtabs(60000000)",
        "'-'.join(['y' * 60000] * 60000)",
        "'x'.replace('', 'y' * 60000)",
        "'x' | center(10 ** 9)",
    ],
)
def test_check_refuses_a_template_that_grows_a_huge_string(tmp_path: Path, expression: str) -> None:
    folder = write_kind(tmp_path, **{"default.j2": "第一行\n{{ " + expression + " }}"})
    problems = check_templates(folder)
    assert problems, expression
    assert problems[0].file == "templates/credit_warning/default.j2"
    assert problems[0].line == 2
    assert "上限" in problems[0].reason


def test_cli_check_names_the_file_and_the_cap_of_a_growing_template(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_kind(tmp_path, **{"default.j2": "{{ 'x'.ljust(600000000) }}"})
    assert hub_templates(write_config(), "check", "--folder", str(folder), "--no-db") == 1
    out = capsys.readouterr().out
    assert "templates/credit_warning/default.j2:1:" in out
    assert "str.ljust() 的结果将超过上限" in out


@pytest.mark.parametrize("name", ["sms.j2", "default.j2", "meta.yaml"])
def test_a_directory_named_like_a_template_file_is_a_problem_not_a_crash(
    tmp_path: Path, name: str
) -> None:
    folder = write_kind(tmp_path)
    (folder / "credit_warning" / name).unlink()
    (folder / "credit_warning" / name).mkdir()
    problems = check_templates(folder)
    named = [p for p in problems if p.file == f"templates/credit_warning/{name}"]
    assert named, problems
    assert "不是普通文件" in named[0].reason


def test_cli_check_of_a_directory_named_sms_j2_exits_1_naming_it(
    write_config: Callable[..., Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_kind(tmp_path)
    (folder / "credit_warning" / "sms.j2").unlink()
    (folder / "credit_warning" / "sms.j2").mkdir()
    assert hub_templates(write_config(), "check", "--folder", str(folder), "--no-db") == 1
    out = capsys.readouterr().out
    assert "templates/credit_warning/sms.j2:1: sms.j2 不是普通文件" in out
    assert "Traceback" not in out


def test_a_meta_yaml_alias_bomb_is_a_problem_found_at_once(tmp_path: Path) -> None:
    levels = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"] + [
        f"{b}: &{b} [{', '.join(['*' + a] * 9)}]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    folder = write_kind(tmp_path, **{"meta.yaml": META + "\n".join(levels) + "\n"})
    # CPU seconds of this thread (the wall clock measures a loaded machine): expanded, the
    # aliases would take minutes and gigabytes.
    started = time.thread_time()
    problems = check_templates(folder)
    assert time.thread_time() - started < 1.0
    assert problems[0].file == "templates/credit_warning/meta.yaml"
    assert "别名" in problems[0].reason
    assert problems[0].line is not None
