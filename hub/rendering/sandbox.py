"""The sandbox every template renders in, and its caps: admins write templates, so no access.

Safety, because admins edit templates while the hub runs (every number is in
:class:`RenderLimits`): Jinja's ``ImmutableSandboxedEnvironment`` (no private
attributes, no mutating lists/dicts) with ``StrictUndefined`` (a missing variable is an error
naming it, never an empty string), and caps on

- output size (streamed, so a huge output fails before it is built), and everything a render
  prints anywhere, macros, ``{% set %}`` blocks and ``{% filter %}`` blocks included,
- render time: a deadline checked on every call, attribute or item access, intercepted
  operator, printed value and loop step — every ``for`` loop's iterable is wrapped at compile time.
  The cap is on the CPU time the render's thread spends: the cheap wall-clock check only says
  when to look at it, so a busy machine (a render descheduled for a while) never fails a real
  template; a render also stops at :data:`WALL_CEILING_S` of wall time whatever its CPU time,
- loop steps per render (across all loops, nested included),
- the size of any intermediate string, list or dict, estimated *before* it is built: every
  call (``str``/``bytes`` methods, context methods, globals), every filter, ``*``, ``+``,
  ``%``, ``~`` and ``str.format``. The estimates are in :mod:`hub.rendering.sizes`; a method or
  filter they do not describe is assumed to multiply its inputs, so growth is refused by
  rule, not by a list of known culprits. Integers are capped to a few thousand bits
  (``9 ** (9 ** 9)`` would not finish), and to the value cap when they are passed as a
  size (a width, a count, a length),
- template source size. ``range`` is Jinja's sandboxed one (at most 100,000 items) and
  ``lipsum`` is gone.

Time, loop steps and printed characters are counted against a budget that
:func:`render_budget` opens for one render.

Cost: these checks run on every render of every message, so the common case is cheap — plain
text is measured by its length (no walk), a filter's inputs get a quick upper bound and the
exact estimate only when that bound passes the cap, template text is counted with the value
printed beside it. Every cap is the same as with the exact sums.
"""

from __future__ import annotations

import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, Final

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.nodes import EvalContext
from jinja2.runtime import Context, Macro, markup_join, str_join
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer
from markupsafe import Markup

from hub.rendering.sizes import (
    FilterArguments,
    RenderLimitError,
    args_weight,
    bounded_items,
    estimate_within_inputs,
    filter_size,
    format_size,
    largest_int,
    method_size,
    printf_size,
    weight,
)

__all__ = ["MAX_OUTPUT_CHARS", "HubSandbox", "RenderLimitError", "RenderLimits", "render_budget"]

MAX_OUTPUT_CHARS = 4096


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """Caps on one render; the defaults leave real templates a wide margin (they take ~15 µs)."""

    max_chars: int = MAX_OUTPUT_CHARS
    max_seconds: float = 0.25
    max_loop_steps: int = 20_000
    max_value_chars: int = 65_536
    max_int_bits: int = 4_096
    max_source_chars: int = 20_000
    max_printed_chars: int = 262_144  # all a render prints, buffers included


#: A render's wall-clock limit whatever its CPU time (a machine stalled this long is not
#: rendering; the CPU cap ``max_seconds`` is what bounds a template's work).
WALL_CEILING_S: Final = 5.0


@dataclass(slots=True)
class _Budget:
    deadline: float
    """When to look at the CPU time next (monotonic): the CPU time left cannot be spent
    sooner."""
    steps_left: int
    printed_left: int
    limits: RenderLimits
    cpu_start: float = field(default_factory=time.thread_time)
    wall_end: float = field(default_factory=lambda: time.monotonic() + WALL_CEILING_S)

    def tick(self) -> None:
        now = time.monotonic()
        if now <= self.deadline:
            return
        spent = time.thread_time() - self.cpu_start
        if spent > self.limits.max_seconds or now > self.wall_end:
            raise RenderLimitError(f"渲染超过 {self.limits.max_seconds} 秒上限，已中止")
        # Waited, not worked (the thread was descheduled): look again when the CPU time left
        # could at the earliest be spent.
        self.deadline = now + (self.limits.max_seconds - spent)

    def step(self) -> None:
        self.steps_left -= 1
        if self.steps_left < 0:
            raise RenderLimitError(f"循环超过 {self.limits.max_loop_steps} 次上限，已中止")
        if self.steps_left & 0xFF == 0:
            self.tick()

    def overprinted(self) -> None:
        """Raise for ``printed_left`` below zero (the guards count into it inline)."""
        raise RenderLimitError(
            f"渲染输出（含宏与 set 块）超过 {self.limits.max_printed_chars} 字上限，已中止"
        )


