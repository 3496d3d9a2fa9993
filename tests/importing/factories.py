"""Builders for import fixtures: real USCCs, and files written the way clerks' tools write them."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from openpyxl import Workbook
from stdnum.cn import uscc as stdnum_uscc


def make_uscc(serial: int, *, prefix: str = "91110105") -> str:
    """A valid 统一社会信用代码: 8-digit prefix, 9-character organisation code, check character."""
    body = f"{prefix}{serial:08d}0"[:17]
    return body + stdnum_uscc.calc_check_digit(body)


def wrong_check(uscc: str) -> str:
    """The same code with a check character that is not the right one."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    bad = next(c for c in alphabet if c != uscc[-1])
    return uscc[:-1] + bad


def csv_text(rows: Sequence[Sequence[object]]) -> str:
    """Rows as CSV text, quoting as Excel would."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def write_csv_file(
    path: Path, rows: Sequence[Sequence[object]], *, encoding: str = "utf-8"
) -> Path:
    """Write ``rows`` to ``path`` in ``encoding`` (``gbk``, ``utf-8-sig``, ...)."""
    path.write_bytes(csv_text(rows).encode(encoding))
    return path


def write_xlsx_file(path: Path, rows: Sequence[Sequence[object]]) -> Path:
    """Write ``rows`` to the first sheet of a new workbook; ``None`` cells stay empty."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(list(row))
    workbook.save(path)
    return path
