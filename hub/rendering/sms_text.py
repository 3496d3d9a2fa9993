"""SMS text as operators and providers see it: placeholders, length in segments, size caps.

An approved provider template is written with ``${name}`` placeholders (Aliyun's form; see
:class:`~hub.rendering.template_spec.SmsSpec` for Tencent's ``{1}``…). Operators bill by segment: 70
UCS-2 units fit in one, 67 per segment once split, the 【signature】 included. What the SMS
providers accept (the longest text, a variable's default cap) is their channels' ``limits``, read
through :mod:`channels.registry`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from channels.registry import channel_limits, required

SMS_SINGLE_CHARS = 70  # one segment, signature included
SMS_PART_CHARS = 67  # per segment once split (the rest carries the concatenation header)
# Tencent and Aliyun refuse longer messages outright.
SMS_MAX_CHARS = required(channel_limits("sms").max_text_chars, "SMS text")
# Aliyun's default for a notification variable; longer needs approval.
SMS_PARAM_MAX_CHARS = required(channel_limits("sms").template_param_max_chars, "SMS variable")

PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


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


@dataclass(frozen=True, slots=True)
class Placeholders:
    """An approved text turned once into a ``str.format`` pattern, each ``${name}`` the
    position of its value among the template's parameters: filling it per message is one C
    call, not a regular-expression pass with a Python call per placeholder."""

    pattern: str

    @classmethod
    def split(cls, approved: str, names: Sequence[str]) -> Placeholders | None:
        """The pattern; None when a placeholder is not among ``names`` (then
        :func:`fill_placeholders` is the one to run, and say which)."""
        order = {name: i for i, name in enumerate(names)}
        pieces = PLACEHOLDER.split(approved)  # text, name, text, name, ..., text
        parts = []
        for i, piece in enumerate(pieces):
            if i % 2 == 0:  # literal text: its braces doubled so format leaves them alone
                parts.append(piece.replace("{", "{{").replace("}", "}}"))
            elif piece in order:
                parts.append(f"{{{order[piece]}}}")
            else:
                return None
        return cls("".join(parts))

    def fill(self, values: Sequence[str]) -> str:
        """The text with each placeholder replaced by its parameter's value."""
        return self.pattern.format(*values)
