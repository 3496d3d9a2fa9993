"""The sandbox every template renders in, and its caps: admins write templates, so no access.

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

Time and loop steps are counted against a budget that :func:`render_budget` opens for one
render.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import wraps
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_OUTPUT_CHARS = 4096

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


@contextmanager
def render_budget(limits: RenderLimits) -> Iterator[None]:
    """Count the time and loop steps of the render inside the block against ``limits``."""
    token = _BUDGET.set(
        _Budget(time.monotonic() + limits.max_seconds, limits.max_loop_steps, limits)
    )
    try:
        yield
    finally:
        _BUDGET.reset(token)


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
