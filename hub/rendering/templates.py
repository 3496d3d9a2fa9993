"""Template files: ``templates/`` read into a :class:`~hub.rendering.template_spec.Catalog`, and
contexts.

Files (the shipped defaults and the import/export format; ``templates/README.md`` is the manual)::

    templates/<kind>/meta.yaml      variables (description + example), sms ids/params, wechat fields
    templates/<kind>/<channel>.j2   one per channel that needs its own text
    templates/<kind>/default.j2     every other channel

:func:`load_folder` reads them, reporting what it cannot use as :class:`Problem` (Chinese, with
file and line); :func:`standard_context` and :func:`example_context` build what a template is
rendered with. What else is wrong with a template is :mod:`hub.rendering.check`'s job; the
versions in the database are :mod:`hub.rendering.template_store`'.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hub.core.vocab import ChannelName, MessageKind
from hub.core.yaml_aliases import alias_problem
from hub.rendering.sms_text import SMS_MAX_CHARS, SMS_PARAM_MAX_CHARS
from hub.rendering.template_spec import (
    STANDARD_VARIABLES,
    Catalog,
    SmsParam,
    SmsSpec,
    TemplateSpec,
    Variable,
    WechatSpec,
)
from hub.store.registry import Contact, Enterprise, Officer

META_FILE = "meta.yaml"
DEFAULT_STEM = "default"
DEFAULT_HUB_NAME = "主动服务"  # as hub/outbound/outbox.py's Outbox(hub_name=...) default
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


def nearest_line(lines: Mapping[str, int], path: str) -> int | None:
    """The line of a dotted meta key (``sms.params.0.expr``), else of its nearest parent."""
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


def _construct(node: yaml.Node | None) -> Any:
    """The Python value of a composed YAML document (as ``safe_load`` builds it)."""
    if node is None:
        return None
    return yaml.CSafeLoader("").construct_document(node)


def _read_meta(
    path: Path, shown: str, kind: str
) -> tuple[_MetaModel | None, dict[str, int], list[Problem]]:
    if path.exists() and not path.is_file():
        return None, {}, [Problem(shown, None, "meta.yaml 不是普通文件（是目录或特殊文件）", kind)]
    if not path.is_file():
        return None, {}, [Problem(shown, None, "缺少 meta.yaml（变量说明与示例）", kind)]
    try:
        text = path.read_text(encoding="utf-8")
        # libyaml's parser (a worker reads every kind's meta.yaml at start-up; the pure-Python
        # scanner took a fifth of a fan-out worker's busy time), composed once: the nodes
        # give the lines and the alias check, then the same nodes are constructed.
        node = yaml.compose(text, Loader=yaml.CSafeLoader)
        bomb = alias_problem(node)
        if bomb is not None:  # before construction and the walks below expand it
            return None, {}, [Problem(shown, bomb.line, bomb.reason, kind)]
        raw = _construct(node) or {}
    except UnicodeDecodeError:
        return None, {}, [Problem(shown, None, "文件不是 UTF-8 编码", kind)]
    except OSError as exc:
        return None, {}, [Problem(shown, None, f"无法读取：{exc.strerror or exc}", kind)]
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
                Problem(shown, nearest_line(lines, path_key), f"{path_key}: {reason}", kind)
            )
        return None, lines, problems
    problems = []
    for name, var in meta.variables.items():
        where = nearest_line(lines, f"variables.{name}")
        if not name.isidentifier() or name in STANDARD_VARIABLES:
            problems.append(Problem(shown, where, f"变量名 {name} 无效或与标准变量重名", kind))
        if var.required and var.example is None:
            problems.append(
                Problem(shown, where, f"变量 {name} 缺少 example（检查和预览要用）", kind)
            )
    for name in meta.wechat.fields if meta.wechat else ():
        if not _PARAM_NAME.match(name):
            where = nearest_line(lines, f"wechat.fields.{name}")
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
            if not file.is_file():  # a directory (or a pipe) named sms.j2
                reason = f"{file.name} 不是普通文件（是目录或特殊文件），模板须是文本文件"
                problems.append(Problem(f"{shown}/{file.name}", None, reason, kind))
                continue
            try:
                bodies[file.stem] = file.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(f"{shown}/{file.name}", None, "文件不是 UTF-8 编码", kind))
            except OSError as exc:
                reason = f"无法读取模板文件：{exc.strerror or exc}"
                problems.append(Problem(f"{shown}/{file.name}", None, reason, kind))
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
    """The variables every template gets, built as hub/outbound/outbox.py builds them."""
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
