"""Answers to a visit proposal (走访预约): a slot picked, confirm, another time, or decline.

The proposal offers one time ("同意请回复“确认”；需另约时间请回复“改期”") or 2–3 numbered slots
("回复序号选择时间"). The rules, on the normalised text without a courtesy 谢谢:

1. A slot picked by its number (:func:`match_slot`): "2", "选2", "选择第2个", "第二个", "第二个时间
   可以". A bare number is ``explicit=False``: the classifier weighs it against a rating awaited
   (:mod:`hub.inbound.classify.classifier`); "选2" and "第二个" are unmistakable.
2. A visit answer is short: at most ``MAX_CHARS`` characters, and once the times and the words
   of this module are taken out, at most ``MAX_OTHER_CHARS`` may remain. A longer reply is a
   request (free text) for a person to read, even if it mentions a time.
3. A reschedule word (改期, 改天, 换个时间, 另约, 改到 …) asks to reschedule; a time in a clause
   that does not refuse it ("周二不行，周三可以" proposes Wednesday) is the proposed time.
4. Otherwise a time named in a clause that does not refuse it picks the slot it names (exactly
   one of the offered slots: same day; same hour, or the slot's hour within the named 上午/下午),
   confirms when it is the one offered time, and proposes another time when it is neither:
   "好的 下周二上午可以" confirms a Tuesday-morning proposal and reschedules any other one to
   Tuesday 09:00.
5. Otherwise declining the visit outright (不需要, 不用来了, 暂不需要走访, 无需走访 …) declines it:
   the officer is told and decides (before, such replies stayed requests for a person; the visit
   cycle now tells the officer of every answer at once, so a decline is one of them).
6. Otherwise a refusal (不行, 不方便, 没空, 不在 …) asks to reschedule, without a time.
7. Otherwise a reply made only of agreement words (好的, 可以, 确认, 同意, 没问题, 行, OK, 👌 …)
   confirms. Anything else is not a visit answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from hub.inbound.classify.text import parse_number, strip_courtesy
from hub.inbound.classify.times import TimeMention, find_time
from hub.visits.answers import AnswerAction as VisitAction

__all__ = ["SlotPick", "VisitAction", "VisitMatch", "match_slot", "match_visit", "mentions_visit"]

#: Characters a visit answer may hold besides times and visit words ("老板出差" in
#: "老板出差了，下周三再来吧"), and in all.
MAX_OTHER_CHARS: Final = 8
MAX_CHARS: Final = 48

_RESCHEDULE = (
    r"申请改期|改期|改天|改日|另约|再约|改约|重新约|重新安排|换个?时间|改个?时间|换一?天|调整(?:一下)?时间"
    r"|改到|换到|挪到|推到|约其他时间|约别的时间"
)
_REFUSAL = (
    r"不行|不可以|不方便|没空|没有空|没时间|没有时间|不在|来不了|去不了|不能|赶不上|有事|有安排"
    r"|推迟|延后|往后推"
)
_DECLINE = (
    r"(?:暂时?|目前|现在|近期|最近)?(?:不需要|不用|无需|不必|没必要)(?:再?(?:来|过来|上门))?"
    r"(?:走访|拜访|来访)?(?:了)?|谢绝(?:走访|拜访|来访)|婉拒"
)
_AGREEMENT = (
    r"确认走访|同意走访|确认预约|同意预约|确认|确定|同意|好的|好滴|好哒|好啊|好呀|好|可以|行|没问题|"
    r"没有问题|ok|okay|嗯嗯|嗯|欢迎光临|欢迎|恭候|随时|到时见|到时候见|准时|等你们|等您|"
    r"来吧|过来吧|👌|👍"
)
# Words a short visit answer is made of, beyond the three lists: they do not count as "other".
_FILLER = (
    r"方便|有空|都可以|都行|能来|可以来|过来|来|去|见|我们|我|你们|您|咱们|的|了|吧|呢|吗|啊|呀|哦|哈|嘛|"
    r"啦|就|再|都|也|还|是|那|那就|时候|到时|时间|一下|以后|之后|以前|之前|左右|前后|在|公司|单位|"
    r"厂里|走访|拜访|来访|预约|安排|这个|那个|那天|这天|当天"
)
_RESCHEDULE_RE = re.compile(_RESCHEDULE)
_DECLINE_RE = re.compile(_DECLINE)
_AGREEMENT_RE = re.compile(_AGREEMENT, re.IGNORECASE)
_REFUSAL_RE = re.compile(_REFUSAL)
_AGREEMENT_ONLY_RE = re.compile(rf"(?:{_AGREEMENT}|{_FILLER}|[\s,.;:!?~。、…])+", re.IGNORECASE)
_KNOWN_WORDS_RE = re.compile(
    rf"{_DECLINE}|{_RESCHEDULE}|{_REFUSAL}|{_AGREEMENT}|{_FILLER}|[\s,.;:!?~。、…]", re.IGNORECASE
)
# Words that make a reply a visit answer even when no visit awaits one.
_VISIT_WORDS_RE = re.compile(r"走访|拜访|来访|改期")
_CLAUSE_SPLIT_RE = re.compile(r"[,.;!?~。、…]+|但是|不过|但")
# A slot by its number: "选2", "选择第2个", "第二个时间", or a bare "2" (weighed against ratings).
_SLOT_NUMBER = r"[1-9]|[一二两三四五六七八九]"
_SLOT_EXPLICIT_RE = re.compile(
    rf"(?:我们?|那)?(?:就|还是)?(?:选择?|选定|定)第?({_SLOT_NUMBER})(?:个|项)?(?:时间|时段)?"
    rf"|第({_SLOT_NUMBER})(?:个|项)(?:时间|时段)?"
)
_SLOT_BARE_RE = re.compile(_SLOT_NUMBER)
_SLOT_TAIL_RE = re.compile(r"(?:[\s,.;!~。、…]*(?:可以|好的|好|行|吧|就行|没问题|方便|确认))*$")


@dataclass(frozen=True, slots=True)
class VisitMatch:
    """A visit answer: the action, the slot picked or the time proposed (if any), and why."""

    action: VisitAction
    reason: str
    proposed: TimeMention | None = None
    slot: int | None = None


@dataclass(frozen=True, slots=True)
class SlotPick:
    """A slot picked by its number (1-based); ``explicit`` unless it was a bare number."""

    slot: int
    explicit: bool


def match_slot(text: str) -> SlotPick | None:
    """The slot number ``text`` (normalised, trimmed, courtesy removed) picks; None if none.

    The number is not checked against the slots offered: the caller knows how many there are.
    """
    core = _SLOT_TAIL_RE.sub("", text) or text
    if found := _SLOT_EXPLICIT_RE.fullmatch(core):
        number = parse_number(found.group(1) or found.group(2))
        return SlotPick(number, explicit=True) if number else None
    if _SLOT_BARE_RE.fullmatch(core):
        number = parse_number(core)
        return SlotPick(number, explicit=False) if number else None
    return None


def mentions_visit(text: str) -> bool:
    """Whether the reply names the visit itself (走访, 改期 …), with or without a proposal."""
    return _VISIT_WORDS_RE.search(text) is not None


def match_visit(
    text: str, now: datetime, offered: datetime | None, slots: tuple[datetime, ...] = ()
) -> VisitMatch | None:
    """The visit answer ``text`` (normalised and trimmed) gives; None if it is not one.

    ``offered`` is the one time proposed, ``slots`` the times offered to choose from.
    """
    text = strip_courtesy(text)
    if not text or len(text) > MAX_CHARS:
        return None
    proposed: TimeMention | None = None
    refused_time = refused = False
    other = 0
    for clause in _CLAUSE_SPLIT_RE.split(text):
        mention = find_time(clause, now, offered) if clause else None
        refusal = _REFUSAL_RE.search(clause) is not None
        refused |= refusal
        rest = clause
        if mention is not None:
            refused_time |= refusal
            if not refusal and proposed is None:
                proposed = mention
            for start, end in reversed(mention.spans):  # the time's words are not "other"
                rest = rest[:start] + " " + rest[end:]
        other += len(_KNOWN_WORDS_RE.sub("", rest))
    if other > MAX_OTHER_CHARS:
        return None
    if _RESCHEDULE_RE.search(text):
        return VisitMatch("reschedule", "申请改期" + _naming(proposed), proposed)
    if proposed is not None:
        named = [n for n, at in enumerate(slots, 1) if proposed.matches(at)]
        if not refused_time and len(named) == 1:
            return VisitMatch("slot", f"选择第{named[0]}个时间（{proposed.text}）", proposed,
                              slot=named[0])  # fmt: skip
        if offered is not None and not refused_time and proposed.matches(offered):
            return VisitMatch("confirm", f"同意按约定时间走访（{proposed.text}）", proposed)
        return VisitMatch("reschedule", "提出另约时间" + _naming(proposed), proposed)
    if _DECLINE_RE.search(text):
        return VisitMatch("decline", "表示不需要走访")
    if refused:
        return VisitMatch("reschedule", "表示约定时间不便，需另约时间")
    if _AGREEMENT_ONLY_RE.fullmatch(text) and _AGREEMENT_RE.search(text):
        return VisitMatch("confirm", "同意走访")
    return None


def _naming(mention: TimeMention | None) -> str:
    return f"，提出的时间：{mention.text}" if mention is not None else ""
