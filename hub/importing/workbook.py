"""The first worksheet of an XLSX file as rows of cell texts, read by calamine (Rust).

calamine loads the whole sheet at once and then hands out its rows one at a time. Three kinds
of cell it cannot give as the clerk sees them are read from the sheet's XML instead
(``_hidden_cells``): error cells, integers longer than a float holds, and formulas saved
without a computed value (what openpyxl and some exporters write), which calamine gives as
empty cells and which are reported as formulas rather than as blanks.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import re
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO
from xml.etree import ElementTree
from xml.sax.saxutils import unescape

from python_calamine import CalamineSheet, CalamineWorkbook, SheetTypeEnum

from hub.core.errors import InputError

__all__ = ["FORMULA_WITHOUT_VALUE", "CellProblems", "xlsx_cells"]

_CHUNK = 4 << 20

FORMULA_WITHOUT_VALUE = "是公式（没有计算结果），请在 Excel 中复制后“粘贴为数值”再导入"
"""The problem of a formula cell saved without its value, said after the column's name."""

CellProblems = dict[int, str]
"""``{column index: problem}`` for the cells of a row that cannot be imported as they are."""
_HiddenCells = dict[int, dict[int, str | None]]
"""``{row number: {column index: text}}``; ``None`` for a formula saved without its value."""


def xlsx_cells(file: Path, name: str) -> Iterator[tuple[int, list[str], CellProblems | None]]:
    """``(row number, cell texts from column A, problems)`` for every row of the first sheet.

    Raises ``InputError`` naming the file when it is no usable workbook.
    """
    sheet, hidden = _load_first_sheet(file, name)
    # calamine pads the rows above the first filled cell, so enumerate() gives the row numbers
    # Excel shows, but not the columns left of it: those are padded here for the letters.
    first_column = sheet.start[1] if sheet.start is not None else 0
    padding = [""] * first_column
    last = 0
    for last, values in enumerate(sheet.iter_rows() if sheet.start is not None else (), start=1):
        texts = [
            value.strip() if type(value) is str else _xlsx_cell_text(value) for value in values
        ]
        if padding:
            texts = padding + texts
        if last in hidden:
            yield last, *_reveal(texts, values, first_column, hidden[last])
        else:
            yield last, texts, None
    # calamine leaves out the rows after the last one with a value: rows of formulas only
    for number in sorted(number for number in hidden if number > last):
        texts, problems = _reveal([], [], first_column, hidden[number])
        if problems:
            yield number, texts, problems


def _reveal(
    texts: list[str], values: Sequence[object], first_column: int, cells: dict[int, str | None]
) -> tuple[list[str], CellProblems | None]:
    """A row's texts with what calamine hides put back, and its formulas without values."""
    problems: CellProblems | None = None
    for index, text in cells.items():
        position = index - first_column
        if text is None:
            if index >= len(texts):  # calamine leaves out the columns after the last value
                texts.extend([""] * (index + 1 - len(texts)))
            if not texts[index]:
                problems = problems or {}
                problems[index] = FORMULA_WITHOUT_VALUE
        # only where calamine has what it makes of such a cell: a misplaced text must not
        # overwrite another cell
        elif 0 <= position < len(values) and _hides(values[position], text):
            texts[index] = text
    return texts, problems


def _hides(value: object, text: str) -> bool:
    """Whether calamine's ``value`` is how it gives the cell holding ``text`` in the XML."""
    if text.startswith("#"):  # an error: #N/A, #VALUE!, #DIV/0!, ...
        return value == ""
    return isinstance(value, float) and value == float(text)


def _load_first_sheet(file: Path, name: str) -> tuple[CalamineSheet, _HiddenCells]:
    """The first worksheet, loaded whole, and the cells calamine hides (``_hidden_cells``)."""
    try:
        with CalamineWorkbook.from_path(file) as workbook:
            sheet_name = next(
                (m.name for m in workbook.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet),
                None,
            )
            if sheet_name is None:
                raise InputError("Excel 文件中没有工作表", file=name)
            sheet = workbook.get_sheet_by_name(sheet_name)
        hidden = _hidden_cells(file, sheet_name)
    except InputError:
        raise
    # A damaged file comes out of calamine (CalamineError and its zip and XML kinds), zipfile
    # (BadZipFile, KeyError for a missing part) or ElementTree (ParseError), each its own way.
    except Exception as exc:
        raise InputError(f"无法作为 Excel（.xlsx）文件读取：{exc}", file=name) from exc
    return sheet, hidden


