"""The renderer: :class:`TemplateRenderer` turns a
:class:`~hub.rendering.template_spec.TemplateSpec` and a context into a
:class:`~hub.rendering.template_spec.Rendered`, in the sandbox of :mod:`hub.rendering.sandbox` (no
access, caps on time, loops and sizes).

Three shapes of output:

- free text (``default.j2``, ``wecom.j2``, ``telegram.j2``, ...): the Jinja body;
- SMS with an approved provider template (``sms.j2`` + ``meta.yaml: sms``): the file is the
  approved wording with ``${name}`` placeholders (Aliyun's form; Tencent's ``{1}``… is derived
  from the declared parameter order), each parameter is one Jinja expression, and the result
  is the parameters in declared order plus the approved text filled in;
- WeChat template messages (``meta.yaml: wechat``): the Jinja body for the record and for
  customer-service text, plus one short Jinja template per template-message field.

Also the Jinja analysis the template check shares: :func:`template_names`,
:func:`parse_expression`, :func:`error_line`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.parser
from jinja2 import nodes
from jinja2.exceptions import SecurityError

from hub.core.errors import RenderError
from hub.rendering.sandbox import (
    MAX_OUTPUT_CHARS,
    HubSandbox,
    RenderLimitError,
    RenderLimits,
    render_budget,
)
from hub.rendering.sms_text import Placeholders, fill_placeholders
from hub.rendering.template_spec import (
    WECHAT_FIELD_MAX_CHARS,
    Catalog,
    Rendered,
    SmsParam,
    TemplateSpec,
    Variable,
)
from hub.rendering.templates import load_folder

_PARAM_VAR = "hub_param_"  # the SMS parameters' variables in their combined template


@dataclass(frozen=True, slots=True)
class _Compiled:
    spec: TemplateSpec
    name: str
    body: jinja2.Template | None
    params: tuple[tuple[SmsParam, Any], ...]  # Any: jinja2's TemplateExpression
    param_module: jinja2.Template | None  # every parameter at once (the fast path)
    param_vars: tuple[str, ...]  # their variables in param_module
    param_names: tuple[str, ...]  # the placeholders, in declared order
    fields: tuple[tuple[str, jinja2.Template], ...]
    used: frozenset[str]  # names the template reads from its context
    # Per message these were worked out again from the spec; once per template instead.
    required: tuple[Variable, ...]  # required variables the template reads
    defaults: tuple[tuple[str, Any], ...]  # optional variables and their defaults
    placeholders: Placeholders | None  # the approved SMS text, split at its placeholders


def template_names(env: jinja2.Environment, ast: nodes.Template) -> dict[str, int]:
    """Names a template reads from its context (not set inside it, not globals), with a line."""
    wanted = jinja2.meta.find_undeclared_variables(ast) - set(env.globals)
    lines: dict[str, int] = {}
    for node in ast.find_all(nodes.Name):
        if node.name in wanted and node.name not in lines:
            lines[node.name] = node.lineno
    return {name: lines.get(name, 1) for name in wanted}


def parse_expression(env: jinja2.Environment, source: str) -> nodes.Template:
    """Parse one Jinja expression (an SMS parameter) into a template AST for analysis."""
    parser = jinja2.parser.Parser(env, source, state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        raise jinja2.TemplateSyntaxError("表达式后面还有多余内容", parser.stream.current.lineno)
    ast = nodes.Template([nodes.Output([expr])], lineno=1)
    ast.set_environment(env)
    return ast


def error_line(exc: BaseException, filename: str) -> int | None:
    """The template line an exception was raised at (Jinja rewrites tracebacks to point there)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _explain(exc: BaseException) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"语法错误：{exc.message}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"使用了未提供的变量：{exc.message}"
    if isinstance(exc, SecurityError):
        return f"执行了不允许的操作：{exc}"
    if isinstance(exc, RecursionError):
        return "递归过深，已中止"
    return f"渲染失败：{type(exc).__name__}: {exc}"


def _one_line(text: str) -> str:
    # Most values are one line already, which C checks can tell (the only printable
    # whitespace is the space) before Python splits and joins.
    if text.isprintable() and "  " not in text and text[:1] != " " and text[-1:] != " ":
        return text
    return " ".join(text.split())


def _fit(text: str, max_chars: int) -> str:
    # Real data can be longer than the examples the check measured; a shortened name
    # beats a message the provider rejects.
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


