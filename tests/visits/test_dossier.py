"""The dossier (一企一档): what the officer reads before a visit, from the rows on record.

甲机械 (tests.seed: officer 李明, contact 甲机械联系人1) gets open and closed tickets, active and
repaired credit events, policies pushed (answered, not answered, not yet sent) and two visits
done; the dossier keeps what is open, active, sent and last.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.credit import CreditEventType
from hub.core.errors import NotFoundError
from hub.store.db import Database
from hub.visits.dossier import build_dossier, build_dossiers, dossier_text, dossier_variables
from tests.seed import seed_registry
from tests.visits import dossier_rows as rows

NOW = datetime(2027, 3, 5, 7, 0, tzinfo=UTC)  # Friday 15:00 in Shanghai


async def test_the_dossier_keeps_what_is_open_active_sent_and_last(any_db: Database) -> None:
    ids = await rows.record_of_jia(any_db)
    async with any_db.read() as session:
        d = await build_dossier(session, ids["甲机械"], NOW)
    assert (d.name, d.tier, d.region) == ("甲机械", "重点", "龙沙区")
    assert (d.contact_name, d.contact_mobile) == ("甲机械联系人1", "+8613900000001")
    assert [(t.number, t.department, t.overdue) for t in d.open_tickets] == [
        ("GD202702150003", "市发展改革委", True),
        ("GD202703010001", "", False),
    ]
    assert [(e.event_id, e.type_label) for e in d.credit_events] == [("XY2027-0001", "行政处罚")]
    assert [(p.title, p.answered) for p in d.policies] == [
        ("高新技术企业认定奖励", True),
        ("稳岗返还", False),
    ]
    assert d.last_visit is not None
    assert d.last_visit.visited_at == datetime(2026, 12, 8, 2, 0, tzinfo=UTC)
    assert d.last_visit.notes == "生产正常，反映用电紧张"
    assert [(p.text, p.ticket_number) for p in d.last_visit.problems] == [
        ("厂区用电容量不足，需增容", "GD202612080002"),
        ("招工难", ""),
    ]
    assert (d.overdue_tickets, d.policies_answered) == (1, 1)


async def test_the_dossier_text_names_each_item(db: Database) -> None:
    ids = await rows.record_of_jia(db)
    async with db.read() as session:
        d = await build_dossier(session, ids["甲机械"], NOW)
    text = dossier_text(d)
    for expected in (
        "【一企一档】甲机械（重点类，龙沙区）", "联系人：甲机械联系人1，电话13900000001",
        "未办结诉求（2项）", "GD202702150003 厂区用电增容申请（市发展改革委），已超期",
        "GD202703010001 招工补贴申领咨询，时限3月12日（周五）24时前",
        "有效信用事项（1项）",
        "行政处罚（龙沙区市场监督管理局，2027年1月20日）：未按规定公示年度报告",
        "高新技术企业认定奖励（2027年2月1日推送，已回复）", "稳岗返还（2027年1月10日推送，未回复）",
        "上次走访：2026年12月8日，生产正常，反映用电紧张",
        "厂区用电容量不足，需增容（工单GD202612080002，市发展改革委）", "· 招工难",
    ):  # fmt: skip
        assert expected in text, expected
    assert "已办结的诉求" not in text
    assert "还没发出的政策" not in text
    assert "别家的诉求" not in text
    fields = dossier_variables(d)
    assert fields["dossier"] == text
    assert (fields["open_tickets"], fields["overdue_tickets"], fields["credit_events"]) == (2, 1, 1)
    assert (fields["policies_sent"], fields["policies_answered"]) == (2, 1)
    assert (fields["last_visit"], fields["last_problems"]) == ("2026年12月8日", 2)


async def test_an_enterprise_with_no_record_reads_none(db: Database) -> None:
    ids = await seed_registry(db)
    async with db.read() as session:
        d = await build_dossier(session, ids["丁餐饮"], NOW)  # no contact with a mobile
    text = dossier_text(d)
    assert "未办结诉求：无" in text
    assert "有效信用事项：无" in text
    assert "已推送政策：无" in text
    assert "上次走访：暂无记录" in text
    assert dossier_variables(d)["last_visit"] == "暂无记录"


async def test_a_long_dossier_shows_three_items_a_section_and_stays_within_bounds(
    db: Database,
) -> None:
    ids = await seed_registry(db)
    jia = ids["甲机械"]
    async with db.write() as session:
        for n in range(5):
            await rows.ticket(
                session,
                jia,
                f"GD20270301000{n}",
                "一个很长的诉求摘要" * 4,
                datetime(2027, 3, 20 + n, 16, 0, tzinfo=UTC),
            )
            await rows.credit_event(
                session,
                jia,
                f"XY-{n}",
                type_=CreditEventType.DISHONEST_DEBTOR,
                summary="很长的事由" * 10,
                decided_on=date(2027, 1, 1 + n),
            )
    async with db.read() as session:
        d = await build_dossier(session, jia, NOW)
    text = dossier_text(d, max_chars=2000)
    assert "未办结诉求（5项）" in text
    assert "……等5项" in text
    assert text.count("· GD2027") == 3
    bounded = dossier_text(d)
    assert len(bounded) <= 420
    assert bounded.endswith("……")
    assert len(dossier_text(d, max_chars=100)) == 100


async def test_many_dossiers_take_the_same_reads_as_one(any_db: Database) -> None:
    """A morning's reminders read their dossiers in one pass: the statements do not grow with
    the number of enterprises."""
    ids = await rows.record_of_jia(any_db)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(any_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        async with any_db.read() as session:
            one = await build_dossiers(session, [ids["甲机械"]], NOW)
        reads_for_one = len(statements)
        statements.clear()
        async with any_db.read() as session:
            every = await build_dossiers(session, [*ids.values(), 9999], NOW)
    finally:
        sa.event.remove(any_db.engine.sync_engine, "before_cursor_execute", count)
    assert len(statements) == reads_for_one
    assert set(every) == set(ids.values())  # the unknown id is left out
    assert every[ids["甲机械"]] == one[ids["甲机械"]]


async def test_an_unknown_enterprise_is_not_found(db: Database) -> None:
    async with db.read() as session:
        with pytest.raises(NotFoundError, match="企业 42 不存在"):
            await build_dossier(session, 42, NOW)