# calamine gives an error cell (#N/A from a failed VLOOKUP) and a formula saved without its
# value as empty ones, and every number as a float, which loses the last digits of an 18-digit
# code that another system wrote as an exact integer. The sheet's XML still has all three. A
# byte search for them costs 0.3 s per 100,000 rows and nearly always finds none; when it
# finds some, the rows are cut apart at their end tags (an XML parser would take 6 s) and
# only those holding such a cell are read.
_LONG_INTEGER_HINT = re.compile(rb"v>[0-9]{16}")  # 2**53 has 16 digits
_ERROR_HINTS = (b't="e"', b"t='e'")
_ROW_START = re.compile(rb"<((?:[\w.-]+:)?)row[\s/>]")  # some writers prefix tags: <x:row>
_ROW_NUMBER = re.compile(rb"""\sr=["'](\d+)""")
_CELL = re.compile(rb"<(?:[\w.-]+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:[\w.-]+:)?c>)", re.DOTALL)
_CELL_COLUMN = re.compile(rb"""\sr=["']\$?([A-Za-z]{1,3})""")
_CELL_TYPE = re.compile(rb"""\st=["'](\w+)""")
_CELL_VALUE = re.compile(rb"<(?:[\w.-]+:)?v>([^<]*)<")
_LONG_INTEGER = re.compile(rb"[0-9]{16,}")
# A formula (<f>…</f>, or <f t="shared" si="0"/> for one shared with the cells above) followed
# by an empty value (<v/> as openpyxl writes it, <v></v> as openpyxl writes it when lxml is
# installed) or by none. <v></v> in a text cell (t="str") is a computed empty text, which
# _hidden_cells_of_row tells apart; this hint only finds the rows worth reading.
_FORMULA_WITHOUT_VALUE_HINT = re.compile(
    rb"(?:</(?:[\w.-]+:)?f>|<(?:[\w.-]+:)?f\b[^>]*/>)\s*"
    rb"(?:<(?:[\w.-]+:)?v\s*/>|<(?:[\w.-]+:)?v>\s*</(?:[\w.-]+:)?v>|</(?:[\w.-]+:)?c>)"
)
_TEXT_TYPES = frozenset({b"str", b"s", b"inlineStr"})
_FORMULA = re.compile(rb"<(?:[\w.-]+:)?f[\s/>]")
_FORMULA_TAGS = (b"f>", b"<f ", b":f ")  # </f>, <x:f>; <f t="shared" si="0"/>, <x:f t=...


def _hidden_cells(file: Path, sheet_name: str) -> _HiddenCells:
    """``{row number: {column index: text}}`` for the error and long-integer cells of a sheet.

    The text is what the clerk sees in Excel: ``#N/A``, or the integer with all its digits;
    ``None`` marks a formula saved without its value.
    """
    with zipfile.ZipFile(file) as archive:
        part = _sheet_part(archive, sheet_name)
        with archive.open(part) as xml:
            tail = b""
            while chunk := xml.read(_CHUNK):
                window = tail + chunk
                if _has_hidden_cells(window):
                    break
                tail = window[-64:]  # a hint cut in two by the chunking
            else:
                return {}
        with archive.open(part) as xml:
            return _scan_rows(xml)


def _has_hidden_cells(xml: bytes) -> bool:
    return (
        _LONG_INTEGER_HINT.search(xml) is not None
        or any(h in xml for h in _ERROR_HINTS)
        or (
            # byte searches for a formula's tags, together twice as fast as the pattern, which
            # they spare nearly always
            any(tag in xml for tag in _FORMULA_TAGS)
            and _FORMULA_WITHOUT_VALUE_HINT.search(xml) is not None
        )
    )


def _scan_rows(xml: IO[bytes]) -> _HiddenCells:
    hidden: _HiddenCells = {}
    row = 0
    start_tag = end_tag = b""
    tail = b""
    while True:
        chunk = xml.read(_CHUNK)
        window = tail + chunk
        if not end_tag and (first := _ROW_START.search(window)):
            start_tag, end_tag = b"<%srow" % first[1], b"</%srow>" % first[1]
        *rows, tail = window.split(end_tag) if end_tag else (window,)
        for content in rows:
            # r is optional on rows and cells: without it, the one after the previous one.
            # Empty rows (<row r="7"/>) come in the same piece, before the row that ends it.
            begin = content.find(start_tag)
            while begin >= 0:
                number = _ROW_NUMBER.search(content, begin, content.find(b">", begin))
                row = int(number[1]) if number else row + 1
                following = content.find(start_tag, begin + 1)
                if following < 0 and _has_hidden_cells(content):
                    hidden[row] = _hidden_cells_of_row(content[begin:])
                begin = following
        if not chunk:
            return hidden


def _hidden_cells_of_row(row: bytes) -> dict[int, str | None]:
    found: dict[int, str | None] = {}
    column = 0
    for cell in _CELL.finditer(row):
        attributes, inner = cell.groups()
        letters = _CELL_COLUMN.search(attributes)
        column = _column_number(letters[1].decode()) if letters else column + 1
        value = _CELL_VALUE.search(inner) if inner else None
        if value is None:
            if inner and _FORMULA.search(inner):
                found[column - 1] = None
            continue
        kind = _CELL_TYPE.search(attributes)
        text = value[1].strip()
        if not text and (kind is None or kind[1] not in _TEXT_TYPES) and _FORMULA.search(inner):
            found[column - 1] = None  # an empty value a number or boolean cannot have
        elif kind is not None and kind[1] == b"e":
            found[column - 1] = unescape(text.decode())
        elif (kind is None or kind[1] == b"n") and _LONG_INTEGER.fullmatch(text):
            found[column - 1] = text.decode()
    return found


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _sheet_part(archive: zipfile.ZipFile, sheet_name: str) -> str:
    """The zip member that holds the named sheet, found the way calamine finds it."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
    relation = next(
        (
            value
            for sheet in workbook.iter()
            if _local_name(sheet.tag) == "sheet" and sheet.get("name") == sheet_name
            for key, value in sheet.attrib.items()
            if _local_name(key) == "id"
        ),
        None,
    )
    for item in ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels")):
        target = item.get("Target")
        if relation is not None and item.get("Id") == relation and target:
            if target.startswith("/"):  # from the package root, else from xl/
                return target[1:]
            return posixpath.normpath(posixpath.join("xl", target))
    raise KeyError(f"找不到工作表“{sheet_name}”的数据")


def _column_number(letters: str) -> int:
    """``A`` → 1, ``AB`` → 28."""
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


def _xlsx_cell_text(value: object) -> str:
    """The text of a cell as the clerk meant it: ``13800138000.0`` is a mobile, not a float."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # Below 2**53 an integral float is exactly the number typed. Above it (an all-digit
        # USCC typed into a number cell) Excel has already lost digits; "9.1e+17" lets the
        # validator say so instead of complaining about a check character.
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value).strip()
