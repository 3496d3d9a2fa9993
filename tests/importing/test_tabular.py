"""Reading clerks' CSV and XLSX files as rows, and writing CSV that survives Excel."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.chart import BarChart, Reference

from hub.core.errors import InputError
from hub.importing import open_table, read_rows, write_csv
from hub.importing.tabular import CELL_PROBLEM_PREFIX
from hub.importing.workbook import FORMULA_WITHOUT_VALUE
from tests.importing.factories import csv_text, make_uscc, write_csv_file, write_xlsx_file

USCC = make_uscc(1)
HEADER = ["统一社会信用代码", "企业名称", "手机"]
ROW = [USCC, "北京某某科技有限公司", "13800138000"]
EXPECTED = {"统一社会信用代码": USCC, "企业名称": "北京某某科技有限公司", "手机": "13800138000"}
ALL_DIGITS = next(code for i in range(100) if (code := make_uscc(i)).isdigit())


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8-sig"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, detected: str) -> None:
    path = write_csv_file(tmp_path / "企业.csv", [HEADER, ROW], encoding=encoding)
    with open_table(path) as table:
        assert table.format == "csv"
        assert table.encoding == detected
        assert table.headers == tuple(HEADER)  # no BOM left on the first header
        assert list(table) == [(2, EXPECTED)]


def test_gbk_whose_first_megabytes_are_ascii(tmp_path: Path) -> None:
    # the encoding shows only at the last row: detection must not stop at the head
    rows = [HEADER] + [[USCC, f"company {i}", "13800138000"] for i in range(40_000)] + [ROW]
    path = write_csv_file(tmp_path / "big.csv", rows, encoding="gbk")
    assert path.stat().st_size > 1 << 20
    last = list(read_rows(path))[-1]
    assert last == (40_002, EXPECTED)


def test_blank_lines_are_skipped_and_row_numbers_are_the_sheets(tmp_path: Path) -> None:
    text = csv_text([HEADER]) + "\r\n" + csv_text([ROW]) + ",,\r\n  , ,\r\n" + csv_text([ROW])
    path = tmp_path / "gaps.csv"
    path.write_text(text, encoding="utf-8")
    assert [number for number, _ in read_rows(path)] == [3, 6]


def test_blank_lines_before_the_header(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_text("\r\n,,\r\n" + csv_text([HEADER, ROW]), encoding="utf-8")
    assert list(read_rows(path)) == [(4, EXPECTED)]


def test_multiline_cell_is_one_row(tmp_path: Path) -> None:
    path = write_csv_file(tmp_path / "m.csv", [["a", "b"], ["line 1\nline 2", "x"], ["y", "z"]])
    assert [n for n, _ in read_rows(path)] == [2, 3]


def test_cells_are_stripped_and_excel_text_formulas_unwrapped(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text(' 手机 ,\u3000企业名称\r\n="13800138000", 某公司 \u3000\r\n', encoding="utf-8")
    assert list(read_rows(path)) == [(2, {"手机": "13800138000", "企业名称": "某公司"})]


def test_short_rows_are_padded_and_values_without_header_kept(tmp_path: Path) -> None:
    path = write_csv_file(tmp_path / "w.csv", [["a", "", "c"], ["1"], ["1", "2", "3", "", "5"]])
    assert list(read_rows(path)) == [
        (2, {"a": "1", "c": ""}),
        (3, {"a": "1", "c": "3", "（无表头）第 B 列": "2", "（无表头）第 E 列": "5"}),
    ]


def test_xlsx_numeric_cells_come_out_as_text(tmp_path: Path) -> None:
    path = write_xlsx_file(
        tmp_path / "企业.xlsx",
        [
            [" 统一社会信用代码 ", "企业名称", "手机", "阶段", None],
            [USCC, "  某公司 ", 13800138000, None, None],
            [None, None, None, None, None],
            [USCC, "某公司", 13800138000.0, 1.5, None],
        ],
    )
    with open_table(path) as table:
        assert table.format == "xlsx"
        assert table.headers == ("统一社会信用代码", "企业名称", "手机", "阶段")
        rows = list(table)
    assert rows == [
        (2, {"统一社会信用代码": USCC, "企业名称": "某公司", "手机": "13800138000", "阶段": ""}),
        (4, {"统一社会信用代码": USCC, "企业名称": "某公司", "手机": "13800138000", "阶段": "1.5"}),
    ]


def _rewrite_sheet(
    path: Path,
    old: str = "",
    new: str = "",
    *,
    replace_with: str = "",
    part: str = "xl/worksheets/sheet1.xml",
) -> None:
    """Replace text in (or all of) the first sheet's XML, as another tool might have written it."""
    buffer = io.BytesIO(path.read_bytes())
    out = io.BytesIO()
    with zipfile.ZipFile(buffer) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == part:
                assert replace_with or old.encode() in data
                data = replace_with.encode() or data.replace(old.encode(), new.encode())
            target.writestr(item, data)
    path.write_bytes(out.getvalue())


