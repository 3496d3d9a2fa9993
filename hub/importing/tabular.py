"""Clerks' spreadsheets as a stream of rows, and CSV written so that Excel opens it unharmed.

A file is CSV (UTF-8, UTF-8 with BOM, or GBK/GB18030 as saved by Chinese Excel) or XLSX (the
first worksheet). Either way the caller gets the headers as the file spells them and then
``(row_number, {header: text})`` for every non-blank row, where ``row_number`` is the number
the clerk sees at the left of the sheet. A CSV is streamed, one row in memory at a time. An
XLSX sheet is read by calamine (Rust), which loads the whole sheet at once and then hands out
its rows one at a time.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import os
import posixpath
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal
from xml.etree import ElementTree
from xml.sax.saxutils import unescape

from python_calamine import CalamineSheet, CalamineWorkbook, SheetTypeEnum

from hub.errors import InputError

__all__ = [
    "REJECT_COLUMNS",
    "UNNAMED_COLUMN_PREFIX",
    "Reject",
    "Row",
    "Table",
    "TableFormat",
    "open_table",
    "read_rows",
    "rejects_path",
    "write_csv",
    "write_rejects",
]

TableFormat = Literal["csv", "xlsx"]
Row = tuple[int, dict[str, str]]
"""``(row_number, {header as spelled in the file: stripped cell text})``."""

UNNAMED_COLUMN_PREFIX = "（无表头）"
"""Key prefix for a value found in a column that has no header, e.g. ``（无表头）第 F 列``.

