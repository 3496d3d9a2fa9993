"""Text helpers shared by the reply classifiers: normalisation, trimming, Chinese numerals.

Everything here is pure and cheap: the patterns are compiled once, at import.
"""

from __future__ import annotations

import re

# normalise moved to hub.core.folding (retrieval for smart answers folds the same way).
from hub.core.folding import normalise as normalise

# Punctuation people put around a short answer ("5。", "“退订”", "不满意!"). Not "-" or "+":
# "-5" is not a five.
EDGE_CHARS = " .,;:!?~。、;；…·'\"“”‘’「」『』()【】[]<>《》"
# Separators between the parts of a short answer: punctuation (NFKC has already turned the
# full-width ，！？：； into ASCII) and the ideographic 。、.
SEPARATOR_CLASS = r"[,.;:!?~。、…]"

COURTESY_MAX_CHARS = 64
_COURTESY = (
    r"(?:(?:谢谢|感谢)(?:你们|您|你)?(?:的(?:帮助|支持|帮忙|服务))?(?:啦|了)?|多谢"
    r"|辛苦(?:你们|您|你)?了?|thanks?|thx)"
)
_LEADING_COURTESY = re.compile(rf"^(?:{_COURTESY}[\s,.;:!?~。、…]*)+", re.IGNORECASE)
_TRAILING_COURTESY = re.compile(rf"(?:[\s,.;:!?~。、…]*{_COURTESY})+$", re.IGNORECASE)

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_CN_DIGITS |= {"七": 7, "八": 8, "九": 9}

#: A number as people write a day or an hour: 1–2 ASCII digits or Chinese numerals up to 99.
NUMBER = r"(?:\d{1,2}|[一二两三四五六七八九十]{1,3})"


def trim(text: str) -> str:
    """The text without the punctuation and spaces around it."""
    return text.strip(EDGE_CHARS)


def strip_courtesy(text: str) -> str:
    """The text without a leading or trailing 谢谢 / 感谢 / 辛苦了 (and the punctuation).

    Only short texts are answers worth stripping; a long one is returned as it is.
    """
    if len(text) > COURTESY_MAX_CHARS:
        return text
    text = _TRAILING_COURTESY.sub("", text)
    return trim(_LEADING_COURTESY.sub("", text))


def parse_number(text: str) -> int | None:
    """1–2 ASCII digits or a Chinese numeral 零…九十九 as an int; None for anything else."""
    if text.isascii():
        return int(text) if text.isdigit() else None
    if "十" not in text:
        return _CN_DIGITS.get(text) if len(text) == 1 else None
    tens_text, _, ones_text = text.partition("十")
    if "十" in ones_text or len(tens_text) > 1 or len(ones_text) > 1:
        return None
    tens = _CN_DIGITS.get(tens_text, -1) if tens_text else 1
    ones = _CN_DIGITS.get(ones_text, -1) if ones_text else 0
    if tens < 1 or ones < 0:  # "零十" or a character that is not a digit
        return None
    return tens * 10 + ones
