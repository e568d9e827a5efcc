"""Spreadsheet exports shared by the apps: CSV and XLSX whose text cells cannot run.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab, a carriage return or ``|`` is
taken by Excel and LibreOffice as a formula (CSV injection); evidence is full of such text
(a phone number written ``+7 701...``, a hostile page's ``=HYPERLINK(...)``), so every text
cell that starts with one gets a leading ``'``, which the spreadsheet shows as text. Numbers
stay numbers. openpyxl stores a string starting with ``=`` as a formula, so the XLSX cells
are escaped the same way.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.utils.translation import gettext as _

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "|")
XLSX_MAX_ROWS = 1_048_575
"""Rows of data an XLSX sheet holds under its header row."""


def safe_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula (numbers stay numbers)."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text[:1] in FORMULA_START else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV's lines, one at a time (for a streaming response)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(list(header))
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    for line in csv_lines(header, rows):
        buffer.write(line)
    return buffer.getvalue().encode("utf-8")


def to_xlsx(header: Sequence[str], rows: Iterable[Sequence[Any]], title: str,
            about: Sequence[tuple[str, Any]] = ()) -> bytes:
    """An XLSX workbook: the rows on one sheet (at most :data:`XLSX_MAX_ROWS`, the rest
    said to be left out on the provenance sheet), provenance (``about``) on a second."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=title[:31])
    sheet.append(list(header))
    written = left_out = 0
    for row in rows:
        if written >= XLSX_MAX_ROWS:
            left_out += 1
            continue
        sheet.append([safe_cell(v) for v in row])
        written += 1
    about = list(about)
    if left_out:
        about.append((_("rows left out (an XLSX sheet is full)"), left_out))
    if about:
        info = workbook.create_sheet(title=_("Provenance")[:31])
        for key, value in about:
            info.append([safe_cell(str(key)), safe_cell("" if value is None else str(value))])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