class TemplateRenderer:
    """Renders the templates of a :class:`Catalog`, or of a templates folder (loaded on first use).

    ``render(kind, channel, context) -> str`` is what the outbox calls; ``render_message`` gives
    the whole :class:`Rendered` (SMS parameters, provider ids, WeChat fields).
    """

    def __init__(
        self,
        source: Path | Catalog,
        *,
        max_chars: int = MAX_OUTPUT_CHARS,
        limits: RenderLimits | None = None,
    ) -> None:
        self.limits = limits or RenderLimits(max_chars=max_chars)
        self.env = HubSandbox(self.limits)
        self.folder = source if isinstance(source, Path) else None
        self._catalog = source if isinstance(source, Catalog) else None
        self._compiled: dict[tuple[str, str], _Compiled] = {}

    @property
    def max_chars(self) -> int:
        return self.limits.max_chars

    @property
    def catalog(self) -> Catalog:
        """The templates in force; a folder is read on first use (and again after reload)."""
        if self._catalog is None:
            assert self.folder is not None
            self._catalog = load_folder(self.folder).catalog
        return self._catalog

    def use(self, catalog: Catalog) -> None:
        """Render from another catalog from now on (e.g. after admins edited a template)."""
        self._catalog = catalog
        self._compiled.clear()

    def reload(self) -> None:
        """Read the folder again on next use (no effect on a renderer made from a catalog)."""
        if self.folder is not None:
            self._catalog = None
            self._compiled.clear()

    def spec(self, kind: str, channel: str) -> TemplateSpec:
        """The template for a kind on a channel; RenderError when there is none."""
        catalog = self.catalog
        found = catalog.get(kind, channel)
        if found is not None:
            return found
        if kind in catalog.broken:
            raise RenderError(f"消息类型 {kind} 的模板无法加载：{catalog.broken[kind]}")
        where = f"{self.folder}/{kind}/" if self.folder else "模板库"
        raise RenderError(f"消息类型 {kind} 没有 {channel} 渠道的模板（{where}）")

    def template_name(self, kind: str, channel: str) -> str:
        """The file a kind uses on a channel, such as ``policy_push/default.j2``."""
        return f"{kind}/{self.spec(kind, channel).source}"

    def render(self, kind: str, channel: str, context: Mapping[str, Any]) -> str:
        """The message body for a kind on a channel."""
        return self.render_message(kind, channel, context).body

    def render_message(self, kind: str, channel: str, context: Mapping[str, Any]) -> Rendered:
        """Body, SMS parameters in declared order and provider ids, WeChat fields."""
        return self.render_spec(self.spec(kind, channel), context)

    def compile(self, spec: TemplateSpec) -> _Compiled:
        """Compile a spec (cached); RenderError names the file and line of a syntax error."""
        key = (spec.kind, spec.channel)
        cached = self._compiled.get(key)
        if cached is not None and cached.spec is spec:
            return cached
        name = f"{spec.kind}/{spec.source}"
        used: set[str] = set()
        body = None
        try:
            if not spec.approved_sms:
                body = self._template(spec.body, name)
                used.update(template_names(self.env, self.env.parse(spec.body)))
            params = []
            for param in spec.sms.params if spec.approved_sms and spec.sms else ():
                used.update(template_names(self.env, parse_expression(self.env, param.expr)))
                params.append(
                    (param, self.env.compile_expression(param.expr, undefined_to_none=False))
                )
            # One context for all parameters instead of one each: a third of the time.
            sets = (f"{{% set {_PARAM_VAR}{i} = ({p.expr}) %}}" for i, (p, _e) in enumerate(params))
            module = self._template("\n".join(sets), f"{name}#params") if params else None
            fields = []
            for field_name, source in spec.wechat.fields if spec.wechat else ():
                fields.append((field_name, self._template(source, f"{name}#{field_name}")))
                used.update(template_names(self.env, self.env.parse(source)))
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(f"模板 {name} 第 {exc.lineno} 行{_explain(exc)}") from exc
        compiled = _Compiled(
            spec,
            name,
            body,
            tuple(params),
            module,
            tuple(f"{_PARAM_VAR}{i}" for i in range(len(params))),
            tuple(p.name for p, _expr in params),
            tuple(fields),
            frozenset(used),
            tuple(v for v in spec.variables.values() if v.required and v.name in used),
            tuple((v.name, v.default) for v in spec.variables.values() if not v.required),
            Placeholders.split(spec.body, [p.name for p, _expr in params])
            if spec.approved_sms and spec.sms is not None
            else None,
        )
        self._compiled[key] = compiled
        return compiled

    def render_spec(
        self, spec: TemplateSpec, context: Mapping[str, Any], *, fit: bool = True
    ) -> Rendered:
        """Render one spec. ``fit=False`` (the check) keeps over-long values as they are."""
        compiled = self.compile(spec)
        values = self._context(compiled, context)
        limits = self.limits
        where = compiled.name
        with render_budget(limits):
            try:
                body = self._run(compiled.body, values) if compiled.body is not None else ""
                params = [
                    _fit(text, param.max_chars) if fit else text
                    for (param, _expr), text in zip(
                        compiled.params, self._param_values(compiled, values), strict=True
                    )
                ]
                fields: dict[str, str] = {}
                for field_name, template in compiled.fields:
                    where = f"{compiled.name} 字段 {field_name}"
                    text = self._run(template, values)
                    fields[field_name] = (
                        _fit(_one_line(text), WECHAT_FIELD_MAX_CHARS) if fit else text
                    )
            except RenderError:
                raise
            except Exception as exc:  # admins' templates can raise anything; translate it here
                line = error_line(exc, where.split(" ")[0])
                at = f"第 {line} 行" if line else ""
                raise RenderError(f"模板 {where} {at}{_explain(exc)}") from exc
        ids: Mapping[str, str] = {}
        names: tuple[str, ...] = ()
        if spec.approved_sms and spec.sms is not None:
            names = compiled.param_names
            if compiled.placeholders is not None:
                body = compiled.placeholders.fill(params)
            else:
                body = fill_placeholders(spec.body, dict(zip(names, params, strict=True)))
            ids = dict(spec.sms.template_ids)
        elif spec.wechat is not None and spec.channel == "wechat":
            ids = {"wechat": spec.wechat.template_id}
        if len(body) > limits.max_chars:
            raise RenderError(
                f"模板 {compiled.name} 输出 {len(body)} 字，超过上限 {limits.max_chars} 字"
            )
        return Rendered(
            spec.kind,
            spec.channel,
            body,
            tuple(params),
            names,
            ids,
            fields,
            spec.version,
            spec.version_id,
        )

    def _param_values(self, compiled: _Compiled, values: dict[str, Any]) -> list[str]:
        raw: list[Any] | None = None
        if compiled.param_module is not None:
            try:
                # The template's own context, run to the end: its ``set`` variables are the
                # values (a TemplateModule around it would only copy them again).
                template = compiled.param_module
                context = template.new_context(values)
                for _ in template.root_render_func(context):
                    pass
                variables = context.vars
                raw = [variables[name] for name in compiled.param_vars]
            except Exception:  # evaluated again one by one below, to name the culprit
                raw = None
        texts = []
        for i, (param, expr) in enumerate(compiled.params):
            try:
                text = _one_line(str(raw[i] if raw is not None else expr(values)))
            except Exception as exc:
                line = error_line(exc, compiled.name)
                at = f"第 {line} 行" if line else ""
                raise RenderError(
                    f"模板 {compiled.name} 短信参数 {param.name}（{param.expr}）{at}{_explain(exc)}"
                ) from exc
            if not text:
                raise RenderError(f"短信参数 {param.name} 的值为空（{param.expr}）")
            texts.append(text)
        return texts

    def _context(self, compiled: _Compiled, context: Mapping[str, Any]) -> dict[str, Any]:
        for var in compiled.required:
            if var.name not in context:
                raise RenderError(f"模板 {compiled.name} 缺少变量 {var.name}（{var.description}）")
        values = {name: default for name, default in compiled.defaults if name not in context}
        values.update(context)
        return values

    def _template(self, source: str, name: str) -> jinja2.Template:
        if len(source) > self.limits.max_source_chars:
            raise RenderError(f"模板 {name} 超过 {self.limits.max_source_chars} 字的长度上限")
        # Compiled under its own name so tracebacks (and error_line) point into it.
        code = self.env.compile(source, name=name, filename=name)
        # Globals as a plain dict, not make_globals' ChainMap: every render copies them into
        # its context, and copying a ChainMap key by key took a fifth of a render.
        flat = dict(self.env.make_globals(None))
        return self.env.template_class.from_code(self.env, code, flat)

    def _run(self, template: jinja2.Template, values: dict[str, Any]) -> str:
        # Streamed, so a runaway output stops at the cap instead of being built first. The
        # template's own generator, as Template.generate runs it, without generate's copy of
        # the context and its generator around every chunk (a WeChat message runs five).
        cap = self.limits.max_chars * 2 + 1024  # slack for whitespace that strip() removes
        parts: list[str] = []
        size = 0
        try:
            for chunk in template.root_render_func(template.new_context(values)):
                size += len(chunk)
                if size > cap:
                    break
                parts.append(chunk)
        except Exception:
            self.env.handle_exception()  # as generate: the traceback points at template lines
        if size > cap:
            raise RenderLimitError(f"输出超过 {self.limits.max_chars} 字上限，已中止")
        return "".join(parts).strip()