def test_xlsx_all_digit_uscc_stored_as_exact_integer_is_text(tmp_path: Path) -> None:
    path = write_xlsx_file(tmp_path / "n.xlsx", [["uscc"], ["PLACEHOLDER"]])
    # openpyxl writes a string inline; turn it into a number cell holding all 18 digits
    _rewrite_sheet(
        path,
        '<c r="A2" t="inlineStr"><is><t>PLACEHOLDER</t></is></c>',
        f'<c r="A2" t="n"><v>{ALL_DIGITS}</v></c>',
    )
    assert list(read_rows(path)) == [(2, {"uscc": ALL_DIGITS})]


@pytest.mark.parametrize("target", ["/xl/worksheets/sheet1.xml", "worksheets/sheet1.xml"])
def test_xlsx_exact_integer_found_however_the_workbook_points_to_its_sheet(
    tmp_path: Path, target: str
) -> None:
    path = write_xlsx_file(tmp_path / "t.xlsx", [["uscc"], ["PLACEHOLDER"]])
    _rewrite_sheet(
        path,
        '<c r="A2" t="inlineStr"><is><t>PLACEHOLDER</t></is></c>',
        f"<c r='A2'><v>{ALL_DIGITS}</v></c>",
    )
    _rewrite_sheet(
        path,
        'Target="/xl/worksheets/sheet1.xml"',
        f'Target="{target}"',
        part="xl/_rels/workbook.xml.rels",
    )
    assert list(read_rows(path)) == [(2, {"uscc": ALL_DIGITS})]


def test_xlsx_uscc_that_excel_rounded_reads_as_scientific(tmp_path: Path) -> None:
    # Excel keeps 15 significant digits; the cell holds a float and the code is lost
    path = write_xlsx_file(tmp_path / "r.xlsx", [["uscc"], [911100006000373417]])
    assert list(read_rows(path)) == [(2, {"uscc": "9.111000060003734e+17"})]


def test_xlsx_first_sheet_only_and_missing_rows_numbered(tmp_path: Path) -> None:
    path = write_xlsx_file(tmp_path / "s.xlsx", [["a"]])
    workbook = load_workbook(path)
    workbook.active["A7"] = "seven"
    workbook.create_sheet("other")["A1"] = "ignored"
    workbook.save(path)
    assert list(read_rows(path)) == [(7, {"a": "seven"})]


def test_xlsx_sheet_that_does_not_start_at_a1(tmp_path: Path) -> None:
    # the reader skips the empty rows and columns around the data; numbers and letters must not
    path = tmp_path / "offset.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for reference, value in [
        ("C3", "统一社会信用代码"),
        ("D3", "手机"),
        ("C4", USCC),
        ("D4", 13800138000),
        ("C6", USCC),
        ("F6", "备注"),
    ]:
        sheet[reference] = value
    workbook.save(path)
    assert list(read_rows(path)) == [
        (4, {"统一社会信用代码": USCC, "手机": "13800138000"}),
        (6, {"统一社会信用代码": USCC, "手机": "", "（无表头）第 F 列": "备注"}),
    ]


def test_xlsx_dates_times_and_booleans_as_excel_shows_them(tmp_path: Path) -> None:
    header = ["date", "midnight", "moment", "time", "duration", "flag", "off"]
    values: list[object] = [
        dt.date(2026, 1, 2),
        dt.datetime(2026, 1, 2),
        dt.datetime(2026, 1, 2, 3, 4, 5),
        dt.time(12, 30),
        dt.timedelta(hours=5),
        True,
        False,
    ]
    path = write_xlsx_file(tmp_path / "d.xlsx", [header, values])
    assert list(read_rows(path)) == [
        (
            2,
            {
                "date": "2026-01-02",
                "midnight": "2026-01-02",
                "moment": "2026-01-02T03:04:05",
                "time": "12:30:00",
                "duration": "5:00:00",
                "flag": "TRUE",
                "off": "FALSE",
            },
        )
    ]


