"""Strict readers for the JSON the SMS providers push, shared by their callback parsers (pure).

``json.loads`` recurses once per nesting level: ``[`` ×100,000 raises ``RecursionError``, which
no route expects (an unauthenticated 500), and a few hundred levels pass but break whatever
walks the stored ``raw`` later. The providers' documents are an array of flat objects, so
anything nested deeper than :data:`MAX_JSON_DEPTH` is refused as malformed. And
``str.isdigit`` is true for ``²`` and ``١``, which ``int`` then refuses or reads as another
number: :func:`ascii_digits` is the check for ids and times.
"""

from __future__ import annotations

import json
from typing import Any, Final

from hub.core.errors import UsageError

__all__ = ["MAX_JSON_DEPTH", "PayloadError", "ascii_digits", "load_json"]

MAX_JSON_DEPTH: Final = 8  # an array of objects is 2; a little room for nested extras


class PayloadError(UsageError):
    """A body that is not JSON, or is nested deeper than a provider ever sends."""


def load_json(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The decoded body; :class:`PayloadError` (in Chinese) when it is not usable."""
    try:
        data = json.loads(body)
    except RecursionError:
        raise PayloadError("请求体 JSON 嵌套过深") from None
    except ValueError:  # also UnicodeDecodeError, and integers of more than 4,300 digits
        raise PayloadError("请求体不是 JSON") from None
    if _depth(data, max_depth) > max_depth:
        raise PayloadError("请求体 JSON 嵌套过深")
    return data


def ascii_digits(text: str) -> bool:
    """Whether ``text`` is one or more of ``0``–``9`` (``"²".isdigit()`` is true)."""
    return text.isascii() and text.isdigit()


def _depth(data: Any, limit: int) -> int:
    """How deep ``data`` nests (a scalar is 0), walked without recursion; stops past ``limit``."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            value = list(value.values())
        if not isinstance(value, list):
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        pending.extend((item, depth + 1) for item in value)
    return deepest