Such values are kept rather than dropped so that validation can reject the row: a clerk who
typed past the last header meant something by it.
"""

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode text"
_CSV_SUFFIXES = {".csv", ".txt"}
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK and GB2312
_CHUNK = 1 << 20
# Stripped from headers on top of whitespace: a BOM that survived a re-encode, zero-width
# spaces pasted from web pages.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
# ="13800138000" is how many systems (and write_csv below) keep Excel from turning a long
# number into 1.38E+10; the value meant is the text inside.
_EXCEL_TEXT_FORMULA = re.compile(r'^="(.*)"$', re.DOTALL)


@dataclass(frozen=True, slots=True)
class Reject:
    """A row that was not imported: every reason (in Chinese) and the row as read."""

    row_number: int
    reasons: tuple[str, ...]
    raw: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Table:
    """An open spreadsheet: where it came from, its headers, and its rows (iterate once)."""

    path: Path
    format: TableFormat
    encoding: str | None
    """The encoding a CSV was read with (``utf-8-sig`` or ``gb18030``); ``None`` for XLSX."""
    headers: tuple[str, ...]
    """Non-blank header cells, stripped, in column order, spelled as in the file."""
    rows: Iterator[Row]

    def __iter__(self) -> Iterator[Row]:
        return self.rows


@contextmanager
def open_table(
    path: str | os.PathLike[str], *, format: TableFormat | None = None
) -> Iterator[Table]:
    """Open a CSV or XLSX file for streaming; raise ``InputError`` naming the file if unusable.

    The format is taken from the content (a zip is XLSX) and then the suffix; pass ``format``
    for files without a usable suffix, such as uploads saved under a temporary name. The
    header is the first non-blank row. Raises ``InputError`` for a missing, unreadable, empty
    or undecodable file, a legacy ``.xls``, a damaged ``.xlsx``, or duplicate headers; a CSV
    that turns out to be malformed further down raises it while iterating.
    """
    file = Path(path)
    name = str(path)
    fmt = _detect_format(file, name, format)
    with ExitStack() as stack:
        encoding: str | None = None
        if fmt == "csv":
            encoding = _detect_encoding(file, name)
            handle = stack.enter_context(file.open(encoding=encoding, newline=""))
            cells = _csv_cells(handle, name)
        else:
            cells = _xlsx_cells(file, name)
        headers, columns = _read_header(cells, name)
        yield Table(file, fmt, encoding, headers, _dict_rows(cells, columns))


def read_rows(path: str | os.PathLike[str], *, format: TableFormat | None = None) -> Iterator[Row]:
    """Yield ``(row_number, {header: text})`` for each non-blank data row of a file."""
    with open_table(path, format=format) as table:
        yield from table


def _detect_format(file: Path, name: str, forced: TableFormat | None) -> TableFormat:
    try:
        with file.open("rb") as handle:
            head = handle.read(8)
    except FileNotFoundError as exc:
        raise InputError("文件不存在", file=name) from exc
    except IsADirectoryError as exc:
        raise InputError("这是一个目录，不是文件", file=name) from exc
    except OSError as exc:
        raise InputError(f"无法读取文件：{exc.strerror or exc}", file=name) from exc
    if not head:
        raise InputError("文件为空", file=name)
    if head.startswith(_OLE_MAGIC):
        raise InputError(
            "这是旧版 Excel（.xls）文件，请在 Excel 中另存为 .xlsx 或 CSV（UTF-8）后再导入",
            file=name,
        )
    if head.startswith(_UTF16_BOMS):
        raise InputError(
            "这是 UTF-16 编码的文本，请在 Excel 中另存为 CSV（UTF-8）或 .xlsx 后再导入", file=name
        )
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    suffix = file.suffix.lower()
    if forced == "xlsx" or suffix in _XLSX_SUFFIXES:
        raise InputError("不是有效的 Excel（.xlsx）文件", file=name)
    if forced == "csv" or suffix in _CSV_SUFFIXES:
        return "csv"
    raise InputError(
        f"不支持的文件格式“{file.suffix or '无扩展名'}”，请使用 .csv 或 .xlsx", file=name
    )


def _detect_encoding(file: Path, name: str) -> str:
    """Return the first encoding that decodes the whole file strictly.

    The whole file is checked, chunk by chunk, because a GBK file often starts with pages of
    ASCII and only shows its encoding at the first Chinese name; guessing from the head would
    fail half-way through an import.
    """
    for encoding in _ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        try:
            with file.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        except OSError as exc:
            raise InputError(f"无法读取文件：{exc.strerror or exc}", file=name) from exc
        return encoding
    raise InputError(
        "无法识别文件编码（应为 UTF-8 或 GBK），请另存为 CSV（UTF-8）后再导入", file=name
    )


def _csv_cells(handle: IO[str], name: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(handle)
    number = 0
    try:
        # One record is one sheet row even when a quoted cell spans lines, as in Excel.
        for number, record in enumerate(reader, start=1):
            # only a cell holding =" can be a text formula; the rest just need stripping
            yield number, [_csv_cell_text(c) if '="' in c else c.strip() for c in record]
    except csv.Error as exc:
        raise InputError(f"第 {number + 1} 行无法按 CSV 读取：{exc}", file=name) from exc


def _csv_cell_text(cell: str) -> str:
    text = cell.strip()
    match = _EXCEL_TEXT_FORMULA.match(text)
    return match.group(1).replace('""', '"').strip() if match else text


def _xlsx_cells(file: Path, name: str) -> Iterator[tuple[int, list[str]]]:
    sheet, hidden = _load_first_sheet(file, name)
    start = sheet.start
    if start is None:
        return  # not a single cell on the sheet
    # calamine pads the rows above the first filled cell, so enumerate() gives the row numbers
    # Excel shows, but not the columns left of it: those are padded here for the letters.
    padding = [""] * start[1]
    for number, values in enumerate(sheet.iter_rows(), start=1):
        texts = [
            value.strip() if type(value) is str else _xlsx_cell_text(value) for value in values
        ]
        if padding:
            texts = padding + texts
        if number in hidden:
            for index, text in hidden[number].items():
                # only where calamine has what it makes of such a cell: a misplaced text must
                # not overwrite another cell
                if 0 <= index - start[1] < len(values) and _hides(values[index - start[1]], text):
                    texts[index] = text
        yield number, texts


def _hides(value: object, text: str) -> bool:
    """Whether calamine's ``value`` is how it gives the cell holding ``text`` in the XML."""
    if text.startswith("#"):  # an error: #N/A, #VALUE!, #DIV/0!, ...
        return value == ""
    return isinstance(value, float) and value == float(text)


