"""Row validation, the repeated-USCC rule, officers and departments, and the rejects file."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import pytest

from hub.core.vocab import DepartmentRole, Stage, Tier
from hub.importing import (
    ContactRow,
    EnterpriseRecord,
    ParsedEnterprises,
    Reject,
    parse_departments,
    parse_enterprises,
    parse_officers,
    read_rows,
    rejects_path,
)
from tests.importing.factories import make_uscc, write_csv_file, write_xlsx_file, wrong_check

A, B, C = make_uscc(1), make_uscc(2), make_uscc(3)
ZH = [
    "统一社会信用代码",
    "企业名称",
    "联络类别",
    "行业",
    "区域",
    "阶段",
    "标签",
    "联系人",
    "手机",
    "联络员",
]
EN = [
    "uscc",
    "name",
    "tier",
    "industry",
    "region",
    "stage",
    "tags",
    "contact_name",
    "mobile",
    "officer",
]


def _parse(
    tmp_path: Path,
    header: Sequence[str],
    *rows: Sequence[object],
    known_officers: Collection[str] | None = None,
) -> ParsedEnterprises:
    path = write_csv_file(tmp_path / "企业.csv", [header, *rows])
    return parse_enterprises(path, known_officers=known_officers)


def _one_reject(tmp_path: Path, header: Sequence[str], row: Sequence[object]) -> Reject:
    result = _parse(tmp_path, header, row)
    assert result.records == ()
    assert len(result.rejects) == 1
    return result.rejects[0]


def test_a_full_row(tmp_path: Path) -> None:
    result = _parse(
        tmp_path,
        ZH,
        [
            A.lower(),
            "某某科技有限公司",
            "重点",
            "制造业",
            "江宁区",
            "开办",
            "专精特新；高新技术;专精特新",
            "张三",
            "138 0013 8000",
            "L001",
        ],
    )
    assert result.rejects == ()
    assert result.valid == 1
    assert result.records == (
        EnterpriseRecord(
            row_number=2, uscc=A, name="某某科技有限公司", tier=Tier.KEY, industry="制造业",
            region="江宁区", stage=Stage.STARTUP, tags=("专精特新", "高新技术"),
            officer_code="L001",
            contacts=(ContactRow("张三", "+8613800138000", None, None, None),), row_numbers=(2,),
        ),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("key", Tier.KEY),
        ("KEY", Tier.KEY),
        ("重点", Tier.KEY),
        ("general", Tier.GENERAL),
        ("一般", Tier.GENERAL),
        ("ordinary", Tier.ORDINARY),
        ("普通", Tier.ORDINARY),
    ],
)
def test_tier_in_english_or_chinese(tmp_path: Path, tier: str, expected: Tier) -> None:
    result = _parse(tmp_path, ["uscc", "name", "tier"], [A, "某公司", tier])
    assert result.records[0].tier is expected
    assert result.records[0].stage is Stage.OPERATING  # no stage column: operating
    assert result.records[0].contacts == ()  # no contact column: no contact


@pytest.mark.parametrize(
    ("header", "row", "reasons"),
    [
        (
            ZH[:3],
            [wrong_check(A), "某公司", "重点"],
            [f"统一社会信用代码“{wrong_check(A)}”校验位错误"],
        ),
        (
            ZH[:3],
            ["91110000X", "某公司", "重点"],
            ["统一社会信用代码“91110000X”长度应为 18 位，实为 9 位"],
        ),
        (
            ZH[:3],
            [A, "某公司", "VIP"],
            ["联络类别“VIP”无效，应为 重点/一般/普通 或 key/general/ordinary"],
        ),
        (EN[:3], [A, "x", "vip"], ["tier“vip”无效，应为 重点/一般/普通 或 key/general/ordinary"]),
        (
            [*ZH[:3], "阶段"],
            [A, "某公司", "一般", "注销"],
            ["阶段“注销”无效，应为 开办/运营/退出 或 startup/operating/exiting"],
        ),
        (
            [*ZH[:3], "手机"],
            [A, "某公司", "一般", "1380013800"],
            ["手机“1380013800”不是有效的手机号"],
        ),
        (
            [*EN[:3], "mobile"],
            [A, "x", "key", "010-62345678"],
            ["mobile“010-62345678”是固定电话，不是手机号"],
        ),
        (
            ZH[:4],
            ["", "", "", "制造业"],
            ["统一社会信用代码不能为空", "企业名称不能为空", "联络类别不能为空"],
        ),
        (
            [*ZH[:3], "手机", "联络员"],
            [wrong_check(A), "某公司", "VIP", "123", ""],
            [
                f"统一社会信用代码“{wrong_check(A)}”校验位错误",
                "联络类别“VIP”无效，应为 重点/一般/普通 或 key/general/ordinary",
                "手机“123”不是有效的手机号",
            ],
        ),
        (ZH[:3], [A, "某公司", "一般", "多出来的"], ["第 D 列没有表头，却填了“多出来的”"]),
        (
            [*EN[:3], "wechat_openid", "telegram_chat_id"],
            [A, "x", "key", "张三", "@someone"],
            [
                "wechat_openid“张三”不是有效的微信 openid（16–64 位字母、数字、_ 或 -）",
                "telegram_chat_id“@someone”不是有效的 Telegram chat id（应为整数）",
            ],
        ),
    ],
)
def test_every_problem_of_a_row_is_reported(
    tmp_path: Path, header: list[str], row: list[str], reasons: list[str]
) -> None:
    reject = _one_reject(tmp_path, header, row)
    assert reject.row_number == 2
    assert list(reject.reasons) == reasons
    assert reject.raw[header[0]] == row[0]  # the row as read, for the rejects file


def test_unknown_officer_is_rejected_when_codes_are_given(tmp_path: Path) -> None:
    header = ["uscc", "name", "tier", "联络员"]
    result = _parse(
        tmp_path,
        header,
        [A, "甲", "key", "L001"],
        [B, "乙", "key", "L999"],
        known_officers={"L001"},
    )
    assert [r.uscc for r in result.records] == [A]
    assert result.rejects[0].reasons == ("联络员“L999”不存在，请先导入联络员",)


def test_repeated_uscc_that_agrees_adds_contacts(tmp_path: Path) -> None:
    same = [A, "甲公司", "重点", "制造业", "江宁区", "", "b;a", "officer"]
    header = [*ZH[:7], "联系人", "手机", "联络员"]

    def row(contact: str, mobile: str) -> list[str]:
        return [*same[:7], contact, mobile, same[7]]

    result = _parse(
        tmp_path, header,
        row("张三", "13800138000"),
        [B, "乙公司", "一般", "", "", "", "", "", "", ""],
        row("李四", "+86 139 0013 9000"),
        # the same person again, and the same tags written in another order
        [*same[:6], "a；b", "张三", "8613800138000", "officer"],
        row("", ""),  # no contact: nothing to add, still valid
    )  # fmt: skip
    assert result.rejects == ()
    assert result.valid == 5
    assert [record.uscc for record in result.records] == [A, B]  # file order
    first = result.records[0]
    assert first.row_numbers == (2, 4, 5, 6)
    assert first.contacts == (
        ContactRow("张三", "+8613800138000", None, None, None),
        ContactRow("李四", "+8613900139000", None, None, None),
    )
    assert result.records[1].contacts == ()


def test_repeated_uscc_that_disagrees_is_rejected_naming_the_earlier_row(tmp_path: Path) -> None:
    header = [*ZH[:4], "联系人", "手机"]
    result = _parse(
        tmp_path, header,
        [B, "乙公司", "一般", "", "", ""],
        [A, "甲公司", "重点", "制造业", "张三", "13800138000"],
        [A, "甲公司（新）", "重点", "服务业", "李四", "13900139000"],
        [A, "甲公司", "普通", "制造业", "王五", "13700137000"],
    )  # fmt: skip
    assert result.valid == 2
    assert result.records[1].contacts == (ContactRow("张三", "+8613800138000", None, None, None),)
    assert [(r.row_number, r.reasons) for r in result.rejects] == [
        (4, ("与第 3 行的同一统一社会信用代码企业信息不一致：企业名称、行业",)),
        (5, ("与第 3 行的同一统一社会信用代码企业信息不一致：联络类别",)),
    ]


def test_disagreement_is_named_in_the_files_own_spelling(tmp_path: Path) -> None:
    result = _parse(
        tmp_path, ["uscc", "name", "tier", "stage"], [A, "x", "key", ""], [A, "x", "key", "exiting"]
    )
    assert result.rejects[0].reasons == ("与第 2 行的同一统一社会信用代码企业信息不一致：stage",)


def test_repeated_uscc_with_a_conflicting_contact_is_rejected(tmp_path: Path) -> None:
    header = ["uscc", "name", "tier", "联系人", "手机"]
    result = _parse(
        tmp_path,
        header,
        [A, "x", "key", "张三", "13800138000"],
        [A, "x", "key", "李四", "13800138000"],
    )
    assert result.records[0].contacts == (ContactRow("张三", "+8613800138000", None, None, None),)
    assert result.rejects[0].reasons == (
        "手机“+8613800138000”已用于第 2 行的联系人，但两行联系人信息不一致",
    )


def test_rejects_file_round_trip(tmp_path: Path) -> None:
    header = ["统一社会信用代码", "企业名称", "联络类别", "手机"]
    path = write_csv_file(
        tmp_path / "企业名录.csv",
        [
            header,
            [A, "甲", "重点", "13800138000"],
            [B, "乙", "VIP", "911100006000373417"],
            [C, "=cmd", "vip", ""],
        ],
    )
    result = parse_enterprises(path)
    assert result.rejected == 2
    written = result.write_rejects()
    assert written == rejects_path(path) == tmp_path / "企业名录.rejects.csv"
    assert written.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(read_rows(written))
    assert [row["行号"] for _, row in rows] == ["3", "4"]
    assert rows[0][1]["手机"] == "911100006000373417"  # survived as text
    assert rows[0][1]["原因"] == (
        "联络类别“VIP”无效，应为 重点/一般/普通 或 key/general/ordinary；"
        "手机“911100006000373417”不是有效的手机号"
    )
    assert rows[1][1]["企业名称"] == "=cmd"
    # the clerk fixes the rows and imports the rejects file as it is
    fixed = (
        written.read_text(encoding="utf-8-sig")
        .replace("VIP", "一般")
        .replace("vip", "普通")
        .replace('"=""911100006000373417"""', "13900139000")
    )
    written.write_text(fixed, encoding="utf-8-sig")
    again = parse_enterprises(written)
    assert [r.reasons for r in again.rejects] == []
    assert [r.uscc for r in again.records] == [B, C]
    assert again.write_rejects() is None


