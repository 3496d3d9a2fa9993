"""Reply classification (hub/classify*.py): one table of replies and what they are, plus properties.

The clock is the suite's: Monday 2026-11-23 10:00 in Shanghai. "下周二" is 2026-12-01.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from hub.core.clock import SHANGHAI
from hub.core.vocab import ReplyClass
from hub.inbound.classify.classifier import (
    Classification,
    ReplyContext,
    classify,
    classify_media,
    is_ticket_number,
)
from hub.inbound.classify.text import normalise, parse_number
from hub.inbound.classify.times import find_time

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
T1, T2 = "GD202611200003", "GD202611200004"
THU_0930 = datetime(2026, 11, 26, 9, 30, tzinfo=SHANGHAI)  # the offered visit, by default
TUE_0930 = datetime(2026, 12, 1, 9, 30, tzinfo=SHANGHAI)  # next Tuesday morning
# A proposal with three slots: next Tuesday 09:30, Wednesday 14:30, Thursday 09:30.
SLOTS = (TUE_0930, datetime(2026, 12, 2, 14, 30, tzinfo=SHANGHAI),
         datetime(2026, 12, 3, 9, 30, tzinfo=SHANGHAI))  # fmt: skip

CONTEXTS = {
    "none": ReplyContext(now=NOW),
    "rate": ReplyContext(now=NOW, awaiting_rating=(T1,)),
    "rate2": ReplyContext(now=NOW, awaiting_rating=(T1, T2)),
    "visit": ReplyContext(now=NOW, awaiting_visit=7, visit_at=THU_0930),
    "visit_tue": ReplyContext(now=NOW, awaiting_visit=7, visit_at=TUE_0930),
    "both": ReplyContext(now=NOW, awaiting_rating=(T1,), awaiting_visit=7, visit_at=THU_0930),
    "slots": ReplyContext(now=NOW, awaiting_visit=7, visit_slots=SLOTS),
    # a rating awaited too: the proposal came after the rating request, or before it
    "slots_last": ReplyContext(now=NOW, awaiting_rating=(T1,), awaiting_visit=7,
                               visit_slots=SLOTS, visit_asked_last=True),
    "rating_last": ReplyContext(now=NOW, awaiting_rating=(T1,), awaiting_visit=7,
                                visit_slots=SLOTS, visit_asked_last=False),
}  # fmt: skip

RATING, UNSUB, VISIT = ReplyClass.RATING, ReplyClass.UNSUBSCRIBE, ReplyClass.VISIT_ANSWER
QUERY, HELP, REQUEST = ReplyClass.QUERY, ReplyClass.HELP, ReplyClass.REQUEST
HANDOVER = ReplyClass.HANDOVER


def at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


def row(text: str, context: str, cls: ReplyClass, **expected: Any) -> Any:
    return pytest.param(text, context, cls, expected, id=f"{context}:{text}")


TABLE = [
    # --- the examples of the issue
    row("5", "rate", RATING, rating=5, ticket_number=T1),
    row("５", "rate", RATING, rating=5, ticket_number=T1),
    row("非常满意", "rate", RATING, rating=5, ticket_number=T1),
    row("不满意!", "rate", RATING, rating=2, ticket_number=T1),
    row("TD", "none", UNSUB),
    row("好的 下周二上午可以", "visit", VISIT, visit_action="reschedule", visit_id=7,
        proposed_time=at(12, 1, 9), proposed_date=date(2026, 12, 1), proposed_text="下周二上午"),
    row("好的 下周二上午可以", "visit_tue", VISIT, visit_action="confirm", proposed_time=None),
    row("123", "rate", REQUEST, rating=None),
    row("2 个问题想咨询", "rate", REQUEST, rating=None),
    # --- digits: alone, with trivial punctuation, full-width, circled, keycap, numerals
    row("5。", "rate", RATING, rating=5),
    row("5!", "rate", RATING, rating=5),
    row(" 5 ", "rate", RATING, rating=5),
    row("1", "rate", RATING, rating=1, comment=None),
    row("⑤", "rate", RATING, rating=5),
    row("5️⃣", "rate", RATING, rating=5),
    row("五", "rate", RATING, rating=5),
    row("5，谢谢", "rate", RATING, rating=5, comment=None),
    # a bare digit is a rating only when one is awaited
    row("5", "none", REQUEST, rating=None),
    row("五", "none", REQUEST),
    row("3", "visit", REQUEST),
    # --- not ratings
    row("0", "rate", REQUEST),
    row("6", "rate", REQUEST),
    row("55", "rate", REQUEST),
    row("4和5", "rate", REQUEST),
    row("4,5", "rate", REQUEST),
    row("4.5", "rate", REQUEST),
    row("-5", "rate", REQUEST),
    row("5月3日能来吗", "rate", REQUEST),
    row("5分钟后回电话", "rate", REQUEST),
    row("很满意", "rate", REQUEST),
    row("一般", "rate", REQUEST),
    row("好评", "rate", REQUEST),
    row("👍", "rate", REQUEST),
    row("不满意你们的处理", "rate", REQUEST),
    row("5 不满意", "rate", REQUEST),  # digit and word disagree
    # --- the five words: whole strings only ("不满意" is not "满意")
    row("满意", "rate", RATING, rating=4),
    row("基本满意", "rate", RATING, rating=3),
    row("不满意", "rate", RATING, rating=2),
    row("非常不满意", "rate", RATING, rating=1),
    row("非常不满意！！", "rate", RATING, rating=1),
    row("“满意”", "rate", RATING, rating=4),
    row("满意", "none", RATING, rating=4, ticket_number=None, candidates=()),
    row("非常满意，谢谢", "none", RATING, rating=5, comment=None),
    # --- the prompt's own option, scores and stars
    row("5 非常满意", "none", RATING, rating=5),
    row("5非常满意", "none", RATING, rating=5),
    row("满意4", "none", RATING, rating=4),
    row("5分", "none", RATING, rating=5),
    row("五分", "none", RATING, rating=5),
    row("5星", "none", RATING, rating=5),
    row("五星好评", "none", RATING, rating=5),
    row("打3分", "none", RATING, rating=3),
    row("评分：4", "none", RATING, rating=4),
    row("★★★★☆", "none", RATING, rating=4),
    row("⭐⭐⭐", "rate", RATING, rating=3, ticket_number=T1),
    row("☆☆☆☆☆", "rate", REQUEST),
    row("★★★★★★", "rate", REQUEST),
    # --- a rating with a comment, only when one is awaited
    row("不满意，问题没解决", "rate", RATING, rating=2, comment="问题没解决"),
    row("不满意，问题没解决", "none", REQUEST, rating=None),
    row("1，根本没解决", "rate", RATING, rating=1, comment="根本没解决"),
    row("5 非常满意，问题解决了", "rate", RATING, rating=5, comment="问题解决了"),
    # --- which ticket
    row("4", "rate2", RATING, rating=4, ticket_number=None, candidates=(T1, T2)),
    row(f"{T2} 4", "rate2", RATING, rating=4, ticket_number=T2, candidates=()),
    row(f"5 {T1}", "rate2", RATING, rating=5, ticket_number=T1),
    row(f"{T1.lower()}：非常满意", "rate2", RATING, rating=5, ticket_number=T1),
    row("GD202611230001 5", "none", RATING, rating=5, ticket_number="GD202611230001"),
    # --- buttons from the channels
    row("rating:5", "none", RATING, rating=5, ticket_number=None),
    row("rating:5", "rate", RATING, rating=5, ticket_number=T1),
    row(f"rating:2:{T2}", "rate2", RATING, rating=2, ticket_number=T2),
    row("rating:5:abc", "rate", RATING, rating=5, ticket_number=T1),
    row("rating:9", "rate", REQUEST, rating=None),
    row("visit:confirm", "visit", VISIT, visit_action="confirm", visit_id=7),
    row("visit:confirm:42", "none", VISIT, visit_action="confirm", visit_id=42),
    row("visit:reschedule:42", "visit", VISIT, visit_action="reschedule", visit_id=42,
        proposed_time=None),
    row("visit:maybe", "visit", REQUEST),
    row("visit:slot:2", "slots", VISIT, visit_action="slot", visit_slot=2, visit_id=7),
    row("visit:slot:3:42", "none", VISIT, visit_action="slot", visit_slot=3, visit_id=42),
    row("visit:decline", "visit", VISIT, visit_action="decline", visit_id=7),
    row("visit:decline:42", "none", VISIT, visit_action="decline", visit_id=42),
    row("visit:slot:0", "slots", REQUEST),
    row("visit:slot:x", "slots", REQUEST),
    # --- unsubscribe
    row("R", "none", UNSUB),
    row("r", "none", UNSUB),
    row("td", "none", UNSUB),
    row("ＴＤ", "none", UNSUB),
    row("T D", "none", UNSUB),
    row("退订", "none", UNSUB),
    row("退订。", "none", UNSUB),
    row("我要退订", "none", UNSUB),
    row("取消订阅", "none", UNSUB),
    row("TD", "rate", UNSUB),
    row("我不想退订", "none", REQUEST),
    row("退订了吗", "none", REQUEST),
    # --- help
    row("帮助", "none", HELP),
    row("HELP", "none", HELP),
    row("?", "none", HELP),
    row("？？", "rate", HELP),
    row("菜单", "none", HELP),
    row("客服", "none", HELP),
    # --- handover: a person instead of the automatic answer, full-width and spaced folded
    row("人工", "none", HANDOVER),
    row("转人工", "rate", HANDOVER),
    row("人工服务", "none", HANDOVER),
    row("人工服务。", "none", HANDOVER),
    row("人 工", "rate", HANDOVER),
    row("“转人工”！", "none", HANDOVER),
    row("人工客服", "none", HANDOVER),
    row("人工智能补贴怎么申请", "none", REQUEST),
    row("人工费用能抵扣吗", "rate", REQUEST),
    # --- progress queries
    row("GD202611230001", "none", QUERY, ticket_number="GD202611230001"),
    row("GD202611230001 进度", "none", QUERY, ticket_number="GD202611230001"),
    row("查询 gd202611230001 怎么样了", "none", QUERY, ticket_number="GD202611230001"),
    row("工单号：GD202611230001", "none", QUERY, ticket_number="GD202611230001"),
    row("查询进度 GD2026001", "none", QUERY, ticket_number="GD2026001"),
    row("查询进度", "none", QUERY, ticket_number=None),
    row("我的诉求办得怎么样了", "none", QUERY, ticket_number=None),
    row("怎么样了", "none", REQUEST),
    row("GD202611230001 进度太慢了，我要投诉", "none", REQUEST, ticket_number="GD202611230001"),
    row("GD202611230001 和 GD202611230002 怎么样", "none", REQUEST, ticket_number=None),
    row("202611230001", "none", REQUEST),
    # --- visit answers: agreement, refusal, times
    row("确认", "visit", VISIT, visit_action="confirm", visit_id=7),
    row("好的", "visit", VISIT, visit_action="confirm"),
    row("可以，谢谢", "visit", VISIT, visit_action="confirm"),
    row("没问题", "visit", VISIT, visit_action="confirm"),
    row("行", "visit", VISIT, visit_action="confirm"),
    row("OK", "visit", VISIT, visit_action="confirm"),
    row("改期", "visit", VISIT, visit_action="reschedule", proposed_time=None, proposed_text=None),
    row("不方便", "visit", VISIT, visit_action="reschedule", proposed_time=None),
    row("不行", "visit", VISIT, visit_action="reschedule"),
    row("周二不行，周三下午3点可以", "visit", VISIT, visit_action="reschedule",
        proposed_time=at(11, 25, 15), proposed_text="周三下午3点"),
    row("这周不行，下周三下午3点可以", "visit", VISIT, visit_action="reschedule",
        proposed_time=at(12, 2, 15)),
    row("改到明天下午两点半", "visit", VISIT, visit_action="reschedule",
        proposed_time=at(11, 24, 14, 30)),
    row("12月1日上午10点可以", "visit", VISIT, visit_action="reschedule",
        proposed_time=at(12, 1, 10)),
    row("下午3点可以", "visit", VISIT, visit_action="reschedule", proposed_time=at(11, 26, 15)),
    row("3点", "visit", VISIT, visit_action="reschedule", proposed_time=at(11, 26, 15)),
    row("10:30", "visit", VISIT, visit_action="reschedule", proposed_time=at(11, 26, 10, 30)),
    row("周四上午可以", "visit", VISIT, visit_action="confirm"),
    row("好的，周四上午9点半见", "visit", VISIT, visit_action="confirm"),
    row("周四上午10点", "visit", VISIT, visit_action="reschedule", proposed_time=at(11, 26, 10)),
    row("下周二可以", "visit", VISIT, visit_action="reschedule", proposed_time=None,
        proposed_date=date(2026, 12, 1), proposed_text="下周二"),
    row("5号可以", "visit", VISIT, visit_action="reschedule", proposed_date=date(2026, 12, 5)),
    row("明天晚上可以", "visit", VISIT, visit_action="reschedule", proposed_time=None,
        proposed_date=date(2026, 11, 24)),
    row("下下周一上午", "visit", VISIT, visit_action="reschedule", proposed_time=at(12, 7, 9)),
    row("5月3日能来吗", "visit", VISIT, visit_action="reschedule",
        proposed_date=date(2027, 5, 3), proposed_time=None),
    row("老板出差了，下周三再来吧", "visit", VISIT, visit_action="reschedule",
        proposed_date=date(2026, 12, 2)),
    # not visit answers
    row("好的 下周二上午可以", "none", REQUEST),
    row("好的", "none", REQUEST),
    row("可以", "rate", REQUEST),
    row("5", "visit", REQUEST),
    row("早一点可以吗", "visit", REQUEST),
    row("明天我们要去税务局办理退税，想咨询一下流程", "visit", REQUEST),
    # --- declining the visit (before issue 14 these stayed requests for a person)
    row("不需要走访", "visit", VISIT, visit_action="decline", visit_id=7),
    row("不需要", "visit", VISIT, visit_action="decline"),
    row("不用来了", "visit", VISIT, visit_action="decline"),
    row("暂不需要走访", "visit", VISIT, visit_action="decline"),
    row("不需要，谢谢", "visit", VISIT, visit_action="decline"),
    row("不方便，不用来了", "visit", VISIT, visit_action="decline"),
    row("不需要走访", "none", VISIT, visit_action="decline", visit_id=None),
    row("不需要", "none", REQUEST),
    row("不需要了，我们的问题已经自己解决了，谢谢关心", "visit", REQUEST),
    # --- a slot of a proposal offering three: by number, by its time
    row("2", "slots", VISIT, visit_action="slot", visit_slot=2, visit_id=7),
    row("２", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("②", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("2，谢谢", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("选2", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("选择第3个", "slots", VISIT, visit_action="slot", visit_slot=3),
    row("第二个", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("第二个时间可以", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("一", "slots", VISIT, visit_action="slot", visit_slot=1),
    row("4", "slots", REQUEST),
    row("第四个", "slots", REQUEST),
    row("下周三下午", "slots", VISIT, visit_action="slot", visit_slot=2, proposed_time=None),
    row("12月2日下午可以", "slots", VISIT, visit_action="slot", visit_slot=2),
    row("下周四上午10点", "slots", VISIT, visit_action="reschedule", visit_slot=None,
        proposed_time=at(12, 3, 10)),
    row("下周二上午可以", "slots", VISIT, visit_action="slot", visit_slot=1),
    row("下周五上午可以", "slots", VISIT, visit_action="reschedule", proposed_time=at(12, 4, 9)),
    row("好的", "slots", VISIT, visit_action="confirm", visit_slot=None),
    row("不需要", "slots", VISIT, visit_action="decline"),
    # --- a bare digit: the slot when the proposal was the last ask, else the rating
    row("2", "slots_last", VISIT, visit_action="slot", visit_slot=2, rating=None),
    row("2", "rating_last", RATING, rating=2, ticket_number=T1, visit_action=None),
    row("5", "slots_last", RATING, rating=5, ticket_number=T1),
    row("第二个", "rating_last", VISIT, visit_action="slot", visit_slot=2),
    row("选2", "rating_last", VISIT, visit_action="slot", visit_slot=2),
    row("非常满意", "slots_last", RATING, rating=5),
    # explicit visit words answer a visit even when none is on record (the worker checks it)
    row("确认走访", "none", VISIT, visit_action="confirm", visit_id=None),
    row("改期到下周三下午", "none", VISIT, visit_action="reschedule", visit_id=None,
        proposed_time=at(12, 2, 14)),
    # --- both a rating and a visit awaited
    row("5", "both", RATING, rating=5, ticket_number=T1),
    row("好的", "both", VISIT, visit_action="confirm"),
    # --- nothing to read
    row("", "none", REQUEST),
    row("   ", "none", REQUEST),
    row("。。。", "rate", REQUEST),
]  # fmt: skip


@pytest.mark.parametrize(("text", "context", "cls", "expected"), TABLE)
def test_reply_is_classified_as_the_table_says(
    text: str, context: str, cls: ReplyClass, expected: dict[str, Any]
) -> None:
    result = classify(text, context=CONTEXTS[context])

    assert result.cls is cls, result.reason
    for name, value in expected.items():
        assert getattr(result, name) == value, (name, result)
    assert result.reason


def test_the_table_has_enough_rows_and_covers_every_class() -> None:
    assert len(TABLE) >= 80
    assert {param.values[2] for param in TABLE} == set(ReplyClass)


def test_normalised_text_is_recorded() -> None:
    result = classify("  ５\u3000 ", context=CONTEXTS["rate"])

    assert result.normalised == "5"


def test_reason_lists_the_tickets_when_several_await_a_rating() -> None:
    result = classify("4", context=CONTEXTS["rate2"])

    assert T1 in result.reason
    assert T2 in result.reason


@pytest.mark.parametrize("text", ["13800138000", "5，我的电话13800138000"])
def test_reason_does_not_echo_a_phone_number(text: str) -> None:
    result = classify(text, context=CONTEXTS["none"])

    assert result.cls is REQUEST
    assert "13800138000" not in result.reason


def test_a_malformed_ticket_number_is_queried_and_the_reason_gives_the_format() -> None:
    result = classify("GD2026001", context=CONTEXTS["none"])

    assert (result.cls, result.ticket_number) == (QUERY, "GD2026001")
    assert "GD202611230001" in result.reason


def test_ticket_number_format() -> None:
    assert is_ticket_number("GD202611230001")
    assert not is_ticket_number("GD2026001")
    assert not is_ticket_number("gd202611230001")
    assert not is_ticket_number("T20261123-0001")


@pytest.mark.parametrize(
    ("kind", "label"),
    [("voice", "语音"), ("image", "图片"), ("video", "视频"), ("sticker", "非文字")],
)
def test_media_replies_are_requests_that_keep_their_reference(kind: str, label: str) -> None:
    result = classify_media(kind, "media-id-123")

    assert result.cls is REQUEST
    assert (result.media_kind, result.media_ref) == (kind, "media-id-123")
    assert label in result.reason


def test_context_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="aware"):
        ReplyContext(now=datetime(2026, 11, 23, 10, 0))


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        # a bare weekday is the next such day, today included unless its hour has passed
        ("周一下午", NOW, at(11, 23, 14)),
        ("周一上午9点", NOW, at(11, 30, 9)),
        ("星期日", NOW, None),
        ("礼拜天下午", NOW, at(11, 29, 14)),
        ("本周一上午", NOW, at(11, 23, 9)),
        # on a Sunday the coming Tuesday is 下周二 (weeks start on Monday)
        ("下周二上午", datetime(2026, 11, 29, 10, tzinfo=SHANGHAI), at(12, 1, 9)),
        ("今晚8点", NOW, at(11, 23, 20)),
        ("明早", NOW, at(11, 24, 9)),
        ("后天中午", NOW, at(11, 25, 12)),
        ("大后天下午四点一刻", NOW, at(11, 26, 16, 15)),
        ("11月30号9点", NOW, at(11, 30, 9)),
        ("2026-12-03 14:00", NOW, at(12, 3, 14)),
        ("12/3 上午", NOW, at(12, 3, 9)),
        ("下个月3号上午", NOW, at(12, 3, 9)),
        ("二十五号下午", NOW, at(11, 25, 14)),
        ("2月30日上午", NOW, None),  # no such day
        # the UTC instant of the clock is read in Shanghai
        ("明天上午", datetime(2026, 11, 23, 17, 0, tzinfo=UTC), at(11, 25, 9)),
    ],
)
def test_times_resolve_in_shanghai(text: str, now: datetime, expected: datetime | None) -> None:
    mention = find_time(text, now)

    assert mention is not None
    assert mention.at == expected


def test_find_time_finds_nothing_in_text_without_a_time() -> None:
    assert find_time("我们公司在开发区", NOW) is None
    assert find_time("晚一点可以吗", NOW) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [("5", 5), ("12", 12), ("五", 5), ("十", 10), ("十二", 12), ("二十", 20), ("三十一", 31),
     ("两", 2), ("十十", None), ("一二", None), ("零十", None), ("甲", None)],
)  # fmt: skip
def test_parse_number(text: str, value: int | None) -> None:
    assert parse_number(text) == value


_ANY_CONTEXT = st.sampled_from(sorted(CONTEXTS)).map(CONTEXTS.__getitem__)
# Pieces of replies, so that generated text often comes close to the forms the table covers.
_REPLY_PIECES = st.sampled_from(
    [
        *"0123456789５①一二三五十点半号日月周下上午改期不行可以好的满意非常基本",
        *"★⭐:，。 !?GDTRrd退订",
        *("rating:", "visit:", "confirm", "GD2026112300", "\u200b", "\ufe0f\u20e3", "非常满意"),
    ]
)
_REPLIES = st.text() | st.lists(_REPLY_PIECES, max_size=12).map("".join)


@given(text=_REPLIES, context=_ANY_CONTEXT)
@example(text="e\u200b\u0301", context=CONTEXTS["none"])
def test_classify_never_raises_and_returns_exactly_one_consistent_class(
    text: str, context: ReplyContext
) -> None:
    result = classify(text, context=context)

    assert isinstance(result, Classification)
    assert result.cls in set(ReplyClass)
    assert (result.rating is not None) == (result.cls is RATING)
    assert result.rating is None or 1 <= result.rating <= 5
    assert (result.visit_action is not None) == (result.cls is VISIT)
    assert result.proposed_time is None or result.proposed_time.tzinfo is not None
    assert result.normalised == normalise(text)
    assert result.reason
    again = classify(result.normalised, context=context)
    assert {f.name: getattr(again, f.name) for f in fields(again)} == {
        f.name: getattr(result, f.name) for f in fields(result)
    }
