"""Text from outside, made safe to store and safe to hand to a spreadsheet program.

Storing: PostgreSQL's text types refuse NUL (``invalid byte sequence for encoding "UTF8":
0x00``, where SQLite takes it), and no driver can encode a lone surrogate. The other C0 control
characters are stored, but openpyxl refuses to put them in a workbook, so a report that lists
such a text would fail later. ``storable_text`` removes them from free text coming in (replies);
``unusable_character`` finds the first one in a value that must not be altered silently
(a clerk's import), so that the caller can refuse it.

Spreadsheets: Excel evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@`` (also after a
leading tab or carriage return), so a name like ``=HYPERLINK(...)`` typed by anyone becomes a
live formula in the clerk's Excel (CSV/formula injection, OWASP). ``xlsx_cell`` and
``csv_cell`` are the one place that neutralises what the hub writes into a cell; numbers stay
numbers.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "FORMULA_TRIGGERS",
    "csv_cell",
    "storable_json",
    "storable_text",
    "unusable_character",
    "xlsx_cell",
]

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
"""A text cell starting with one of these is taken as a formula by Excel (OWASP's list)."""

# C0 controls but tab, line feed and carriage return (exactly what openpyxl refuses), and
# surrogates, which only a broken decoder or a JSON "\udXXX" escape can produce.
_UNUSABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_REPLACEMENT = "\ufffd"
# Excel shows ="..." as the text inside, and holds 12+ digit strings as text only that way;
# its formulas take no string constant longer than this.
_EXCEL_FORMULA_TEXT_MAX = 255
_LONG_DIGITS = re.compile(r"^\d{12,}$")
# A signed number or a phone number (masked or not): at most arithmetic when Excel re-reads
# the cell on an edit, never a function, a reference or a DDE call.
_NUMBER_LIKE = re.compile(r"^[+-]?[\d\s().*-]*\d[\d\s().*-]*$")


def _replace_unusable(match: re.Match[str]) -> str:
    return _REPLACEMENT if match.group(0) >= "\ud800" else ""


def storable_text(text: str) -> str:
    """``text`` without NUL and other control characters (tab and newlines kept).

    A lone surrogate becomes U+FFFD, so the rest of the text is kept.
    """
    if _UNUSABLE.search(text) is None:
        return text  # nearly always: no copy
    return _UNUSABLE.sub(_replace_unusable, text)


def storable_json(value: Any) -> Any:
    """Decoded JSON with every string in it, keys included, passed through ``storable_text``."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_json(key): storable_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable_json(item) for item in value]
    return value


def unusable_character(text: str) -> tuple[int, str] | None:
    """The index and the character of the first character ``storable_text`` would remove."""
    found = _UNUSABLE.search(text)
    return None if found is None else (found.start(), found.group(0))


def xlsx_cell(value: Any) -> Any:
    """A value as an openpyxl cell should get it: text neutralised, anything else as it is.

    A text that Excel would evaluate gets a leading ``'`` (shown, so the reader sees that the
    text was not a formula); openpyxl would otherwise store a text starting with ``=`` as a
    formula. A text cell is not evaluated when the workbook opens, only when someone edits
    it, so a phone number such as ``+86138****8000`` is left as it is. Control characters
    that openpyxl refuses are removed.
    """
    if not isinstance(value, str):
        return value  # numbers (negative ones included), dates, None
    text = storable_text(value)
    if text.startswith(FORMULA_TRIGGERS) and not _NUMBER_LIKE.match(text):
        return "'" + text
    return text


def csv_cell(value: str) -> str:
    """A text as a CSV cell that Excel shows as typed and never evaluates.

    A text Excel would evaluate, or a 12+ digit string it would turn into ``1.38E+10``, is
    written as ``="…"``, which Excel shows as the text inside and which the import
    (``hub.importing``) unwraps again. Excel refuses a longer text than 255 characters in a
    formula; such a text gets a leading ``'`` instead.
    """
    text = storable_text(value)
    if text.startswith(FORMULA_TRIGGERS) or _LONG_DIGITS.match(text):
        if len(text) > _EXCEL_FORMULA_TEXT_MAX:
            return "'" + text
        return '="' + text.replace('"', '""') + '"'
    return text