def _load_first_sheet(file: Path, name: str) -> tuple[CalamineSheet, dict[int, dict[int, str]]]:
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


# calamine gives an error cell (#N/A from a failed VLOOKUP) as an empty one, and every number
# as a float, which loses the last digits of an 18-digit code that another system wrote as an
# exact integer. The sheet's XML still has both. A byte search for them costs 0.3 s per
# 100,000 rows and nearly always finds none; when it finds some, the rows are cut apart at
# their end tags (an XML parser would take 6 s) and only those holding such a cell are read.
_LONG_INTEGER_HINT = re.compile(rb"v>[0-9]{16}")  # 2**53 has 16 digits
_ERROR_HINTS = (b't="e"', b"t='e'")
_ROW_START = re.compile(rb"<((?:[\w.-]+:)?)row[\s/>]")  # some writers prefix tags: <x:row>
_ROW_NUMBER = re.compile(rb"""\sr=["'](\d+)""")
_CELL = re.compile(rb"<(?:[\w.-]+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:[\w.-]+:)?c>)", re.DOTALL)
_CELL_COLUMN = re.compile(rb"""\sr=["']\$?([A-Za-z]{1,3})""")
_CELL_TYPE = re.compile(rb"""\st=["'](\w+)""")
_CELL_VALUE = re.compile(rb"<(?:[\w.-]+:)?v>([^<]*)<")
_LONG_INTEGER = re.compile(rb"[0-9]{16,}")


def _hidden_cells(file: Path, sheet_name: str) -> dict[int, dict[int, str]]:
    """``{row number: {column index: text}}`` for the error and long-integer cells of a sheet.

    The text is what the clerk sees in Excel: ``#N/A``, or the integer with all its digits.
    """
    with zipfile.ZipFile(file) as archive:
        part = _sheet_part(archive, sheet_name)
        with archive.open(part) as xml:
            tail = b""
            while chunk := xml.read(_CHUNK * 4):
                window = tail + chunk
                if _has_hidden_cells(window):
                    break
                tail = window[-16:]  # a hint cut in two by the chunking
            else:
                return {}
        with archive.open(part) as xml:
            return _scan_rows(xml)


def _has_hidden_cells(xml: bytes) -> bool:
    return _LONG_INTEGER_HINT.search(xml) is not None or any(h in xml for h in _ERROR_HINTS)


def _scan_rows(xml: IO[bytes]) -> dict[int, dict[int, str]]:
    hidden: dict[int, dict[int, str]] = {}
    row = 0
    start_tag = end_tag = b""
    tail = b""
    while True:
        chunk = xml.read(_CHUNK * 4)
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


def _hidden_cells_of_row(row: bytes) -> dict[int, str]:
    found: dict[int, str] = {}
    column = 0
    for cell in _CELL.finditer(row):
        attributes, inner = cell.groups()
        letters = _CELL_COLUMN.search(attributes)
        column = _column_number(letters[1].decode()) if letters else column + 1
        value = _CELL_VALUE.search(inner) if inner else None
        if value is None:
            continue
        kind = _CELL_TYPE.search(attributes)
        text = value[1].strip()
        if kind is not None and kind[1] == b"e":
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