def test_gbk_and_xlsx_enterprise_files(tmp_path: Path) -> None:
    rows = [[*ZH[:3], "手机"], [A, "甲公司", "重点", "13800138000"]]
    gbk = parse_enterprises(write_csv_file(tmp_path / "gbk.csv", rows, encoding="gbk"))
    xlsx_rows: list[list[object]] = [[*rows[0]], [A, "甲公司", "重点", 13800138000]]
    xlsx = parse_enterprises(write_xlsx_file(tmp_path / "x.xlsx", xlsx_rows))
    assert gbk.records == xlsx.records
    assert xlsx.records[0].contacts[0].mobile == "+8613800138000"


def test_xlsx_uscc_that_excel_turned_into_a_number_is_rejected_saying_so(tmp_path: Path) -> None:
    digits = next(code for i in range(100) if (code := make_uscc(i)).isdigit())
    rows: list[list[object]] = [ZH[:3], [int(digits), "甲公司", "重点"], [A, "乙公司", "一般"]]
    result = parse_enterprises(write_xlsx_file(tmp_path / "x.xlsx", rows))
    assert [record.uscc for record in result.records] == [A]
    assert [(reject.row_number, reject.reasons) for reject in result.rejects] == [
        (
            2,
            (
                f"统一社会信用代码“{float(digits)!r}”不是有效的统一社会信用代码"
                "（疑似被 Excel 转成了科学计数法，请把该列设为“文本”后重新填写）",
            ),
        )
    ]


