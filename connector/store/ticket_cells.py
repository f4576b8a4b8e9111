"""The SLA log's cells that come from a ticket, kept by SQLite beside the ticket: the export
reads them with each record instead of the ticket's row and the formula guard of each of its
values, which was a fifth of the export's time (`connector.reports.log_lines` puts them in a
line).

A row of `TABLE` holds, for one ticket, `head` (requester, requester's name, ticket number,
link, department, agent: the log's first cells, guarded and joined by `SEPARATOR`) and `title`
(its last cell, guarded). Triggers on `tickets` write it in the same statement as every
insert, update or delete of a ticket, so it cannot go stale. `ensure(db)` (at every
`Store.open`) creates the table and its triggers, and rebuilds both from the tickets when they
are not this version's (the guard changed, a rebuild of the tickets table dropped the
triggers). `current(conn)` tells a reader whether it may use the table (a read-only store may
have been written by another version): when not, the export reads the tickets themselves.

Public API: `TABLE`, `SEPARATOR`, `HEAD_CELLS`, `guarded(value)`, `head_cells(prefix)`,
`title_cell(prefix)`, `ensure(db)`, `current(conn)`.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database

from connector.core.cells import FORMULA_START

TABLE = "ticket_cells"
SEPARATOR = "\x1f"  # the unit separator: a line whose values hold one is written by Python
HEAD_CELLS = 6
_GUARD = "[-" + "".join(sorted(FORMULA_START - {"-"})) + "]*"  # a GLOB class: '-' first is literal
# the ticket's columns the cells are made of: a trigger rewrites the cells when one changes
_SOURCES = (
    "id", "number", "external_id", "requester_email", "requester_name", "web_url", "department", "assignee", "title",
)  # fmt: skip


def guarded(value: str) -> str:
    """A text cell with the formula guard (a `'` before a formula start); NULL stays NULL
    (printf writes it empty)."""
    return f"CASE WHEN {value} GLOB '{_GUARD}' THEN '''' || {value} ELSE {value} END"


def head_cells(prefix: str) -> list[str]:
    """The `HEAD_CELLS` first cells of the log for the ticket whose columns are `prefix`ed
    (`t.`, `new.`), as SQL expressions. The ticket's number is its external id when it has none."""
    number = f"CASE WHEN {prefix}number IS NULL OR {prefix}number = '' THEN {prefix}external_id ELSE {prefix}number END"
    return [
        guarded(value)
        for value in (
            f"{prefix}requester_email",
            f"{prefix}requester_name",
            number,
            f"{prefix}web_url",
            f"{prefix}department",
            f"{prefix}assignee",
        )
    ]


def title_cell(prefix: str) -> str:
    return guarded(f"{prefix}title")


def _cells(prefix: str) -> str:
    head = f"printf('{SEPARATOR.join(['%s'] * HEAD_CELLS)}', {', '.join(head_cells(prefix))})"
    return f"{head}, {title_cell(prefix)}"


def _schema() -> dict[str, str]:
    """The table's and the triggers' SQL by name, as SQLite keeps it in `sqlite_master`."""
    write = f"INSERT OR REPLACE INTO {TABLE} (id, head, title) VALUES (new.id, {_cells('new.')});"
    return {
        TABLE: f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, head TEXT, title TEXT)",
        f"{TABLE}_insert": f"CREATE TRIGGER {TABLE}_insert AFTER INSERT ON tickets BEGIN {write} END",
        f"{TABLE}_update": (
            f"CREATE TRIGGER {TABLE}_update AFTER UPDATE OF {', '.join(_SOURCES)} ON tickets "
            f"BEGIN DELETE FROM {TABLE} WHERE id = old.id; {write} END"
        ),
        f"{TABLE}_delete": f"CREATE TRIGGER {TABLE}_delete AFTER DELETE ON tickets BEGIN DELETE FROM {TABLE} WHERE id = old.id; END",
    }


_SCHEMA = _schema()


def _stored(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(
        conn.execute("SELECT name, sql FROM sqlite_master WHERE name = ? OR name GLOB ?", (TABLE, f"{TABLE}_*"))
    )


def current(conn: sqlite3.Connection) -> bool:
    """Whether the table and its triggers are this version's, so the table says what the tickets do."""
    return _stored(conn) == _SCHEMA


def ensure(db: Database) -> None:
    """Make the table and its triggers this version's, filling it from the tickets when they were not."""
    conn = db.conn
    if current(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        stored = _stored(conn)  # again, inside the write lock: another process may have done it
        if stored != _SCHEMA:
            for name in stored:
                if name != TABLE:
                    conn.execute(f"DROP TRIGGER {name}")
            conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
            conn.execute(_SCHEMA[TABLE])
            conn.execute(f"INSERT INTO {TABLE} (id, head, title) SELECT t.id, {_cells('t.')} FROM tickets t")
            for name, sql in _SCHEMA.items():
                if name != TABLE:
                    conn.execute(sql)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