def test_xlsx_error_cell_reads_as_excel_shows_it(tmp_path: Path) -> None:
    # a failed VLOOKUP: the clerk sees #N/A and must be told, not get an empty cell
    path = write_xlsx_file(tmp_path / "e.xlsx", [["name", "mobile"], ["某公司", "PLACEHOLDER"]])
    _rewrite_sheet(
        path,
        '<c r="B2" t="inlineStr"><is><t>PLACEHOLDER</t></is></c>',
        '<c r="B2" t="e"><f>VLOOKUP(A2,Sheet2!A:B,2,0)</f><v>#N/A</v></c>',
    )
    assert list(read_rows(path)) == [(2, {"name": "某公司", "mobile": "#N/A"})]


def test_xlsx_as_other_writers_write_it_prefixed_and_without_cell_references(
    tmp_path: Path,
) -> None:
    # r="..." is optional on rows and cells (positions then follow from the order), tags may
    # carry a namespace prefix, and an empty row may be written as <row/>
    path = write_xlsx_file(tmp_path / "other.xlsx", [["PLACEHOLDER"]])
    sheet = (
        '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<x:sheetData>"
        '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>uscc</x:t></x:is></x:c>'
        '<x:c r="B1" t="inlineStr"><x:is><x:t>mobile</x:t></x:is></x:c></x:row>'
        '<x:row r="2"/>'
        f"<x:row><x:c><x:v>{ALL_DIGITS}</x:v></x:c>"
        '<x:c t="e"><x:f>1/0</x:f><x:v>#DIV/0!</x:v></x:c></x:row>'
        '<x:row r="5"><x:c r="B5" t="e"><x:v>#N/A</x:v></x:c></x:row>'
        '<x:row r="6"><x:c r="A6" s="1"/><x:c r="B6"><x:f t="shared" si="0"/>'
        "<x:v>13800138000</x:v></x:c></x:row>"
        "</x:sheetData></x:worksheet>"
    )
    _rewrite_sheet(path, replace_with=sheet)
    assert list(read_rows(path)) == [
        (3, {"uscc": ALL_DIGITS, "mobile": "#DIV/0!"}),
        (5, {"uscc": "", "mobile": "#N/A"}),
        (6, {"uscc": "", "mobile": "13800138000"}),
    ]


def test_xlsx_formulas_without_values_as_other_writers_write_them(tmp_path: Path) -> None:
    # prefixed tags, a shared formula's later cells (<f t="shared" si="0"/>) with no <v> at
    # all; <v></v> in a text cell (t="str") is a formula whose value is the empty text, which
    # is just an empty cell, and without a type it is openpyxl's (with lxml) empty value
    path = write_xlsx_file(tmp_path / "other.xlsx", [["PLACEHOLDER"]])
    sheet = (
        '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        "<x:sheetData>"
        '<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>uscc</x:t></x:is></x:c>'
        '<x:c r="B1" t="inlineStr"><x:is><x:t>mobile</x:t></x:is></x:c></x:row>'
        '<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>a</x:t></x:is></x:c>'
        '<x:c r="B2"><x:f t="shared" ref="B2:B3" si="0">A2&amp;"1"</x:f><x:v/></x:c></x:row>'
        '<x:row r="3"><x:c r="A3" t="inlineStr"><x:is><x:t>b</x:t></x:is></x:c>'
        '<x:c r="B3"><x:f t="shared" si="0"/></x:c></x:row>'
        '<x:row r="4"><x:c r="A4" t="inlineStr"><x:is><x:t>c</x:t></x:is></x:c>'
        '<x:c r="B4" t="str"><x:f>""</x:f><x:v></x:v></x:c></x:row>'
        '<x:row r="5"><x:c r="A5" t="inlineStr"><x:is><x:t>d</x:t></x:is></x:c>'
        '<x:c r="B5"><x:f>A5&amp;"1"</x:f><x:v></x:v></x:c></x:row>'
        "</x:sheetData></x:worksheet>"
    )
    _rewrite_sheet(path, replace_with=sheet)
    formula = {f"{CELL_PROBLEM_PREFIX}mobile": "mobile" + FORMULA_WITHOUT_VALUE}
    assert list(read_rows(path)) == [
        (2, {"uscc": "a", "mobile": "", **formula}),
        (3, {"uscc": "b", "mobile": "", **formula}),
        (4, {"uscc": "c", "mobile": ""}),
        (5, {"uscc": "d", "mobile": "", **formula}),
    ]


def test_xlsx_whose_dimension_element_is_wrong_is_read_to_the_end(tmp_path: Path) -> None:
    # some generators write <dimension ref="A1:A1"/> whatever the sheet holds
    path = write_xlsx_file(tmp_path / "dim.xlsx", [["a", "b"], ["1", "2"], ["3", "4"]])
    # (the element's end is written "/>" or " />" by openpyxl with or without lxml)
    _rewrite_sheet(path, '<dimension ref="A1:B3"', '<dimension ref="A1:A1"')
    assert list(read_rows(path)) == [(2, {"a": "1", "b": "2"}), (3, {"a": "3", "b": "4"})]


