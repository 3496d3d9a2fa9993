"""What every report workbook's sheets share (openpyxl): a header row, one record per row,
cells that are never formulas, column widths, rates shown as percentages."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from hub.core.errors import UsageError
from hub.core.safe_text import xlsx_cell

_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")


def table_sheet(ws: Worksheet, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Write ``headers`` (bold, filled) in row 1 and ``rows`` below, first column frozen."""
    ws.append(list(headers))
    for cell in ws[1]:
        cell.font = Font(bold=True)
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    for values in rows:
        # names, comments and the like are anyone's text: never a formula in the clerk's Excel
        ws.append([xlsx_cell(value) for value in values])
    ws.freeze_panes = "B2"
    for i, header in enumerate(headers, start=1):
        longest = max([len(str(header)), *(len(str(r[i - 1] or "")) for r in rows[:200])])
        ws.column_dimensions[get_column_letter(i)].width = min(max(8, longest * 1.6 + 2), 40)


def percent_columns(ws: Worksheet, headers: Sequence[str], names: Iterable[str]) -> None:
    """Show the columns named ``names`` as percentages (0.0%) in every row below the header."""
    for name in names:
        column = headers.index(name) + 1
        for row in range(2, ws.max_row + 1):
            ws.cell(row=row, column=column).number_format = "0.0%"


def save_workbook(wb: Workbook, path: Path) -> Path:
    """Save ``wb`` at ``path`` (an .xlsx file); ``UsageError`` naming the file when it is not
    an .xlsx name or cannot be written."""
    if path.suffix.lower() != ".xlsx":
        raise UsageError(f"报表文件须以 .xlsx 结尾：{path}")
    try:
        wb.save(path)
    except OSError as exc:
        raise UsageError(f"无法写入报表文件 {path}：{exc.strerror or exc}") from exc
    return path
