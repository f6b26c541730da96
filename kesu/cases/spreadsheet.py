"""Case data on its way into a spreadsheet: one neutralisation of formulas for every CSV and XLSX.

A complainant controls the subject, the description and their own name. A cell starting with `=`,
`+`, `-`, `@` (or `|`, `%`) is evaluated by Excel and LibreOffice — `=HYPERLINK(...)` leaks data on a
click, DDE runs commands — and a leading tab or carriage return hides such a start from a naive
check. Every spreadsheet-bound text gets a leading `'`, which spreadsheets show as text.

The rule is defusedcsv's (a maintained drop-in for `csv`), extended by the tab and CR starts OWASP
lists; numbers pass untouched, and so does text that is only a number (`-5`, `-1,200.50`). CSV goes
through `csv_writer` (defusedcsv's writer); XLSX cells through `safe_row`, the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any

from defusedcsv import csv as defusedcsv

_HIDDEN_STARTS = ("\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value` as a spreadsheet may hold it: text that would start a formula gets a leading `'`;
    numbers, dates and everything not text stay as they are (so their cell type is kept)."""
    if not isinstance(value, str):
        return value
    if value.startswith(_HIDDEN_STARTS):
        return "'" + value
    return defusedcsv._escape(value)  # the library's own rule, the one its writer applies


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


class _SafeWriter:
    def __init__(self, handle: IO[str], **fmtparams: Any):
        self._writer = defusedcsv.writer(handle, **fmtparams)

    def writerow(self, row: Iterable[Any]) -> Any:
        # defusedcsv escapes the formula starts; the tab/CR starts are added here first.
        return self._writer.writerow(
            ["'" + v if isinstance(v, str) and v.startswith(_HIDDEN_STARTS) else v for v in row]
        )

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(handle: IO[str], **fmtparams: Any) -> _SafeWriter:
    """A `csv.writer` for spreadsheet-bound CSV whose cells are neutralised like `safe_cell`."""
    return _SafeWriter(handle, **fmtparams)
