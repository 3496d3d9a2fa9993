"""Clerks' spreadsheets as a stream of rows, and CSV written so that Excel opens it unharmed.

A file is CSV (UTF-8, UTF-8 with BOM, or GBK/GB18030 as saved by Chinese Excel) or XLSX (the
first worksheet). Either way the caller gets the headers as the file spells them and then
``(row_number, {header: text})`` for every non-blank row, where ``row_number`` is the number
the clerk sees at the left of the sheet. A CSV is streamed, one row in memory at a time; an
XLSX sheet is loaded whole (``hub.importing.workbook``). A cell that cannot be imported as it
is (a broken byte, a control character, a formula without its value) is cleaned and its row
marked for rejection (``CELL_PROBLEM_PREFIX``) rather than the file refused.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from hub.core.errors import InputError
from hub.core.safe_text import FORMULA_TRIGGERS, csv_cell, storable_text, unusable_character
from hub.importing.workbook import CellProblems, xlsx_cells

__all__ = [
    "CELL_PROBLEM_PREFIX",
    "REJECT_COLUMNS",
    "UNNAMED_COLUMN_PREFIX",
    "Reject",
    "Row",
    "Table",
    "TableFormat",
    "open_table",
    "read_rows",
    "rejects_path",
    "shown_value",
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

CELL_PROBLEM_PREFIX = "（无法导入）"
"""Key prefix for why a cell cannot be imported as it is, e.g. ``（无法导入）企业名称``.

The value is the reason, naming the column: a byte the file's encoding cannot decode, a NUL or
another control character, a formula saved without its value. The cell itself keeps its text
without what could not be read or stored, so the rejects file shows the rest; validation
rejects the row.
"""

_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # Excel's "Unicode text"
_CSV_SUFFIXES = {".csv", ".txt"}
_XLSX_SUFFIXES = {".xlsx", ".xlsm"}
_ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 is a superset of GBK and GB2312
_ENCODING_LABELS = {"utf-8-sig": "UTF-8", "gb18030": "GBK"}
# A file in one of them with a few broken bytes is read, rejecting the rows holding them; one
# where more than this share of the non-ASCII bytes is broken is in some other encoding.
_MAX_BROKEN_SHARE = 0.05
_HIGH_BYTES = bytes(range(0x80, 0x100))
# what the surrogateescape error handler makes of an undecodable byte: U+DC80 to U+DCFF
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
_SHOWN_MAX = 40  # a pasted paragraph in a cell should not swamp the reason column
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
    """The encoding a CSV was read with (``utf-8-sig`` or ``gb18030``); ``None`` for XLSX.

    A CSV with a few bytes that do not decode is read all the same: each row holding one is
    rejected, naming the column and the byte (``CELL_PROBLEM_PREFIX``).
    """
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
    or undecodable file, a legacy ``.xls``, a damaged ``.xlsx``, or duplicate or unreadable
    headers; a CSV that turns out to be malformed further down raises it while iterating.
    """
    file = Path(path)
    name = str(path)
    fmt = _detect_format(file, name, format)
    with ExitStack() as stack:
        encoding: str | None = None
        search_cells = True  # whether each row must be searched for unusable characters
        if fmt == "csv":
            encoding, damaged, search_cells = _detect_encoding(file, name)
            # surrogateescape keeps each broken byte, as U+DC80-U+DCFF, for the reject to name
            errors = "surrogateescape" if damaged else "strict"
            handle = stack.enter_context(file.open(encoding=encoding, errors=errors, newline=""))
            cells = _csv_cells(handle, name)
        else:
            cells = xlsx_cells(file, name)
        headers, columns = _read_header(cells, name, encoding)
        rows = _dict_rows(cells, columns, encoding, search_cells=search_cells)
        yield Table(file, fmt, encoding, headers, rows)


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


