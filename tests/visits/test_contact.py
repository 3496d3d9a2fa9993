"""Monthly contact with key enterprises: a visit done, a contact the officer recorded and a
reply from the enterprise each count; an enterprise is counted once however many it has."""

from __future__ import annotations

from datetime import date

from hub.core.clock import SHANGHAI
from hub.core.vocab import ContactVia, Tier, VisitStatus
from hub.store.db import Database
from hub.visits.contact import contact_window, monthly_contact
from hub.visits.periods import parse_period
from hub.visits.settings import TierSettings, default_tiers
from tests.seed import SeedEnterprise, seed_registry
from tests.visits.contact_rows import add_contact, add_reply, add_visit, local

FEB = parse_period("2027-02")
KEYS = (
    SeedEnterprise("甲访", Tier.KEY, "制造业", "龙沙区", officer="LL001"),
    SeedEnterprise("乙电", Tier.KEY, "制造业", "龙沙区", officer="LL001"),
    SeedEnterprise("丙回", Tier.KEY, "制造业", "建华区", officer="LL002"),
    SeedEnterprise("丁无", Tier.KEY, "制造业", "建华区", officer="LL002"),
    SeedEnterprise("戊全", Tier.KEY, "制造业", "铁锋区", officer="LL001"),
    SeedEnterprise("己般", Tier.GENERAL, "制造业", "铁锋区", officer="LL001"),
)


async def test_each_source_counts_once_and_only_key_enterprises_are_listed(
    any_db: Database,
) -> None:
    db = any_db  # PostgreSQL too: the grouped maxima over three tables
    ids = await seed_registry(db, KEYS)
    await add_visit(db, ids["甲访"], "2027Q1", status=VisitStatus.DONE,
                    visited_at=local(date(2027, 2, 10)))  # fmt: skip
    await add_contact(db, ids["乙电"], local(date(2027, 2, 3)))
    await add_reply(db, ids["丙回"], local(date(2027, 2, 28), 23))  # the month's last evening
    await add_contact(db, ids["丁无"], local(date(2027, 1, 31), 16), ContactVia.MEETING)
    await add_reply(db, ids["丁无"], local(date(2027, 3, 1), 0))  # March: not February's
    await add_visit(db, ids["丁无"], "2027Q1", status=VisitStatus.CONFIRMED)  # not done
    await add_visit(db, ids["戊全"], "2027Q1", status=VisitStatus.DONE,
                    visited_at=local(date(2027, 2, 1)))  # fmt: skip
    await add_contact(db, ids["戊全"], local(date(2027, 2, 2)), ContactVia.ONLINE)
    await add_contact(db, ids["戊全"], local(date(2027, 2, 5)))
    await add_reply(db, ids["戊全"], local(date(2027, 2, 4)))
    await add_reply(db, ids["己般"], local(date(2027, 2, 4)))  # general: no contact cadence

    async with db.read() as session:
        found = await monthly_contact(
            session, FEB, tiers=default_tiers(), until=local(date(2027, 3, 5))
        )
    by_name = {c.enterprise: c for c in found}
    assert list(by_name) == ["甲访", "乙电", "丙回", "丁无", "戊全"]
    assert {n: c.sources for n, c in by_name.items()} == {
        "甲访": ("visit",),
        "乙电": ("contact",),
        "丙回": ("reply",),
        "丁无": (),
        "戊全": ("visit", "contact", "reply"),
    }
    assert sum(c.contacted for c in found) == 4  # 戊全's three contacts count once
    # The latest contact up to the end of February, before it too (丁无's January meeting).
    assert by_name["丁无"].last_contact_at == local(date(2027, 1, 31), 16)
    assert by_name["丁无"].last_contact_how == "会面座谈"
    assert (by_name["戊全"].last_contact_at, by_name["戊全"].last_contact_how) == (
        local(date(2027, 2, 5)), "电话联系",
    )  # fmt: skip
    assert by_name["丙回"].last_contact_how == "企业回复"
    assert by_name["甲访"].officer_id is not None
    assert by_name["甲访"].region == "龙沙区"


async def test_until_leaves_out_what_is_recorded_after_it(db: Database) -> None:
    ids = await seed_registry(db, KEYS[:1])
    await add_reply(db, ids["甲访"], local(date(2027, 2, 21)))
    async with db.read() as session:
        before = await monthly_contact(
            session, FEB, tiers=default_tiers(), until=local(date(2027, 2, 20))
        )
        after = await monthly_contact(
            session, FEB, tiers=default_tiers(), until=local(date(2027, 2, 22))
        )
    assert [c.contacted for c in before] == [False]
    assert (before[0].last_contact_at, before[0].last_contact_how) == (None, "")
    assert [c.contacted for c in after] == [True]


async def test_a_tier_contacted_every_two_months_counts_the_two_months_ending_with_it(
    db: Database,
) -> None:
    ids = await seed_registry(db, KEYS[:2])
    await add_contact(db, ids["甲访"], local(date(2027, 1, 15)))
    tiers = {**default_tiers(), "key": TierSettings(visit_every_months=3, contact_every_months=2)}
    async with db.read() as session:
        found = await monthly_contact(session, FEB, tiers=tiers)
    assert [(c.enterprise, c.contacted) for c in found] == [("甲访", True), ("乙电", False)]
    start, end = contact_window(parse_period("2027-01"), 2, SHANGHAI)
    assert (start.date(), end.date()) == (date(2026, 12, 1), date(2027, 2, 1))
