"""How big a template value is when printed, and how big a call's result can get — known
*before* the call, so the sandbox (:mod:`hub.rendering.sandbox`) refuses a string or list that
would take hundreds of MB instead of building it first.

One measure for every value, :func:`weight`: the characters it takes when printed, lists and
dicts with their items (a list of one 60,000-character string repeated 60,000 times is cheap to
build but 3.6 GB to print or join). The estimators below are upper bounds of a result's weight
from the weights of the arguments; the sandbox compares them with the cap. The rule is generic:
a ``str``/``bytes`` method or filter not named here is assumed to multiply its inputs
(``(self + 1) × (1 + other arguments) × largest int argument``), so a method a future Python
adds is refused when that product is large, not trusted. The named ones only get a tighter,
exact bound (``ljust`` is ``max(len, width)``, not a product).
"""

from __future__ import annotations

import inspect
import re
import string
from collections.abc import Callable, ItemsView, Iterable, KeysView, Mapping, ValuesView
from itertools import chain
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.utils import Namespace

OTHER_WEIGHT = 64  # an object the sandbox cannot look into (a date, a loop, a macro) when printed
FLOAT_CHARS = 330  # '{:f}'.format(1e308) prints 309 digits
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.DOTALL)

MethodSize = Callable[[Any, tuple[Any, ...], dict[str, Any], int], int]
FilterSize = Callable[[Any, dict[str, Any], int], int]


class RenderLimitError(SecurityError):
    """A template hit a cap (time, loop steps, size): it is stopped, not left to run."""


def weight(value: Any, limit: int) -> int:
    """Characters ``value`` takes when printed, items included, counted up to ``limit + 1``.

    Shared items count every time they appear (printing repeats them), but are walked once,
    and the walk stops as soon as ``limit`` is passed, so this costs at most ``limit`` steps.
    """
    kind = type(value)
    if kind is str or kind is bytes:  # the common case, O(1): no walk, no closure
        return min(len(value), limit + 1)
    if kind is list or kind is tuple:  # a list of plain text (tags): the walk below, inlined
        total = 2
        for item in value:
            if type(item) is not str:
                break
            total += len(item) + 2
            if total > limit:
                return limit + 1
        else:
            return total
    seen: dict[int, int] = {}

    def measure(item: Any) -> int:
        if isinstance(item, str | bytes | bytearray):
            return len(item)
        if item is None or isinstance(item, bool):
            return 5
        if isinstance(item, int):
            return item.bit_length() * 3 // 10 + 2  # decimal digits and a sign
        if isinstance(item, float):
            return 24
        key = id(item)
        if key in seen:
            return seen[key]
        seen[key] = limit + 1  # a value that contains itself counts as too big
        parts: Iterable[Any]
        if isinstance(item, Mapping):
            parts = chain.from_iterable(item.items())
        elif isinstance(item, Namespace):
            parts = chain.from_iterable(object.__getattribute__(item, "_Namespace__attrs").items())
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            parts = item
        else:
            seen[key] = OTHER_WEIGHT
            return OTHER_WEIGHT
        total = 2
        for part in parts:
            total += measure(part) + 2
            if total > limit:
                break
        seen[key] = min(total, limit + 1)
        return seen[key]

    return min(measure(value), limit + 1)


def args_weight(args: Iterable[Any], limit: int) -> int:
    """The weight of several arguments together, up to ``limit + 1``."""
    total = 0
    for arg in args:
        total += len(arg) if type(arg) is str else weight(arg, limit)
        if total > limit:
            return limit + 1
    return total


def largest_int(args: Iterable[Any]) -> int:
    """The largest size an int argument asks for (0 when there is none)."""
    sizes = [abs(a) for a in args if isinstance(a, int) and not isinstance(a, bool)]
    return max(sizes, default=0)


def bounded_items(iterable: Iterable[Any], limit: int, per_item: int = 0) -> list[Any]:
    """The items of ``iterable`` as a list, refused as soon as their weight (plus ``per_item``
    each, e.g. a separator) passes ``limit`` — a generator is never drained past the cap."""
    items = list(iterable) if isinstance(iterable, str | bytes) else []
    if items:
        if len(items) * (1 + per_item) > limit:
            raise RenderLimitError(f"拼接后的长度超过上限 {limit}")
        return items
    total = 0
    for item in iterable:
        total += weight(item, limit) + per_item
        if total > limit:
            raise RenderLimitError(f"拼接后的长度超过上限 {limit}")
        items.append(item)
    return items


def _value_chars(value: Any, limit: int) -> int:
    # What one formatted value can print: a float in fixed notation is hundreds of digits.
    return FLOAT_CHARS if isinstance(value, float) else weight(value, limit)


