"""``import_file`` end to end on SQLite and PostgreSQL: parse, upsert, counts, rejects file."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.vocab import Stage, Tier
from hub.devtools.demo_data import demo_departments, demo_officers, write_csv
from hub.importing.service import ImportReport, import_file
from hub.store.db import Database
from hub.store.models import Contact, Department, Enterprise, EnterpriseTag, Officer
from tests.importing.factories import make_uscc, write_csv_file

A, B, C = make_uscc(1), make_uscc(2), make_uscc(3)
HEADER = ["uscc", "name", "tier", "industry", "tags", "contact_name", "mobile",
          "wechat_openid", "officer"]  # fmt: skip
# Three enterprises; A has two contacts (a repeated USCC row).
ROWS: list[list[str]] = [
    [A, "齐齐哈尔鹤城机械有限公司", "key", "制造业", "专精特新;规上企业", "王伟", "138 0013 8000",
     "", "LL001"],
    [B, "龙沙区鑫盛烤肉店", "ordinary", "住宿和餐饮业", "个体工商户", "李娜", "+86 139-0452-1001",
     "oAbCdEf0123456789012345678", ""],
    [A, "齐齐哈尔鹤城机械有限公司", "key", "制造业", "专精特新;规上企业", "刘洋", "13100131000",
     "", "LL001"],
    [C, "建华区恒达商贸有限公司", "general", "批发和零售业", "", "张敏", "15000150000", "",
     "LL004"],
]  # fmt: skip
COLUMN = {name: index for index, name in enumerate(HEADER)}


def enterprise_file(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    return write_csv_file(path, [HEADER, *rows])


def changed(rows: Sequence[Sequence[str]], index: int, **values: str) -> list[list[str]]:
    """A copy of ``rows`` with row ``index`` given new ``values`` by column name."""
    copy = [list(row) for row in rows]
    for column, value in values.items():
        copy[index][COLUMN[column]] = value
    return copy


async def load_staff(db: Database, folder: Path, clock: FixedClock) -> None:
    """Departments, then officers (LL001…LL020): what enterprise rows name."""
    write_csv(folder / "departments.csv", demo_departments())
    write_csv(folder / "officers.csv", demo_officers())
    assert (await import_file(db, "departments", folder / "departments.csv", clock)).rejected == 0
    assert (await import_file(db, "officers", folder / "officers.csv", clock)).rejected == 0


def counts(report: ImportReport) -> tuple[int, int, int, int, int]:
    """(valid, created, updated, unchanged, rejected)"""
    return report.valid, report.created, report.updated, report.unchanged, report.rejected


async def enterprises(db: Database) -> dict[str, Enterprise]:
    """Every enterprise by USCC, tags and contacts loaded."""
    async with db.read() as session:
        return {e.uscc: e for e in (await session.scalars(sa.select(Enterprise))).all()}


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the registry tables, timestamps included, in a stable order."""
    tables = {
        "department": Department,
        "officer": Officer,
        "enterprise": Enterprise,
        "enterprise_tag": EnterpriseTag,
        "contact": Contact,
    }
    result = {}
    async with db.read() as session:
        for name, model in tables.items():
            table = model.__table__
            rows = await session.execute(sa.select(table).order_by(*table.primary_key.columns))
            result[name] = [tuple(row) for row in rows.all()]
    return result


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


