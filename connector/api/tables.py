"""Report tables as HTTP bodies, written by `connector.reports.output` so they match the CLI's.

Public API: `csv_chunks(table)` (a streamed CSV body), `json_rows(table, skip, limit)`.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from itertools import islice
from typing import Any

from connector.reports.output import csv_parts, write
from connector.reports.queries import Table

CHUNK_ROWS = 4000


def csv_chunks(table: Table, chunk_rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The CSV in chunks of about `chunk_rows` rows (the header in the first), as the CLI writes it."""
    texts: list[str] = []
    rows = 0
    for text, count in csv_parts(table):
        texts.append(text)
        rows += count
        if rows >= chunk_rows:
            yield "".join(texts).encode("utf-8")
            texts, rows = [], 0
    if texts:
        yield "".join(texts).encode("utf-8")


def json_rows(table: Table, skip: int = 0, limit: int | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Rows `skip` .. `skip + limit` as the CLI's JSON objects, and whether more follow."""
    rows = islice(iter(table.rows), skip, None)
    page = islice(rows, limit + 1) if limit is not None else rows
    buffer = io.StringIO()
    write(Table(table.columns, page), "json", buffer)
    items = json.loads(buffer.getvalue())
    more = limit is not None and len(items) > limit
    return (items[:limit] if more else items), more