def printf_size(fmt: str, values: Any, limit: int) -> int:
    """Upper bound of ``fmt % values``: the text plus, per conversion, its width and value."""
    if isinstance(values, Mapping):
        pool = list(values.values())
    else:
        pool = list(values) if isinstance(values, tuple) else [values]
    widest_value = max((_value_chars(v, limit) for v in pool), default=0)
    star_width = largest_int(pool)  # '%*s' takes its width from the values
    total = len(fmt)
    for width, precision, conversion in _PRINTF.findall(fmt):
        if conversion == "%":
            continue
        sizes = [star_width if n == "*" else int(n) if n else 0 for n in (width, precision)]
        if max(sizes) > limit:
            raise RenderLimitError(f"格式宽度超过上限 {limit}")
        total += sum(sizes) + widest_value
        if total > limit:
            return limit + 1
    return total


def format_size(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], limit: int) -> int:
    """Upper bound of ``fmt.format(*args, **kwargs)``: per field, its width and widest value."""
    widest_value = max((_value_chars(v, limit) for v in chain(args, kwargs.values())), default=0)
    total = len(fmt)
    for _text, field, spec, _conversion in string.Formatter().parse(fmt):
        if field is None:
            continue
        if spec and "{" in spec:  # a width taken from the arguments: '{:{}}'.format(x, 10**9)
            widths = [largest_int(chain(args, kwargs.values()))]
        else:
            widths = [int(n) for n in re.findall(r"\d+", spec or "")]
        if max(widths, default=0) > limit:
            raise RenderLimitError(f"格式宽度超过上限 {limit}")
        total += sum(widths) + widest_value
        if total > limit:
            return limit + 1
    return total


# ------------------------------------------------------------------ str and bytes methods


def _padded(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    return max(len(text), largest_int(chain(args, kwargs.values())))


def _expandtabs(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    tabsize = largest_int(chain(args, kwargs.values())) if args or kwargs else 8
    tabs: int = text.count("\t" if isinstance(text, str) else b"\t")
    return len(text) + tabs * tabsize


def replace_size(text: Any, old: Any, new: Any, count: Any = -1) -> int:
    """Upper bound of ``text.replace(old, new, count)`` (an empty ``old`` matches everywhere)."""
    if not isinstance(old, str | bytes) or not isinstance(new, str | bytes):
        return len(text)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new) - len(old), 0)


