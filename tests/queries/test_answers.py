"""``hub answers stats``' reads on SQLite and PostgreSQL: the entries that answer most, the
questions handed over most (folded text, best entry), the ratings of automatic answers (only
those given after the answer and before a handover; malicious ones apart, out of 好评率), the
handovers by reason, and ``since``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hub.core.vocab import TicketState
from hub.queries.answers import answer_stats, fold_question
from hub.store.db import Database
from tests.queries.answer_rows import add_auto_answer, add_faq, add_policy
from tests.ticket_factory import make_org, make_ticket

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_questions_are_folded_as_people_type_them() -> None:
    assert fold_question("高企认定要什么条件？") == fold_question(" 高企认定 要什么条件? ")
    assert fold_question("ＡＢＣ 社保") == fold_question("abc社保")


async def _seed(db: Database) -> None:
    await add_faq(db, "FAQ-TAX-001", "小规模纳税人增值税怎么申报？", "按季申报……", now=T0,
                  version=2)  # fmt: skip
    await add_faq(db, "FAQ-REG-002", "营业执照遗失怎么补办？", "登报声明……", now=T0)
    await add_policy(db, "P-2026-07", "高新技术企业认定奖励办法", now=T0)
    # FAQ-TAX-001 answered three times (versions 1, 2, 2), the policy passage once.
    for i, version in enumerate((1, 2, 2)):
        await add_auto_answer(db, f"增值税怎么报{i}", at=T0 + timedelta(minutes=i),
                              entry_id="FAQ-TAX-001", entry_version=version, answered=True,
                              answer="按季申报……")  # fmt: skip
    await add_auto_answer(db, "高企奖励多少", at=T0, entry_id="policy:P-2026-07#2",
                          answered=True, answer="一次性奖励……")  # fmt: skip
    # Handed over: the same question typed three ways (full-width, spaces), and one unmatched.
    for text in ("执照丢了怎么办？", "执照丢了 怎么办?", "执照丢了怎么办"):
        await add_auto_answer(db, text, at=T0, entry_id="FAQ-REG-002", score=0.3)
    await add_auto_answer(db, "食堂几点开门", at=T0)


async def test_entries_and_handed_over_questions(any_db: Database) -> None:
    await _seed(any_db)
    async with any_db.read() as session:
        stats = await answer_stats(session)

    assert (stats.asked, stats.answered, stats.handed_over) == (8, 4, 4)
    assert [(e.entry_id, e.title, e.answers, e.latest_version) for e in stats.top_entries] == [
        ("FAQ-TAX-001", "小规模纳税人增值税怎么申报？", 3, 2),
        ("policy:P-2026-07#2", "高新技术企业认定奖励办法", 1, 1),
    ]
    [lost, canteen] = stats.handed_over_questions
    assert (lost.count, lost.entry_ids) == (3, ("FAQ-REG-002",))
    assert fold_question(lost.question) == fold_question("执照丢了怎么办")
    assert (canteen.question, canteen.count, canteen.entry_ids) == ("食堂几点开门", 1, ())
    assert [(e.entry_id, e.title, e.count) for e in stats.handed_over_entries] == [
        ("FAQ-REG-002", "营业执照遗失怎么补办？", 3),
        ("", "", 1),
    ]
    data = stats.as_dict()
    assert data["handed_over_questions"][0]["entry_ids"] == ["FAQ-REG-002"]
    assert data["ratings"]["good_rate"] is None


async def test_ratings_of_automatic_answers_and_handovers(any_db: Database) -> None:
    org = await make_org(any_db, T0)
    later = T0 + timedelta(hours=1)
    tickets = []
    # (rating score, malicious) given an hour after the answer; the fourth is rated after a
    # person took over (the handler's answer, not the assistant's), the fifth before the answer.
    for n, (score, malicious) in enumerate(((5, False), (2, False), (1, True), (4, False))):
        tickets.append(await make_ticket(
            any_db, org, number=f"GD2026000{n}", received_at=T0, deadline_at=T0 + timedelta(days=7),
            state=TicketState.RESOLVED, ratings=[(score, later, malicious)],
        ))  # fmt: skip
    before = await make_ticket(
        any_db, org, number="GD20269999", received_at=T0, deadline_at=T0 + timedelta(days=7),
        state=TicketState.RESOLVED, ratings=[(1, T0 - timedelta(hours=1), False)],
    )  # fmt: skip
    for ticket_id in [*tickets[:3], before]:
        await add_auto_answer(any_db, "问题", at=T0, entry_id="FAQ-X", answered=True,
                              answer="答复", ticket_id=ticket_id)  # fmt: skip
    await add_auto_answer(
        any_db,
        "问题",
        at=T0,
        entry_id="FAQ-X",
        answered=True,
        answer="答复",
        ticket_id=tickets[1],
        handed_over_at=later,
        handover_reason="bad_rating",
    )
    await add_auto_answer(any_db, "问题", at=T0, entry_id="FAQ-X", answered=True, answer="答复",
                          ticket_id=tickets[3], handed_over_at=T0 + timedelta(minutes=5),
                          handover_reason="human")  # fmt: skip
    await add_auto_answer(any_db, "又问", at=T0, entry_id="FAQ-X", answered=True, answer="答复",
                          handed_over_at=later, handover_reason="follow_up")  # fmt: skip
    async with any_db.read() as session:
        stats = await answer_stats(session)

    # Ticket 1's bad rating follows two answers of it: counted once.
    assert stats.ratings.levels == {5: 1, 4: 0, 3: 0, 2: 1, 1: 0}
    assert stats.ratings.malicious == 1
    assert stats.ratings.good_rate == pytest.approx(0.5)
    assert stats.handovers == {"human": 1, "bad_rating": 1, "follow_up": 1}
    assert stats.as_dict()["ratings"]["good_rate"] == 0.5


async def test_since_bounds_every_figure(any_db: Database) -> None:
    await _seed(any_db)
    await add_auto_answer(any_db, "新问题", at=T0 + timedelta(days=3), entry_id="FAQ-REG-002",
                          answered=True, answer="登报声明……")  # fmt: skip
    async with any_db.read() as session:
        stats = await answer_stats(session, since=T0 + timedelta(days=1))

    assert (stats.asked, stats.answered, stats.handed_over) == (1, 1, 0)
    assert [e.entry_id for e in stats.top_entries] == ["FAQ-REG-002"]
    assert stats.handed_over_questions == []
