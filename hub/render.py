"""Message rendering in a sandbox: admins write templates, so they get no access and caps.

A template is a :class:`TemplateSpec` — the text of ``templates/<kind>/<channel>.j2`` (or the
kind's ``default.j2``) plus what ``meta.yaml`` declares for it — whether it came from the files
or from a version in the database. A :class:`Catalog` holds one spec per (kind, channel) and a
:class:`TemplateRenderer` renders from it.

Three shapes of output (:class:`Rendered`):

- free text (``default.j2``, ``wecom.j2``, ``telegram.j2``, ...): the Jinja body;
- SMS with an approved provider template (``sms.j2`` + ``meta.yaml: sms``): the file is the
  approved wording with ``${name}`` placeholders (Aliyun's form; Tencent's ``{1}``… is derived
  from the declared parameter order), each parameter is one Jinja expression, and the result
  is the parameters in declared order plus the approved text filled in;
- WeChat template messages (``meta.yaml: wechat``): the Jinja body for the record and for
  customer-service text, plus one short Jinja template per template-message field.

Safety, because admins edit templates while the hub runs (every number is in
:class:`RenderLimits`): Jinja's ``ImmutableSandboxedEnvironment`` (no private
attributes, no mutating lists/dicts) with ``StrictUndefined`` (a missing variable is an error
naming it, never an empty string), and caps on

- output size (streamed, so a huge output fails before it is built),
- render time: a deadline checked on every call, attribute or item access, intercepted
  operator and loop step — every ``for`` loop's iterable is wrapped at compile time,
- loop steps per render (across all loops, nested included),
- the size of any intermediate string or list built with ``*``, ``+``, ``~``, ``%``,
  ``str.format`` and the size-taking filters, checked *before* building it where the size is
  known up front, and integers to a few thousand bits (``9 ** (9 ** 9)`` would not finish),
- template source size. ``range`` is Jinja's sandboxed one (at most 100,000 items).
"""

from __future__ import annotations

import math
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import jinja2.parser
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from hub.errors import RenderError

MAX_OUTPUT_CHARS = 4096

SMS_SINGLE_CHARS = 70  # one segment, signature included
SMS_PART_CHARS = 67  # per segment once split (the rest carries the concatenation header)
SMS_MAX_CHARS = 500  # Tencent and Aliyun refuse longer messages outright
SMS_PARAM_MAX_CHARS = 35  # Aliyun's default for a notification variable; longer needs approval
WECHAT_FIELD_MAX_CHARS = 20

# What the outbox puts in every render context (hub/outbox.py); templates need not declare them.
STANDARD_VARIABLES = frozenset(
    {"hub_name", "enterprise", "contact", "officer_name", "officer_mobile"}
)
PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
_PARAM_VAR = "hub_param_"  # the SMS parameters' variables in their combined template
_PRINTF_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """Caps on one render; the defaults leave real templates a wide margin (they take ~50 µs)."""

    max_chars: int = MAX_OUTPUT_CHARS
    max_seconds: float = 0.25
    max_loop_steps: int = 20_000
    max_value_chars: int = 65_536
    max_int_bits: int = 4_096
    max_source_chars: int = 20_000


class RenderLimitError(SecurityError):
    """A template hit a cap (time, loop steps, size): it is stopped, not left to run."""


# ---------------------------------------------------------------- what a template is


@dataclass(frozen=True, slots=True)
class Variable:
    """A variable the caller passes, as declared in meta.yaml (the example feeds check/preview)."""

    name: str
    description: str
    example: Any = None
    required: bool = True
    default: Any = None


@dataclass(frozen=True, slots=True)
class SmsParam:
    """One placeholder of an approved SMS template and the Jinja expression that fills it."""

    name: str
    expr: str
    max_chars: int = SMS_PARAM_MAX_CHARS


@dataclass(frozen=True, slots=True)
class SmsSpec:
    """Provider template ids (``tencent``, ``aliyun``) and the parameters in declared order."""

    template_ids: Mapping[str, str]
    params: tuple[SmsParam, ...]

    def tencent_text(self, approved: str) -> str:
        """The approved text as Tencent writes it: ``${name}`` becomes ``{n}`` by declared order."""
        order = {p.name: i for i, p in enumerate(self.params, start=1)}
        return PLACEHOLDER.sub(lambda m: f"{{{order.get(m.group(1), 0)}}}", approved)