def _column_letter(index: int) -> str:
    """0 → ``A``, 27 → ``AB``: how Excel labels the column of a 0-based index."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


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


def _read_header(
    cells: Iterator[tuple[int, list[str]]], name: str
) -> tuple[tuple[str, ...], list[tuple[int, str]]]:
    """Consume rows up to the header; return the headers and (column index, key) pairs."""
    for _, values in cells:
        headers = [value.strip(_INVISIBLE).strip() for value in values]
        if not any(headers):
            continue
        seen: dict[str, int] = {}
        columns: list[tuple[int, str]] = []
        for index, header in enumerate(headers):
            if not header:
                continue
            if header in seen:
                first, second = _column_letter(seen[header]), _column_letter(index)
                raise InputError(f"表头“{header}”重复（第 {first} 列和第 {second} 列）", file=name)
            seen[header] = index
            columns.append((index, header))
        return tuple(header for _, header in columns), columns
    raise InputError("文件为空（没有表头行）", file=name)


def _dict_rows(
    cells: Iterator[tuple[int, list[str]]], columns: list[tuple[int, str]]
) -> Iterator[Row]:
    headers = [header for _, header in columns]
    named = {index for index, _ in columns}
    span = max(named) + 1  # from column A to the last one with a header
    gaps = [index for index in range(span) if index not in named]
    for number, values in cells:
        if not any(values):
            continue  # blank lines and rows of empty cells are layout, not data
        width = len(values)
        if width == span and not gaps:  # the usual row: one cell under each header
            row = dict(zip(headers, values, strict=True))
        else:
            row = {header: (values[index] if index < width else "") for index, header in columns}
        if gaps or width > span:
            for index in (*gaps, *range(span, width)):
                if index < width and (value := values[index]):
                    row[f"{UNNAMED_COLUMN_PREFIX}第 {_column_letter(index)} 列"] = value
        yield number, row


# --- writing --------------------------------------------------------------------------------

# Excel evaluates a cell starting with one of these (CSV injection), and shows digit strings of
# 12+ characters as 1.38E+10, losing digits beyond the 15th when the clerk saves again.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LONG_DIGITS = re.compile(r"^\d{12,}$")


def _excel_safe(value: str) -> str:
    if value.startswith(_FORMULA_START) or _LONG_DIGITS.match(value):
        # ="..." shows the text as typed and is unwrapped again by _csv_cell_text on re-import.
        return '="' + value.replace('"', '""') + '"'
    return value


def write_csv(
    path: str | os.PathLike[str], headers: Sequence[str], rows: Iterable[Sequence[str]]
) -> Path:
    """Write a CSV that Excel opens correctly: UTF-8 with BOM, CRLF, long numbers kept as text.

    Returns the path written. Values that Excel would evaluate or reformat are written as
    ``="…"``; ``open_table`` reads them back as the plain text.
    """
    file = Path(path)
    try:
        with file.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(headers)
            for row in rows:
                writer.writerow([_excel_safe(value) for value in row])
    except OSError as exc:
        raise InputError(f"无法写入文件：{exc.strerror or exc}", file=str(path)) from exc
    return file


# --- the rejects file -------------------------------------------------------------------------

REJECT_COLUMNS = ("行号", "原因")
"""Columns the rejects file adds after the original ones; the import ignores them."""


def rejects_path(input_path: str | os.PathLike[str]) -> Path:
    """Where the rejects of an input go: ``企业名录.xlsx`` → ``企业名录.rejects.csv`` beside it."""
    file = Path(input_path)
    return file.with_name(file.stem + ".rejects.csv")


def write_rejects(
    path: str | os.PathLike[str], rejects: Iterable[Reject], headers: Sequence[str]
) -> Path:
    """Write rejected rows as a CSV for Excel: the original columns, then 行号 and 原因.

    UTF-8 with BOM so that Excel shows the Chinese; the file can be corrected and imported
    again as it is, because the import ignores the 行号 and 原因 columns.
    """
    columns = [header for header in headers if header not in REJECT_COLUMNS]
    rows = (
        [reject.raw.get(header, "") for header in columns]
        + [str(reject.row_number), "；".join(reject.reasons)]
        for reject in rejects
    )
    return write_csv(path, [*columns, *REJECT_COLUMNS], rows)
