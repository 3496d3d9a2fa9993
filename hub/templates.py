"""The template catalog: files in ``templates/``, their validation, and versions in the database.

Files (the shipped defaults and the import/export format; ``templates/README.md`` is the manual)::

    templates/<kind>/meta.yaml      variables (description + example), sms ids/params, wechat fields
    templates/<kind>/<channel>.j2   one per channel that needs its own text
    templates/<kind>/default.j2     every other channel

The database holds what is in force: one ``Template`` row per (kind, channel) — ``default.j2``
is stored once per channel it serves, because a channel is what an admin edits — and immutable
``TemplateVersion`` rows (body + that channel's meta). :func:`sync_templates` imports the files
(a new version only when body or meta changed), :func:`load_catalog` reads the current versions
for a :class:`~hub.render.TemplateRenderer`, :func:`check_templates` says what is wrong, in
Chinese, with file and line.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import jinja2
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.clock import Clock
from hub.config import Settings
from hub.errors import RenderError
from hub.render import (
    MAX_OUTPUT_CHARS,
    PLACEHOLDER,
    SMS_MAX_CHARS,
    SMS_PARAM_MAX_CHARS,
    STANDARD_VARIABLES,
    WECHAT_FIELD_MAX_CHARS,
    Catalog,
    Rendered,
    RenderLimits,
    SmsParam,
    SmsSpec,
    TemplateRenderer,
    TemplateSpec,
    Variable,
    WechatSpec,
    error_line,
    measure_sms,
    parse_expression,
    template_names,
)
from hub.store.db import Database
from hub.store.messaging import Template, TemplateVersion
from hub.store.registry import Contact, Enterprise, Officer
from hub.vocab import RATING_LABELS, ChannelName, MessageKind

META_FILE = "meta.yaml"
DEFAULT_STEM = "default"
DEFAULT_MAX_SMS_SEGMENTS = 3
DEFAULT_SIGN_NAME = "主动服务"  # counted when config.yaml names no SMS signature
DEFAULT_HUB_NAME = "主动服务"  # as hub/outbox.py's Outbox(hub_name=...) default
TELEGRAM_MAX_CHARS = 4096
WECOM_MAX_BYTES = 2048  # WeCom text message content, UTF-8 bytes
OPT_OUT_HINT = "回复TD退订"
RATING_PROMPT = " ".join(f"{score} {label}" for score, label in RATING_LABELS.items())
# Kinds that read as marketing to operators: their SMS must carry the opt-out hint.
MARKETING_KINDS = frozenset({"policy_push", "credit_report", "procedure_reminder"})
# Kinds that ask for a rating: every body prints the five levels exactly (DESIGN.md).
RATING_KINDS = frozenset({"ticket_feedback", "rating_reminder", "callback_survey"})
ALIYUN_RESERVED_NAMES = frozenset({"email", "mobile", "id", "nick", "site"})
PROVIDER_LABELS = {"tencent": "腾讯云", "aliyun": "阿里云"}
_PROVIDER_ID = {"tencent": re.compile(r"^\d{1,12}$"), "aliyun": re.compile(r"^SMS_\d+$")}
_PARAM_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,24}$")

EXAMPLE_ENTERPRISE: dict[str, Any] = {
    "name": "齐齐哈尔市鹤城精密机械制造有限公司",
    "uscc": "91230202MA1C8K3Q0X",
    "tier": "重点",
    "industry": "制造业",
    "region": "龙沙区",
    "tags": ("专精特新", "高新技术企业"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a template: where (file, line) and why (Chinese, for clerks)."""

    file: str
    line: int | None
    reason: str
    kind: str | None = field(default=None, compare=False)
    channel: str | None = field(default=None, compare=False)  # None: every channel of the kind

    def __str__(self) -> str:
        return f"{self.file}:{self.line or 1}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class LoadedFolder:
    """A folder read into a catalog; kinds whose meta.yaml is unusable are left out."""

    catalog: Catalog
    problems: list[Problem]


@dataclass(frozen=True, slots=True)
class StoredSms:
    """An approved SMS text as stored under a provider template id."""

    text: str
    kind: str
    version: int


