"""Classifying replies into exactly one class of docs/design.md
(:class:`hub.core.vocab.ReplyClass`).

Pure: :func:`classify` reads the reply's text and what the contact was last asked
(:class:`ReplyContext`) and returns a :class:`Classification`; the inbound worker applies it.
The text is NFKC-normalised first (full-width １ ＴＤ), invisible marks dropped and whitespace
collapsed; the checks then run in this order, the first that matches wins:

1. a button payload from a channel: ``rating:N``, ``rating:N:<ref>``,
   ``visit:confirm[:<id>]``, ``visit:reschedule[:<id>]``, ``visit:decline[:<id>]``,
   ``visit:slot:N[:<id>]`` (any other ``rating:``/``visit:`` payload is a request);
2. unsubscribe: R, TD, 退订 alone, case-insensitive, spaces ignored ("T D", "td", "ＴＤ",
   "退订。"), and the phrases 我要退订 / 请退订 / 取消订阅 / 退订短信 …; "我不想退订" is not;
3. help: 帮助, help, ?, 菜单, 客服 …; handover (a person instead of the automatic answer):
   人工, 转人工, 人工服务, 人工客服 … alone (spaces ignored, "人 工", "转人工。");
4. a ticket number (:data:`TICKET_NUMBER_FORMAT`) in the text: with a rating beside it
   ("GD202611230001 5") a rating of that ticket, alone or with 进度/查询/怎么样 … a query, with
   anything else a request naming that ticket; two different numbers are a request;
5. a slot picked by its number (:func:`hub.inbound.classify.visit.match_slot`) when a proposal
   with slots awaits an answer: "选2", "第二个" always; a bare "2" only when no rating is
   awaited or the proposal was sent after the latest rating request (``visit_asked_last``),
   otherwise the digit is the rating asked for last;
6. a rating (:mod:`hub.inbound.classify.rating`): words, scores and stars always, a bare digit (or a
   rating followed by a comment) only when the contact awaits a rating;
7. a visit answer (:mod:`hub.inbound.classify.visit`) when a visit awaits one, or when the reply
   names the visit itself (走访, 改期);
8. a progress query without a number ("查询进度", "我的诉求办得怎么样了");
9. anything else is a request (free text).

A rating applies to the ticket it names, else to the contact's one ticket awaiting a rating;
when several await, ``ticket_number`` is None and ``candidates`` lists them for the question
"which one?" (docs/design.md). Voice, image and other media replies go through
:func:`classify_media` and are requests.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Final

from hub.core.vocab import RATING_LABELS, ReplyClass
from hub.inbound.classify.rating import RatingMatch, match_rating, near_miss
from hub.inbound.classify.text import normalise, strip_courtesy, trim
from hub.inbound.classify.visit import (
    VisitAction,
    VisitMatch,
    match_slot,
    match_visit,
    mentions_visit,
)

__all__ = [
    "TICKET_NUMBER_FORMAT",
    "Classification",
    "ReplyContext",
    "VisitAction",
    "classify",
    "classify_media",
    "is_ticket_number",
]

#: Ticket numbers (工单编号): "GD", the day of receipt as yyyymmdd and a 4-digit sequence of
#: that day, e.g. GD202611230001. Replies are searched more loosely (GD and 4–16 digits, any
#: case, "GD-…" or "GD …"), so a mistyped number still reaches a person who can say it is wrong.
TICKET_NUMBER_FORMAT: Final = "GD + 8位受理日期 + 4位当日序号，如 GD202611230001"
_TICKET_NUMBER_RE = re.compile(r"GD\d{8}\d{4}")
_TICKET_IN_TEXT_RE = re.compile(r"(?<![A-Za-z0-9])GD[-\s]?(\d{4,16})(?!\d)", re.IGNORECASE)
_TICKET_LABEL_RE = re.compile(r"^(?:工单编号|工单号|工单|诉求编号|诉求|编号|单号)[:\s]*|[:\s]*$")

_RATING_BUTTON_RE = re.compile(r"rating:([1-5])(?::(\S{1,64}))?")
_VISIT_BUTTON_RE = re.compile(r"visit:(confirm|reschedule|decline|slot:[1-9])(?::(\d{1,18}))?")
_VISIT_BUTTON_REASONS: Final[dict[str, tuple[VisitAction, str]]] = {
    "confirm": ("confirm", "点击“确认走访”按钮"),
    "reschedule": ("reschedule", "点击“改期”按钮"),
    "decline": ("decline", "点击“不需要走访”按钮"),
}
_BUTTON_PREFIX_RE = re.compile(r"(?:rating|visit):\S*")

_UNSUBSCRIBE_RE = re.compile(
    r"R|TD|退订|TD退订|退订TD|(?:我要|我想|请|请帮我|帮我)?(?:退订|取消订阅)(?:短信|消息|推送|通知|服务)?",
    re.IGNORECASE,
)
_HELP_WORDS: Final = frozenset({"帮助", "help", "菜单", "menu", "客服", "使用说明"})
#: A person instead of the automatic answer ("回复 人工 转人工服务" in every auto_answer).
_HANDOVER_WORDS: Final = frozenset(
    {"人工", "转人工", "人工服务", "转人工服务", "人工客服", "转人工客服", "我要人工", "找人工",
     "要人工", "请转人工"}
)  # fmt: skip
_QUERY_PHRASE_RE = re.compile(
    r"(?:查询|查一下|查一查|查下|查|进度|进展|情况|办理|处理|状态|结果|怎么样|怎样|如何|到哪|哪一步|"
    r"哪步|办得|办到|了|的|呢|吗|啊|一下|请|帮我|帮忙|麻烦|现在|目前|我|我们|工单|诉求|问题|编号|号|"
    r"什么|程度|那个|这个|[\s,.;:!?。、])+"
)
_QUERY_KEYWORD_RE = re.compile(r"查|进度|进展|状态|怎么样|怎样|如何|到哪|办得|办到|哪一步")
_PROGRESS_KEYWORD_RE = re.compile(r"查询|进度|进展|状态|办得|办到|到哪|哪一步")

_MEDIA_LABELS: Final = {"voice": "语音", "image": "图片", "video": "视频", "file": "文件"}


@dataclass(frozen=True, slots=True)
class ReplyContext:
    """What the contact was last asked, as the inbound worker found it when the reply came.

    ``awaiting_rating`` lists the numbers of the contact's tickets awaiting a rating;
    ``awaiting_visit`` is the visit whose proposal awaits an answer, ``visit_at`` the one time
    it offered and ``visit_slots`` the times it offered to choose from (numbered from 1);
    ``visit_asked_last`` whether that proposal was sent after the latest rating request to the
    contact (a bare digit then picks a slot, not a rating); ``now`` (aware) resolves relative
    times such as 明天 (in Asia/Shanghai).
    """

    now: datetime
    awaiting_rating: tuple[str, ...] = ()
    awaiting_visit: int | None = None
    visit_at: datetime | None = None
    visit_slots: tuple[datetime, ...] = ()
    visit_asked_last: bool = False

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("ReplyContext.now must be timezone-aware")


@dataclass(frozen=True, slots=True)
class Classification:
    """A reply's one class and what it carries; ``reason`` says why, in Chinese, for the record.

    ``rating`` 1–5 (and a ``comment``) for a rating; ``ticket_number`` for a rating, a query, or
    a request naming a ticket; ``candidates`` the tickets a rating could apply to when it names
    none; ``visit_action``, ``visit_id``, ``visit_slot`` (1-based) and the proposed time for a
    visit answer
    (``proposed_time`` when a day and an hour are known, ``proposed_date`` when only the day is,
    ``proposed_text`` the words as written); ``media_kind``/``media_ref`` for a media reply.
    """

    cls: ReplyClass
    normalised: str
    reason: str
    rating: int | None = None
    comment: str | None = None
    ticket_number: str | None = None
    candidates: tuple[str, ...] = ()
    visit_action: VisitAction | None = None
    visit_id: int | None = None
    visit_slot: int | None = None
    proposed_time: datetime | None = None
    proposed_date: date | None = None
    proposed_text: str | None = None
    media_kind: str | None = None
    media_ref: str | None = None


def is_ticket_number(text: str) -> bool:
    """Whether ``text`` is a ticket number in the canonical form (GD202611230001)."""
    return _TICKET_NUMBER_RE.fullmatch(text) is not None


def classify(text: str, *, context: ReplyContext) -> Classification:
    """The one class of a text reply (see the module docstring for the order of the checks)."""
    normalised = normalise(text)
    button = _button(normalised, context)
    if button is not None:
        return button
    core = trim(normalised)
    if not core:
        if "?" in normalised:
            return Classification(ReplyClass.HELP, normalised, "回复问号，发送帮助说明")
        return _request(normalised, "没有文字内容")
    if _UNSUBSCRIBE_RE.fullmatch(core.replace(" ", "")):
        return Classification(ReplyClass.UNSUBSCRIBE, normalised, f"回复“{core}”，退订")
    if core.replace(" ", "") in _HANDOVER_WORDS:
        return Classification(ReplyClass.HANDOVER, normalised, f"回复“{core}”，转人工服务")
    if core.casefold() in _HELP_WORDS:
        return Classification(ReplyClass.HELP, normalised, f"回复“{core}”，发送帮助说明")
    numbers = list(dict.fromkeys(f"GD{m.group(1)}" for m in _TICKET_IN_TEXT_RE.finditer(core)))
    if numbers:
        return _with_ticket(normalised, core, numbers, context)
    answer = strip_courtesy(core)
    slot = _slot_pick(normalised, answer, context)
    if slot is not None:
        return slot
    rating = match_rating(answer)
    if rating is not None and (context.awaiting_rating or not rating.needs_prompt):
        return _rating(normalised, rating, None, context)
    if context.awaiting_visit is not None or mentions_visit(core):
        visit = match_visit(core, context.now, context.visit_at, context.visit_slots)
        if visit is not None:
            return _visit(normalised, visit, context)
    if _PROGRESS_KEYWORD_RE.search(core) and _QUERY_PHRASE_RE.fullmatch(core):
        return Classification(ReplyClass.QUERY, normalised, "查询办理进度，未写工单编号")
    if rating is not None:  # a bare digit, or a rating with a comment, and none awaited
        if rating.comment is not None:
            return _request(normalised, "当前没有待评价的工单，带意见的回复按诉求处理")
        return _request(normalised, f"当前没有待评价的工单，单独的“{answer}”不作评价")
    return _request(normalised, near_miss(answer) or "自由文本，按诉求处理")


def classify_media(kind: str, ref: str, *, normalised: str = "") -> Classification:
    """A voice, image or other media reply: stored by reference and treated as a request."""
    label = _MEDIA_LABELS.get(kind, "非文字")
    return Classification(
        ReplyClass.REQUEST,
        normalised,
        f"{label}消息（{kind}），按诉求处理，需人工查看",
        media_kind=kind,
        media_ref=ref,
    )


def _button(normalised: str, context: ReplyContext) -> Classification | None:
    if found := _RATING_BUTTON_RE.fullmatch(normalised):
        level, ref = int(found.group(1)), found.group(2)
        named = ref.upper() if ref is not None and is_ticket_number(ref.upper()) else None
        match = RatingMatch(level, "点击评价按钮", needs_prompt=False)
        rated = _rating(normalised, match, named, context)
        if ref is not None and named is None:
            return replace(rated, reason=rated.reason + f"；按钮编号“{ref}”不是工单编号")
        return rated
    if found := _VISIT_BUTTON_RE.fullmatch(normalised):
        visit_id = int(found.group(2)) if found.group(2) else context.awaiting_visit
        pressed = found.group(1)
        if pressed.startswith("slot:"):
            n = int(pressed.removeprefix("slot:"))
            chosen = VisitMatch("slot", f"点击第{n}个时间按钮", slot=n)
        else:
            chosen = VisitMatch(*_VISIT_BUTTON_REASONS[pressed])
        return _visit(normalised, chosen, context, visit_id)
    if _BUTTON_PREFIX_RE.fullmatch(normalised):
        return _request(normalised, f"无法识别的按钮数据“{normalised[:40]}”")
    return None


def _slot_pick(normalised: str, answer: str, context: ReplyContext) -> Classification | None:
    """A slot of the awaited proposal picked by its number (see the module docstring, 5)."""
    if context.awaiting_visit is None or not context.visit_slots:
        return None
    pick = match_slot(answer)
    if pick is None or not 1 <= pick.slot <= len(context.visit_slots):
        return None
    if not (pick.explicit or context.visit_asked_last or not context.awaiting_rating):
        return None  # the rating was asked for after the proposal: the digit answers it
    reason = f"选择第{pick.slot}个时间（回复“{answer}”）"
    return _visit(normalised, VisitMatch("slot", reason, slot=pick.slot), context)


def _with_ticket(
    normalised: str, core: str, numbers: list[str], context: ReplyContext
) -> Classification:
    if len(numbers) > 1:
        return _request(normalised, "提到多个工单编号（" + "、".join(numbers) + "），交人工处理")
    number = numbers[0]
    rest = _TICKET_LABEL_RE.sub("", trim(_TICKET_IN_TEXT_RE.sub(" ", core)))
    rest = trim(rest)
    checked = "" if is_ticket_number(number) else f"（编号格式应为 {TICKET_NUMBER_FORMAT}）"
    if not rest or (_QUERY_KEYWORD_RE.search(rest) and _QUERY_PHRASE_RE.fullmatch(rest)):
        return Classification(
            ReplyClass.QUERY, normalised, f"查询工单 {number} 的进度{checked}", ticket_number=number
        )
    rating = match_rating(strip_courtesy(rest))
    if rating is not None:
        return _rating(normalised, rating, number, context)
    return Classification(
        ReplyClass.REQUEST,
        normalised,
        f"提到工单 {number} 的其他内容，按诉求处理{checked}",
        ticket_number=number,
    )


def _rating(
    normalised: str, match: RatingMatch, named: str | None, context: ReplyContext
) -> Classification:
    reason = f"评价 {match.level} {RATING_LABELS[match.level]}（{match.form}）"
    if match.comment:
        reason += "，附意见"
    candidates = context.awaiting_rating
    if named is not None:
        ticket: str | None = named
        if named not in candidates:
            reason += f"；工单 {named} 不在待评价之列，需核对"
    elif len(candidates) == 1:
        ticket = candidates[0]
    else:
        ticket = None
        reason += (
            "；当前没有待评价的工单"
            if not candidates
            else "；多个工单待评价，需询问是哪一个（" + "、".join(candidates) + "）"
        )
    return Classification(
        ReplyClass.RATING,
        normalised,
        reason,
        rating=match.level,
        comment=match.comment,
        ticket_number=ticket,
        candidates=candidates if ticket is None else (),
    )


def _visit(
    normalised: str, match: VisitMatch, context: ReplyContext, visit_id: int | None = None
) -> Classification:
    visit_id = visit_id if visit_id is not None else context.awaiting_visit
    reason = match.reason if visit_id is not None else match.reason + "；没有待答复的走访，需核对"
    proposed = match.proposed if match.action == "reschedule" else None
    return Classification(
        ReplyClass.VISIT_ANSWER,
        normalised,
        reason,
        visit_action=match.action,
        visit_id=visit_id,
        visit_slot=match.slot,
        proposed_time=proposed.at if proposed else None,
        proposed_date=proposed.day if proposed else None,
        proposed_text=proposed.text if proposed else None,
    )


def _request(normalised: str, reason: str) -> Classification:
    return Classification(ReplyClass.REQUEST, normalised, reason)
