"""A hand-built half-year of visits for the compliance tests (report, CLI, monthly report).

Officers LL001 李明 and LL002 张丽娟; today is Monday 10 May 2027. In 2027H1:

- 甲重点 (key, 龙沙区, LL001): Q1 done 10 Feb (on time); Q2 planned (in progress).
- 乙重点 (key, 建华区, LL002): Q1 done 2 Apr (late); Q2 recorded not done (missed).
- 戊重点 (key, 龙沙区, LL001, exiting): Q1 planned before it began to exit, never done
  (missed); no Q2 (the plan makes none for an exiting enterprise).
- 丙一般 (general, 龙沙区, LL001): no visit made yet for H1 (in progress).
- 己一般 (general, 铁锋区, LL002): H1 cancelled (not due).
- 丁普通 (ordinary, 建华区, LL002): 2027 confirmed (in progress).
- 庚普通 (ordinary, no officer): nothing due.

Contacts of key enterprises: 乙 phoned in January, 甲's visit in February, 乙's visit in
April, a reply from 戊 on 9 May.
"""

from __future__ import annotations

from datetime import date

from hub.core.vocab import Stage, Tier, VisitStatus
from hub.core.workdays import WorkdayCalendar, YearDays
from hub.store.db import Database
from tests.seed import SeedEnterprise, seed_registry
from tests.visits.contact_rows import add_contact, add_reply, add_visit, local

TODAY = date(2027, 5, 10)
REGISTRY = (
    SeedEnterprise("甲重点", Tier.KEY, "制造业", "龙沙区", officer="LL001"),
    SeedEnterprise("乙重点", Tier.KEY, "制造业", "建华区", officer="LL002"),
    SeedEnterprise("戊重点", Tier.KEY, "建筑业", "龙沙区", officer="LL001", stage=Stage.EXITING),
    SeedEnterprise("丙一般", Tier.GENERAL, "批发和零售业", "龙沙区", officer="LL001"),
    SeedEnterprise("己一般", Tier.GENERAL, "批发和零售业", "铁锋区", officer="LL002"),
    SeedEnterprise("丁普通", Tier.ORDINARY, "住宿和餐饮业", "建华区", officer="LL002"),
    SeedEnterprise("庚普通", Tier.ORDINARY, "住宿和餐饮业", "建华区"),
)


def calendar_2027() -> WorkdayCalendar:
    """2027 with Labour Day (1–5 May) and Dragon Boat (9–11 June) entered."""
    days = {date(2027, 5, d) for d in range(1, 6)} | {date(2027, 6, d) for d in (9, 10, 11)}
    entered = YearDays(holidays=frozenset(days), workdays=frozenset())
    return WorkdayCalendar(warn=lambda _year: None).with_year(2027, entered)


async def build_half_year(db: Database) -> dict[str, int]:
    """The registry and visits above; enterprise ids by name."""
    ids = await seed_registry(db, REGISTRY)
    done = VisitStatus.DONE
    await add_visit(db, ids["甲重点"], "2027Q1", status=done, visited_at=local(date(2027, 2, 10)))
    await add_visit(db, ids["甲重点"], "2027Q2", due_on=date(2027, 6, 1))
    await add_visit(db, ids["乙重点"], "2027Q1", status=done, visited_at=local(date(2027, 4, 2)))
    await add_visit(db, ids["乙重点"], "2027Q2", details={"not_done": [{"reason": "企业停产"}]})
    await add_visit(db, ids["戊重点"], "2027Q1", due_on=date(2027, 3, 1))
    await add_visit(db, ids["己一般"], "2027H1", status=VisitStatus.CANCELLED)
    await add_visit(db, ids["丁普通"], "2027", status=VisitStatus.CONFIRMED)
    await add_contact(db, ids["乙重点"], local(date(2027, 1, 20)))
    await add_reply(db, ids["戊重点"], local(date(2027, 5, 9)))
    return ids
