"""Header matching: English or Chinese, forgiving of case and spacing, strict about the rest.

And the cells naming a member of an enum, in English (any case) or Chinese."""

from __future__ import annotations

import importlib
import re

import pytest

from hub.core.errors import InputError
from hub.core.vocab import LabelledEnum, Stage, Tier, Urgency
from hub.importing import DEPARTMENT_COLUMNS, ENTERPRISE_COLUMNS, OFFICER_COLUMNS, ColumnSet


@pytest.mark.parametrize(
    "headers",
    [
        ["uscc", "name", "tier"],
        ["统一社会信用代码", "企业名称", "联络类别"],
        ["USCC", " Name ", "TIER"],
        ["\ufeff统一社会信用代码", "企业 名称", "联络类别"],
    ],
)
def test_required_headers_in_any_spelling(headers: list[str]) -> None:
    names = ENTERPRISE_COLUMNS.resolve(headers, file="f.csv")
    assert set(names.headers) == {"uscc", "name", "tier"}
    assert names.name("uscc") == headers[0]  # messages use the file's own spelling


def test_english_technical_ids_are_case_and_separator_insensitive() -> None:
    names = ENTERPRISE_COLUMNS.resolve(
        [
            "uscc",
            "name",
            "tier",
            "WeChat OpenID",
            "wecom-userid",
            "Telegram_Chat_ID",
            "联系人",
            "mobile",
        ],
        file="f.csv",
    )
    assert names.headers["wechat_openid"] == "WeChat OpenID"
    assert names.headers["wecom_userid"] == "wecom-userid"
    assert names.headers["telegram_chat_id"] == "Telegram_Chat_ID"
    assert names.name("stage") == "阶段"  # absent column: its Chinese label


def test_rejects_file_columns_are_ignored() -> None:
    names = ENTERPRISE_COLUMNS.resolve(["uscc", "name", "tier", "行号", "原因"], file="f.csv")
    assert set(names.headers) == {"uscc", "name", "tier"}


@pytest.mark.parametrize(
    ("columns", "headers", "reason"),
    [
        (
            ENTERPRISE_COLUMNS,
            ["统一社会信用代码", "企业名称", "联络类别", "手机号"],
            "未知表头“手机号”（是否应为“手机”？），可用的表头为：",
        ),
        (ENTERPRISE_COLUMNS, ["uscc", "name", "tier", "remark"], "未知表头“remark”"),
        (ENTERPRISE_COLUMNS, ["uscc", "name"], "缺少必填列：“联络类别”"),
        (ENTERPRISE_COLUMNS, ["企业名称"], "缺少必填列：“统一社会信用代码”、“联络类别”"),
        (
            ENTERPRISE_COLUMNS,
            ["uscc", "name", "tier", "mobile", "手机"],
            "表头“mobile”和“手机”是同一列，只能保留一个",
        ),
        (OFFICER_COLUMNS, ["工号"], "缺少必填列：“姓名”"),
        (DEPARTMENT_COLUMNS, ["部门编码", "部门名称", "主管行业 "], ""),
    ],
)
def test_bad_headers_raise_input_error(columns: ColumnSet, headers: list[str], reason: str) -> None:
    if not reason:
        columns.resolve(headers, file="f.csv")
        return
    with pytest.raises(InputError) as info:
        columns.resolve(headers, file="企业.csv")
    assert info.value.file == "企业.csv"
    assert reason in info.value.reason


def test_every_header_problem_is_reported_at_once() -> None:
    with pytest.raises(InputError) as info:
        ENTERPRISE_COLUMNS.resolve(["uscc", "nmae", "tier", "手机号"], file="f.csv")
    reason = info.value.reason
    assert "未知表头“nmae”（是否应为“name”？）" in reason
    assert "未知表头“手机号”" in reason
    assert "缺少必填列：“企业名称”" in reason


def test_many_header_problems_are_listed_first_few_and_counted() -> None:
    spellings = ["Mobile", "MOBILE", "mo bile", "mo_bile", "mo-bile", "手机", "MoBile"]
    long_header = "备注" * 500
    with pytest.raises(InputError) as info:
        ENTERPRISE_COLUMNS.resolve(["uscc", "name", "tier", "mobile", *spellings, long_header],
                                   file="f.csv")  # fmt: skip
    reason = info.value.reason
    assert len(reason) < 1_000
    assert "表头“mobile”和“Mobile”是同一列" in reason
    assert "表头“mobile”和“MoBile”是同一列" not in reason  # the sixth of seven
    assert "……共 7 组表头重复" in reason
    assert "未知表头“备注备注" in reason  # shortened, and no did-you-mean for a paragraph


# --- enum cells: LabelledEnum.parse -----------------------------------------------------------

# Every LabelledEnum of the hub, whatever the tests imported before this one: the enums live in
# hub.core.vocab and in the features (StaffRole in hub.tickets.staff), so import those first.
importlib.import_module("hub.tickets.staff")
ENUMS = sorted(LabelledEnum.__subclasses__(), key=lambda enum: enum.__name__)


@pytest.mark.parametrize("enum", ENUMS, ids=lambda enum: enum.__name__)
def test_every_member_parses_from_its_value_in_any_case_or_its_label(
    enum: type[LabelledEnum],
) -> None:
    for member in enum:
        for text in (member.value, member.value.upper(), f" {member.value.title()}\t"):
            assert enum.parse(text) is member
        assert enum.parse(f"\u3000{member.label} ") is member


@pytest.mark.parametrize("text", ["", "  ", "vip", "重 点", "key1", "KEY重点"])
def test_unknown_enum_text_is_refused_naming_it_stripped(text: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(text.strip())}$"):
        Tier.parse(text)


def test_each_enum_parses_only_its_own_members() -> None:
    assert Tier.parse("general") is Tier.GENERAL
    assert Urgency.parse("general") is Urgency.GENERAL
    assert Urgency.parse("一般") is Urgency.GENERAL
    with pytest.raises(ValueError, match=r"^重点$"):
        Urgency.parse("重点")
    with pytest.raises(ValueError, match=r"^key$"):
        Stage.parse("key")


def test_first_member_wins_when_a_value_is_another_members_label() -> None:
    class Clash(LabelledEnum):
        FIRST = "first", "second"
        SECOND = "second", "其二"

    assert Clash.parse("second") is Clash.FIRST  # as when the members were tried in turn
    assert Clash.parse("SECOND") is Clash.SECOND  # the label is matched exactly, the value not
    assert Clash.parse("其二") is Clash.SECOND
