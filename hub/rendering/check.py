"""The template check: what is wrong with a templates folder, in Chinese, with file and line.

Static rules first (syntax, undeclared variables, the approved-SMS rules, provider template
ids), then each template is rendered with its meta examples — and again with a bare context —
and held to the channel limits (SMS segments, WeChat field length, Telegram and WeCom sizes)
and the message rules (opt-out hint on marketing SMS, the rating prompt). What each provider
accepts (sizes, template id forms, reserved names) is its channel's ``limits``, read through
:mod:`channels.registry`. Given the approved
SMS texts already stored (:class:`StoredSms`), changed wording under an unchanged provider
template id is refused too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from channels.registry import PROVIDERS, channel_limits, limits_for, providers_of, required
from hub.core.errors import RenderError
from hub.core.vocab import RATING_PROMPT
from hub.rendering.render import TemplateRenderer, error_line, parse_expression, template_names
from hub.rendering.sandbox import MAX_OUTPUT_CHARS, RenderLimits
from hub.rendering.settings import RenderingConfig
from hub.rendering.sms_text import PLACEHOLDER, SMS_MAX_CHARS, measure_sms
from hub.rendering.template_spec import (
    STANDARD_VARIABLES,
    WECHAT_FIELD_MAX_CHARS,
    Rendered,
    SmsSpec,
    TemplateSpec,
)
from hub.rendering.templates import (
    META_FILE,
    LoadedFolder,
    Problem,
    example_context,
    load_folder,
    nearest_line,
)

DEFAULT_MAX_SMS_SEGMENTS = 3
DEFAULT_SIGN_NAME = "主动服务"  # counted when config.yaml names no SMS signature
TELEGRAM_MAX_CHARS = required(channel_limits("telegram").max_text_chars, "Telegram text")
WECOM_MAX_BYTES = required(channel_limits("wecom").max_text_bytes, "WeCom text")
# Room above every provider's text limit, so the check names the limit instead of the cap.
RENDER_ROOM_CHARS = 2 * max(p.limits.max_text_chars or 0 for p in PROVIDERS.values())
OPT_OUT_HINT = "回复TD退订"
# Kinds that read as marketing to operators: their SMS must carry the opt-out hint.
MARKETING_KINDS = frozenset({"policy_push", "credit_report", "procedure_reminder"})
# Kinds that ask for a rating: every body prints the five levels exactly (docs/design.md).
RATING_KINDS = frozenset({"ticket_feedback", "rating_reminder", "callback_survey", "auto_answer"})
PROVIDER_LABELS = {"tencent": "腾讯云", "aliyun": "阿里云"}


@dataclass(frozen=True, slots=True)
class StoredSms:
    """An approved SMS text as stored under a provider template id."""

    text: str
    kind: str
    version: int


def sign_name(settings: RenderingConfig | None) -> str:
    """The signature SMS length is counted with: the longest configured, else the default."""
    if settings is None:
        return DEFAULT_SIGN_NAME
    names = [settings.channels.sms.tencent.sign_name, settings.channels.sms.aliyun.sign_name]
    return max((n for n in names if n), key=len, default=DEFAULT_SIGN_NAME)


def check_templates(
    folder: Path,
    settings: RenderingConfig | None = None,
    *,
    stored_sms: Mapping[tuple[str, str], StoredSms] | None = None,
    max_sms_segments: int = DEFAULT_MAX_SMS_SEGMENTS,
) -> list[Problem]:
    """Everything wrong with the templates in a folder, sorted by file and line.

    ``stored_sms`` (from :func:`hub.rendering.template_store.stored_sms_texts`) adds the rule that
    changed SMS wording needs a new approved provider template id.
    """
    _loaded, problems = check_folder(folder, settings, stored_sms, max_sms_segments)
    unique = dict.fromkeys(problems)  # default.j2 serves several channels: report it once
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.reason))


def check_folder(
    folder: Path,
    settings: RenderingConfig | None,
    stored_sms: Mapping[tuple[str, str], StoredSms] | None,
    max_sms_segments: int,
) -> tuple[LoadedFolder, list[Problem]]:
    """The folder as loaded and every problem with it, unsorted, repeats included."""
    loaded = load_folder(folder)
    renderer = TemplateRenderer(loaded.catalog, limits=RenderLimits(max_chars=RENDER_ROOM_CHARS))
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
        problems.extend(stored_wording_problems(spec, stored_sms or {}, prefix))
        for provider, enabled in _enabled_providers(settings):
            if enabled and provider not in spec.sms.template_ids:
                reason = f"config.yaml 启用了{PROVIDER_LABELS[provider]}短信，但没有它的模板 ID"
                problems.append(Problem(meta_file, spec.lines.get("sms"), reason, spec.kind, "sms"))
    return loaded, problems


def stored_wording_problems(
    spec: TemplateSpec, stored_sms: Mapping[tuple[str, str], StoredSms], prefix: str
) -> list[Problem]:
    """Changed approved SMS wording under a provider template id stored with other wording."""
    problems: list[Problem] = []
    if spec.sms is None:
        return problems
    for provider, template_id in spec.sms.template_ids.items():
        stored = stored_sms.get((provider, template_id))
        text = spec.sms.tencent_text(spec.body) if provider == "tencent" else spec.body
        if stored is not None and stored.text != text:
            reason = (
                f"短信文字与已入库的 {stored.kind} 第 {stored.version} 版不同，"
                f"但{PROVIDER_LABELS[provider]}模板 ID {template_id} 未变："
                "改短信文字须重新报备审核，并在 meta.yaml 填写新的模板 ID"
            )
            problems.append(Problem(f"{prefix}/sms.j2", 1, reason, spec.kind, "sms"))
    return problems


def _enabled_providers(settings: RenderingConfig | None) -> list[tuple[str, bool]]:
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
        line = nearest_line(self.spec.lines, key)
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
            for provider in providers_of("sms"):
                if name in limits_for(provider).reserved_names:
                    label = PROVIDER_LABELS[provider]
                    self.meta(f"sms.params.{i}", f"短信参数名 {name} 是{label}的保留字，请换一个")
        for provider, template_id in sms.template_ids.items():
            pattern = limits_for(provider).template_id_pattern
            if pattern is not None and not pattern.match(template_id):
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