_monotonic = time.monotonic

# Renders are synchronous, so one budget per thread/task at a time; a ContextVar keeps
# concurrent renders in threads or tasks apart.
_BUDGET: ContextVar[_Budget | None] = ContextVar("hub_render_budget", default=None)


class _BudgetScope:
    # A plain context manager: @contextmanager's generator cost a microsecond a render.
    __slots__ = ("limits", "token")

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits

    def __enter__(self) -> None:
        limits = self.limits
        budget = _Budget(
            _monotonic() + limits.max_seconds,
            limits.max_loop_steps,
            limits.max_printed_chars,
            limits,
        )
        self.token = _BUDGET.set(budget)

    def __exit__(self, *exc: object) -> None:
        _BUDGET.reset(self.token)


def render_budget(limits: RenderLimits) -> AbstractContextManager[None]:
    """Count the time, loop steps and printed text of the render inside the block."""
    return _BudgetScope(limits)


def _tick() -> None:
    # Inlined Budget.tick: it runs on every call, attribute, item and operator.
    budget = _BUDGET.get()
    if budget is not None and _monotonic() > budget.deadline:
        budget.tick()


_DICT_ATTRIBUTES = frozenset(dir(dict))  # a plain dict's attributes: all it has, no __dict__
# Values that are never a lazy iterator: the common arguments skip the ABC check.
_NOT_ITERATORS = frozenset(
    {str, int, float, bool, type(None), dict, list, tuple, Markup, EvalContext, Context}
)