def _detect_encoding(file: Path, name: str) -> tuple[str, bool, bool]:
    """The file's encoding, whether some of its bytes do not decode in it, and whether it may
    hold characters that cannot be imported (``hub.core.safe_text.unusable_character``).

    The whole file is checked, chunk by chunk, because a GBK file often starts with pages of
    ASCII and only shows its encoding at the first Chinese name; guessing from the head would
    fail half-way through an import. When neither encoding decodes every byte, the one with
    the fewest broken bytes is taken if they are few: one damaged name should cost its row,
    not the file. Searching the decoded text here, once, spares every row of a clean file
    that search (about 5% of the parse).
    """
    for encoding in _ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        unusable = False
        try:
            with file.open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    text = decoder.decode(chunk)
                    unusable = unusable or unusable_character(text) is not None
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        except OSError as exc:
            raise InputError(f"无法读取文件：{exc.strerror or exc}", file=name) from exc
        return encoding, False, unusable
    counts = {encoding: _broken_bytes(file, name, encoding) for encoding in _ENCODINGS}
    encoding = min(_ENCODINGS, key=lambda e: counts[e][0])  # a tie goes to UTF-8
    broken, non_ascii = counts[encoding]
    if broken > max(1, non_ascii * _MAX_BROKEN_SHARE):  # one stray byte in ASCII is damage too
        raise InputError(
            "无法识别文件编码（应为 UTF-8 或 GBK），请另存为 CSV（UTF-8）后再导入", file=name
        )
    return encoding, True, True


def _broken_bytes(file: Path, name: str, encoding: str) -> tuple[int, int]:
    """How many bytes of the file do not decode in ``encoding``, and how many are not ASCII."""
    decoder = codecs.getincrementaldecoder(encoding)("surrogateescape")
    broken = non_ascii = 0
    try:
        with file.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                non_ascii += len(chunk) - len(chunk.translate(None, _HIGH_BYTES))
                broken += len(_ESCAPED_BYTE.findall(decoder.decode(chunk)))
            broken += len(_ESCAPED_BYTE.findall(decoder.decode(b"", final=True)))
    except OSError as exc:
        raise InputError(f"无法读取文件：{exc.strerror or exc}", file=name) from exc
    return broken, non_ascii


def _csv_cells(handle: IO[str], name: str) -> Iterator[tuple[int, list[str], CellProblems | None]]:
    reader = csv.reader(handle)
    number = 0
    try:
        # One record is one sheet row even when a quoted cell spans lines, as in Excel.
        for number, record in enumerate(reader, start=1):
            # only a cell holding =" or a ' can be written by csv_cell; the rest just need
            # stripping
            cells = [_csv_cell_text(c) if '="' in c or "'" in c else c.strip() for c in record]
            yield number, cells, None
    except csv.Error as exc:
        raise InputError(f"第 {number + 1} 行无法按 CSV 读取：{exc}", file=name) from exc


def _csv_cell_text(cell: str) -> str:
    """The text ``hub.core.safe_text.csv_cell`` (or another system) wrote as ``="…"`` or ``'=…``."""
    text = cell.strip()
    match = _EXCEL_TEXT_FORMULA.match(text)
    if match:
        return match.group(1).replace('""', '"').strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS) and len(text) > 256:
        return text[1:]  # too long for ="…": csv_cell marked it with a ' instead
    return text