@dataclass(frozen=True, slots=True)
class WechatSpec:
    """A WeChat Official Account template message: its id and one Jinja template per field."""

    template_id: str
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class TemplateSpec:
    """One template for one kind on one channel, from the files or from a stored version."""

    kind: str
    channel: str
    body: str
    source: str  # the file it came from: "<channel>.j2" or "default.j2"
    variables: Mapping[str, Variable] = field(default_factory=dict)
    description: str = ""
    sms: SmsSpec | None = None
    wechat: WechatSpec | None = None
    version: int | None = None
    version_id: int | None = None
    lines: Mapping[str, int] = field(default_factory=dict, compare=False)  # meta key -> line

    @property
    def approved_sms(self) -> bool:
        """True when the body is a provider-approved SMS text rather than a Jinja template."""
        return self.channel == "sms" and self.sms is not None

    def meta_json(self) -> dict[str, Any]:
        """What a stored version keeps beside the body (only this channel's sections)."""
        meta: dict[str, Any] = {
            "source": self.source,
            "description": self.description,
            "variables": {
                v.name: {
                    "description": v.description,
                    "example": v.example,
                    "required": v.required,
                    "default": v.default,
                }
                for v in self.variables.values()
            },
        }
        if self.sms is not None and self.channel == "sms":
            meta["sms"] = {
                "template_ids": dict(self.sms.template_ids),
                "params": [
                    {"name": p.name, "expr": p.expr, "max_chars": p.max_chars}
                    for p in self.sms.params
                ],
            }
        if self.wechat is not None and self.channel == "wechat":
            meta["wechat"] = {
                "template_id": self.wechat.template_id,
                "fields": dict(self.wechat.fields),
            }
        return meta

    @classmethod
    def from_json(
        cls,
        kind: str,
        channel: str,
        body: str,
        meta: Mapping[str, Any],
        *,
        version: int | None = None,
        version_id: int | None = None,
    ) -> TemplateSpec:
        """Rebuild a spec from a stored version (the inverse of :meth:`meta_json`)."""
        variables = {
            name: Variable(
                name,
                str(v.get("description", "")),
                v.get("example"),
                bool(v.get("required", True)),
                v.get("default"),
            )
            for name, v in (meta.get("variables") or {}).items()
        }
        sms = meta.get("sms")
        wechat = meta.get("wechat")
        return cls(
            kind=kind,
            channel=channel,
            body=body,
            source=str(meta.get("source", f"{channel}.j2")),
            variables=variables,
            description=str(meta.get("description", "")),
            sms=SmsSpec(
                {str(k): str(v) for k, v in sms["template_ids"].items()},
                tuple(
                    SmsParam(p["name"], p["expr"], int(p.get("max_chars", SMS_PARAM_MAX_CHARS)))
                    for p in sms["params"]
                ),
            )
            if sms
            else None,
            wechat=WechatSpec(
                str(wechat["template_id"]),
                tuple((str(k), str(v)) for k, v in wechat["fields"].items()),
            )
            if wechat
            else None,
            version=version,
            version_id=version_id,
        )


class Catalog:
    """The templates in force: one spec per (kind, channel), plus kinds that failed to load."""

    def __init__(
        self, specs: Iterable[TemplateSpec] = (), broken: Mapping[str, str] | None = None
    ) -> None:
        self._specs = {(s.kind, s.channel): s for s in specs}
        self.broken: dict[str, str] = dict(broken or {})

    def get(self, kind: str, channel: str) -> TemplateSpec | None:
        return self._specs.get((kind, channel))

    def __iter__(self) -> Iterator[TemplateSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.kind, s.channel)))

    def __len__(self) -> int:
        return len(self._specs)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message; for an approved SMS, ``params`` are in the template's declared order."""

    kind: str
    channel: str
    body: str
    params: tuple[str, ...] = ()
    param_names: tuple[str, ...] = ()
    provider_template_ids: Mapping[str, str] = field(default_factory=dict)
    fields: Mapping[str, str] = field(default_factory=dict)
    version: int | None = None
    version_id: int | None = None

    def template_param(self) -> dict[str, str]:
        """Aliyun's ``TemplateParam`` (by name); Tencent's ``TemplateParamSet`` is ``params``."""
        return dict(zip(self.param_names, self.params, strict=True))

    def message_params(self) -> dict[str, Any]:
        """What the outbox stores in ``Message.params`` for a provider to send from."""
        data: dict[str, Any] = {}
        if self.params:
            data["names"] = list(self.param_names)
            data["values"] = list(self.params)
        if self.provider_template_ids:
            data["template_ids"] = dict(self.provider_template_ids)
        if self.fields:
            data["fields"] = dict(self.fields)
        return data


@dataclass(frozen=True, slots=True)
class SmsLength:
    """Length of an SMS as the operator bills it: signature included, UCS-2 units."""

    chars: int
    segments: int


def sms_text(body: str, sign_name: str) -> str:
    """The SMS as the handset shows it: 【signature】 + body."""
    return f"【{sign_name}】{body}"


