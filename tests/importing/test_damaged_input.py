"""Cells that cannot be imported as they are reject their row, naming the column and why.

A broken byte in a GBK or UTF-8 file, a NUL or another control character (PostgreSQL refuses
NUL; openpyxl refuses the others in the reports), a formula saved without its value: each
used to refuse the whole file, be stored as given, or read as an empty cell.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.core.clock import FixedClock
from hub.core.errors import InputError
from hub.importing import open_table, parse_enterprises
from hub.importing.service import import_file
from hub.store.db import Database
from hub.store.models import Enterprise
from tests.importing.factories import csv_text, make_uscc, write_xlsx_file

HEADER = ["uscc", "企业名称", "tier"]
NAMES = ["齐齐哈尔鹤城机械有限公司", "龙沙区鑫盛烤肉店", "建华区恒达商贸有限公司"]


def rows(names: list[str] = NAMES) -> list[list[str]]:
    return [HEADER, *([make_uscc(n), name, "key"] for n, name in enumerate(names, start=1))]


def broken(text: str, encoding: str, old: str, new: bytes) -> bytes:
    """``text`` encoded, with the encoding of ``old`` (its first occurrence) replaced by ``new``."""
    data = text.encode(encoding)
    return data.replace(old.encode(encoding), new, 1)


@pytest.mark.parametrize(
    ("encoding", "label", "new", "offset", "byte"),
    [
        # 鑫 became a byte no GBK character starts with
        ("gbk", "GBK", b"\xff", 7, "0xFF"),
        # 鑫 (E9 91 AB) loses its last byte
        ("utf-8", "UTF-8", b"\xe9\x91", 10, "0xE9"),
    ],
)
def test_a_broken_byte_rejects_only_its_row_naming_the_column_and_the_byte(
    tmp_path: Path, encoding: str, label: str, new: bytes, offset: int, byte: str
) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(broken(csv_text(rows()), encoding, "鑫", new))

    parsed = parse_enterprises(path)

    assert [r.name for r in parsed.records] == [NAMES[0], NAMES[2]]
    [reject] = parsed.rejects
    assert reject.row_number == 3
    [reason] = reject.reasons
    assert reason.startswith(f"企业名称第 {offset} 个字节 {byte} 无法按 {label} 解码")
    assert "“龙沙区\ufffd" in reason  # where it is, as the clerk will see it
    # the rejects file is written (no lone surrogate reaches the encoder) and shows the rest
    rejects = parsed.write_rejects()
    assert rejects is not None
    assert "龙沙区\ufffd" in rejects.read_text(encoding="utf-8-sig")


def test_one_stray_byte_in_an_ascii_file_rejects_its_row(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    header = ["uscc", "name", "tier"]
    rows = [header, [make_uscc(1), "Acme Ltd", "key"], [make_uscc(2), "Beta\x80 Ltd", "key"]]
    path.write_bytes(csv_text(rows).encode("latin-1"))

    parsed = parse_enterprises(path)

    assert [r.name for r in parsed.records] == ["Acme Ltd"]
    [reject] = parsed.rejects
    assert reject.reasons[0].startswith("name第 5 个字节 0x80 无法按 UTF-8 解码")


def test_a_file_in_neither_encoding_is_still_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    latin = [["uscc", "name", "tier"], ["x", "Café Müller", "clé"], ["y", "Señor Pérez", ""]]
    path.write_bytes(csv_text(latin).encode("latin-1"))
    with pytest.raises(InputError, match="无法识别文件编码"), open_table(path):
        pass


def test_a_broken_byte_in_the_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_bytes(broken(csv_text(rows()), "gbk", "企", b"\xff"))
    with pytest.raises(InputError, match=r"表头第 B 列第 1 个字节 0xFF 无法按 GBK 解码"):
        parse_enterprises(path)


@pytest.mark.parametrize(
    ("character", "said"), [("\x00", "空字符（NUL"), ("\x07", "控制字符（0x07")]
)
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_control_character_rejects_its_row_naming_the_column(
    tmp_path: Path, character: str, said: str, suffix: str
) -> None:
    names = [NAMES[0], f"龙沙区{character}鑫盛烤肉店", NAMES[2]]
    path = tmp_path / f"e{suffix}"
    if suffix == ".csv":
        path.write_text(csv_text(rows(names)), encoding="utf-8")
    else:
        write_xlsx_file(path, [[c.replace(character, f"_x{ord(character):04X}_") for c in row]
                               for row in rows(names)])  # fmt: skip

    parsed = parse_enterprises(path)

    assert [r.name for r in parsed.records] == [NAMES[0], NAMES[2]]
    [reject] = parsed.rejects
    assert reject.row_number == 3
    [reason] = reject.reasons
    assert reason.startswith("企业名称含有")
    assert said in reason
    assert reject.raw["企业名称"] == "龙沙区鑫盛烤肉店"  # what the rejects file shows


def test_xlsx_formulas_without_values_are_named_as_formulas(tmp_path: Path) -> None:
    # openpyxl (and some exporters) save formulas without their computed values
    path = write_xlsx_file(
        tmp_path / "e.xlsx",
        [HEADER, [make_uscc(1), '=CONCAT("甲","公司")', "key"], [make_uscc(2), NAMES[1], "key"],
         ["=A3", "=B3", "=C3"]],
    )  # fmt: skip

    parsed = parse_enterprises(path)

    assert [r.name for r in parsed.records] == [NAMES[1]]
    assert [(r.row_number, r.reasons) for r in parsed.rejects] == [
        (2, ("企业名称是公式（没有计算结果），请在 Excel 中复制后“粘贴为数值”再导入",)),
        (4, tuple(f"{column}是公式（没有计算结果），请在 Excel 中复制后“粘贴为数值”再导入"
                  for column in HEADER)),
    ]  # fmt: skip


def reasons_by_name(rejects: Path) -> dict[str, str]:
    """The 原因 of each row of a rejects file by its 企业名称 cell as written."""
    assert "\x00" not in rejects.read_text(encoding="utf-8-sig")
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        return {row["企业名称"]: row["原因"] for row in csv.DictReader(handle)}


async def test_an_import_with_nul_and_formula_text_on_every_database(
    any_db: Database, tmp_path: Path, clock: FixedClock
) -> None:
    """PostgreSQL refuses NUL: the row is rejected before it gets there, the rest stored."""
    link = '=HYPERLINK("http://evil.example","点我")'
    long_formula = "-" + "1+" * 200 + "1"  # too long for ="…" in Excel
    path = tmp_path / "e.csv"
    path.write_text(csv_text([
        HEADER,
        [make_uscc(1), NAMES[0], "key"],
        [make_uscc(2), "龙沙区\x00鑫盛烤肉店", "key"],
        [make_uscc(3), link, "不存在的类别"],
        [make_uscc(4), long_formula, "不存在的类别"],
    ]), encoding="utf-8")  # fmt: skip

    report = await import_file(any_db, "enterprises", path, clock)

    assert (report.valid, report.created, report.rejected) == (1, 1, 3)
    async with any_db.read() as session:
        assert (await session.scalars(sa.select(Enterprise.name))).all() == [NAMES[0]]
    assert report.rejects_file is not None
    cells = reasons_by_name(Path(report.rejects_file))
    # what Excel opens: text it shows as typed and never evaluates
    assert set(cells) == {"龙沙区鑫盛烤肉店", '="' + link.replace('"', '""') + '"',
                          "'" + long_formula}  # fmt: skip
    assert cells["龙沙区鑫盛烤肉店"].startswith("企业名称含有空字符（NUL")
    # and what the import reads back when the clerk corrects the file and imports it again
    with open_table(report.rejects_file) as table:
        assert [row["企业名称"] for _, row in table] == ["龙沙区鑫盛烤肉店", link, long_formula]


def test_a_row_running_on_past_the_headers_gets_a_bounded_reason(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    wide = [make_uscc(1), NAMES[0], "key", *(f"值{n}" for n in range(10_000))]
    path.write_text(csv_text([HEADER, wide, [make_uscc(2), NAMES[1], "key"]]), encoding="utf-8")

    parsed = parse_enterprises(path)

    assert [r.name for r in parsed.records] == [NAMES[1]]
    [reject] = parsed.rejects
    assert len(reject.reasons) <= 6
    assert reject.reasons[0] == "第 D 列没有表头，却填了“值0”"
    assert reject.reasons[-1] == "……共 10000 列没有表头却填了内容"