def test_xlsx_first_worksheet_is_read_when_a_chart_sheet_comes_first(tmp_path: Path) -> None:
    path = write_xlsx_file(tmp_path / "c.xlsx", [["a"], [1], [2]])
    workbook = load_workbook(path)
    data = workbook.active
    assert data is not None
    chart = BarChart()
    chart.add_data(Reference(data, min_col=1, min_row=1, max_row=3))
    workbook.create_chartsheet("图表", 0).add_chart(chart)
    workbook.save(path)
    assert list(read_rows(path)) == [(2, {"a": "1"}), (3, {"a": "2"})]


def test_xlsx_without_a_single_cell_has_no_header(tmp_path: Path) -> None:
    path = tmp_path / "empty.xlsx"
    Workbook().save(path)
    with pytest.raises(InputError) as info, open_table(path):
        pass
    assert (info.value.file, info.value.reason) == (str(path), "文件为空（没有表头行）")


def _unclosed_sheet_data(path: Path) -> None:
    _rewrite_sheet(path, "</sheetData>", "")


def _zip_of_something_else(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")


@pytest.mark.parametrize("damage", [_unclosed_sheet_data, _zip_of_something_else])
def test_damaged_xlsx_raises_input_error_naming_the_file(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    path = write_xlsx_file(tmp_path / "企业.xlsx", [HEADER, ROW])
    damage(path)
    with pytest.raises(InputError) as info, open_table(path):
        pass
    assert info.value.file == str(path)
    assert info.value.reason.startswith("无法作为 Excel（.xlsx）文件读取：")


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.csv", b"", "文件为空"),
        ("blank.csv", b"\r\n , \r\n\r\n", "文件为空（没有表头行）"),
        ("bom-only.csv", b"\xef\xbb\xbf", "文件为空（没有表头行）"),
        (
            "old.xls",
            bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 100,
            "这是旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 CSV（UTF-8）后再导入",
        ),
        (
            "u16.csv",
            "a,b\r\n".encode("utf-16"),
            "这是 UTF-16 编码的文本，请在 Excel 中另存为 CSV（UTF-8）或 .xlsx 后再导入",
        ),
        ("fake.xlsx", b"uscc,name\r\n", "不是有效的 Excel（.xlsx）文件"),
        ("notes.pdf", b"%PDF-1.4", "不支持的文件格式“.pdf”，请使用 .csv 或 .xlsx"),
        (
            "binary.csv",
            b"a,b\r\n\x81\x20\xff\xfe",
            "无法识别文件编码（应为 UTF-8 或 GBK），请另存为 CSV（UTF-8）后再导入",
        ),
        ("dup.csv", "手机,企业名称,手机\r\n".encode(), "表头“手机”重复（第 A 列和第 C 列）"),
    ],
)
def test_unusable_files_raise_input_error_naming_the_file(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info, open_table(path):
        pass
    assert info.value.file == str(path)
    assert info.value.reason == reason


def test_missing_file_and_broken_zip(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="文件不存在"), open_table(tmp_path / "nope.csv"):
        pass
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04" + b"\0" * 50)
    with pytest.raises(InputError, match=r"无法作为 Excel（\.xlsx）文件读取"), open_table(broken):
        pass


def test_format_can_be_forced_for_files_without_suffix(tmp_path: Path) -> None:
    path = tmp_path / "upload-1234"
    path.write_text(csv_text([HEADER, ROW]), encoding="utf-8")
    with pytest.raises(InputError, match="不支持的文件格式“无扩展名”"), open_table(path):
        pass
    assert list(read_rows(path, format="csv")) == [(2, EXPECTED)]


def test_write_csv_round_trip_keeps_long_numbers_and_defuses_formulas(tmp_path: Path) -> None:
    values = [
        "13800138000",
        "911100006000373417",
        "+8613800138000",
        '=HYPERLINK("x")',
        "-100123",
        "普通文本",
    ]
    path = write_csv(tmp_path / "out.csv", ["v" + str(i) for i in range(len(values))], [values])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel shows the Chinese
    text = raw.decode("utf-8-sig")
    assert '"=""911100006000373417"""' in text  # ="..." keeps Excel from rounding it
    assert '"=""=HYPERLINK(""""x"""")"""' in text
    assert list(read_rows(path)) == [(2, {f"v{i}": v for i, v in enumerate(values)})]