def measure_sms(body: str, sign_name: str) -> SmsLength:
    """70 chars in one segment, 67 per segment when split; astral characters count twice."""
    chars = len(sms_text(body, sign_name).encode("utf-16-le")) // 2
    if chars <= SMS_SINGLE_CHARS:
        return SmsLength(chars, 1 if chars else 0)
    return SmsLength(chars, math.ceil(chars / SMS_PART_CHARS))


def fill_placeholders(approved: str, values: Mapping[str, str]) -> str:
    """The approved text with each ``${name}`` replaced by its value."""
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], approved)


# ---------------------------------------------------------------- the sandbox


@dataclass(slots=True)
class _Budget:
    deadline: float
    steps_left: int
    limits: RenderLimits

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimitError(f"渲染超过 {self.limits.max_seconds} 秒上限，已中止")

    def step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise RenderLimitError(f"循环超过 {self.limits.max_loop_steps} 次上限，已中止")
        if self.steps_left & 0xFF == 0:
            self.tick()


# Renders are synchronous, so one budget per thread/task at a time; a ContextVar keeps
# concurrent renders in threads or tasks apart.
_BUDGET: ContextVar[_Budget | None] = ContextVar("hub_render_budget", default=None)


def _tick() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick()


class _InsertGuards(NodeTransformer):
    """Wrap every loop's iterable and every ``~`` concatenation in a guard call."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self.environment = environment

    def _guard(self, name: str, arg: nodes.Node) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), [arg], [], None, None)
        call.set_lineno(arg.lineno or 1)
        call.set_environment(self.environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._guard("hub_guard_loop", node.iter)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return self._guard("hub_guard_size", node)


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _InsertGuards(self.environment).visit(node)
        super().visit_Template(node, frame)


class HubSandbox(ImmutableSandboxedEnvironment):
    """The sandbox every template runs in; see the module docstring for what it caps."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, limits: RenderLimits = RenderLimits()) -> None:
        super().__init__(
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # plain-text messages, not HTML
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.limits = limits
        self.globals.pop("lipsum", None)  # generates text of any size on request
        for name, check in _FILTER_PRECHECKS.items():
            self.filters[name] = self._capped_filter(self.filters[name], check)

    # Every sandbox hook doubles as a clock check, so a long render stops at the deadline.
    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        return super().call(context, obj, *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        self._precheck_binop(operator, left, right)
        return self.hub_guard_size(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        self._check_format_widths(value.__self__)
        return wrapper

    def hub_guard_loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Count every loop step against the render's budget (inserted by the code generator)."""
        budget = _BUDGET.get()
        for item in iterable:
            if budget is not None:
                budget.step()
            yield item

    def hub_guard_size(self, value: Any) -> Any:
        """Refuse a string or list bigger than the cap (inserted around every ``~``)."""
        if isinstance(value, str | list | tuple) and len(value) > self.limits.max_value_chars:
            raise RenderLimitError(
                f"中间结果长度 {len(value)} 超过上限 {self.limits.max_value_chars}"
            )
        return value

    def _precheck_binop(self, operator: str, left: Any, right: Any) -> None:
        cap = self.limits.max_value_chars
        sized = (str, list, tuple)
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > self.limits.max_int_bits:
                    raise RenderLimitError("整数运算结果过大")
            else:
                seq, times = (left, right) if isinstance(left, sized) else (right, left)
                if isinstance(seq, sized) and isinstance(times, int) and len(seq) * times > cap:
                    raise RenderLimitError(f"重复后的长度超过上限 {cap}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > self.limits.max_int_bits:
                raise RenderLimitError("乘方结果过大")
        elif operator == "%" and isinstance(left, str):
            _check_printf(left, cap)
        elif (
            operator == "+"
            and isinstance(left, sized)
            and isinstance(right, sized)
            and len(left) + len(right) > cap
        ):
            raise RenderLimitError(f"拼接后的长度超过上限 {cap}")

    def _check_format_widths(self, fmt: str) -> None:
        cap = self.limits.max_value_chars
        for _text, _field, spec, _conv in string.Formatter().parse(fmt):
            if spec and ("{" in spec or any(int(n) > cap for n in re.findall(r"\d+", spec))):
                raise RenderLimitError(f"格式宽度超过上限 {cap}")

    def _capped_filter(
        self, func: Callable[..., Any], check: Callable[[int, tuple[Any, ...]], None]
    ) -> Callable[..., Any]:
        cap = self.limits.max_value_chars

        @wraps(func)  # keeps jinja's pass_eval_context/pass_environment marker
        def capped(*args: Any, **kwargs: Any) -> Any:
            check(cap, args + tuple(kwargs.values()))
            return self.hub_guard_size(func(*args, **kwargs))

        return capped


def _check_printf(fmt: str, cap: int) -> None:
    for width, precision in _PRINTF_WIDTH.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > cap):
                raise RenderLimitError(f"格式宽度超过上限 {cap}")


def _ints_at_most(cap: int, args: tuple[Any, ...]) -> None:
    # Filters' size arguments (center width, indent width, batch/slice counts) are ints;
    # a huge one allocates or loops before any other check could run.
    for arg in args:
        if isinstance(arg, int) and not isinstance(arg, bool) and abs(arg) > cap:
            raise RenderLimitError(f"过滤器参数 {arg} 超过上限 {cap}")
        if isinstance(arg, str) and arg.isdigit() and int(arg) > cap:
            raise RenderLimitError(f"过滤器参数 {arg} 超过上限 {cap}")


def _printf_filter(cap: int, args: tuple[Any, ...]) -> None:
    if args and isinstance(args[0], str):
        _check_printf(args[0], cap)


def _replace_filter(cap: int, args: tuple[Any, ...]) -> None:
    # do_replace(eval_ctx, s, old, new, count): estimate the result before building it.
    strings = [a for a in args if isinstance(a, str)]
    if len(strings) >= 3:
        s, old, new = strings[:3]
        grows = s.count(old) * max(len(new) - len(old), 0) if old else (len(s) + 1) * len(new)
        if len(s) + grows > cap:
            raise RenderLimitError(f"替换后的长度超过上限 {cap}")


_FILTER_PRECHECKS: dict[str, Callable[[int, tuple[Any, ...]], None]] = {
    "center": _ints_at_most,
    "indent": _ints_at_most,
    "batch": _ints_at_most,
    "slice": _ints_at_most,
    "wordwrap": _ints_at_most,
    "truncate": _ints_at_most,
    "format": _printf_filter,
    "replace": _replace_filter,
}


# ---------------------------------------------------------------- the renderer


@dataclass(frozen=True, slots=True)
class _Compiled:
    spec: TemplateSpec
    name: str
    body: jinja2.Template | None
    params: tuple[tuple[SmsParam, Any], ...]  # Any: jinja2's TemplateExpression
    param_module: jinja2.Template | None  # every parameter at once (the fast path)
    fields: tuple[tuple[str, jinja2.Template], ...]
    used: frozenset[str]  # names the template reads from its context


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
            # The file format lives in hub.templates, which builds on this module.
            from hub.templates import load_folder

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
            spec, name, body, tuple(params), module, tuple(fields), frozenset(used)
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
        token = _BUDGET.set(
            _Budget(time.monotonic() + limits.max_seconds, limits.max_loop_steps, limits)
        )
        where = compiled.name
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
                fields[field_name] = _fit(_one_line(text), WECHAT_FIELD_MAX_CHARS) if fit else text
        except RenderError:
            raise
        except Exception as exc:  # admins' templates can raise anything; translate it here
            line = error_line(exc, where.split(" ")[0])
            at = f"第 {line} 行" if line else ""
            raise RenderError(f"模板 {where} {at}{_explain(exc)}") from exc
        finally:
            _BUDGET.reset(token)
        ids: Mapping[str, str] = {}
        names: tuple[str, ...] = ()
        if spec.approved_sms and spec.sms is not None:
            names = tuple(p.name for p in spec.sms.params)
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

    def _param_values(self, compiled: _Compiled, values: Mapping[str, Any]) -> list[str]:
        raw: list[Any] | None = None
        if compiled.param_module is not None:
            try:
                module = compiled.param_module.make_module(dict(values))
                raw = [getattr(module, f"{_PARAM_VAR}{i}") for i in range(len(compiled.params))]
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
        spec = compiled.spec
        for var in spec.variables.values():
            if var.required and var.name in compiled.used and var.name not in context:
                raise RenderError(f"模板 {compiled.name} 缺少变量 {var.name}（{var.description}）")
        values = {
            v.name: v.default
            for v in spec.variables.values()
            if not v.required and v.name not in context
        }
        values.update(context)
        return values

    def _template(self, source: str, name: str) -> jinja2.Template:
        if len(source) > self.limits.max_source_chars:
            raise RenderError(f"模板 {name} 超过 {self.limits.max_source_chars} 字的长度上限")
        # Compiled under its own name so tracebacks (and error_line) point into it.
        code = self.env.compile(source, name=name, filename=name)
        return self.env.template_class.from_code(self.env, code, self.env.make_globals(None))

    def _run(self, template: jinja2.Template, values: Mapping[str, Any]) -> str:
        # Streamed, so a runaway output stops at the cap instead of being built first.
        cap = self.limits.max_chars * 2 + 1024  # slack for whitespace that strip() removes
        parts: list[str] = []
        size = 0
        for chunk in template.generate(values):
            size += len(chunk)
            if size > cap:
                raise RenderLimitError(f"输出超过 {self.limits.max_chars} 字上限，已中止")
            parts.append(chunk)
        return "".join(parts).strip()