async def test_import_creates_departments_officers_and_enterprises_with_tags_and_contacts(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    write_csv(tmp_path / "departments.csv", demo_departments())
    write_csv(tmp_path / "officers.csv", demo_officers())
    departments = await import_file(any_db, "departments", tmp_path / "departments.csv", clock)
    officers = await import_file(any_db, "officers", tmp_path / "officers.csv", clock)
    report = await import_file(
        any_db, "enterprises", enterprise_file(tmp_path / "e.csv", ROWS), clock
    )

    assert counts(departments) == (18, 18, 0, 0, 0)
    assert counts(officers) == (20, 20, 0, 0, 0)
    assert counts(report) == (4, 3, 0, 0, 0)
    assert report.rejects_file is None
    stored = await enterprises(any_db)
    assert sorted(stored) == sorted([A, B, C])
    a, b, c = stored[A], stored[B], stored[C]
    assert (a.name, a.tier, a.industry, a.stage) == (
        "齐齐哈尔鹤城机械有限公司",
        Tier.KEY,
        "制造业",
        Stage.OPERATING,
    )
    assert (b.tier, c.tier) == (Tier.ORDINARY, Tier.GENERAL)
    assert a.tag_names == ("专精特新", "规上企业")
    assert b.tag_names == ("个体工商户",)
    assert c.tag_names == ()
    # mobiles as E.164 whatever the spelling; one contact per row, repeated USCC included
    assert [(x.name, x.mobile, x.natural_key) for x in a.contacts] == [
        ("王伟", "+8613800138000", "+8613800138000"),
        ("刘洋", "+8613100131000", "+8613100131000"),
    ]
    assert [(x.name, x.mobile, x.wechat_openid) for x in b.contacts] == [
        ("李娜", "+8613904521001", "oAbCdEf0123456789012345678")
    ]
    assert a.created_at == a.updated_at == clock.now()
    async with any_db.read() as session:
        officer_ids = dict((await session.execute(sa.select(Officer.code, Officer.id))).all())
        ll001_department = await session.scalar(
            sa.select(Department.code)
            .join(Officer, Officer.department_id == Department.id)
            .where(Officer.code == "LL001")
        )
    assert (a.officer_id, b.officer_id, c.officer_id) == (
        officer_ids["LL001"],
        None,
        officer_ids["LL004"],
    )
    assert ll001_department == "GXJ"


async def test_importing_the_same_files_twice_reports_unchanged_and_changes_nothing(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await load_staff(any_db, tmp_path, clock)
    path = enterprise_file(tmp_path / "e.csv", ROWS)
    await import_file(any_db, "enterprises", path, clock)
    before = await snapshot(any_db)

    clock.advance(timedelta(days=1))  # any write would now show in updated_at
    again = [
        await import_file(any_db, kind, tmp_path / name, clock)
        for kind, name in (
            ("departments", "departments.csv"),
            ("officers", "officers.csv"),
            ("enterprises", "e.csv"),
        )
    ]

    assert [counts(report) for report in again] == [
        (18, 0, 0, 18, 0),
        (20, 0, 0, 20, 0),
        (4, 0, 0, 3, 0),
    ]
    assert await snapshot(any_db) == before


def _tier(e: Enterprise) -> object:
    return e.tier


def _name(e: Enterprise) -> object:
    return e.name


def _tags(e: Enterprise) -> object:
    return e.tag_names


def _officer(e: Enterprise) -> object:
    return e.officer_id is None


def _contacts(e: Enterprise) -> object:
    return [(x.name, x.mobile, x.wechat_openid) for x in e.contacts]


@pytest.mark.parametrize(
    ("change", "read", "expected"),
    [
        pytest.param({"tier": "重点"}, _tier, Tier.KEY, id="tier"),
        pytest.param({"name": "建华区恒达商贸集团有限公司"}, _name, "建华区恒达商贸集团有限公司",
                     id="name"),
        pytest.param({"tags": "外贸企业；小微企业"}, _tags, ("外贸企业", "小微企业"), id="tags"),
        pytest.param({"officer": ""}, _officer, True, id="officer"),
        pytest.param({"contact_name": "张敏华"}, _contacts, [("张敏华", "+8615000150000", None)],
                     id="contact-name"),
        pytest.param({"wechat_openid": "oZyXwVu0123456789012345678"}, _contacts,
                     [("张敏", "+8615000150000", "oZyXwVu0123456789012345678")],
                     id="contact-address"),
    ],
)  # fmt: skip
async def test_a_changed_enterprise_counts_as_updated_and_the_change_is_applied(
    any_db: Database,
    tmp_path: Path,
    clock: FixedClock,
    change: dict[str, str],
    read: Callable[[Enterprise], object],
    expected: object,
) -> None:
    await load_staff(any_db, tmp_path, clock)
    await import_file(any_db, "enterprises", enterprise_file(tmp_path / "v1.csv", ROWS), clock)
    untouched = {uscc: e.updated_at for uscc, e in (await enterprises(any_db)).items()}

    clock.advance(timedelta(hours=1))
    second = enterprise_file(tmp_path / "v2.csv", changed(ROWS, 3, **change))  # row of C
    report = await import_file(any_db, "enterprises", second, clock)

    assert counts(report) == (4, 0, 1, 2, 0)
    stored = await enterprises(any_db)
    assert read(stored[C]) == expected
    assert stored[C].updated_at == clock.now()
    assert {uscc: e.updated_at for uscc, e in stored.items() if uscc != C} == {
        uscc: at for uscc, at in untouched.items() if uscc != C
    }


async def test_a_repeated_uscc_row_adds_a_second_contact_to_the_same_enterprise(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await load_staff(any_db, tmp_path, clock)
    first = [ROWS[1]]
    await import_file(any_db, "enterprises", enterprise_file(tmp_path / "v1.csv", first), clock)

    second_contact = changed(first, 0, contact_name="赵静", mobile="18600186000", wechat_openid="")
    path = enterprise_file(tmp_path / "v2.csv", [*first, *second_contact])
    report = await import_file(any_db, "enterprises", path, clock)

    assert counts(report) == (2, 0, 1, 0, 0)
    stored = await enterprises(any_db)
    assert list(stored) == [B]
    assert [(x.name, x.mobile) for x in stored[B].contacts] == [
        ("李娜", "+8613904521001"),
        ("赵静", "+8618600186000"),
    ]


@pytest.mark.parametrize(
    ("later_rows", "expected_counts", "expected_contacts"),
    [
        pytest.param([ROWS[0]], (1, 0, 0, 1, 0), ["王伟", "刘洋"], id="one-of-two-listed"),
        pytest.param(changed([ROWS[0]], 0, contact_name="孙丽", mobile="18000180000"),
                     (1, 0, 1, 0, 0), ["王伟", "刘洋", "孙丽"], id="only-a-new-one-listed"),
        pytest.param(changed([ROWS[0]], 0, contact_name="", mobile=""), (1, 0, 0, 1, 0),
                     ["王伟", "刘洋"], id="no-contact-listed"),
    ],
)  # fmt: skip
async def test_contacts_on_record_but_absent_from_a_later_file_are_kept(
    any_db: Database,
    tmp_path: Path,
    clock: FixedClock,
    later_rows: list[list[str]],
    expected_counts: tuple[int, ...],
    expected_contacts: list[str],
) -> None:
    await load_staff(any_db, tmp_path, clock)
    first = enterprise_file(tmp_path / "v1.csv", [ROWS[0], ROWS[2]])  # A with 王伟 and 刘洋
    await import_file(any_db, "enterprises", first, clock)

    report = await import_file(
        any_db, "enterprises", enterprise_file(tmp_path / "v2.csv", later_rows), clock
    )

    assert counts(report) == expected_counts
    assert [x.name for x in (await enterprises(any_db))[A].contacts] == expected_contacts


async def test_a_row_naming_an_unknown_officer_is_rejected_and_the_others_are_imported(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await load_staff(any_db, tmp_path, clock)
    path = enterprise_file(tmp_path / "企业.csv", changed(ROWS, 1, officer="LL999"))

    report = await import_file(any_db, "enterprises", path, clock)

    assert counts(report) == (3, 2, 0, 0, 1)
    assert sorted(await enterprises(any_db)) == sorted([A, C])
    assert report.rejects_file == str(tmp_path / "企业.rejects.csv")
    [reject] = read_rejects(Path(report.rejects_file))
    assert reject["uscc"] == B
    assert reject["行号"] == "3"  # the header is row 1
    assert reject["原因"] == "officer“LL999”不存在，请先导入联络员"


async def test_the_rejects_file_is_written_and_removed_again_when_a_rerun_has_no_rejects(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await load_staff(any_db, tmp_path, clock)
    path = tmp_path / "企业.csv"
    rejects = tmp_path / "企业.rejects.csv"
    bad = changed(ROWS, 3, tier="vip", mobile="1380013800")
    enterprise_file(path, bad)

    first = await import_file(any_db, "enterprises", path, clock)

    assert first.rejects_file == str(rejects)
    [reject] = read_rejects(rejects)
    assert list(reject) == [*HEADER, "行号", "原因"]
    assert reject["行号"] == "5"
    assert reject["tier"] == "vip"  # the row as the clerk wrote it, to correct and re-import
    assert "tier“vip”无效" in reject["原因"]
    assert "mobile“1380013800”不是有效的手机号" in reject["原因"]

    enterprise_file(path, ROWS)  # corrected
    second = await import_file(any_db, "enterprises", path, clock)

    assert (second.rejected, second.rejects_file) == (0, None)
    assert not rejects.exists()
    assert C in await enterprises(any_db)


async def test_a_contact_first_known_by_openid_and_later_by_mobile_stays_one_contact(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await load_staff(any_db, tmp_path, clock)
    openid_only = changed([ROWS[1]], 0, mobile="")  # 李娜 known only by her openid
    await import_file(any_db, "enterprises", enterprise_file(tmp_path / "v1.csv", openid_only),
                      clock)  # fmt: skip

    report = await import_file(
        any_db, "enterprises", enterprise_file(tmp_path / "v2.csv", [ROWS[1]]), clock
    )

    assert counts(report) == (1, 0, 1, 0, 0)
    [contact] = (await enterprises(any_db))[B].contacts
    assert (contact.name, contact.mobile, contact.wechat_openid) == (
        "李娜",
        "+8613904521001",
        "oAbCdEf0123456789012345678",
    )
    assert contact.natural_key == "+8613904521001"  # the mobile now identifies her


async def test_a_blank_cell_in_a_later_file_does_not_erase_what_is_on_record(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    await load_staff(any_db, tmp_path, clock)
    await import_file(any_db, "enterprises", enterprise_file(tmp_path / "v1.csv", [ROWS[1]]),
                      clock)  # fmt: skip
    without_openid = changed([ROWS[1]], 0, wechat_openid="")

    report = await import_file(
        any_db, "enterprises", enterprise_file(tmp_path / "v2.csv", without_openid), clock
    )

    assert counts(report) == (1, 0, 0, 1, 0)
    [contact] = (await enterprises(any_db))[B].contacts
    assert contact.wechat_openid == "oAbCdEf0123456789012345678"