@dataclass(slots=True)
class SyncReport:
    """What :func:`sync_templates` did; ``rejected`` templates were left as they were."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[Problem] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": [p.as_dict() for p in self.rejected],
        }


# ---------------------------------------------------------------- meta.yaml


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _VariableModel(_Model):
    description: str = Field(min_length=1)
    example: Any = None
    required: bool = True
    default: Any = None


class _SmsParamModel(_Model):
    name: str = Field(pattern=_PARAM_NAME.pattern)
    expr: str = Field(min_length=1)
    max_chars: int = Field(default=SMS_PARAM_MAX_CHARS, ge=1, le=SMS_MAX_CHARS)


class _SmsModel(_Model):
    template_ids: dict[Literal["tencent", "aliyun"], str] = Field(min_length=1)
    params: list[_SmsParamModel] = []

    @field_validator("template_ids", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # YAML reads an unquoted Tencent id as a number.
        return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else value


class _WechatModel(_Model):
    template_id: str
    fields: dict[str, str] = Field(min_length=1)

    @field_validator("template_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class _MetaModel(_Model):
    description: str = ""
    variables: dict[str, _VariableModel] = {}
    sms: _SmsModel | None = None
    wechat: _WechatModel | None = None


def _line_index(node: yaml.Node | None) -> dict[str, int]:
    """Dotted key path (``sms.params.0.expr``) -> 1-based line in the YAML file."""
    index: dict[str, int] = {}

    def walk(current: yaml.Node, path: str) -> None:
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                child = f"{path}.{key_node.value}" if path else str(key_node.value)
                index[child] = key_node.start_mark.line + 1
                walk(value_node, child)
        elif isinstance(current, yaml.SequenceNode):
            for i, item in enumerate(current.value):
                index[f"{path}.{i}"] = item.start_mark.line + 1
                walk(item, f"{path}.{i}")

    if node is not None:
        walk(node, "")
    return index


def _nearest(lines: Mapping[str, int], path: str) -> int | None:
    parts = path.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in lines:
            return lines[".".join(parts[:end])]
    return None


def _jsonable(value: Any) -> Any:
    # YAML turns 2026-06-30 into a date; versions are stored as JSON.
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def _read_meta(
    path: Path, shown: str, kind: str
) -> tuple[_MetaModel | None, dict[str, int], list[Problem]]:
    if not path.is_file():
        return None, {}, [Problem(shown, None, "缺少 meta.yaml（变量说明与示例）", kind)]
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text) or {}
    except UnicodeDecodeError:
        return None, {}, [Problem(shown, None, "文件不是 UTF-8 编码", kind)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, {}, [Problem(shown, line, f"YAML 语法错误：{exc}", kind)]
    lines = _line_index(node)
    try:
        meta = _MetaModel.model_validate(_jsonable(raw))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            path_key = ".".join(str(p) for p in error["loc"])
            reason = "未知的键" if error["type"] == "extra_forbidden" else error["msg"]
            problems.append(
                Problem(shown, _nearest(lines, path_key), f"{path_key}: {reason}", kind)
            )
        return None, lines, problems
    problems = []
    for name, var in meta.variables.items():
        where = _nearest(lines, f"variables.{name}")
        if not name.isidentifier() or name in STANDARD_VARIABLES:
            problems.append(Problem(shown, where, f"变量名 {name} 无效或与标准变量重名", kind))
        if var.required and var.example is None:
            problems.append(
                Problem(shown, where, f"变量 {name} 缺少 example（检查和预览要用）", kind)
            )
    for name in meta.wechat.fields if meta.wechat else ():
        if not _PARAM_NAME.match(name):
            where = _nearest(lines, f"wechat.fields.{name}")
            problems.append(Problem(shown, where, f"微信模板字段名 {name} 无效", kind))
    return (None if problems else meta), lines, problems


def _spec(
    kind: str, channel: str, stem: str, body: str, meta: _MetaModel, lines: dict[str, int]
) -> TemplateSpec:
    approved = channel == "sms" and stem == "sms" and meta.sms is not None
    return TemplateSpec(
        kind=kind,
        channel=channel,
        body=body.strip() if approved else body,
        source=f"{stem}.j2",
        variables={
            n: Variable(n, v.description, v.example, v.required, v.default)
            for n, v in meta.variables.items()
        },
        description=meta.description,
        sms=SmsSpec(
            {str(k): v for k, v in meta.sms.template_ids.items()},
            tuple(SmsParam(p.name, p.expr, p.max_chars) for p in meta.sms.params),
        )
        if approved and meta.sms
        else None,
        wechat=WechatSpec(meta.wechat.template_id, tuple(meta.wechat.fields.items()))
        if channel == "wechat" and meta.wechat
        else None,
        lines=lines,
    )


def load_folder(folder: Path) -> LoadedFolder:
    """Read ``templates/``: one spec per (kind, channel) that has a file, and what is wrong."""
    problems: list[Problem] = []
    specs: list[TemplateSpec] = []
    broken: dict[str, str] = {}
    if not folder.is_dir():
        return LoadedFolder(Catalog(), [Problem(str(folder), None, "模板目录不存在")])
    kinds = {k.value for k in MessageKind}
    channels = [c.value for c in ChannelName]
    for kind_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        kind, shown = kind_dir.name, f"{folder.name}/{kind_dir.name}"
        if kind not in kinds:
            reason = f"未知的消息类型目录 {kind}（应为 {'、'.join(sorted(kinds))}）"
            problems.append(Problem(shown, None, reason))
            continue
        meta, lines, meta_problems = _read_meta(kind_dir / META_FILE, f"{shown}/{META_FILE}", kind)
        problems.extend(meta_problems)
        if meta is None:
            broken[kind] = str(meta_problems[0]) if meta_problems else "meta.yaml 无效"
            continue
        bodies: dict[str, str] = {}
        for file in sorted(kind_dir.glob("*.j2")):
            if file.stem not in (*channels, DEFAULT_STEM):
                reason = f"未知的渠道 {file.stem}（应为 {'、'.join(channels)} 或 default）"
                problems.append(Problem(f"{shown}/{file.name}", None, reason, kind))
                continue
            try:
                bodies[file.stem] = file.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(f"{shown}/{file.name}", None, "文件不是 UTF-8 编码", kind))
        if meta.sms is not None and "sms" not in bodies:
            problems.append(
                Problem(
                    f"{shown}/{META_FILE}", lines.get("sms"), "有 sms 段但没有 sms.j2", kind, "sms"
                )
            )
        if "sms" in bodies and meta.sms is None:
            reason = "sms.j2 是服务商审核通过的短信原文，需要 meta.yaml 的 sms 段（模板 ID 与参数）"
            problems.append(Problem(f"{shown}/sms.j2", None, reason, kind, "sms"))
        for channel in channels:
            stem = channel if channel in bodies else DEFAULT_STEM
            if stem not in bodies:
                continue
            if channel == "sms" and (stem == "sms") != (meta.sms is not None):
                continue  # approved text without its sms section or the reverse: reported above
            specs.append(_spec(kind, channel, stem, bodies[stem], meta, lines))
    return LoadedFolder(Catalog(specs, broken), problems)


# ---------------------------------------------------------------- contexts


def standard_context(
    enterprise: Enterprise,
    contact: Contact | None,
    officer: Officer | None,
    hub_name: str = DEFAULT_HUB_NAME,
) -> dict[str, Any]:
    """The variables every template gets, built as hub/outbox.py builds them."""
    return {
        "hub_name": hub_name,
        "enterprise": {
            "name": enterprise.name,
            "uscc": enterprise.uscc,
            "tier": enterprise.tier.label,
            "industry": enterprise.industry,
            "region": enterprise.region,
            "tags": enterprise.tag_names,
        },
        "contact": {"name": (contact.name if contact is not None else None) or ""},
        "officer_name": officer.name if officer is not None else "",
        "officer_mobile": officer.mobile if officer is not None and officer.mobile else "",
    }


def example_context(spec: TemplateSpec, *, sparse: bool = False) -> dict[str, Any]:
    """The meta examples over a sample enterprise; ``sparse``: no officer, no contact name,
    no tags, and optional variables left at their defaults (what a bare send gives)."""
    context: dict[str, Any] = {
        "hub_name": DEFAULT_HUB_NAME,
        "enterprise": dict(EXAMPLE_ENTERPRISE),
        "contact": {"name": "王海燕"},
        "officer_name": "李明",
        "officer_mobile": "+8613845200001",
    }
    if sparse:
        context["enterprise"].update(tags=(), industry="", region="")
        context.update(contact={"name": ""}, officer_name="", officer_mobile="")
    for var in spec.variables.values():
        if not (sparse and not var.required):
            context[var.name] = var.example if var.example is not None else var.default
    return context


def sign_name(settings: Settings | None) -> str:
    """The signature SMS length is counted with: the longest configured, else the default."""
    if settings is None:
        return DEFAULT_SIGN_NAME
    names = [settings.channels.sms.tencent.sign_name, settings.channels.sms.aliyun.sign_name]
    return max((n for n in names if n), key=len, default=DEFAULT_SIGN_NAME)


# ---------------------------------------------------------------- the check


def check_templates(
    folder: Path,
    settings: Settings | None = None,
    *,
    stored_sms: Mapping[tuple[str, str], StoredSms] | None = None,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
) -> list[Problem]:
    """Everything wrong with the templates in a folder, sorted by file and line.

    ``stored_sms`` (from :func:`stored_sms_texts`) adds the rule that changed SMS wording
    needs a new approved provider template id.
    """
    _loaded, problems = _check_folder(folder, settings, stored_sms, max_sms_segments)
    unique = dict.fromkeys(problems)  # default.j2 serves several channels: report it once
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.reason))


def _check_folder(
    folder: Path,
    settings: Settings | None,
    stored_sms: Mapping[tuple[str, str], StoredSms] | None,
    max_sms_segments: int,
) -> tuple[LoadedFolder, list[Problem]]:
    loaded = load_folder(folder)
    # Room above every channel's limit, so the check names the limit instead of the cap.
    renderer = TemplateRenderer(
        loaded.catalog, limits=RenderLimits(max_chars=2 * TELEGRAM_MAX_CHARS)
    )
    problems = list(loaded.problems)
    sign = sign_name(settings)
    owners: dict[tuple[str, str], str] = {}
    for spec in loaded.catalog:
        prefix = f"{folder.name}/{spec.kind}"
        problems.extend(
            check_spec(spec, renderer, prefix, sign=sign, max_sms_segments=max_sms_segments)
        )
        if spec.sms is None:
            continue
        meta_file = f"{prefix}/{META_FILE}"
        for provider, template_id in spec.sms.template_ids.items():
            line = spec.lines.get(f"sms.template_ids.{provider}")
            label = PROVIDER_LABELS[provider]
            other = owners.setdefault((provider, template_id), spec.kind)
            if other != spec.kind:
                reason = f"{label}模板 ID {template_id} 已被 {other} 使用"
                problems.append(Problem(meta_file, line, reason, spec.kind, "sms"))
            stored = (stored_sms or {}).get((provider, template_id))
            text = spec.sms.tencent_text(spec.body) if provider == "tencent" else spec.body
            if stored is not None and stored.text != text:
                reason = (
                    f"短信文字与已入库的 {stored.kind} 第 {stored.version} 版不同，"
                    f"但{label}模板 ID {template_id} 未变："
                    "改短信文字须重新报备审核，并在 meta.yaml 填写新的模板 ID"
                )
                problems.append(Problem(f"{prefix}/sms.j2", 1, reason, spec.kind, "sms"))
        for provider, enabled in _enabled_providers(settings):
            if enabled and provider not in spec.sms.template_ids:
                reason = f"config.yaml 启用了{PROVIDER_LABELS[provider]}短信，但没有它的模板 ID"
                problems.append(Problem(meta_file, spec.lines.get("sms"), reason, spec.kind, "sms"))
    return loaded, problems


def _enabled_providers(settings: Settings | None) -> list[tuple[str, bool]]:
    if settings is None:
        return []
    sms = settings.channels.sms
    return [("tencent", sms.tencent.enabled), ("aliyun", sms.aliyun.enabled)]


def check_spec(
    spec: TemplateSpec,
    renderer: TemplateRenderer,
    prefix: str,
    *,
    sign: str = DEFAULT_SIGN_NAME,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
) -> list[Problem]:
    """What is wrong with one template; ``prefix`` is shown before file names (``templates/x``)."""
    check = _SpecCheck(spec, prefix, renderer.env)
    check.static()
    if not check.problems:  # rendering would only repeat static problems less clearly
        check.rendered(renderer, sign, max_sms_segments)
    return check.problems


class _SpecCheck:
    """The checks of one template, collecting problems with their file and line."""

    def __init__(self, spec: TemplateSpec, prefix: str, env: jinja2.Environment) -> None:
        self.spec, self.env = spec, env
        self.body_file, self.meta_file = f"{prefix}/{spec.source}", f"{prefix}/{META_FILE}"
        self.problems: list[Problem] = []

    def body(self, line: int | None, reason: str) -> None:
        self.problems.append(
            Problem(self.body_file, line, reason, self.spec.kind, self.spec.channel)
        )

    def meta(self, key: str, reason: str) -> None:
        line = _nearest(self.spec.lines, key)
        self.problems.append(
            Problem(self.meta_file, line, reason, self.spec.kind, self.spec.channel)
        )

    def static(self) -> None:
        """Syntax, undeclared variables and the approved-SMS rules: no rendering needed."""
        spec = self.spec
        if not spec.approved_sms:
            self._names(spec.body, None, self.env.parse)
        for name, source in spec.wechat.fields if spec.wechat else ():
            self._names(source, f"wechat.fields.{name}", self.env.parse)
        if spec.approved_sms and spec.sms is not None:
            for i, param in enumerate(spec.sms.params):
                parse = lambda source: parse_expression(self.env, source)  # noqa: E731
                self._names(param.expr, f"sms.params.{i}.expr", parse)
            self._approved_text(spec.sms)

    def _names(self, source: str, meta_key: str | None, parse: Any) -> None:
        declared = set(self.spec.variables) | STANDARD_VARIABLES
        try:
            ast = parse(source)
        except jinja2.TemplateSyntaxError as exc:
            if meta_key is None:
                self.body(exc.lineno, f"语法错误：{exc.message}")
            else:
                self.meta(meta_key, f"语法错误：{exc.message}")
            return
        for name, line in template_names(self.env, ast).items():
            if name in declared:
                continue
            reason = f"使用了未在 meta.yaml 声明的变量 {name}"
            self.body(line, reason) if meta_key is None else self.meta(meta_key, reason)

    def _approved_text(self, sms: SmsSpec) -> None:
        text = self.spec.body
        if any(marker in text for marker in ("{{", "{%", "{#")):
            marker = next(m for m in ("{{", "{%", "{#") if m in text)
            self.body(
                _line_of(text, marker),
                "短信模板文件是服务商审核通过的原文，不能写 Jinja "
                "语法：参数写成 ${name}，取值表达式写在 meta.yaml 的 sms.params",
            )
        numbered = re.search(r"\{\d+\}", PLACEHOLDER.sub("", text))
        if numbered:
            self.body(
                _line_of(text, numbered.group()),
                f"占位符请写成 ${{name}}，不要写 "
                f"{numbered.group()}（腾讯云的编号形式由参数顺序自动得出）",
            )
        for bracket in ("【", "】"):
            if bracket in text:
                self.body(
                    _line_of(text, bracket), "短信正文不能含【】，会与签名混淆（签名由发送时加上）"
                )
                break
        used = PLACEHOLDER.findall(text)
        declared = [p.name for p in sms.params]
        for name in dict.fromkeys(used):
            line = _line_of(text, "${" + name + "}")
            if name not in declared:
                self.body(line, f"占位符 ${{{name}}} 没有在 meta.yaml 的 sms.params 中声明")
            elif used.count(name) > 1:
                self.body(
                    line, f"占位符 ${{{name}}} 用了多次：腾讯云按位置传参，每个参数只能用一次"
                )
        for i, name in enumerate(declared):
            if name not in used:
                self.meta(
                    f"sms.params.{i}", f"短信参数 {name} 没有在 sms.j2 中使用（缺少 ${{{name}}}）"
                )
            if name in ALIYUN_RESERVED_NAMES:
                self.meta(f"sms.params.{i}", f"短信参数名 {name} 是阿里云的保留字，请换一个")
        for provider, template_id in sms.template_ids.items():
            if not _PROVIDER_ID[provider].match(template_id):
                label = PROVIDER_LABELS[provider]
                self.meta(f"sms.template_ids.{provider}", f"{label}模板 ID“{template_id}”格式不对")
        if self.spec.kind in MARKETING_KINDS and not text.rstrip("。.！! ").endswith(OPT_OUT_HINT):
            self.body(text.count("\n") + 1, f"此类短信须以“{OPT_OUT_HINT}”结尾")

    def rendered(self, renderer: TemplateRenderer, sign: str, max_sms_segments: int) -> None:
        """Render with the examples, and again with a bare context, and apply channel limits."""
        spec = self.spec
        for when, context in (
            ("", example_context(spec)),
            ("（无联络员、联系人姓名和可选变量时）", example_context(spec, sparse=True)),
        ):
            try:
                rendered = renderer.render_spec(spec, context, fit=False)
            except RenderError as exc:
                cause = exc.__cause__
                line = error_line(cause, f"{spec.kind}/{spec.source}") if cause else None
                self.body(line, f"用示例数据渲染失败{when}：{exc}")
                continue
            self._limits(rendered, sign, max_sms_segments, when)

    def _limits(self, rendered: Rendered, sign: str, max_segments: int, when: str) -> None:
        spec, body = self.spec, rendered.body
        if spec.approved_sms and spec.sms is not None:
            size = measure_sms(body, sign)
            if size.segments > max_segments or size.chars > SMS_MAX_CHARS:
                self.body(
                    1,
                    f"短信连同签名【{sign}】共 {size.chars} 字，计 {size.segments} 条，"
                    f"超过上限 {max_segments} 条（70 字一条，超出后每条 67 字）{when}",
                )
            for i, (param, value) in enumerate(zip(spec.sms.params, rendered.params, strict=True)):
                if len(value) > param.max_chars:
                    self.meta(
                        f"sms.params.{i}",
                        f"短信参数 {param.name} 的示例值“{value}”有 "
                        f"{len(value)} 字，超过 {param.max_chars} 字{when}",
                    )
        for name, value in rendered.fields.items():
            if len(value) > WECHAT_FIELD_MAX_CHARS:
                self.meta(
                    f"wechat.fields.{name}",
                    f"微信模板字段 {name} 的示例值“{value}”有 "
                    f"{len(value)} 字，超过 {WECHAT_FIELD_MAX_CHARS} 字{when}",
                )
            if "\n" in value or "\r" in value:
                self.meta(f"wechat.fields.{name}", f"微信模板字段 {name} 不能换行{when}")
        if spec.channel == "telegram" and len(body) > TELEGRAM_MAX_CHARS:
            self.body(None, f"Telegram 消息 {len(body)} 字，超过 {TELEGRAM_MAX_CHARS} 字{when}")
        elif len(body) > MAX_OUTPUT_CHARS:
            self.body(None, f"输出 {len(body)} 字，超过渲染上限 {MAX_OUTPUT_CHARS} 字{when}")
        if spec.channel == "wecom" and len(body.encode()) > WECOM_MAX_BYTES:
            self.body(
                None, f"企业微信文本消息 {len(body.encode())} 字节，超过 {WECOM_MAX_BYTES} 字节"
            )
        if spec.kind in RATING_KINDS and RATING_PROMPT not in body:
            self.body(None, f"评价请求须原样包含“{RATING_PROMPT}”{when}")


def _line_of(text: str, needle: str) -> int:
    index = text.find(needle)
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


# ---------------------------------------------------------------- versions in the database


def _canonical(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, ensure_ascii=False, sort_keys=True, default=str)


async def stored_sms_texts(db: Database) -> dict[tuple[str, str], StoredSms]:
    """Every approved SMS text ever stored, by (provider, template id), in provider form."""
    stmt = (
        sa.select(
            Template.kind, TemplateVersion.body, TemplateVersion.meta, TemplateVersion.version
        )
        .join(TemplateVersion, TemplateVersion.template_id == Template.id)
        .where(Template.channel == ChannelName.SMS)
        .order_by(TemplateVersion.version)
    )
    found: dict[tuple[str, str], StoredSms] = {}
    async with db.read() as session:
        for kind, body, meta, version in (await session.execute(stmt)).all():
            spec = TemplateSpec.from_json(kind.value, "sms", body, meta or {})
            if spec.sms is None:
                continue
            for provider, template_id in spec.sms.template_ids.items():
                text = spec.sms.tencent_text(body) if provider == "tencent" else body
                found.setdefault((provider, template_id), StoredSms(text, kind.value, version))
    return found


async def sync_templates(
    db: Database,
    folder: Path,
    clock: Clock,
    actor: str,
    *,
    settings: Settings | None = None,
    only_new: bool = False,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
) -> SyncReport:
    """Import the files as template versions; idempotent.

    A (kind, channel) new to the database gets version 1; an existing one gets a new version
    only when its body or meta differs from the current version (``only_new`` leaves existing
    ones alone — what a start-up seeding wants, so admins' edits survive). Templates the check
    finds wrong are not imported and are listed in ``rejected``.
    """
    stored = await stored_sms_texts(db)
    loaded, problems = _check_folder(folder, settings, stored, max_sms_segments)
    report = SyncReport(rejected=list(dict.fromkeys(problems)))
    bad = {(p.kind, p.channel) for p in problems}
    now = clock.now()
    async with db.write() as session:
        rows = {
            (t.kind.value, t.channel.value): t for t in await session.scalars(sa.select(Template))
        }
        current = {
            v.template_id: v
            for v in await session.scalars(
                sa.select(TemplateVersion).join(
                    Template,
                    sa.and_(
                        TemplateVersion.template_id == Template.id,
                        TemplateVersion.version == Template.current_version,
                    ),
                )
            )
        }
        for spec in loaded.catalog:
            key = (spec.kind, spec.channel)
            if key in bad or (spec.kind, None) in bad:
                continue
            # JSON-clean, in file order (the comparison below ignores key order).
            meta = json.loads(json.dumps(spec.meta_json(), ensure_ascii=False, default=str))
            row = rows.get(key)
            if row is None:
                row = Template(
                    kind=MessageKind(spec.kind),
                    channel=ChannelName(spec.channel),
                    current_version=1,
                    created_at=now,
                    updated_at=now,
                )
                session.add(row)
                await session.flush()
                version = 1
                report.created.append(f"{spec.kind}/{spec.channel} v1")
            else:
                latest = current.get(row.id)
                same = (
                    latest is not None
                    and latest.body == spec.body
                    and _canonical(latest.meta or {}) == _canonical(meta)
                )
                if only_new or same:
                    report.unchanged += 1
                    continue
                top = await session.scalar(
                    sa.select(sa.func.max(TemplateVersion.version)).where(
                        TemplateVersion.template_id == row.id
                    )
                )
                version = int(top or 0) + 1
                row.current_version = version
                row.updated_at = now
                report.updated.append(f"{spec.kind}/{spec.channel} v{version}")
            session.add(
                TemplateVersion(
                    template_id=row.id,
                    version=version,
                    body=spec.body,
                    meta=meta,
                    created_at=now,
                    created_by=actor,
                )
            )
    return report


async def load_catalog(db: Database) -> Catalog:
    """The current version of every template in the database, ready for a TemplateRenderer."""
    stmt = sa.select(Template.kind, Template.channel, TemplateVersion).join(
        TemplateVersion,
        sa.and_(
            TemplateVersion.template_id == Template.id,
            TemplateVersion.version == Template.current_version,
        ),
    )
    async with db.read() as session:
        rows = (await session.execute(stmt)).all()
    return Catalog(
        TemplateSpec.from_json(
            kind.value,
            channel.value,
            version.body,
            version.meta or {},
            version=version.version,
            version_id=version.id,
        )
        for kind, channel, version in rows
    )