class _InsertGuards(NodeTransformer):
    """Route every loop, ``~`` concatenation and printed value through the sandbox's guards."""

    def __init__(self, environment: jinja2.Environment) -> None:
        self.environment = environment

    def _guard(self, name: str, args: list[Any], lineno: int | None) -> nodes.Call:
        call = nodes.Call(nodes.EnvironmentAttribute(name), args, [], None, None)
        call.set_lineno(lineno or 1)
        call.set_environment(self.environment)
        return call

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = self._guard("hub_guard_loop", [node.iter], node.iter.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        # Measured before joining, not after: the parts are already built, the sum is not.
        self.generic_visit(node)
        return self._guard("hub_concat", list(node.nodes), node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        # Every printed piece counts once against the render, wherever it goes: the streamed
        # body, or a buffer (macro, {% set %} block, {% filter %}, call block, self.block())
        # that is joined into one string without the streaming cap.
        # The template's own text is counted with the first printed value (one call for
        # both); an output of text alone is counted by a statement (_GuardedCodeGenerator).
        self.generic_visit(node)
        text = sum(len(c.data) for c in node.nodes if isinstance(c, nodes.TemplateData))
        guarded: list[nodes.Expr] = []
        for child in node.nodes:
            if not isinstance(child, nodes.TemplateData):
                args = [child, nodes.Const(text)] if text else [child]
                child, text = self._guard("hub_guard_output", args, child.lineno), 0
            guarded.append(child)
        node.nodes = guarded
        return node


def _is_guard(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Call)
        and isinstance(node.node, nodes.EnvironmentAttribute)
        and node.node.name.startswith("hub_")
    )


class _GuardedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _InsertGuards(self.environment).visit(node)
        super().visit_Template(node, frame)

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        # Template text printed with no value beside it: counted by a statement, not by a
        # call yielding an empty string (the text with values is counted by their guard).
        text = 0
        if not any(_is_guard(c) for c in node.nodes):
            text = sum(len(c.data) for c in node.nodes if isinstance(c, nodes.TemplateData))
        if text and not (frame.require_output_check and self.has_known_extends):
            if frame.require_output_check:
                self.writeline("if parent_template is None:")
                self.indent()
            self.writeline(f"environment.hub_count_text({text})")
            if frame.require_output_check:
                self.outdent()
        super().visit_Output(node, frame)

    # A guard returns ``str`` already: printed as it is, without Jinja's ``str(...)`` around.
    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not self._plain_guard(node, frame, finalize):
            super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not self._plain_guard(node, frame, finalize):
            super()._output_child_post(node, frame, finalize)

    @staticmethod
    def _plain_guard(node: nodes.Expr, frame: Frame, finalize: Any) -> bool:
        volatile, escaping = frame.eval_ctx.volatile, frame.eval_ctx.autoescape
        return _is_guard(node) and not volatile and not escaping and finalize.src is None

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        # The inserted guards are the sandbox's own methods: called directly, not through
        # the sandboxed ``call`` hook (they run on every printed value).
        if _is_guard(node):
            assert isinstance(node.node, nodes.EnvironmentAttribute)
            self.write(f"environment.{node.node.name}(")
            for i, arg in enumerate(node.args):
                self.write(", " if i else "")
                self.visit(arg, frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)


def capped_range(*args: int) -> range:
    """Jinja's sandboxed ``range`` (lazy, at most 100,000 items), refused in Chinese."""
    numbers = range(*args)
    try:
        too_many = len(numbers) > MAX_RANGE
    except OverflowError:  # more items than an index can hold
        too_many = True
    if too_many:
        raise RenderLimitError(f"range 超过 {MAX_RANGE} 项上限")
    return numbers


class _SizedFormat:
    """``str.format``/``format_map`` as the sandbox hands it out: measured before it runs."""

    def __init__(self, sandbox: HubSandbox, method: Any, wrapper: Callable[..., str]) -> None:
        self.sandbox, self.text, self.wrapper = sandbox, method.__self__, wrapper
        self.is_map = method.__name__ == "format_map"

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        cap = self.sandbox.limits.max_value_chars
        if self.is_map and len(args) == 1 and not kwargs:
            size = format_size(self.text, (), args[0], cap)
        else:
            size = format_size(self.text, args, kwargs, cap)
        if size > cap:
            raise RenderLimitError(f"格式化后的长度超过上限 {cap}")
        return self.wrapper(*args, **kwargs)


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
        self.globals["range"] = capped_range
        for name, func in list(self.filters.items()):
            self.filters[name] = self._capped_filter(name, func)

    # Every sandbox hook doubles as a clock check, so a long render stops at the deadline.
    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        if isinstance(obj, Macro | _SizedFormat):
            # A macro's text is counted as it prints; format measures its own arguments.
            return super().call(context, obj, *args, **kwargs)
        cap = self.limits.max_value_chars
        args = self._materialized_all(args)
        if kwargs:
            kwargs = {k: self._materialized(v) for k, v in kwargs.items()}
        owner = getattr(obj, "__self__", None)
        if isinstance(obj, types.BuiltinMethodType) and isinstance(owner, str | bytes):
            if obj.__name__ == "join" and len(args) == 1 and not kwargs:
                args = (bounded_items(args[0], cap, per_item=len(owner)),)
            elif method_size(owner, obj.__name__, args, kwargs, cap) > cap:
                raise RenderLimitError(
                    f"{type(owner).__name__}.{obj.__name__}() 的结果将超过上限 {cap}"
                )
        elif (
            owner is not None
            and not isinstance(owner, Mapping | list | tuple)
            and largest_int([*args, *kwargs.values()]) > cap
        ):
            # A number handed to a value's method is a size more often than not
            # (int.to_bytes(600000000)): beyond the cap it is refused. A lookup's default
            # (dict.get) and a global's argument (dict(amount=1500000)) are values, not sizes.
            name = f"{type(owner).__name__}.{getattr(obj, '__name__', '?')}"
            raise RenderLimitError(f"{name}() 的整数参数超过上限 {cap}")
        return self._checked(super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            # What Jinja does for ``enterprise.name`` (the attribute lookup fails, the key is
            # used), without raising and catching an AttributeError on every access.
            try:
                return obj[attribute]
            except (TypeError, LookupError):
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        self._precheck_binop(operator, left, right)
        return self._checked(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        return None if wrapper is None else _SizedFormat(self, value, wrapper)

    def hub_guard_loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """Count every loop step against the render's budget (inserted by the code generator)."""
        budget = _BUDGET.get()
        for item in iterable:
            if budget is not None:
                budget.step()
            yield item

    def hub_concat(self, *parts: Any) -> str:
        """``a ~ b ~ c``, refused before joining when the parts together pass the cap."""
        cap = self.limits.max_value_chars
        chars = 0
        for part in parts:
            if type(part) is not str:
                break
            chars += len(part)
        else:  # all plain text (the usual case): the weight is the length
            if chars > cap:
                raise RenderLimitError(f"拼接后的长度超过上限 {cap}")
            return "".join(parts)
        if args_weight(parts, cap) > cap:
            raise RenderLimitError(f"拼接后的长度超过上限 {cap}")
        joined: str = (
            markup_join(parts) if any(hasattr(p, "__html__") for p in parts) else str_join(parts)
        )
        return joined

    def hub_count_text(self, chars: int) -> None:
        """Count template text printed with no value beside it (inserted by the code generator)."""
        budget = _BUDGET.get()
        if budget is not None:
            budget.printed_left -= chars
            if budget.printed_left < 0:
                budget.overprinted()

    def hub_guard_output(self, value: Any, text_chars: int = 0) -> str:
        """A printed value as text, counted against everything the render prints, together
        with the template text (``text_chars``) printed beside it."""
        if type(value) is str:
            text = value
        else:
            cap = self.limits.max_value_chars
            if not isinstance(value, str) and weight(value, cap) > cap:
                raise RenderLimitError(f"输出的值长度超过上限 {cap}")
            text = str(value)
        budget = _BUDGET.get()
        if budget is not None:
            budget.printed_left -= len(text) + text_chars
            if budget.printed_left < 0:
                budget.overprinted()
        return text

    def _materialized_all(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        for arg in args:
            if type(arg) not in _NOT_ITERATORS and isinstance(arg, Iterator):
                return tuple(self._materialized(a) for a in args)
        return args

    def _materialized(self, value: Any) -> Any:
        # A generator handed on (range|map('center', 50000)) is drained only up to the cap.
        if isinstance(value, Iterator):
            return bounded_items(value, self.limits.max_value_chars)
        return value

    def _checked(self, value: Any) -> Any:
        """Refuse a result over the cap (the estimates are bounds; this holds them to it)."""
        cap = self.limits.max_value_chars
        kind = type(value)
        if kind is str or kind is bytes:  # O(1): the length is the weight
            if len(value) > cap:
                raise RenderLimitError(f"中间结果长度超过上限 {cap}")
        elif isinstance(value, str | bytes | list | tuple | dict) and weight(value, cap) > cap:
            raise RenderLimitError(f"中间结果长度超过上限 {cap}")
        return value

    def _precheck_binop(self, operator: str, left: Any, right: Any) -> None:
        cap = self.limits.max_value_chars
        sized = (str, bytes, list, tuple)
        if operator == "*":
            if isinstance(left, int) and isinstance(right, int):
                if left.bit_length() + right.bit_length() > self.limits.max_int_bits:
                    raise RenderLimitError("整数运算结果过大")
            else:
                seq, times = (left, right) if isinstance(left, sized) else (right, left)
                if (
                    isinstance(seq, sized)
                    and isinstance(times, int)
                    and weight(seq, cap) * max(times, 0) > cap
                ):
                    raise RenderLimitError(f"重复后的长度超过上限 {cap}")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int):
            if right > 0 and max(left.bit_length(), 1) * right > self.limits.max_int_bits:
                raise RenderLimitError("乘方结果过大")
        elif operator == "%" and isinstance(left, str | bytes):
            if printf_size(str(left), right, cap) > cap:
                raise RenderLimitError(f"格式化后的长度超过上限 {cap}")
        elif (
            operator == "+"
            and isinstance(left, sized)
            and isinstance(right, sized)
            and args_weight((left, right), cap) > cap
        ):
            raise RenderLimitError(f"拼接后的长度超过上限 {cap}")

    def _capped_filter(self, name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        """``func`` measured before it runs (:func:`hub.rendering.sizes.filter_size`) and after."""
        passed = 1 if _PassArg.from_obj(func) is not None else 0  # the context Jinja passes
        arguments = FilterArguments(func, passed)
        cap = self.limits.max_value_chars
        defaults = args_weight(arguments.defaults.values(), cap)

        @wraps(func)  # keeps jinja's pass_eval_context/pass_environment marker
        def capped(*args: Any, **kwargs: Any) -> Any:
            _tick()
            args = self._materialized_all(args)
            given = args[passed:] if passed else args
            # A cheap bound on the inputs first: every argument and default, plus what
            # packing ``*args`` into a tuple and ``**kwargs`` into a dict adds to their weight
            # (2 per item, keys, brackets). Under the cap, so is the exact input weight, and
            # so is the estimate when it cannot pass the inputs (a linear filter, a replace
            # that shortens); the exact sums run only near the cap or for a filter that grows.
            bound = defaults + args_weight(given, cap) + 2 * len(given) + 4
            if kwargs:
                bound += args_weight(kwargs, cap) + args_weight(kwargs.values(), cap)
                bound += 4 * len(kwargs) + 4
            if bound > cap or not estimate_within_inputs(name, given, kwargs):
                value, params = arguments.split(args, kwargs)
                if bound > cap and weight(value, cap) + args_weight(params.values(), cap) > cap:
                    raise RenderLimitError(f"过滤器 {name} 的输入长度超过上限 {cap}")
                if filter_size(name, value, params, cap) > cap:
                    raise RenderLimitError(f"过滤器 {name} 的参数使结果超过上限 {cap}")
            return self._checked(func(*args, **kwargs))

        return capped