def test_officers(tmp_path: Path) -> None:
    header = ["工号", "姓名", "手机", "wecom_userid", "区域", "所属部门"]
    path = write_csv_file(
        tmp_path / "联络员.csv",
        [
            header,
            ["L001", "王五", "13800138000", "wangwu", "江宁区", "D01"],
            ["L002", "赵六", "", "", "", ""],
            ["L001", "王五", "+8613800138000", "wangwu", "江宁区", "D01"],  # same officer again
            ["L002", "赵七", "", "", "", ""],
            ["L003", "", "12", "", "", "D99"],
        ],
    )
    result = parse_officers(path, known_departments={"D01"})
    assert [(o.row_number, o.code, o.mobile, o.department_code) for o in result.records] == [
        (2, "L001", "+8613800138000", "D01"),
        (3, "L002", None, None),
    ]
    assert result.valid == 3
    assert [(r.row_number, r.reasons) for r in result.rejects] == [
        (5, ("工号“L002”与第 3 行重复且内容不一致",)),
        (6, ("姓名不能为空", "手机“12”不是有效的手机号", "所属部门“D99”不存在，请先导入部门")),
    ]


def test_departments(tmp_path: Path) -> None:
    header = ["部门编码", "部门名称", "类型", "主管行业", "负责人", "负责人手机"]
    path = write_csv_file(
        tmp_path / "部门.csv",
        [
            header,
            ["D01", "工信局", "", "制造业;软件和信息技术服务业", "刘一", "13800138000"],
            ["YSB", "营商办", "营商办", "", "", ""],
            ["D02", "商务局", "department", "批发零售；制造业", "", ""],
            ["D03", "文旅局", "委办局", "", "", ""],
        ],
    )
    result = parse_departments(path)
    assert [(d.code, d.role, d.industries, d.head_mobile) for d in result.records] == [
        ("D01", DepartmentRole.DEPARTMENT, ("制造业", "软件和信息技术服务业"), "+8613800138000"),
        ("YSB", DepartmentRole.BUSINESS_OFFICE, (), None),
    ]
    assert [(r.row_number, r.reasons) for r in result.rejects] == [
        (4, ("主管行业“制造业”已由第 2 行的部门“工信局”主管，一个行业只能由一个部门主管",)),
        (5, ("类型“委办局”无效，应为 行业部门/营商办 或 department/business_office",)),
    ]