def _replace(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    values = [*args, *kwargs.values()]
    return replace_size(text, *values[:3]) if len(values) >= 2 else len(text)


def _translate(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    table = args[0] if args else next(iter(kwargs.values()), None)
    if isinstance(table, Mapping):
        longest = max((weight(v, limit) for v in table.values()), default=1)
    else:
        longest = 1  # bytes.translate's table maps a byte to a byte
    return len(text) * max(longest, 1)


def _linear(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    # Case changes, strip, split, search, encode: a small multiple of the text at most.
    return len(text) + args_weight(chain(args, kwargs.values()), limit)


def unknown_size(base: int, others: int, biggest_int: int) -> int:
    """The bound for a call nobody described: everything multiplies everything."""
    return (base + 1) * (1 + others) * max(1, biggest_int)


def _unknown(text: Any, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int) -> int:
    others = chain(args, kwargs.values())
    biggest = largest_int(chain(args, kwargs.values()))
    return unknown_size(len(text), args_weight(others, limit), biggest)


_LINEAR_METHODS = frozenset(
    [
        "capitalize",
        "casefold",
        "count",
        "decode",
        "encode",
        "endswith",
        "find",
        "hex",
        "index",
        "isalnum",
        "isalpha",
        "isascii",
        "isdecimal",
        "isdigit",
        "isidentifier",
        "islower",
        "isnumeric",
        "isprintable",
        "isspace",
        "istitle",
        "isupper",
        "lower",
        "lstrip",
        "partition",
        "removeprefix",
        "removesuffix",
        "rfind",
        "rindex",
        "rpartition",
        "rsplit",
        "rstrip",
        "split",
        "splitlines",
        "startswith",
        "strip",
        "swapcase",
        "title",
        "upper",
    ]
)
_METHOD_SIZES: dict[str, MethodSize] = {
    "ljust": _padded,
    "rjust": _padded,
    "center": _padded,
    "zfill": _padded,
    "expandtabs": _expandtabs,
    "replace": _replace,
    "translate": _translate,
    **dict.fromkeys(_LINEAR_METHODS, _linear),
}


def method_size(
    text: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], limit: int
) -> int:
    """Upper bound of ``text.<name>(*args, **kwargs)`` for a ``str``/``bytes`` method;
    ``join`` and ``format`` are measured by the sandbox, which has their items at hand."""
    return _METHOD_SIZES.get(name, _unknown)(text, args, kwargs, limit)


# ------------------------------------------------------------------ filters


class FilterArguments:
    """A filter's arguments by parameter name, defaults filled in (what the estimates read).

    ``inspect.Signature.bind`` does the same at a few times the cost, on every filter call.
    """

    def __init__(self, func: Callable[..., Any], passed: int) -> None:
        params = list(inspect.signature(func).parameters.values())
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.positional = [p.name for p in params if p.kind in kinds]
        self.rest = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), None)
        self.keywords = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
        self.defaults = {
            p.name: p.default for p in params[passed + 1 :] if p.default is not p.empty
        }
        self.passed = passed
        self.named = frozenset(self.positional)
        self.leading = tuple(self.positional[: passed + 1])  # the context and the value

    def split(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The filtered value and the other arguments (``*args``/``**kwargs`` under their names)."""
        params = self.defaults.copy()
        params.update(zip(self.positional, args, strict=False))
        if self.rest is not None:
            params[self.rest] = args[len(self.positional) :]
        named = self.named
        if self.keywords is not None:
            params[self.keywords] = {k: v for k, v in kwargs.items() if k not in named}
        if kwargs:
            params.update((k, v) for k, v in kwargs.items() if k in named or self.keywords is None)
        for name in self.leading:
            params.pop(name, None)
        value = args[self.passed] if len(args) > self.passed else None
        return value, params


# Each takes the filter's value and its other arguments by parameter name (defaults applied).


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)  # weighed first: never huge


def _center(value: Any, params: dict[str, Any], limit: int) -> int:
    return max(weight(value, limit), largest_int([params.get("width")]))


def _indent(value: Any, params: dict[str, Any], limit: int) -> int:
    width = params.get("width", 4)
    per_line = len(width) if isinstance(width, str) else largest_int([width])
    return weight(value, limit) + (_as_text(value).count("\n") + 1) * per_line


def _wordwrap(value: Any, params: dict[str, Any], limit: int) -> int:
    text = _as_text(value)
    wrap = params.get("wrapstring") or "\n"
    width = largest_int([params.get("width")]) or 1
    breaks = len(text) // width + text.count(" ") + text.count("\n") + 1
    return len(text) + breaks * weight(wrap, limit)


def _replace_filter(value: Any, params: dict[str, Any], limit: int) -> int:
    count = params.get("count")
    return replace_size(
        _as_text(value), params.get("old"), params.get("new"), -1 if count is None else count
    )


def _format_filter(value: Any, params: dict[str, Any], limit: int) -> int:
    return printf_size(_as_text(value), params.get("kwargs") or params.get("args", ()), limit)


def _join_filter(value: Any, params: dict[str, Any], limit: int) -> int:
    separator = weight(params.get("d", ""), limit)
    items = value if isinstance(value, list | tuple | str) else ()
    return args_weight(items, limit) + len(items) * separator


def _tojson(value: Any, params: dict[str, Any], limit: int) -> int:
    indent = params.get("indent")
    step = len(indent) if isinstance(indent, str) else largest_int([indent])
    return weight(value, limit) * (6 + step)  # \uXXXX escapes; one indented line per item


def _padding(value: Any, params: dict[str, Any], limit: int) -> int:
    # batch/slice pad with fill_with up to a count the template chooses.
    count = largest_int([params.get("linecount"), params.get("slices")])
    return weight(value, limit) + count * (weight(params.get("fill_with"), limit) + 2)


def _linear_filter(value: Any, params: dict[str, Any], limit: int) -> int:
    return weight(value, limit) + args_weight(params.values(), limit)


def _unknown_filter(value: Any, params: dict[str, Any], limit: int) -> int:
    others = args_weight(params.values(), limit)
    return unknown_size(weight(value, limit), others, largest_int(params.values()))


_LINEAR_FILTERS = frozenset(
    [
        "abs",
        "attr",
        "capitalize",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "filesizeformat",
        "first",
        "float",
        "forceescape",
        "groupby",
        "int",
        "items",
        "last",
        "length",
        "list",
        "lower",
        "map",
        "max",
        "min",
        "pprint",
        "random",
        "reject",
        "rejectattr",
        "reverse",
        "round",
        "safe",
        "select",
        "selectattr",
        "sort",
        "string",
        "striptags",
        "sum",
        "title",
        "trim",
        "truncate",
        "unique",
        "upper",
        "urlencode",
        "wordcount",
        "xmlattr",
    ]
)
_FILTER_SIZES: dict[str, FilterSize] = {
    "center": _center,
    "indent": _indent,
    "wordwrap": _wordwrap,
    "replace": _replace_filter,
    "format": _format_filter,
    "join": _join_filter,
    "tojson": _tojson,
    "batch": _padding,
    "slice": _padding,
    **dict.fromkeys(_LINEAR_FILTERS, _linear_filter),
}


def filter_size(name: str, value: Any, params: dict[str, Any], limit: int) -> int:
    """Upper bound of the weight of ``value | name(**params)``; a filter not described here
    (``urlize``, one a later Jinja adds) gets the product bound."""
    return _FILTER_SIZES.get(name, _unknown_filter)(value, params, limit)


def estimate_within_inputs(name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
    """Whether this call's estimate is at most its inputs' weight without computing it: a
    linear filter, or text ``replace`` with a ``new`` no longer than ``old`` (the phone
    number's ``replace("+86", "")`` in every message). ``args`` start at the filtered value."""
    size = _FILTER_SIZES.get(name)
    if size is _linear_filter:
        return True
    if size is _replace_filter and not kwargs and 3 <= len(args) <= 4:
        text, old, new = args[:3]
        return type(text) is str and type(old) is str and type(new) is str and len(new) <= len(old)
    return False
