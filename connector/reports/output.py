"""Writing report tables as CSV, JSON or an aligned text table.

Public API: `write(table, fmt, stream, excel=False, width=None)`, `csv_parts(table, excel)`,
`neutralize(text)`, `terminal_safe(text)`, `hms(duration)`.

CSV (RFC 4180): a field holding a comma, a quote, a carriage return or a line feed is quoted,
so every row reads back as one row. Durations become two columns, `<name>_seconds` and `<name>`
as H:MM:SS. Every text cell (ticket titles, group labels, any value a helpdesk gave) that begins
with a character a spreadsheet reads as a formula is prefixed with `'` (OWASP's advice). Amounts
are exact decimals. `excel=True` adds a UTF-8 byte order mark and CRLF line ends, which Excel
needs to read UTF-8.

Table: control characters in cells are shown, never sent to the terminal (`\n`, `^[`); columns
are aligned by display width (CJK and emoji take two columns), and with a `width` the widest
text columns are cut with an ellipsis so that each row fits on one line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, TextIO

from wcwidth import wcswidth, wcwidth

from connector.core.cells import FORMULA_START, NEEDS_QUOTES
from connector.reports.queries import Table

_NEEDS_QUOTES = re.compile(f"[{NEEDS_QUOTES}]")
_QUOTE_OR_BREAK = re.compile('["\r\n]')
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SHOWN = {"\n": "\\n", "\r": "\\r", "\t": " ", "\x1b": "^["}
_ELLIPSIS = "\u2026"
MIN_CUT_WIDTH = 8  # a text column is never cut narrower than this
_ROWS_PER_PART = 1000


def neutralize(value: Any) -> Any:
    if value.__class__ is str and value[:1] in FORMULA_START:
        return "'" + value
    return value


def terminal_safe(text: str) -> str:
    """Control characters made visible: line breaks as \\n, escape as ^[, a tab as a space."""
    return _CONTROL.sub(lambda m: _SHOWN.get(m.group(), f"^{chr((ord(m.group()) + 64) % 128)}"), text)


def hms(value: timedelta | None) -> str:
    return "" if value is None else _clock(int(value.total_seconds()))


def _clock(seconds: int) -> str:
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def write(table: Table, fmt: str, stream: TextIO, excel: bool = False, width: int | None = None) -> int:
    """Write the table; return the number of rows. `excel`: CSV with a BOM and CRLF; `width`: the
    terminal's columns, for the table format."""
    if fmt == "csv":
        return _csv(table, stream, excel)
    if fmt == "json":
        return _json(table, stream)
    return _text(table, stream, width)


def _field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"' if _NEEDS_QUOTES.search(value) else value


def _duration_cells(value: timedelta | None) -> tuple[str, str]:
    if value is None:
        return "", ""
    seconds = int(value.total_seconds())
    return str(seconds), _clock(seconds)


def _row_converter(columns: list) -> Any:
    """A function from a row to its CSV cells: every string through the formula guard, None
    empty, a duration two cells, anything else its str(). Written out for the table's columns
    and compiled once (as dataclasses and namedtuple do), since a loop over the cells of every
    row costs more than the rest of the export together."""
    names = [f"v{i}" for i in range(len(columns))]
    cells = []
    for name, column in zip(names, columns):
        if column.kind == "duration":
            cells.append(f"*_duration_cells({name})")
        else:
            cells.append(
                f'(("\'" + {name} if {name}[:1] in _GUARDED else {name}) if {name}.__class__ is str '
                f"else '' if {name} is None else str({name}))"
            )
    source = f"def cells_of(row):\n    {', '.join(names)}, = row\n    return [{', '.join(cells)}]\n"
    namespace = {"_GUARDED": FORMULA_START, "_duration_cells": _duration_cells}
    exec(source, namespace)  # noqa: S102 - the source is built above from column kinds only
    return namespace["cells_of"]


def _csv(table: Table, stream: TextIO, excel: bool = False) -> int:
    count = 0
    for text, rows in csv_parts(table, excel):
        stream.write(text)
        count += rows
    return count


def csv_parts(table: Table, excel: bool = False) -> Iterator[tuple[str, int]]:
    """The CSV as (text, rows in it): the header first, then a part per batch of rows."""
    end = "\r\n" if excel else "\n"
    header = []
    for column in table.columns:
        header += [f"{column.name}_seconds", column.name] if column.kind == "duration" else [column.name]
    yield ("\ufeff" if excel else "") + ",".join(_field(name) for name in header) + end, 0
    cells_of = _row_converter(table.columns)
    quote_or_break = _QUOTE_OR_BREAK.search
    commas = len(header) - 1

    def line(row: list[Any]) -> str:
        cells = cells_of(row)
        # most lines need no quotes at all: the joined line tells, and only the others are quoted
        # field by field (a comma more than the separators, a quote, a CR or an LF)
        text = ",".join(cells)
        if text.count(",") != commas or quote_or_break(text):
            text = ",".join(_field(cell) for cell in cells)
        return text

    if table.csv_batches is not None:
        for batch in table.csv_batches:
            try:
                text = end.join(batch)  # type: ignore[arg-type]
            except TypeError:  # rows SQLite left to Python are lists of values
                text = end.join(item if item.__class__ is str else line(item) for item in batch)  # type: ignore[arg-type]
            yield text + end, len(batch)
        return
    batch_rows: list[str] = []
    for row in table.rows:
        batch_rows.append(line(row))
        if len(batch_rows) == _ROWS_PER_PART:
            yield end.join(batch_rows) + end, len(batch_rows)
            batch_rows = []
    if batch_rows:
        yield end.join(batch_rows) + end, len(batch_rows)


def _json(table: Table, stream: TextIO) -> int:
    names = [column.name for column in table.columns]
    kinds = [column.kind for column in table.columns]
    stream.write("[")
    count = 0
    for row in table.rows:
        item = {}
        for name, kind, value in zip(names, kinds, row):
            if kind == "duration":
                item[f"{name}_seconds"] = None if value is None else int(value.total_seconds())
            elif isinstance(value, Decimal):
                item[name] = str(value)
            else:
                item[name] = value
        stream.write(("," if count else "") + "\n  " + json.dumps(item, ensure_ascii=False))
        count += 1
    stream.write("\n]\n")
    return count


def _display_width(text: str) -> int:
    return len(text) if text.isascii() else max(wcswidth(text), 0)


def _cut(text: str, width: int) -> str:
    """`text` in at most `width` display columns, ending in an ellipsis when it was longer."""
    if _display_width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += max(wcwidth(char), 0)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + _ELLIPSIS


def _text(table: Table, stream: TextIO, width: int | None = None) -> int:
    rows = [
        [
            hms(v) if c.kind == "duration" else ("" if v is None else terminal_safe(str(v)))
            for c, v in zip(table.columns, row)
        ]
        for row in table.rows
    ]
    header = [column.name for column in table.columns]
    widths = [max([len(header[i])] + [_display_width(row[i]) for row in rows]) for i in range(len(header))]
    right = [column.kind in ("int", "duration", "percent", "money") for column in table.columns]
    if width is not None:
        floors = [MIN_CUT_WIDTH if c.kind == "text" else w for c, w in zip(table.columns, widths)]
        widths = _fit(widths, floors, width)
        header = [_cut(name, w) for name, w in zip(header, widths)]
        rows = [[_cut(cell, w) for cell, w in zip(row, widths)] for row in rows]

    def line(cells: list[str]) -> str:
        padded = []
        for cell, w, r in zip(cells, widths, right):
            pad = " " * (w - _display_width(cell))
            padded.append(pad + cell if r else cell + pad)
        return "  ".join(padded).rstrip()

    stream.write(line(header) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows:
        stream.write(line(row) + "\n")
    if not rows:
        stream.write("(no rows)\n")
    return len(rows)


def _fit(widths: list[int], floors: list[int], limit: int) -> list[int]:
    """Narrow the widest columns that may be cut (down to their floor) until a row fits in `limit`."""
    widths = list(widths)
    while (excess := sum(widths) + 2 * (len(widths) - 1) - limit) > 0:
        candidates = [i for i, floor in enumerate(floors) if widths[i] > floor]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] = max(floors[widest], widths[widest] - excess)
    return widths
