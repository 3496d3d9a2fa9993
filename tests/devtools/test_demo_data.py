"""Tests for hub.devtools.demo_data: valid, unique, consistent and deterministic demo rows."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
from stdnum.cn import uscc

from hub.core.vocab import DepartmentRole, Stage, Tier
from hub.devtools.demo_data import (
    DEPARTMENT_COLUMNS,
    ENTERPRISE_COLUMNS,
    OFFICER_COLUMNS,
    demo_departments,
    demo_enterprises,
    demo_officers,
    write_csv,
)

ENTERPRISE_FIELDS = ("uscc", "name", "tier", "industry", "region", "stage", "tags", "officer")


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    return list(demo_enterprises(20_000))


def by_uscc(rows: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    grouped: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        grouped.setdefault(row["uscc"], []).append(row)
    return grouped


def test_columns() -> None:
    assert all(tuple(row) == DEPARTMENT_COLUMNS for row in demo_departments())
    assert all(tuple(row) == OFFICER_COLUMNS for row in demo_officers())
    assert all(tuple(row) == ENTERPRISE_COLUMNS for row in demo_enterprises(50))


def test_usccs_valid_and_unique_per_enterprise(rows: list[dict[str, str]]) -> None:
    grouped = by_uscc(rows)
    assert len(grouped) == 20_000
    for code in grouped:
        assert uscc.validate(code) == code
        assert code.startswith("91")


def test_names_unique_per_enterprise(rows: list[dict[str, str]]) -> None:
    names = {(row["uscc"], row["name"]) for row in rows}
    assert len({name for _, name in names}) == len(names) == 20_000


def test_mobiles_valid_and_unique(rows: list[dict[str, str]]) -> None:
    staff = [d["head_mobile"] for d in demo_departments()] + [o["mobile"] for o in demo_officers()]
    mobiles = [row["mobile"] for row in rows] + staff
    assert len(set(mobiles)) == len(mobiles)
    for mobile in mobiles:
        assert len(mobile) == 11
        number = phonenumbers.parse(mobile, "CN")
        assert phonenumbers.is_valid_number(number), mobile
        assert phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.MOBILE


def test_deterministic() -> None:
    assert list(demo_enterprises(2_000)) == list(demo_enterprises(2_000))
    assert list(demo_enterprises(500, seed=7)) == list(demo_enterprises(500, seed=7))
    assert list(demo_enterprises(500, seed=7)) != list(demo_enterprises(500, seed=8))
    assert demo_departments() == demo_departments()
    assert demo_officers() == demo_officers()


def test_officer_references(rows: list[dict[str, str]]) -> None:
    officers = {o["code"]: o for o in demo_officers()}
    assert len(officers) == len(demo_officers())
    for row in rows:
        if row["tier"] == Tier.KEY:
            assert row["officer"]
        if row["officer"]:
            assert officers[row["officer"]]["region"] == row["region"]
    departments = {d["code"] for d in demo_departments()}
    assert all(o["department"] in departments for o in officers.values())


def test_departments() -> None:
    departments = demo_departments()
    assert len({d["code"] for d in departments}) == len(departments)
    roles = Counter(d["role"] for d in departments)
    assert roles == {DepartmentRole.BUSINESS_OFFICE: 1, DepartmentRole.DEPARTMENT: 17}
    for d in departments:
        assert phonenumbers.is_valid_number(phonenumbers.parse(d["head_mobile"], "CN"))


def test_every_industry_handled(rows: list[dict[str, str]]) -> None:
    handled = {
        industry
        for d in demo_departments()
        if d["role"] == DepartmentRole.DEPARTMENT
        for industry in d["industries"].split(";")
    }
    assert {row["industry"] for row in rows} <= handled


def test_vocabulary_and_distributions(rows: list[dict[str, str]]) -> None:
    enterprises = [group[0] for group in by_uscc(rows).values()]
    tiers = Counter(Tier(row["tier"]) for row in enterprises)
    assert 0.08 < tiers[Tier.KEY] / 20_000 < 0.12
    assert 0.27 < tiers[Tier.GENERAL] / 20_000 < 0.33
    assert 0.57 < tiers[Tier.ORDINARY] / 20_000 < 0.63
    stages = Counter(Stage(row["stage"]) for row in enterprises)
    assert stages.most_common(1)[0][0] is Stage.OPERATING
    openids = [row["wechat_openid"] for row in rows if row["wechat_openid"]]
    assert 0.55 < len(openids) / len(rows) < 0.65
    assert all(len(o) == 28 and o.startswith("o") for o in openids)
    assert len(set(openids)) == len(openids)
    assert not any(row["telegram_chat_id"] for row in rows)


def test_second_contacts_repeat_enterprise_fields(rows: list[dict[str, str]]) -> None:
    repeated = [group for group in by_uscc(rows).values() if len(group) > 1]
    assert 0.03 < len(repeated) / 20_000 < 0.07
    assert all(len(group) == 2 for group in repeated)
    for first, second in repeated:
        assert all(first[field] == second[field] for field in ENTERPRISE_FIELDS)
        assert first["mobile"] != second["mobile"]
    # an enterprise's rows are adjacent: the USCC changes exactly once per enterprise
    changes = sum(
        1 for before, after in itertools.pairwise(rows) if before["uscc"] != after["uscc"]
    )
    assert changes == 20_000 - 1


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_write_csv_round_trip(tmp_path: Path, encoding: str) -> None:
    rows = list(demo_enterprises(300))
    path = tmp_path / "registry.csv"
    assert write_csv(path, rows, encoding=encoding) == len(rows)
    with path.open(encoding=encoding, newline="") as handle:
        assert list(csv.DictReader(handle)) == rows
