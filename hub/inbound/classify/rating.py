"""Satisfaction ratings (好差评) in a typed reply: which forms are a rating, and which level.

Accepted forms (the whole reply, after normalisation, trimming and a courtesy 谢谢):

- a digit 1–5 alone ("5", "５", "⑤", "5️⃣", "5。") or a Chinese numeral 一…五 alone;
- one of the five words of docs/design.md, exactly: 非常满意 5, 满意 4, 基本满意 3, 不满意 2,
  非常不满意 1 (matched as whole strings, so "不满意" is never read as "满意");
- the prompt's own option, digit and word together when they agree ("5 非常满意", "满意4");
- a score: "5分", "五分", "5星", "五星", "五星好评", "打5分", "评分:5";
- stars: "★★★★☆" (4), "⭐⭐⭐" (3);
- any of those, then a separator and a comment ("不满意，问题没解决" is 2 with a comment).

A bare digit or numeral, and any form followed by a comment, is ``needs_prompt``: it is a
rating only when the contact is awaiting one ("2 个问题想咨询" never is: a digit's comment must
follow punctuation). Words, scores and stars are unmistakable and need no prompt. Everything
else is not a rating: "123", "0", "6", "4和5", "很满意", "好评", "👍" — ambiguous replies are not
guessed; :func:`near_miss` says why, for the record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from hub.core.vocab import RATING_LABELS
from hub.inbound.classify.text import SEPARATOR_CLASS, trim

RATING_WORDS: Final[dict[str, int]] = {label: level for level, label in RATING_LABELS.items()}
_PROMPT = " ".join(f"{level} {label}" for level, label in RATING_LABELS.items())
_WORDS = "|".join(sorted(RATING_WORDS, key=len, reverse=True))  # longest first
_CN_LEVELS: Final[dict[str, int]] = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_LEVEL = r"[1-5一二两三四五]"

_DIGIT = re.compile(r"[1-5]")
_NUMERAL = re.compile(r"[一二三四五]")
_BARE = re.compile(r"[1-5一二三四五]")
_SCORED = re.compile(
    rf"(?:(?:打|给|评|打分|评分|评价|分数)\s?:?\s?)?({_LEVEL})\s?(?:分|星|颗星|星好评|星级|级)"
)
_LABELLED = re.compile(r"(?:评分|评价|打分|分数)\s?:?\s?([1-5])")
_DIGIT_WORD = re.compile(rf"([1-5])\s?[.、:,]?\s?({_WORDS})")
_WORD_DIGIT = re.compile(rf"({_WORDS})\s?[,:]?\s?([1-5])分?")
_STARS = re.compile(r"[★☆⭐🌟✩]+")
_FILLED_STARS = frozenset("★⭐🌟")
# Where a comment may start: after punctuation, or (not after a bare digit: "2 个问题") a space.
_PUNCT_SPLIT = re.compile(rf"\s*{SEPARATOR_CLASS}+\s*")
_SPACE_SPLIT = re.compile(r"\s+")

# Near misses, so the record says why a rating-like reply was not taken as one.
_OUT_OF_RANGE = re.compile(r"\d{1,3}(?:分|星)?")  # not longer: a phone number is not echoed
_LOOSE_WORDS = re.compile(
    r"(?:很|挺|比较|十分|特别|超级|太|还算|还|算|一般般?|不太|不是很|很不|特别不|十分不)?"
    r"(?:满意|不满意)|一般|好评|差评|👍|👎|[1-5]\s?(?:和|或|到|-|~|/|,|、)\s?[1-5](?:分|星)?"
)


@dataclass(frozen=True, slots=True)
class RatingMatch:
    """A rating read from a reply: the level, how it was written, and a comment if any."""

    level: int
    form: str  # a short Chinese description of the form, for the reason
    needs_prompt: bool  # taken only when the contact is awaiting a rating
    comment: str | None = None


def match_rating(text: str) -> RatingMatch | None:
    """The rating ``text`` (normalised, trimmed, courtesy removed) states; None if none."""
    whole = _whole_form(text)
    if whole is not None:
        return whole
    for splitter, digit_ok in ((_PUNCT_SPLIT, True), (_SPACE_SPLIT, False)):
        parts = splitter.split(text, maxsplit=1)
        if len(parts) != 2 or not parts[0] or not trim(parts[1]):
            continue
        head, comment = _whole_form(parts[0]), trim(parts[1])
        if head is None or (not digit_ok and _BARE.fullmatch(parts[0])):
            continue
        if _whole_form(comment) is not None:
            return None  # "4,5": two levels, neither is guessed
        return RatingMatch(head.level, head.form, needs_prompt=True, comment=comment)
    return None


def near_miss(text: str) -> str | None:
    """Why a reply that looks like a rating was not taken as one; None if it does not."""
    if _OUT_OF_RANGE.fullmatch(text):
        return f"“{text}”不是1–5之间的评价"
    if len(text) <= 8 and _LOOSE_WORDS.fullmatch(text):
        return f"“{text}”不是五级评价之一（{_PROMPT}），未按评价处理"
    return None


def _whole_form(text: str) -> RatingMatch | None:
    if _DIGIT.fullmatch(text):
        return RatingMatch(int(text), "回复数字", needs_prompt=True)
    if _NUMERAL.fullmatch(text):
        return RatingMatch(_CN_LEVELS[text], "回复数字", needs_prompt=True)
    level = RATING_WORDS.get(text)
    if level is not None:
        return RatingMatch(level, "回复评价用语", needs_prompt=False)
    if found := _SCORED.fullmatch(text) or _LABELLED.fullmatch(text):
        raw = found.group(1)
        return RatingMatch(_CN_LEVELS.get(raw) or int(raw), "回复分数", needs_prompt=False)
    if (found := _DIGIT_WORD.fullmatch(text)) or (found := _WORD_DIGIT.fullmatch(text)):
        digit, word = sorted(found.groups(), key=str.isdigit, reverse=True)
        if int(digit) == RATING_WORDS[word]:
            return RatingMatch(int(digit), "回复数字与评价用语", needs_prompt=False)
        return None  # "5 不满意": the two disagree, so neither is guessed
    if _STARS.fullmatch(text):
        filled = sum(char in _FILLED_STARS for char in text)
        if filled >= 1 and len(text) <= 5:
            return RatingMatch(filled, "回复星级", needs_prompt=False)
    return None