def _column_letter(index: int) -> str:
    """0 → ``A``, 27 → ``AB``: how Excel labels the column of a 0-based index."""
    letters = ""
    number = index + 1
    while number:
        number, remainder = divmod(number - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


_Cells = Iterator[tuple[int, list[str], CellProblems | None]]


def _read_header(
    cells: _Cells, name: str, encoding: str | None
) -> tuple[tuple[str, ...], list[tuple[int, str]]]:
    """Consume rows up to the header; return the headers and (column index, key) pairs."""
    for _, values, problems in cells:
        headers = [value.strip(_INVISIBLE).strip() for value in values]
        if not any(headers) and not problems:
            continue
        for index, header in enumerate(headers):
            problem = (problems or {}).get(index) or _unusable(header, encoding)[1]
            if problem:
                raise InputError(f"表头第 {_column_letter(index)} 列{problem}", file=name)
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
    cells: _Cells, columns: list[tuple[int, str]], encoding: str | None, *, search_cells: bool
) -> Iterator[Row]:
    headers = [header for _, header in columns]
    named = dict(columns)
    span = max(named) + 1  # from column A to the last one with a header
    gaps = [index for index in range(span) if index not in named]
    for number, values, problems in cells:
        if not any(values) and not problems:
            continue  # blank lines and rows of empty cells are layout, not data
        reasons: dict[str, str] | None = None
        if problems or (search_cells and unusable_character("".join(values))):
            values, reasons = _mark_problems(values, problems, named, encoding)
        width = len(values)
        if width == span and not gaps:  # the usual row: one cell under each header
            row = dict(zip(headers, values, strict=True))
        else:
            row = {header: (values[index] if index < width else "") for index, header in columns}
        if gaps or width > span:
            for index in (*gaps, *range(span, width)):
                if index < width and (value := values[index]):
                    row[UNNAMED_COLUMN_PREFIX + _unnamed(index)] = value
        if reasons:
            row.update(reasons)
        yield number, row


def _unnamed(index: int) -> str:
    return f"第 {_column_letter(index)} 列"


def _mark_problems(
    values: list[str], problems: CellProblems | None, named: Mapping[int, str], encoding: str | None
) -> tuple[list[str], dict[str, str]]:
    """The cell texts cleaned, and each cell's problem under its ``CELL_PROBLEM_PREFIX`` key."""
    cleaned = list(values)
    reasons: dict[str, str] = {}
    for index, value in enumerate(values):
        problem = problems.get(index) if problems else None
        if problem is None:
            cleaned[index], problem = _unusable(value, encoding)
        if problem is not None:
            column = named.get(index) or _unnamed(index)
            reasons[CELL_PROBLEM_PREFIX + column] = column + problem
    return cleaned, reasons


def _unusable(text: str, encoding: str | None) -> tuple[str, str | None]:
    """``text`` without what cannot be imported, and the problem, said after a column's name."""
    found = unusable_character(text)
    if found is None:
        return text, None
    index, character = found
    cleaned = storable_text(text)
    if encoding is not None and _ESCAPED_BYTE.match(character):
        byte = ord(character) - 0xDC00
        # the byte's place in the cell, counted the way the file stores the text
        offset = len(text[:index].encode(encoding.removesuffix("-sig"), "surrogateescape")) + 1
        label = _ENCODING_LABELS[encoding]
        return cleaned, (
            f"第 {offset} 个字节 0x{byte:02X} 无法按 {label} 解码（“{shown_value(cleaned)}”），"
            "请改正后重新导入"
        )
    # the rejects file shows the cell without it: the clerk checks what is left
    if character == "\x00":
        return cleaned, "含有空字符（NUL，拒绝文件中已删去），请核对后重新导入"
    code = f"0x{ord(character):02X}"
    return cleaned, f"含有不可见的控制字符（{code}，拒绝文件中已删去），请核对后重新导入"


def shown_value(value: str) -> str:
    """A value as quoted in a reason: at most ``_SHOWN_MAX`` characters."""
    return value if len(value) <= _SHOWN_MAX else value[: _SHOWN_MAX - 1] + "…"


# --- writing --------------------------------------------------------------------------------


def write_csv(
    path: str | os.PathLike[str], headers: Sequence[str], rows: Iterable[Sequence[str]]
) -> Path:
    """Write a CSV that Excel opens correctly: UTF-8 with BOM, CRLF, long numbers kept as text.

    Returns the path written. Values that Excel would evaluate or reformat are written as
    ``="…"`` (``hub.core.safe_text.csv_cell``); ``open_table`` reads them back as the plain text.
    """
    file = Path(path)
    try:
        with file.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow([csv_cell(header) for header in headers])
            for row in rows:
                writer.writerow([csv_cell(value) for value in row])
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
