"""Template variables given as text (``hub send --set name=value``) turned into typed values.

A command line gives every value as text, but a template tests some of them: with the text
"false", ``{% if free_apply %}`` is true and the message tells an enterprise that a subsidy
needs no application. The type a variable takes is the YAML type meta.yaml gives it — its
``default``, else its ``example`` (``free_apply: {example: false, default: false}`` is a yes/no
variable, ``extra_workdays: {example: 5}`` a whole number):

- yes/no: ``true``/``false`` (any case) or ``是``/``否``; any other text is refused, naming the key;
- whole number: ``5``, ``-1``; a number with a fraction: ``2.5``; other text is refused;
- text (a text example, or none): kept as given;
- not declared at all: ``true``/``false`` (any case) are yes/no, anything else is text; ``是``
  and ``否`` stay text there, as they are ordinary words in a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from hub.core.errors import UsageError
from hub.rendering.template_spec import Variable

__all__ = ["declared_type", "type_label", "typed_variables"]

_TRUE: Final = frozenset({"true", "是"})
_FALSE: Final = frozenset({"false", "否"})
_TYPE_LABELS: Final[dict[type, str]] = {
    bool: "是非（true/false 或 是/否）",
    int: "整数",
    float: "数字",
}


def declared_type(variable: Variable) -> type | None:
    """``bool``, ``int`` or ``float`` when meta.yaml's default (else example) has that YAML
    type; ``None`` for a text variable."""
    sample = variable.default if variable.default is not None else variable.example
    # bool first: in Python a bool is also an int.
    for kind in (bool, int, float):
        if isinstance(sample, kind):
            return kind
    return None


def type_label(variable: Variable) -> str | None:
    """What ``hub send --help`` says a typed variable takes (``None`` for text)."""
    kind = declared_type(variable)
    return _TYPE_LABELS[kind] if kind is not None else None


def typed_variables(values: Mapping[str, str], declared: Iterable[Variable]) -> dict[str, Any]:
    """``values`` (name -> text) with each value converted as the module docstring says.

    ``declared`` are the variables the kind's templates declare (every channel's); a value
    that does not fit its variable's type raises :class:`UsageError` naming the key.
    """
    types = {v.name: declared_type(v) for v in declared}
    typed: dict[str, Any] = {}
    for name, text in values.items():
        if name not in types:
            lowered = text.strip().lower()
            typed[name] = lowered == "true" if lowered in ("true", "false") else text
        else:
            typed[name] = _convert(name, text, types[name])
    return typed


def _convert(name: str, text: str, kind: type | None) -> Any:
    if kind is None:
        return text
    cleaned = text.strip()
    if kind is bool:
        if cleaned.lower() in _TRUE:
            return True
        if cleaned.lower() in _FALSE:
            return False
    else:
        try:
            return int(cleaned) if kind is int else float(cleaned)
        except ValueError:
            pass
    raise UsageError(f"--set {name}={text}：变量 {name} 应为{_TYPE_LABELS[kind]}，收到“{text}”")
