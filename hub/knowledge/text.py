"""A question as retrieval reads it: folded (NFKC, full-width to half-width, lower case) and
without the greetings and sign-offs people wrap it in (您好，请问…？谢谢！).

Pure and cheap; the patterns are compiled once, at import.
"""

from __future__ import annotations

import re

from hub.core.folding import normalise

__all__ = ["fold", "question_text", "strip_greetings"]

# Punctuation and spaces between a greeting and the question (NFKC has turned the full-width
# ，！？：； into ASCII; the ideographic 。、 stay).
_GAP = r"[\s,.;:!?~。、…·'\"“”‘’()【】\[\]-]*"
_EDGE = " ,.;:!?~。、…·'\"“”‘’"
_LEADING = (
    r"(?:(?:您|你|你们|大家|老师|领导|同志|工作人员)好(?:呀|啊)?|hello|hi|喂|哈喽|嗨|在吗|在不在|有人吗"
    r"|打扰(?:了|一下|您了)?|不好意思|(?:我)?(?:想|要)?(?:请问|请教)(?:一下)?"
    r"|麻烦(?:您|你)?(?:问|咨询|请教)?(?:一下)?|(?:我)?(?:想|要)(?:问|咨询|了解|请教)(?:一下)?"
    r"|(?:咨询|问)(?:一下|个问题|一个问题)|(?:我)?有个问题(?:想问)?|早上好|上午好|下午好|晚上好)"
)
_TRAILING = (
    r"(?:(?:谢谢|感谢)(?:你们|您|你)?(?:了|啦)?|多谢|辛苦(?:你们|您|你)?了?|麻烦(?:您|你)?了"
    r"|拜托(?:了|啦)?|在线等|急|急急急|thanks?|thx|ok)"
)
_LEADING_RE = re.compile(rf"^(?:{_GAP}{_LEADING}{_GAP})+", re.IGNORECASE)
_TRAILING_RE = re.compile(rf"(?:{_GAP}{_TRAILING}{_GAP})+$", re.IGNORECASE)


def fold(text: str) -> str:
    """NFKC (full-width folded to half-width), invisible marks dropped, spaces collapsed,
    Latin letters in lower case: the form every text of the library and every question is
    read in."""
    return normalise(text).lower()


def strip_greetings(text: str) -> str:
    """The folded text without a leading 您好/请问/麻烦问一下… or a trailing 谢谢/辛苦了….

    A text that is nothing but courtesy comes back empty: there is no question to answer.
    """
    stripped = _TRAILING_RE.sub("", _LEADING_RE.sub("", text))
    return stripped.strip(_EDGE)


def question_text(text: str) -> str:
    """What retrieval matches: the question folded and stripped of greetings."""
    return strip_greetings(fold(text))
