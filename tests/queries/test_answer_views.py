"""An automatic answer as people see it, on SQLite and PostgreSQL: the answer page's data (the
answer as sent, the source of the version used, the ticket's live rating link) and the
suggestions a handler sees (the latest question's top three; each entry as it is now, told
when it changed, expired, was retired or is gone)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hub.core.vocab import TicketState
from hub.queries.answer_views import answer_page, suggestion_views, ticket_suggestions
from hub.store.db import Database
from hub.store.models import RatingLink
from tests.queries.answer_rows import add_auto_answer, add_faq, add_policy, one_ticket

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)


async def test_the_page_shows_the_answer_as_sent_and_the_source_of_its_version(
    any_db: Database,
) -> None:
    # Version 1 rested on the 2025 notice; version 2 (in force) on the 2026 one.
    await add_faq(any_db, "FAQ-TAX-001", "小规模纳税人怎么申报？", "新答复", now=T0, version=2,
                  source="2026年第5号公告", history={
                      1: {"answer": "旧答复", "source": "2025年第9号公告"},
                      2: {"answer": "新答复", "source": "2026年第5号公告"}})  # fmt: skip
    ticket = await one_ticket(any_db, "GD20260001", at=T0)
    await add_auto_answer(any_db, "小规模怎么报税", at=T0, entry_id="FAQ-TAX-001",
                          entry_version=1, answered=True, answer="旧答复（按季申报）",
                          ticket_id=ticket, token="tok-answer-1")  # fmt: skip
    async with any_db.write() as session:
        session.add_all([
            RatingLink(token="rate-used", ticket_id=ticket, created_at=T0, used_at=T0,
                       expires_at=T0 + timedelta(days=30)),
            RatingLink(token="rate-live", ticket_id=ticket, created_at=T0,
                       expires_at=T0 + timedelta(days=30)),
        ])  # fmt: skip

    async with any_db.read() as session:
        page = await answer_page(session, "tok-answer-1", T0 + timedelta(hours=1))
        expired = await answer_page(session, "tok-answer-1", T0 + timedelta(days=31))
        unknown = await answer_page(session, "no-such-token", T0)
    assert page is not None
    assert (page.question, page.answer, page.source) == (
        "小规模怎么报税",
        "旧答复（按季申报）",
        "2025年第9号公告",
    )
    assert (page.ticket_number, page.rating_token, page.handed_over) == (
        "GD20260001",
        "rate-live",
        False,
    )
    assert expired is not None
    assert expired.rating_token is None
    assert unknown is None


async def test_a_policy_answer_names_its_policy_and_a_handed_over_question_has_no_page(
    any_db: Database,
) -> None:
    await add_policy(any_db, "P-7", "高新技术企业认定奖励办法", now=T0)
    await add_auto_answer(any_db, "高企奖励多少", at=T0, entry_id="policy:P-7#2", answered=True,
                          answer="一次性奖励20万元", token="tok-policy")  # fmt: skip
    await add_auto_answer(any_db, "食堂几点开门", at=T0, token="tok-unsure")
    async with any_db.read() as session:
        page = await answer_page(session, "tok-policy", T0)
        unsure = await answer_page(session, "tok-unsure", T0)
    assert page is not None
    assert (page.source, page.ticket_number, page.rating_token) == (
        "《高新技术企业认定奖励办法》",
        None,
        None,
    )
    assert unsure is None


async def test_a_handler_sees_each_suggestion_as_it_is_now(any_db: Database) -> None:
    await add_faq(any_db, "FAQ-A", "执照遗失怎么补办？", "登报声明后申请补领。", now=T0,
                  version=3, source="登记管理条例")  # fmt: skip
    await add_faq(any_db, "FAQ-B", "稳岗补贴怎么申请？", "2026年度申报……", now=T0,
                  valid_until=date(2026, 11, 30))  # fmt: skip
    await add_faq(any_db, "FAQ-C", "旧问题", "旧答复", now=T0, retired=True)
    await add_policy(any_db, "P-9", "首台套奖励", now=T0, summary="奖励30%",
                     apply_by=date(2026, 12, 31),
                     text="首台套奖励\n一、支持内容：奖励30%。\n"
                          "二、办理方式：线上申报。")  # fmt: skip
    ticket = await one_ticket(any_db, "GD20260002", at=T0, state=TicketState.ASSIGNED)
    old = [{"entry_id": "FAQ-C", "version": 1, "title": "旧问题", "score": 0.5}]
    latest = [
        {"entry_id": "FAQ-A", "version": 2, "title": "执照丢了", "score": 0.61},
        {"entry_id": "FAQ-B", "version": 1, "title": "稳岗补贴怎么申请？", "score": 0.42},
        {"entry_id": "policy:P-9#2", "version": 1, "title": "首台套奖励", "score": 0.4},
        {"entry_id": "FAQ-GONE", "version": 1, "title": "已删", "score": 0.1},
    ]
    await add_auto_answer(any_db, "执照丢了", at=T0, ticket_id=ticket, suggestions=old)
    await add_auto_answer(any_db, "执照丢了怎么办", at=T0 + timedelta(minutes=1),
                          ticket_id=ticket, suggestions=latest)  # fmt: skip

    async with any_db.read() as session:
        shown = await ticket_suggestions(session, ticket)
        views = await suggestion_views(session, shown, TODAY)
        none = await ticket_suggestions(session, ticket + 1)
    assert [(s["entry_id"], s["title"], s["score"]) for s in shown] == [
        ("FAQ-A", "执照丢了", 0.61), ("FAQ-B", "稳岗补贴怎么申请？", 0.42),
        ("policy:P-9#2", "首台套奖励", 0.4),
    ]  # fmt: skip
    assert none == []
    a, b, p = views
    assert (a.title, a.answer, a.source) == (
        "执照遗失怎么补办？",
        "登报声明后申请补领。",
        "登记管理条例",
    )
    assert a.change == "建议时为第 2 版，现为第 3 版"
    assert b.change is not None
    assert "已过有效期（2026-11-30）" in b.change
    # The passage as the policy's text splits now.
    assert (p.answer, p.source, p.change) == ("二、办理方式：线上申报。", "《首台套奖励》", None)
    async with any_db.read() as session:
        [retired] = await suggestion_views(session, old, TODAY)
        [gone] = await suggestion_views(session, latest[3:], TODAY)
        [moved] = await suggestion_views(
            session, [{**latest[2], "entry_id": "policy:P-9#7"}], TODAY
        )
    assert retired.change == "已停用"
    assert gone.change == "该条目已删除"
    assert (moved.answer, moved.change) == ("奖励30%", "政策文本已修改，建议时的段落已不存在")
