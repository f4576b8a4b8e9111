"""Writing report tables as CSV, JSON or an aligned text table.

Public API: `write(table, fmt, stream)`, `neutralize(text)`, `hms(duration)`.

CSV: durations become two columns, `<name>_seconds` and `<name>` as H:MM:SS; text that came from
a helpdesk and begins with `=`, `+`, `-`, `@`, a tab or a carriage return is prefixed with `'` so
that no spreadsheet runs it as a formula (OWASP's advice). Amounts are exact decimals.
"""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any, TextIO

from connector.reports.queries import Table

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_SET = frozenset(_FORMULA_START)


def neutralize(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def hms(value: timedelta | None) -> str:
    return "" if value is None else _clock(int(value.total_seconds()))


def _clock(seconds: int) -> str:
    sign, seconds = ("-", -seconds) if seconds < 0 else ("", seconds)
    return f"{sign}{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _plain(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value)
    return value


def write(table: Table, fmt: str, stream: TextIO) -> int:
    """Write the table; return the number of rows."""
    return {"csv": _csv, "json": _json, "table": _text}[fmt](table, stream)


def _csv(table: Table, stream: TextIO) -> int:
    writer = csv.writer(stream, lineterminator="\n")
    header = []
    for column in table.columns:
        header += [f"{column.name}_seconds", column.name] if column.kind == "duration" else [column.name]
    writer.writerow(header)
    # from the right, so that splicing in two cells for one keeps the earlier indexes valid
    durations = [i for i, column in enumerate(table.columns) if column.kind == "duration"][::-1]
    texts = [i for i, column in enumerate(table.columns) if column.kind == "text"]
    commas = len(header) - 1
    write = stream.write
    count = 0
    for row in table.rows:
        row = list(row)
        for i in texts:
            value = row[i]
            if value.__class__ is str and value[:1] in _FORMULA_START_SET:
                row[i] = "'" + value
        for i in durations:
            value = row[i]
            if value is None:
                row[i : i + 1] = ("", "")
            else:
                seconds = int(value.total_seconds())
                row[i : i + 1] = (seconds, _clock(seconds))
        # csv.writer quotes a cell only for a comma, a quote or a line break. A line with none of
        # them is written as csv would write it, joined directly at a fraction of the cost; any
        # other line goes through csv.writer. None is an empty cell, Decimal its exact digits.
        line = ",".join(["" if v is None else v if v.__class__ is str else str(v) for v in row])
        if line.count(",") == commas and '"' not in line and "\n" not in line and "\r" not in line:
            write(line)
            write("\n")
        else:
            writer.writerow(row)
        count += 1
    return count


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


def _text(table: Table, stream: TextIO) -> int:
    rows = [
        [hms(v) if c.kind == "duration" else ("" if v is None else str(v)) for c, v in zip(table.columns, row)]
        for row in table.rows
    ]
    header = [column.name for column in table.columns]
    widths = [max([len(header[i])] + [len(row[i]) for row in rows]) for i in range(len(header))]
    right = [column.kind in ("int", "duration", "percent", "money") for column in table.columns]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(cells, widths, right)).rstrip()

    stream.write(line(header) + "\n")
    stream.write("  ".join("-" * w for w in widths) + "\n")
    for row in rows:
        stream.write(line(row) + "\n")
    if not rows:
        stream.write("(no rows)\n")
    return len(rows)
