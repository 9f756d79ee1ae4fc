"""Cells that a spreadsheet will not run: every CSV the project writes goes through :func:`csv_writer`, every
text cell of an xlsx workbook through :func:`xlsx_text_cell`.

Excel, LibreOffice and Google Sheets treat a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return as a formula (OWASP "CSV injection"). A written cell starting with one of those, other than a plain
number such as ``-1.5492``, gets a leading apostrophe, which spreadsheets show as text and do not display;
:func:`restore_cell` takes it off again on import, so export -> import -> export gives back the same file.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any, Protocol

__all__ = [
    "FORMULA_STARTS",
    "SafeWriter",
    "csv_writer",
    "is_formula",
    "restore_cell",
    "safe_cell",
    "xlsx_text_cell",
]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_MARK = "'"
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # not allowed in an xlsx file's XML
_FIRST = frozenset((*FORMULA_STARTS, _MARK))  # a cell starting otherwise is never a formula (the fast path)


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def is_formula(text: str) -> bool:
    """True when a spreadsheet would run ``text`` as a formula (a plain number is not one)."""
    return text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text)


def _marked_formula(text: str) -> bool:
    # A formula behind any number of apostrophes: each export adds one and each import takes one off.
    return is_formula(text.lstrip(_MARK))


def safe_cell(value: Any) -> Any:
    """``value`` as a cell a spreadsheet shows as text; numbers and other cells are returned unchanged."""
    if isinstance(value, str) and value[:1] in _FIRST and _marked_formula(value):
        return _MARK + value
    return value


def restore_cell(text: str) -> str:
    """Inverse of :func:`safe_cell` for one imported cell."""
    if text.startswith(_MARK) and _marked_formula(text):
        return text[1:]
    return text


class SafeWriter:
    """``csv.writer`` whose cells go through :func:`safe_cell`."""

    def __init__(self, handle: _Writable, **options: Any) -> None:
        self._writer = csv.writer(handle, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([safe_cell(v) for v in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(handle: _Writable, **options: Any) -> SafeWriter:
    """A CSV writer that neutralises formula cells (see the module docstring); options as for ``csv.writer``."""
    return SafeWriter(handle, **options)


def xlsx_text_cell(sheet: Any, value: str) -> Any:
    """A write-only openpyxl cell holding ``value`` as text: neutralised as :func:`safe_cell` does for CSV, stored
    as a string (openpyxl would otherwise store a value starting with ``=`` as a live formula), and without the
    control characters XML cannot hold (openpyxl refuses them)."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=None)
    cell.value = safe_cell(_XLSX_ILLEGAL.sub("\ufffd", value))
    cell.data_type = "s"
    return cell
